"""The ``clarity`` command: a thin typer layer that parses, calls the library and prints.

Library modules are imported inside the commands, so ``clarity --help`` does
not pay for pedalboard, scipy or numba.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer

from . import __version__
from ._paths import expand_user
from .errors import ClarityError

app = typer.Typer(
    help="Make recordings clearer: noise reduction, filters, compression, loudness.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: rich's markdown stack costs 0.1 s per call
)
presets_app = typer.Typer(
    help="List, show, validate and export presets.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(presets_app, name="presets")
listen_app = typer.Typer(
    help="Blind listening tests in the browser: make a test page, score the answers.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(listen_app, name="listen")


# Options several commands share, declared once.
Overrides = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a parameter or item key: STAGE.PARAM=VALUE (stage by type or "
                               "index; 2.key.0.high_hz for a key chain; PARAM may be bypass, wet, listen)."),
]
BitDepth = Annotated[int | None, typer.Option(help="16, 24 or 32 (wav/aiff/flac).")]
Quality = Annotated[str | None, typer.Option(help="mp3/ogg quality, e.g. V2 or 320k.")]
BufferSize = Annotated[int, typer.Option(help="Block size handed to plugins.")]


class _Interrupted(Exception):
    """Ctrl-C, with what a command wants to say about it."""


def _version(value: bool) -> None:
    if value:
        typer.echo(f"clarity-fx {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Make recordings clearer: noise reduction, filters, compression, loudness."""


def _is_dir(path: Path) -> bool:
    """``path.is_dir()``, False for a path the system refuses (a name past 255 bytes): render says why."""
    try:
        return path.is_dir()
    except OSError:
        return False


def _outputs(inputs: list[Path], output: Path) -> list[tuple[Path, Path]]:
    if len(inputs) == 1 and not _is_dir(output):
        return [(inputs[0], output)]
    if not _is_dir(output):
        raise ClarityError(f"{output}: with {len(inputs)} inputs, -o must be an existing folder")
    pairs = [(path, output / path.name) for path in inputs]
    seen: dict[Path, Path] = {}
    for source, target in pairs:
        if target in seen:
            raise ClarityError(
                f"{seen[target]} and {source} would both be written to {target}; "
                "rename one, or use 'clarity batch', which keeps folder structure"
            )
        seen[target] = source
    return pairs


@app.command()
def apply(
    preset: Annotated[str, typer.Argument(help="Preset name (see 'clarity presets list') or YAML file.")],
    inputs: Annotated[
        list[Path], typer.Argument(help="Input audio file(s).", show_default=False, readable=False)
    ],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Output file, or folder for several inputs.")
    ],
    overrides: Overrides = None,
    bit_depth: BitDepth = None,
    quality: Quality = None,
    buffer_size: BufferSize = 8192,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on long files.")] = True,
    key: Annotated[
        Path | None, typer.Option(help="Sidechain key for keyed stages, e.g. the voice to duck music under.")
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(help="Write a before/after PNG (with the compressor's gain reduction, if any)."),
    ] = None,
    isolate: Annotated[
        bool, typer.Option("--isolate", help="Render in a child process: a crashing plugin fails cleanly.")
    ] = False,
    timeout: Annotated[
        float | None, typer.Option(help="With --isolate: give up after this many seconds.")
    ] = None,
    listen_removed: Annotated[
        str | None,
        typer.Option(help="Write what this stage removed (its type or index), e.g. spectral_subtraction."),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(help="Write a before/after listening page (self-contained HTML) for this render."),
    ] = None,
    report_removed: Annotated[
        int, typer.Option(help="With --report: players for what the N stages that change most removed.")
    ] = 2,
) -> None:
    """Apply a preset to audio files: clarity apply vocal-clarity take.wav -o clean.flac"""
    from .preset import load_preset_spec
    from .rendering import render

    spec = load_preset_spec(preset, overrides or [])
    if listen_removed is not None:
        from .preset import listen_removed as make_listen_removed

        make_listen_removed(spec, listen_removed)
    if timeout is not None and not isolate:
        raise ClarityError("--timeout needs --isolate (only a render in its own process can be stopped)")
    if timeout is not None and not timeout > 0:
        raise ClarityError(f"--timeout {timeout:g}: use a positive number of seconds")
    if plot is not None and (len(inputs) != 1 or isolate):
        raise ClarityError("--plot draws one file: give a single input, without --isolate")
    if plot is not None:
        from .plot import check_picture_path

        check_picture_path(plot)  # before the render: a picture that cannot be written costs nothing
    if report is not None:
        if len(inputs) != 1 or isolate:
            raise ClarityError("--report describes one render: give a single input, without --isolate")
        if listen_removed is not None:
            raise ClarityError("--report already plays what the stages removed; drop --listen-removed")
        if report_removed < 0:
            raise ClarityError(f"--report-removed {report_removed}: use 0 or more")
        _check_report_path(report)
    note_first_compile()
    for source, target in _outputs(inputs, output):
        if isolate:
            _apply_isolated(
                (preset, overrides or [], listen_removed),
                source,
                target,
                timeout,
                dict(key=key, bit_depth=bit_depth, quality=quality, buffer_size=buffer_size),
            )
            continue
        chain = spec.build_for(source)
        traced = _plotted_compressor(chain) if plot is not None or report is not None else None
        result = render(
            source,
            target,
            chain,
            key=key,
            bit_depth=bit_depth,
            quality=quality,
            buffer_size=buffer_size,
            progress=None if progress else False,
            trace_gain=traced is not None or report is not None,
        )
        if plot is not None:
            from .plot import plot_file_compare

            gain = None
            if traced is not None and any(report.path == traced for report in result.stages):
                gain = result.stage(traced).gain_reduction_db
            plot_file_compare(
                source, target, plot, gain_reduction_db=gain if gain is not None and gain.size > 1 else None
            )
            typer.echo(str(plot), err=True)
        if report is not None:
            from .report import report_for_render

            page = report_for_render(spec, result, report, key=key, removed_count=report_removed,
                                     buffer_size=buffer_size)  # fmt: skip
            typer.echo(f"{page.path}  ({page.size_bytes / 1e6:.1f} MB)", err=True)
        typer.echo(
            f"{result.output_path}  ({result.frames / result.sample_rate:.1f} s audio in "
            f"{result.seconds:.1f} s, {speed_text(result.realtime_factor)})",
            err=True,
        )


def _check_report_path(path: Path) -> None:
    """Refuse, before any work, a report path that is not an .html file in an existing folder."""
    target = expand_user(path)
    if target.suffix.lower() not in (".html", ".htm"):
        raise ClarityError(f"{target}: a report is a web page; give a name ending in .html")
    if not _is_dir(target.parent):
        raise ClarityError(f"{target.parent} is not a folder; create it first or choose another path")
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise ClarityError(f"{target.parent}: cannot write there (permission denied); choose another path")


@app.command("report")
def report_command(
    before: Annotated[Path, typer.Argument(help="The original recording.", readable=False)],
    afters: Annotated[
        list[Path], typer.Argument(help="One or more processed versions.", readable=False, show_default=False)
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="The HTML page to write.")],
    labels: Annotated[
        list[str] | None, typer.Option("--label", help="Name of each processed version, in order.")
    ] = None,
    matched: Annotated[
        bool, typer.Option("--match/--no-match", help="Start loudness-matched to BEFORE (the page switches).")
    ] = True,
    max_mb: Annotated[float, typer.Option(help="Largest page, MB: the audio bitrate fits it.")] = 20.0,
) -> None:
    """Write a self-contained listening page: clarity report take.wav clean.flac -o report.html"""
    from .report import write_report

    _check_report_path(output)
    if not max_mb > 0:
        raise ClarityError(f"--max-mb {max_mb:g}: use a positive size")
    result = write_report(before, afters, output, labels=labels or None, matched=matched,
                          max_bytes=int(max_mb * 1e6))  # fmt: skip
    typer.echo(f"{result.path}  ({result.size_bytes / 1e6:.1f} MB, audio {result.kbps} kbit/s)", err=True)


def speed_text(factor: float) -> str:
    """``"37x realtime"``, with a decimal below 10 (``"0.4x realtime"``)."""
    return f"{factor:.1f}x realtime" if factor < 10 else f"{factor:.0f}x realtime"


def note_first_compile() -> None:
    """Say on stderr when numba will compile the DSP kernels (a fresh install's first run).

    numba caches compiled kernels in the package's ``__pycache__`` folders; with
    none there (and no ``NUMBA_CACHE_DIR``), the first render spends 20 to 40 s
    compiling, which would otherwise look like a hang.
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    package = Path(__file__).resolve().parent
    if not any(package.glob("**/__pycache__/*.nbi")):
        typer.echo(
            "first run: numba compiles the DSP kernels of clarity's processors as they are first used "
            "(20-40 s, once; later runs load them from its cache)",
            err=True,
        )


def _plotted_compressor(chain: Any) -> tuple[int, ...] | None:
    """Walk path of the compressor whose gain reduction --plot draws (the render's report has it)."""
    from .chain import walk
    from .processors.compressor import HardKneeCompressor

    compressors = [node for node in walk(chain) if isinstance(node.plugin, HardKneeCompressor)]
    if not compressors:
        return None
    # The level compressor, not a de-esser or ducker (those listen to a key).
    plain = [node for node in compressors if node.plugin.key is None and not node.plugin.keyed]
    return (plain or compressors)[0].path


def _apply_isolated(
    preset: tuple[str, list[str], str | None], source: Path, target: Path, timeout: float | None,
    options: dict[str, Any],
) -> None:
    """One file rendered in a child process; a crash or hang is a one-line error.

    ``preset`` is (name or file, --set overrides, --listen-removed stage): the child applies them to
    the file's own text, so its messages name the file's lines and the options.
    """
    from .batching import Task, render_isolated
    from .preset import find_preset, read_preset_text

    name, overrides, removed = preset
    path = find_preset(name)
    task = Task(read_preset_text(path), str(path), source, target, False, options, tuple(overrides), removed)
    result = render_isolated(task, timeout)
    if result.status == "failed":
        raise ClarityError(result.reason)
    typer.echo(f"{target}  ({result.audio_seconds:.1f} s audio, isolated)", err=True)


@app.command()
def plugins(
    name: Annotated[
        str | None,
        typer.Argument(metavar="NAME", help="A processor type (or mix, vst3): print its full manual."),
    ] = None,
    vst3: Annotated[Path | None, typer.Option(help="List this VST3 plugin's parameters instead.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The manual: every processor type, its parameters and the chain-item keys; NAME prints one in full."""
    from .registry import processor_types

    if vst3 is not None:
        from .manual import format_number
        from .preset import load_vst3

        path = expand_user(vst3)
        if not path.exists():
            raise ClarityError(f"{path}: VST3 plugin not found; check the path")
        plugin = load_vst3(path, {})
        rows = {}
        for pname, param in plugin.parameters.items():
            rows[pname] = {
                "min": param.min_value,
                "max": param.max_value,
                "default": param.raw_value,
                "unit": param.label or "",
                "value": str(param.string_value),
            }
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "path": str(path),
                        "latency_samples": plugin.reported_latency_samples,
                        "parameters": rows,
                    },
                    indent=2,
                    default=str,
                )
            )
            return
        typer.echo(f"{path.name}  latency {plugin.reported_latency_samples} samples")
        for pname, row in rows.items():
            low, high = (format_number(row[k]) if isinstance(row[k], (int, float)) else str(row[k])
                         for k in ("min", "max"))
            typer.echo(f"  {pname:<24} {low:>8} .. {high:<8} {row['unit']}")
        return
    from .manual import overview, processor_manual, summary

    if name is not None:
        if as_json:
            from .registry import get_type

            if name in ("mix", "vst3"):
                from .schema import preset_schema

                typer.echo(json.dumps(preset_schema()["$defs"][name], indent=2))
                return
            kind = get_type(name)
            typer.echo(json.dumps({"origin": kind.origin, "doc": summary(kind.cls.__doc__ or ""),
                                   "params": kind.params}, indent=2, default=str))
            return
        typer.echo(processor_manual(name), nl=False)
        return
    types = processor_types()
    if as_json:
        typer.echo(
            json.dumps(
                {n: {"origin": t.origin, "params": t.params} for n, t in types.items()}, indent=2, default=str
            )
        )
        return
    typer.echo(overview(), nl=False)


def _flatten(report: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for key, value in report.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and not {"before", "after"} <= set(value):
            rows.update(_flatten(value, f"{name}."))
        else:
            rows[name] = value
    return rows


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, list):
        return ", ".join(_fmt(v) for v in value)
    return str(value)


@app.command()
def analyze(
    file: Annotated[Path, typer.Argument(help="Audio file to measure.", readable=False)],
    compare: Annotated[
        Path | None, typer.Option(help="A second file (e.g. the processed one) to compare.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the JSON report (schema_version 1).")
    ] = False,
    plot: Annotated[Path | None, typer.Option(help="Write a PNG: spectrograms and waveforms.")] = None,
) -> None:
    """Loudness, true peak, noise floor, hum and balance; before/after with --compare."""
    from .analysis import analyze_file
    from .analysis import compare as compare_reports

    report = analyze_file(file)
    result: dict[str, Any] = report
    if compare is not None:
        result = compare_reports(report, analyze_file(compare))
    if plot is not None:
        from .plot import plot_file, plot_file_compare

        if compare is not None:
            plot_file_compare(file, compare, plot)
        else:
            plot_file(file, plot)
    if as_json:
        typer.echo(json.dumps(result, indent=2, allow_nan=False))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=str(file) if compare is None else f"{file} → {compare}")
    table.add_column("measure")
    if compare is None:
        table.add_column("value", justify="right")
        for name, value in _flatten(result).items():
            table.add_row(name, _fmt(value))
    else:
        for column in ("before", "after", "difference"):
            table.add_column(column, justify="right")
        for name, value in _flatten(result).items():
            if isinstance(value, dict):
                table.add_row(
                    name, _fmt(value["before"]), _fmt(value["after"]), _fmt(value.get("difference"))
                )
    Console().print(table)
    if plot is not None:
        typer.echo(str(plot), err=True)


@app.command()
def response(
    preset: Annotated[str, typer.Argument(help="Preset name or YAML file.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="PNG to write.")],
    sample_rate: Annotated[float, typer.Option(help="Sample rate of the response, Hz.")] = 48000.0,
    overrides: Overrides = None,
) -> None:
    """Plot the combined magnitude response of a preset's linear stages."""
    from .plot import plot_response
    from .preset import load_preset_spec

    spec = load_preset_spec(preset, overrides or [])
    rate = spec.sample_rate or sample_rate
    plot_response(spec.build(rate), rate, output)
    typer.echo(str(output), err=True)


@app.command()
def master(
    inputs: Annotated[list[Path], typer.Argument(help="Files, or an album folder.")],
    out_dir: Annotated[
        Path, typer.Option("--out-dir", "-o", help="Folder for the results (created if missing).")
    ],
    preset: Annotated[str, typer.Option(help="A master-* preset (ends with loudness_normalize).")] = (
        "master-streaming"
    ),
    album: Annotated[
        bool, typer.Option(help="One gain for the whole album (album ReplayGain's rule).")
    ] = False,
    suffix: Annotated[str, typer.Option(help="Added to each output name.")] = "",
    output_format: Annotated[
        str | None, typer.Option("--format", help="Output extension, e.g. flac.")
    ] = None,
    overrides: Overrides = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the per-track report as JSON.")] = False,
) -> None:
    """Loudness-master tracks: clarity master ALBUM_DIR -o out/ --preset master-streaming --album"""
    from .mastering import master as run_master

    reports = run_master(
        inputs,
        out_dir,
        preset,
        album=album,
        suffix=suffix,
        output_format=output_format,
        overrides=overrides or [],
    )
    if as_json:
        rows = [
            {
                "input": str(r.input_path),
                "output": str(r.output_path),
                "loudness_before_lufs": r.loudness_before,
                "loudness_after_lufs": r.loudness_after,
                "gain_db": r.gain_db,
                "true_peak_after_dbtp": r.true_peak_after_dbtp,
            }
            for r in reports
        ]
        typer.echo(json.dumps({"album": album, "tracks": rows}, indent=2, allow_nan=False))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{'album' if album else 'per-track'} mastering with {preset}")
    for column in ("track", "before LUFS", "gain dB", "after LUFS", "true peak dBTP"):
        table.add_column(column, justify="left" if column == "track" else "right")
    for r in reports:
        table.add_row(
            r.output_path.name,
            _fmt(r.loudness_before),
            _fmt(r.gain_db),
            _fmt(r.loudness_after),
            _fmt(r.true_peak_after_dbtp),
        )
    Console().print(table)


@app.command("match")
def match_command(
    reference: Annotated[
        Path, typer.Option("--reference", "-r", help="Reference recording, or a profile saved as .json.")
    ],
    inputs: Annotated[
        list[Path] | None,
        typer.Argument(help="Audio file(s) to match (none: only analyse the reference).", readable=False),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Output file, or folder for several inputs.")
    ] = None,
    save_profile: Annotated[
        Path | None, typer.Option(help="Save the reference's analysis as JSON, to match an album to it.")
    ] = None,
    amount: Annotated[float, typer.Option(help="0 = unchanged, 1 = the full match.")] = 1.0,
    smoothing_octaves: Annotated[float, typer.Option(help="Spectral smoothing, octaves.")] = 1.0 / 6.0,
    max_gain_db: Annotated[
        float, typer.Option(help="Safety bound of the EQ curve, +-dB (bands that differ more stop there).")
    ] = 30.0,
    loudness: Annotated[bool, typer.Option(help="Match the reference's integrated loudness.")] = True,
    width: Annotated[bool, typer.Option(help="Match the reference's stereo width (mid/side).")] = False,
    ceiling_dbtp: Annotated[
        float, typer.Option(help="True-peak ceiling of the result, dBTP (loudness is kept).")
    ] = -1.0,
    no_ceiling: Annotated[
        bool, typer.Option("--no-ceiling", help="No ceiling: peaks may pass 0 dBFS.")
    ] = False,
    bit_depth: BitDepth = None,
    quality: Quality = None,
    buffer_size: BufferSize = 8192,
) -> None:
    """Match to a reference's spectrum and loudness: clarity match mix.wav -r ref.flac -o out.flac"""
    from .chain import Chain
    from .processors.match_eq import MatchEQ, load_reference
    from .rendering import render

    if not inputs and save_profile is None:
        raise ClarityError("nothing to do: give an input to match (with -o), or --save-profile to keep "
                           "the reference's analysis")
    if inputs and output is None:
        raise ClarityError("-o is missing: give the output file (or a folder for several inputs)")
    if save_profile is not None and save_profile.suffix.lower() != ".json":
        raise ClarityError(f"--save-profile {save_profile}: a profile is saved as .json; "
                           "use a name ending in .json")
    pairs = _outputs(list(inputs or []), output) if inputs and output is not None else []
    resolved = expand_user(reference).resolve()
    for _, target in pairs:
        if expand_user(target).resolve() == resolved:
            raise ClarityError(f"{target} is the reference; write to another path "
                               "(the reference is never modified)")
    profile = load_reference(reference)
    if profile.is_silent:
        raise ClarityError(f"the reference {reference} is silent; give a recording with sound in it")
    if save_profile is not None:
        typer.echo(str(profile.save(save_profile)), err=True)
    if pairs:
        note_first_compile()
    for source, target in pairs:
        # The ceiling's limiter is inside MatchEQ, which refines its gain and curve through it, so
        # the limited result keeps the reference's loudness and third-octave spectrum.
        match = MatchEQ(reference=profile, amount=amount, smoothing_octaves=smoothing_octaves,
                        max_gain_db=max_gain_db, match_loudness=loudness, match_width=width,
                        ceiling_dbtp=None if no_ceiling else ceiling_dbtp)
        result = render(source, target, Chain([match]), bit_depth=bit_depth, quality=quality,
                        buffer_size=buffer_size)
        reports = [r for r in result.stages if r.type_name == "MatchEQ"]
        gain = reports[0].gain_db if reports else None
        level = "" if gain is None else f"gain {gain:+.1f} dB, "
        typer.echo(
            f"{result.output_path}  ({level}{result.frames / result.sample_rate:.1f} s audio in "
            f"{result.seconds:.1f} s, {speed_text(result.realtime_factor)})",
            err=True,
        )


@app.command("batch")
def batch_command(
    preset: Annotated[str, typer.Argument(help="Preset name (see 'clarity presets list') or YAML file.")],
    inputs: Annotated[
        list[str], typer.Argument(help="Audio files, folders or globs ('rec/**/*.wav').", show_default=False)
    ],
    out_dir: Annotated[Path, typer.Option("--out-dir", "-o", help="Output folder; keeps input folders.")],
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", help="Processes (default: 1 per core).")] = None,
    suffix: Annotated[str, typer.Option(help="Added to each output name, e.g. -clean.")] = "",
    format: Annotated[
        str | None, typer.Option("--format", help="wav, flac, ogg, mp3 or aiff (default: the input's).")
    ] = None,
    skip_existing: Annotated[
        bool, typer.Option("--skip-existing", help="Skip files whose output exists (finish a run).")
    ] = False,
    isolate: Annotated[
        bool, typer.Option("--isolate", help="Each file in its own process: a plugin crash costs one file.")
    ] = False,
    timeout: Annotated[
        float | None, typer.Option(help="Fail a file that takes longer than this many seconds.")
    ] = None,
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler, e.g. tcp://host:8786.")] = None,
    overrides: Overrides = None,
    bit_depth: BitDepth = None,
    quality: Quality = None,
    buffer_size: BufferSize = 8192,
    progress: Annotated[bool, typer.Option(help="Show one progress bar for the batch.")] = True,
) -> None:
    """Apply a preset to many files: clarity batch vocal-clarity takes/ --out-dir clean/ --suffix -clean"""
    from rich.console import Console

    from .batching import batch as run_batch
    from .batching import summary_table

    try:
        note_first_compile()
        results = run_batch(
            preset,
            inputs,
            out_dir,
            overrides=overrides or [],
            jobs=jobs,
            suffix=suffix,
            format=format,
            skip_existing=skip_existing,
            isolate=isolate,
            timeout=timeout,
            scheduler=scheduler,
            bit_depth=bit_depth,
            quality=quality,
            buffer_size=buffer_size,
            progress=None if progress else False,
        )
    except KeyboardInterrupt as stop:
        done = len(getattr(stop, "results", []))
        raise _Interrupted(
            f"interrupted after {done} files; no partial output was left; "
            "rerun with --skip-existing to finish"
        ) from None
    Console().print(summary_table(results))
    if results.failed:
        raise typer.Exit(1)


@presets_app.command("list")
def presets_list() -> None:
    """List named presets: the user's folder, then the shipped ones; a user preset is marked."""
    from .preset import list_presets, parse_preset, read_preset_text, shipped_presets, user_preset_dir

    shipped = shipped_presets()
    mine = 0
    for name, path in list_presets().items():
        try:
            description = parse_preset(read_preset_text(path), str(path)).description
        except ClarityError as err:
            description = f"(invalid: {err})"
        mark = ""
        if shipped.get(name) != path:
            mine += 1
            mark = "[user, shadows the shipped preset] " if name in shipped else "[user] "
        typer.echo(f"{name:<22} {mark}{description}")
    if mine:
        typer.echo(f"[user]: your presets, from {user_preset_dir()}; one named like a shipped preset "
                   "is used in its place", err=True)


@presets_app.command("show")
def presets_show(name: Annotated[str, typer.Argument(help="Preset name or file.")]) -> None:
    """Print a preset's YAML."""
    from .preset import find_preset

    typer.echo(find_preset(name).read_text(encoding="utf-8").rstrip())


@presets_app.command("validate")
def presets_validate(files: Annotated[list[Path], typer.Argument(help="Preset files or names.")]) -> None:
    """Check presets without running them; exit 1 if any is invalid."""
    from .preset import load_preset_spec

    failed = 0
    for path in files:
        try:
            load_preset_spec(str(path))
            typer.echo(f"ok    {path}")
        except ClarityError as err:
            failed += 1
            typer.echo(f"error {err}", err=True)
    if failed:
        raise typer.Exit(1)


@presets_app.command("schema")
def presets_schema() -> None:
    """Print the JSON Schema of preset files, for editors."""
    from .schema import preset_schema

    typer.echo(json.dumps(preset_schema(), indent=2))


@presets_app.command("export")
def presets_export(
    preset: Annotated[str, typer.Argument(help="Preset name or file.")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="YAML file to write; its name is the new preset's name.")
    ],
    overrides: Overrides = None,
) -> None:
    """Write a preset, with --set overrides applied, as a complete YAML file under a new name."""
    from .preset import load_preset_spec, save_preset, shipped_presets, user_preset_dir

    target = expand_user(output)
    name = target.stem
    if name in shipped_presets():
        raise ClarityError(
            f"{output}: an export named {name!r} would shadow the shipped preset {name!r} "
            f"(presets are named by their file); choose another file name, e.g. -o {name}-mine.yaml"
        )
    spec = load_preset_spec(preset, overrides or [])
    changes = f" with --set {' --set '.join(overrides)}" if overrides else ""
    origin = f"Exported from {spec.name}{changes}."
    description = f"{spec.description.rstrip()} {origin}".strip()
    save_preset(spec.build(), target, name=name, description=description)
    typer.echo(
        f"{output}  (preset {name!r}, {origin[0].lower()}{origin[1:-1]}; "
        f"put it in {user_preset_dir()} to use it by name)",
        err=True,
    )


@listen_app.command("make")
def listen_make(
    input_path: Annotated[
        Path, typer.Argument(metavar="INPUT", help="The recording to test on (only read).")
    ],
    presets: Annotated[
        list[str],
        typer.Option("--preset", help="Preset name or file to compare (repeat).", show_default=False),
    ],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="New (or empty) folder for the page and key.")
    ],
    overrides: Overrides = None,
    pairs: Annotated[
        str, typer.Option(help="'original': each preset vs the unprocessed input; 'all': every pair.")
    ] = "original",
    repeats: Annotated[int, typer.Option(help="A/B trials per pair (6+ to decide one).")] = 2,
    abx: Annotated[int, typer.Option(help="ABX trials per pair, after the A/B trials (5+ to decide).")] = 0,
    seconds: Annotated[float, typer.Option(help="Length of the excerpt, seconds.")] = 15.0,
    start: Annotated[
        float, typer.Option(help="Start of the excerpt, seconds (the whole file is rendered).")
    ] = 0.0,
    seed: Annotated[int | None, typer.Option(help="Seed of the order and sides (default random).")] = None,
    lufs: Annotated[float, typer.Option(help="Loudness every version plays at.")] = -23.0,
    max_mb: Annotated[float, typer.Option(help="Largest page, MB (sets the Vorbis bitrate).")] = 20.0,
    key: Annotated[
        Path | None, typer.Option(help="Write the key here instead of OUTPUT/key.json (to hand OUTPUT on).")
    ] = None,
) -> None:
    """Write a blind A/B (and ABX) test page: clarity listen make take.wav --preset vocal-clarity -o test"""
    from .listening import KEY_NAME, PAGE_NAME, make_test

    if not max_mb > 0:
        raise ClarityError(f"--max-mb {max_mb:g}: give a positive size, e.g. 20")
    note_first_compile()
    made = make_test(input_path, presets, output, overrides=overrides or [], pairs=pairs, repeats=repeats,
                     abx=abx, seconds=seconds, start=start, seed=seed, lufs=lufs,
                     max_bytes=int(max_mb * 1e6), key_path=key)  # fmt: skip
    page = output / PAGE_NAME
    n_abx = sum(t["type"] == "abx" for t in made["trials"])
    typer.echo(
        f"{page}: {len(made['trials']) - n_abx} A/B and {n_abx} ABX trials of "
        f"{len(made['versions'])} versions, "
        f"{page.stat().st_size / 1e6:.1f} MB; key: {key if key is not None else output / KEY_NAME} "
        "(do not open it before the test)"
    )


@listen_app.command("score")
def listen_score(
    answers: Annotated[
        list[Path], typer.Argument(metavar="ANSWERS.json...", help="Answers saved by test pages, or results.")
    ],
    keys: Annotated[
        list[Path] | None, typer.Option("--key", help="Key of a test (default: key.json beside its page).")
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the result (answers joined with the key) here.")
    ] = None,
) -> None:
    """Score blind-test answers: wins, preference rates, sign tests with Holm correction, ABX."""
    from .listening import format_score, result_json, score_files, write_json

    score = score_files(answers, keys or [])
    typer.echo(format_score(score))
    if json_out is not None:
        write_json(json_out, result_json(score))
        typer.echo(str(json_out), err=True)


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                      file: Any = None, line: str | None = None) -> None:
    """Show a warning as ``clarity: warning: ...``, without the source line under it."""
    typer.echo(f"clarity: warning: {message}", err=True)


#: Signals that stop clarity the way Ctrl-C does: temporary files removed, worker processes ended.
STOP_SIGNALS = ("SIGTERM", "SIGHUP", "SIGUSR1")
_stopped_by: list[int] = []  # the stop signal received during this main(), if any


def _stop_requested(signum: int, frame: Any) -> None:
    _stopped_by.append(signum)
    raise KeyboardInterrupt  # every cleanup path (render's temp file, the worker pools) handles this


def _install_stop_handlers() -> dict[int, Any]:
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {}
    for name in STOP_SIGNALS:
        number = getattr(signal, name, None)
        if number is not None:
            previous[number] = signal.signal(number, _stop_requested)
    return previous


def _click_errors() -> tuple[type[BaseException], type[BaseException]]:
    """The command-line parser's error classes: (usage and other ClickExceptions, Abort)."""
    try:
        from typer._click.exceptions import ClickException  # typer bundles its own click
    except ImportError:  # pragma: no cover - older typer uses click itself
        from click.exceptions import ClickException
    return ClickException, typer.Abort


def one_line(text: str) -> str:
    """``text`` with control characters escaped (a file name may hold a newline): one line on a terminal.

    Examples
    --------
    >>> one_line("take\n1.wav: no such file")
    'take\\n1.wav: no such file'
    """
    return "".join(c.encode("unicode_escape").decode("ascii") if c < " " or "\x7f" <= c <= "\x9f" else c
                   for c in text)


def main(argv: list[str] | None = None) -> None:
    """Entry point: a user error is one line on stderr and exit status 2, no traceback."""
    import signal

    code: int | str | None = 0
    shown, warnings.showwarning = warnings.showwarning, _one_line_warning
    _stopped_by.clear()
    handlers = _install_stop_handlers()
    try:
        returned = app(args=argv, standalone_mode=False)  # usage errors come here, to be said in one line
        code = returned if isinstance(returned, int) else 0
    except SystemExit as done:
        code = done.code
    except _click_errors() as err:
        if isinstance(err, _click_errors()[1]):  # Abort: Ctrl-C at a prompt
            code = 130
        elif type(err).__name__ == "NoArgsIsHelpError":  # bare 'clarity' or 'clarity presets': the help
            err.show()
            code = err.exit_code
        else:
            where = getattr(getattr(err, "ctx", None), "command_path", None) or "clarity"
            message = err.format_message().rstrip(".")
            typer.echo(one_line(f"clarity: error: {message}; see '{where} --help'"), err=True)
            code = err.exit_code
    except ClarityError as err:
        typer.echo(one_line(f"clarity: error: {err}"), err=True)
        code = 2
    except _Interrupted as stop:
        typer.echo(f"clarity: {stop}", err=True)
        code = 131  # reported; becomes 130 below without a second message
    except KeyboardInterrupt:
        code = 130
    finally:
        warnings.showwarning = shown
        for number, handler in handlers.items():
            signal.signal(number, handler)
    if isinstance(code, str):
        typer.echo(code, err=True)
        code = 1
    if code == 130:  # typer turns Ctrl-C into a silent exit 130
        typer.echo("clarity: interrupted; no partial output was left", err=True)
    elif code == 131:
        code = 130
    if _stopped_by and code == 130:
        code = 128 + _stopped_by[0]  # the shell's convention for "ended by signal N"
    sys.exit(code or 0)


def entry() -> None:
    """Console-script entry: :func:`main`, then a quick exit.

    Files are closed and temporary files removed by then. Skipping interpreter
    teardown keeps VST3 plugins' destructor chatter ("DPF warning: ...") off
    the user's one-line error.
    """
    try:
        main()
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
