"""``keel predict MODEL_REF DATASET_REF``: score a dataset version, keep the predictions.

The typer command; its body, and the plain forms run without typer, are in
:mod:`._predict_run`."""

from __future__ import annotations

import typer

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
    from ._predict_run import run_predict

    run_predict(
        model_ref,
        dataset_ref,
        output=output,
        batch_rows=batch_rows,
        keep=keep,
        ray=ray,
        trust=trust,
        json=json,
    )


def register(app: typer.Typer) -> None:
    app.command("predict")(predict)
