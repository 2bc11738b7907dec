"""README runs as written: every command in its code blocks, in order, on a copy of the example.

The commands are read from README.md itself, so a command added there is run
here without a change to this file. What runs: every ``clarity ...`` command
(``.venv/bin/clarity`` too) and every ``python examples/....py`` script, in
the order the README gives them, in one temporary folder that holds a copy of
``examples/`` and whatever the earlier commands wrote. Set-up commands (venv,
pip, pytest, apt-get) are not run: the test suite is what runs them. All of
them run in one child process, so the interpreter and pedalboard start once.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

#: Fenced blocks whose lines are not shell commands.
NOT_SHELL = {"python", "py", "pycon", "yaml", "yml", "json", "toml", "ini", "diff"}
#: Shell operators that separate commands on one line.
SEPARATORS = {"&&", "||", ";", "|"}


def code_blocks(text: str) -> list[tuple[str, str]]:
    """``(language, body)`` of every fenced code block of a Markdown text."""
    return re.findall(r"^```([\w+-]*)[^\n]*\n(.*?)^```", text, re.M | re.S)


def shell_commands(body: str) -> list[list[str]]:
    """Each command of a shell block as words: comments dropped, continuations joined, ``&&`` split."""
    commands: list[list[str]] = []
    for line in body.replace("\\\n", " ").splitlines():
        line = re.sub(r"^\s*\$ ", "", line)
        try:
            words = shlex.split(line, comments=True)
        except ValueError:  # not shell (unbalanced quotes in prose): not a command
            continue
        command: list[str] = []
        for word in [*words, ";"]:
            if word in SEPARATORS:
                if command:
                    commands.append(command)
                command = []
            else:
                command.append(word)
    return commands


def runnable(command: list[str]) -> list[str] | None:
    """``["clarity", ...]`` or ``["python", "examples/x.py", ...]`` for a command the test runs, else None."""
    program = Path(command[0]).name
    if program == "clarity":
        return ["clarity", *command[1:]]
    if re.fullmatch(r"python[0-9.]*", program) and len(command) > 1 and command[1].startswith("examples/"):
        return ["python", *command[1:]]
    return None


def readme_commands(text: str) -> list[list[str]]:
    """Every command of a README the test runs, in order."""
    found = []
    for language, body in code_blocks(text):
        if language.lower() in NOT_SHELL:
            continue
        for command in shell_commands(body):
            run = runnable(command)
            if run is not None:
                found.append(run)
    return found


#: Runs the commands in one interpreter; prints one JSON line per command and stops at the first failure.
RUNNER = r"""
import contextlib, io, json, os, runpy, sys, time
from clarity_fx.cli import main

for argv in json.loads(sys.argv[1]):
    words = [os.path.expanduser(w) if w.startswith("~") else w for w in argv]
    target = None
    if ">" in words:  # 'clarity presets schema > schema.json'
        at = words.index(">")
        words, target = words[:at], words[at + 1]
    out, err, code, started = io.StringIO(), io.StringIO(), 0, time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            if words[0] == "clarity":
                main(words[1:])
            else:
                sys.argv = words[1:]
                runpy.run_path(words[1], run_name="__main__")
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        except BaseException as err_:  # noqa: BLE001 - reported, with its type
            import traceback
            code = "".join(traceback.format_exception(err_))
    if target is not None:
        with open(target, "w", encoding="utf-8") as handle:
            handle.write(out.getvalue())
    seconds = round(time.perf_counter() - started, 2)
    print(json.dumps({"argv": argv, "code": code, "seconds": seconds, "stderr": err.getvalue()[-3000:]}),
          flush=True)
    if code != 0:
        break
"""


def test_readme_commands_are_found():
    commands = readme_commands(README.read_text(encoding="utf-8"))
    assert commands[0] == ["clarity", "apply", "vocal-clarity", "examples/take.wav", "-o", "take-clean.flac"]
    assert ["clarity", "plugins"] in commands and ["clarity", "presets", "list"] in commands
    assert not any(len(c) > 1 and c[1] == "-m" for c in commands)  # '.venv/bin/python -m pytest' is set-up
    sample = ("```bash\nx && .venv/bin/clarity a 'b c' # note\n$ clarity d \\\n  e\n```\n"
              "```yaml\nclarity: 1\n```\n```\nclarity: error: a message\n```\n")
    assert readme_commands(sample) == [["clarity", "a", "b c"], ["clarity", "d", "e"]]


def test_every_readme_command_runs_as_written(tmp_path):
    commands = readme_commands(README.read_text(encoding="utf-8"))
    work = tmp_path / "readme"
    shutil.copytree(ROOT / "examples", work / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    done = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(commands)], cwd=work, env=env,
                          capture_output=True, text=True, timeout=600)
    reports = [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"argv"')]
    assert done.returncode == 0, done.stderr[-3000:]
    for report in reports:
        shown = shlex.join(report["argv"])
        assert report["code"] == 0, f"README command failed: {shown}\n{report['code']}\n{report['stderr']}"
        assert "Traceback" not in report["stderr"], f"{shown}\n{report['stderr']}"
    assert len(reports) == len(commands), done.stderr[-3000:]
    for report in sorted(reports, key=lambda r: -r["seconds"])[:5]:  # pytest -s shows where the time goes
        print(f"{report['seconds']:6.2f} s  {shlex.join(report['argv'])}")


if __name__ == "__main__":  # print the commands the test runs
    for command in readme_commands(README.read_text(encoding="utf-8")):
        print(shlex.join(command))
