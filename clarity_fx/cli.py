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


# Options several commands share, declared once.
Overrides = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a parameter: STAGE.PARAM=VALUE (stage by type or index)."),
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
    note_first_compile()
    for source, target in _outputs(inputs, output):
        if isolate:
            _apply_isolated(
                spec,
                source,
                target,
                timeout,
                dict(key=key, bit_depth=bit_depth, quality=quality, buffer_size=buffer_size),
            )
            continue
        chain = spec.build()
        traced = _plotted_compressor(chain) if plot is not None else None
        spec.check_input(source)
        result = render(
            source,
            target,
            chain,
            key=key,
            bit_depth=bit_depth,
            quality=quality,
            buffer_size=buffer_size,
            progress=None if progress else False,
            trace_gain=traced is not None,
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
        typer.echo(
            f"{result.output_path}  ({result.frames / result.sample_rate:.1f} s audio in "
            f"{result.seconds:.1f} s, {speed_text(result.realtime_factor)})",
            err=True,
        )


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
    spec: Any, source: Path, target: Path, timeout: float | None, options: dict[str, Any]
) -> None:
    """One file rendered in a child process; a crash or hang is a one-line error."""
    from .batching import Task, preset_text, render_isolated

    _, text, origin = preset_text(spec)
    result = render_isolated(Task(text, origin, source, target, False, options), timeout)
    if result.status == "failed":
        raise ClarityError(result.reason)
    typer.echo(f"{target}  ({result.audio_seconds:.1f} s audio, isolated)", err=True)


@app.command()
def plugins(
    vst3: Annotated[Path | None, typer.Option(help="List this VST3 plugin's parameters instead.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List processor types and their parameters (or a VST3's)."""
    from .registry import processor_types

    if vst3 is not None:
        from .preset import load_vst3

        path = expand_user(vst3)
        if not path.exists():
            raise ClarityError(f"{path}: VST3 plugin not found; check the path")
        plugin = load_vst3(path, {})
        rows = {}
        for name, param in plugin.parameters.items():
            rows[name] = {
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
        for name, row in rows.items():
            typer.echo(f"  {name:<24} {row['min']!s:>8} .. {row['max']!s:<8} {row['unit']}")
        return
    types = processor_types()
    if as_json:
        typer.echo(
            json.dumps(
                {n: {"origin": t.origin, "params": t.params} for n, t in types.items()}, indent=2, default=str
            )
        )
        return
    for name, kind in types.items():
        typer.echo(f"{name}  [{kind.origin}]  {kind.doc[:70]}")
        for pname, spec in kind.params.items():
            if spec["type"] == "object":
                continue
            low, high = spec["minimum"], spec["maximum"]
            rng = ""
            if low is not None or high is not None:
                opener = "(" if spec.get("exclusive_minimum") else "["
                rng = f"{opener}{'' if low is None else f'{low:g}'}..{'' if high is None else f'{high:g}'}]"
            if spec["choices"]:
                rng = "|".join(spec["choices"])
            typer.echo(
                f"    {pname:<24} {spec['type']:<6} {spec['unit']:<4} {rng:<22} default {spec['default']!r}"
            )


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
    plot_response(spec.build(), spec.sample_rate or sample_rate, output)
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
    max_correction_db: Annotated[float, typer.Option(help="Bound of the EQ curve, +-dB.")] = 12.0,
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
    from .processors.loudness import LoudnessNormalize
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
        match = MatchEQ(reference=profile, amount=amount, smoothing_octaves=smoothing_octaves,
                        max_correction_db=max_correction_db, match_loudness=loudness, match_width=width)
        stages: list[Any] = [match]
        if not no_ceiling:
            # Loudness kept at the match, peaks held under the ceiling (LoudnessNormalize re-measures).
            target_lufs = profile.loudness_lufs if loudness and profile.loudness_lufs is not None else None
            if target_lufs is not None and -70.0 <= target_lufs <= 0.0:
                stages.append(LoudnessNormalize(target_lufs=target_lufs, true_peak_dbtp=ceiling_dbtp))
            else:
                from .processors.limiter import TruePeakLimiter

                stages.append(TruePeakLimiter(ceiling_dbtp=ceiling_dbtp))
        result = render(source, target, Chain(stages), bit_depth=bit_depth, quality=quality,
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
    """List named presets: the user's folder, then the shipped ones."""
    from .preset import list_presets, parse_preset, read_preset_text

    for name, path in list_presets().items():
        try:
            description = parse_preset(read_preset_text(path), str(path)).description
        except ClarityError as err:
            description = f"(invalid: {err})"
        typer.echo(f"{name:<22} {description}")


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
    output: Annotated[Path, typer.Option("-o", "--output", help="YAML file to write.")],
    overrides: Overrides = None,
) -> None:
    """Write a preset, with --set overrides applied, as a complete YAML file."""
    from .preset import load_preset_spec, save_preset

    spec = load_preset_spec(preset, overrides or [])
    save_preset(spec.build(), output, name=spec.name, description=spec.description)
    typer.echo(str(output), err=True)


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
