"""``keel predict`` itself, without typer: the command's body, and its plain forms from argv.

Building the typer app (every command group, pydantic adapters for each command's
parameters) took about 0.2 s of CPU time before a batch job started (busy machine). The
plain forms of ``keel predict`` are therefore recognised from argv (see :mod:`._fast`)
and run directly: two references, then ``--output/-o NAME``, ``--batch-rows DIGITS``,
``--keep COLUMN`` (repeatable), ``--ray``, ``--trust`` and ``--json``, options and
references in any order. Anything else (``--help``, ``--debug``, ``--``, an unknown
option, a value that starts with ``-``, a batch size that is not plain digits, a missing
or third reference) is left to the typer app, which prints its usual help and errors.
"""

from __future__ import annotations

from functools import partial

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["plain_predict", "run_predict"]

_VALUED = {"--output": "output", "-o": "output", "--batch-rows": "batch_rows", "--keep": "keep"}
_FLAGS = {"--ray": "ray", "--trust": "trust", "--json": "json"}


def plain_predict(args: list[str]) -> Callable[[], None] | None:
    """``keel predict ARGS`` ready to call when ``args`` is a plain form (see the module);
    None for anything else."""
    refs: list[str] = []
    options: dict = {"output": None, "batch_rows": 65_536, "keep": []}
    options |= dict.fromkeys(_FLAGS.values(), False)
    rest = iter(args)
    for arg in rest:
        name, value = arg, None
        if arg.startswith("--") and "=" in arg:
            name, value = arg.split("=", 1)
        if name in _FLAGS and value is None:
            options[_FLAGS[name]] = True
        elif name in _VALUED:
            value = next(rest, None) if value is None else value
            if value is None or value.startswith("-"):
                return None
            key = _VALUED[name]
            if key == "keep":
                options["keep"].append(value)
            elif key == "batch_rows":
                if not (value.isascii() and value.isdigit()):
                    return None  # typer says why
                options["batch_rows"] = int(value)
            else:
                options[key] = value
        elif arg.startswith("-"):
            return None
        else:
            refs.append(arg)
    if len(refs) != 2:
        return None
    return partial(_plain, *refs, **options)


def _plain(model_ref: str, dataset_ref: str, **options: object) -> None:
    from ._main import configure_cli_logging

    configure_cli_logging(debug=False)  # as the typer app's callback does
    run_predict(model_ref, dataset_ref, **options)  # type: ignore[arg-type]


def run_predict(
    model_ref: str,
    dataset_ref: str,
    *,
    output: str | None,
    batch_rows: int,
    keep: list[str] | None,
    ray: bool,
    trust: bool,
    json: bool,
) -> None:
    """Score ``dataset_ref`` with ``model_ref`` and print the summary (``keel predict``)."""
    import time

    from keel.client import default_client
    from keel.serving.batch import predict_dataset

    from ._gc import ProcessGc
    from ._main import ends_with_command

    collector = ProcessGc(ends_with_command())
    collector.pause()  # until the first batch is scored: the imports and the model's load
    try:
        client = default_client()
        options = {
            "output": output,
            "batch_rows": batch_rows,
            "columns": keep or None,
            "ray": True if ray else None,  # unset: Ray only when KEEL_RAY_ADDRESS is set
            "trust": trust,
            "client": client,
        }
        start = time.perf_counter()
        if json:
            version = predict_dataset(
                model_ref, dataset_ref, progress=lambda rows: collector.resume(), **options
            )
        else:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            from ._output import console

            total = client.datasets.resolve(dataset_ref).row_count
            with Progress(
                TextColumn("scoring"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("rows"),
                console=console,
                transient=True,
            ) as bar:
                task = bar.add_task("score", total=total)

                def advance(rows: int) -> None:
                    collector.resume()
                    bar.advance(task, rows)

                version = predict_dataset(model_ref, dataset_ref, progress=advance, **options)
        seconds = time.perf_counter() - start
    finally:
        collector.settle()
    rows = version.row_count or 0
    summary = {
        "output": version.ref,
        "model": (version.source or {}).get("model"),
        "input": (version.source or {}).get("input"),
        "rows": rows,
        "seconds": round(seconds, 3),
        "rows_per_second": round(rows / seconds) if seconds > 0 else None,
        "peak_memory_mib": _peak_memory_mib(),
        "engine": (version.source or {}).get("engine"),
        "version": version.to_dict(),
    }
    if json:
        _print_json(summary)
    else:
        _print_summary(summary, version.ref, seconds)
    if collector.active:  # this process ends with the command: skip the modules' teardown
        from ._gc import end_process

        end_process(0)


def _print_json(summary: dict) -> None:
    """``print_json`` of :mod:`._output`, without importing rich (which that module does:
    about 0.03 s of CPU time that a scripted job does not need)."""
    import sys

    import orjson

    sys.stdout.write(orjson.dumps(summary, default=str, option=orjson.OPT_INDENT_2).decode() + "\n")
    sys.stdout.flush()


def _print_summary(summary: dict, ref: str, seconds: float) -> None:
    from ._output import console, esc

    rows = summary["rows"]
    console.print(
        f"scored [bold]{rows:,}[/] rows of {esc(summary['input'])} with "
        f"{esc(summary['model'])} in {seconds:.2f} s "
        f"({summary['rows_per_second'] or 0:,} rows/s, {esc(summary['engine'])})"
    )
    console.print(f"predictions: [bold]{esc(ref)}[/]")
    console.print(f"[dim]peak memory of this process: {summary['peak_memory_mib']:,.0f} MiB[/]")


def _peak_memory_mib() -> float:
    """The largest resident memory this process has held, in MiB."""
    import sys

    try:
        import resource
    except ImportError:  # Windows: the current resident size is the best at hand
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes vs KiB
