"""``keel predict MODEL_REF DATASET_REF``: score a dataset version, keep the predictions."""

from __future__ import annotations

import sys
import time

import typer

from ._output import console, esc, print_json

__all__ = ["register"]


def predict(
    model_ref: str = typer.Argument(..., help="credit:4, credit@champion or credit (latest)."),
    dataset_ref: str = typer.Argument(..., help="A table version: name, name:vN, name@tag."),
    output: str = typer.Option(
        None, "--output", "-o", help="Dataset to write to (default: <model>-predictions)."
    ),
    batch_rows: int = typer.Option(
        65_536, "--batch-rows", help="Rows scored at a time: memory holds one batch."
    ),
    keep: list[str] = typer.Option(
        None, "--keep", help="Input column to keep beside the predictions (repeatable)."
    ),
    ray: bool = typer.Option(
        False, "--ray", help="Fan out over Ray (KEEL_RAY_ADDRESS, else a local Ray)."
    ),
    trust: bool = typer.Option(False, "--trust", help="Allow a model that runs code on load."),
    json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Score every row of a dataset version with a registered model.

    The predictions (kept columns, prediction, proba_<class> for classifiers) become a new
    dataset version, linked to the model version and the input version in the lineage.
    """
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
        print_json(summary)
        return
    console.print(
        f"scored [bold]{rows:,}[/] rows of {esc(summary['input'])} with "
        f"{esc(summary['model'])} in {seconds:.2f} s "
        f"({summary['rows_per_second'] or 0:,} rows/s, {esc(summary['engine'])})"
    )
    console.print(f"predictions: [bold]{esc(version.ref)}[/]")
    console.print(f"[dim]peak memory of this process: {summary['peak_memory_mib']:,.0f} MiB[/]")


def _peak_memory_mib() -> float:
    """The largest resident memory this process has held, in MiB."""
    try:
        import resource
    except ImportError:  # Windows: the current resident size is the best at hand
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes vs KiB


def register(app: typer.Typer) -> None:
    app.command("predict")(predict)
