"""The closed-loop example project that ``keel quickstart`` runs.

It grows with keel: each capability adds its step. Today: create a project, version a
synthetic credit dataset and verify it, infer its schema and validate it (turning away a
planted bad batch), train candidate models as tracked runs that
consume it, pick the best by holdout AUC, register it and promote it to ``champion``
through an evaluation gate, deploy it as config and serve it with every prediction logged
(and ground truth fed back), and show the lineage that ties them together.
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

__all__ = ["Summary", "run"]


@dataclass
class Summary:
    """What the quickstart did: the project and one line per step."""

    directory: Path
    steps: list[tuple[str, str]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "steps": [{"step": s, "result": r} for s, r in self.steps],
            **self.facts,
        }

    def print(self, console: Console) -> None:
        from rich.markup import escape
        from rich.panel import Panel
        from rich.table import Table
        from rich.text import Text

        # Text, not markup: a folder or a dataset value may hold '[...]' or ':x:'
        table = Table(show_header=True, header_style="bold", expand=False)
        table.add_column("step")
        table.add_column("result")
        for step, result in self.steps:
            table.add_row(Text.assemble(("✓", "green"), " ", step), Text(result))
        where = escape(str(self.directory))
        console.print(Panel(table, title="keel quickstart", subtitle=where))
        keel = _keel_command()
        request = self.facts.get("request_id")
        lines = [
            f"Explore it: cd {self.directory}, then",
            f"  {keel} runs ls  # the tracked training runs",
            f"  {keel} models show credit-default@champion  # the promoted model",
            f"  {keel} deploy history credit-scoring  # the deployment's rollouts",
            f"  {keel} lake query 'SELECT model_version, count(*) AS n "
            "FROM predictions GROUP BY 1'",
        ]
        if request:
            lines.append(f"  {keel} lineage request:{request}  # one prediction, traced back")
        lines.append(f"  {keel} serve credit-scoring  # serve it yourself; Ctrl-C stops it")
        console.print(Text("\n".join(lines)), soft_wrap=True)  # copyable: never wrapped


def _keel_command() -> str:
    """How to type ``keel`` here: the bare name when it is on PATH, else the full path of
    the one running (``make demo`` runs .venv/bin/keel without activating the venv)."""
    import shutil
    import sys

    if shutil.which("keel"):
        return "keel"
    beside = Path(sys.executable).parent / "keel"
    return str(beside) if beside.exists() else f"{sys.executable} -m keel"


def run(directory: Path | None = None, console: Console | None = None) -> Summary:
    """Run the quickstart in ``directory`` (a new temporary folder by default)."""
    from keel.client import Client
    from keel.store import init_project

    from ._data import make_credit_data
    from ._promote import register_and_promote

    directory = Path(directory or tempfile.mkdtemp(prefix="keel-quickstart-")).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    summary = Summary(directory)

    def say(step: str, result: str) -> None:
        summary.steps.append((step, result))

    def working(message: str):
        return console.status(message) if console is not None else contextlib.nullcontext()

    created = init_project(directory)
    created.close()
    say("create project", f"{directory / '.keel'}")
    client = Client(config=created.config)  # every step goes through the one client
    store = client.store

    data = client.datasets
    frame = make_credit_data()
    version = data.log(frame, "credit", description="synthetic loan applications")
    say(
        "version dataset",
        f"{version.ref}: {version.row_count:,} rows x {len(version.schema)} columns, "
        f"{version.size / 1024:,.0f} KiB, manifest {version.manifest_digest[:12]}",
    )

    manifest = data.manifest(version)
    intact = all(store.objects.verify(entry.digest) for entry in manifest.entries)
    same = intact and data.load(version).equals(frame)
    if not same:
        from keel.errors import IntegrityError

        raise IntegrityError(f"The quickstart dataset {version.ref} did not read back intact.")
    say("verify dataset", "every blake3 digest matches and the table reads back identical")

    from ._validate import validate_data

    with working("validating the data..."):
        checked = validate_data(store, version, directory)
    if not checked.passed:
        from keel.errors import IntegrityError

        raise IntegrityError(f"The quickstart dataset {version.ref} failed its own schema.")
    say(
        "validate data",
        f"schema inferred from {version.ref} -> {checked.schema_path.relative_to(directory)}; "
        f"{version.ref} passes {checked.checks} checks (report {checked.report_id[:12]})",
    )
    say(
        "reject a bad batch",
        f"{len(checked.rejected_errors)} failed checks: {', '.join(checked.rejected_errors)}; "
        "not used for training",
    )

    from ._train import train_candidates

    with working("training candidate models as tracked runs..."):
        trained = train_candidates(client.tracker, frame, version)
    client.tracker.flusher.flush()
    say(
        "train and track models",
        f"{trained.runs} runs in experiment credit-default; best {trained.best_name} "
        f"(holdout AUC {trained.best_auc:.3f}), run {trained.best_run[:12]}",
    )

    with working("registering and evaluating the best model..."):
        promotion = register_and_promote(client.models, data, trained)
    outcome = (
        f"{promotion.champion.split(':')[0]}@champion -> {promotion.version}"
        if promotion.champion
        else "gate failed: champion not moved"
    )
    say(
        "register and promote",
        f"{promotion.version} (ROC AUC {promotion.roc_auc:.3f} on {promotion.holdout}); {outcome}",
    )

    served = None
    if promotion.champion:
        from ._serve import serve_champion

        with working("deploying and serving the champion..."):
            served = serve_champion(client, frame, directory)
        say(
            "deploy and serve",
            f"deploy/credit-scoring.yaml applied (revision {served.revision}); "
            f"{served.requests} requests answered by {served.version} "
            f"(p50 {served.p50_ms:.1f} ms, in-process client)",
        )
        say(
            "log predictions",
            f"{served.logged} predictions and {served.feedback} labels in the lake "
            f"(see: keel lineage request:{served.request_id})",
        )

    graph = client.lineage(version.ref, direction="down")
    say(
        "record lineage",
        f"{version.ref} -> {sum(1 for key in graph.nodes if key[0] == 'run')} runs -> "
        f"{sum(1 for key in graph.nodes if key[0] == 'model_version')} model version "
        f"(see: keel lineage {version.ref})",
    )

    summary.facts.update(
        dataset=version.ref,
        digest=version.manifest_digest,
        rows=len(frame),
        verified=same,
        schema=str(checked.schema_path),
        validation_passed=checked.passed,
        rejected_batch_errors=checked.rejected_errors,
        runs=trained.runs,
        best_run=trained.best_run,
        best_holdout_auc=trained.best_auc,
        model=promotion.version,
        champion=promotion.champion,
        gate_passed=promotion.passed,
        deployment=served.deployment if served else None,
        served_requests=served.requests if served else 0,
        logged_predictions=served.logged if served else 0,
        feedback_labels=served.feedback if served else 0,
        request_id=served.request_id if served else None,
    )
    client.close()
    return summary
