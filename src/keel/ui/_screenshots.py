"""Screenshots of every dashboard page for docs/dashboard.md, from a real quickstart.

Run from the repository root (Chromium and Playwright installed, as for the browser
tests)::

    python -m keel.ui._screenshots                  # writes docs/images/dashboard-*.png
    python -m keel.ui._screenshots --out /tmp/shots --project /tmp/demo  # keep the project

It runs the quickstart's closed loop (``keel.quickstart.run``, fast mode) into a fresh
folder, serves the dashboard over it on 127.0.0.1 with no token, opens each page in
headless Chromium at 1280x800, waits until its script says it is ready, and saves the
viewport as a PNG. When ImageMagick's ``convert`` is on the PATH each PNG is reduced to a
256-colour palette (a few times smaller; the pages are flat colours and text). A page
that logs a console error or a failed request stops the run, so a screenshot never shows
a broken page.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CHROMIUM", "Shot", "main", "shots", "take"]

CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1280, "height": 800}
DEFAULT_OUT = Path("docs/images")


@dataclass(frozen=True)
class Shot:
    """One page to capture: its file name stem, path under ``/ui/p/<project>/``, what it
    shows (the image's alt text), and the element to scroll to the top first, if any."""

    name: str
    path: str
    alt: str
    scroll: str | None = None


def shots(api: Any) -> list[Shot]:
    """The pages to capture, with the ids the quickstart made read from the REST API
    (``api``: an ``httpx.Client`` on the server)."""
    base = "/api/v1/projects/default"
    search = {"experiments": [], "order_by": ["metrics.roc_auc desc"], "max_results": 2}
    best = api.post(f"{base}/runs/search", json=search).json()
    runs = api.get(f"{base}/pipelines/-/runs", params={"limit": 20}).json()
    retrain = next(r for r in runs if r["pipeline"] == "retrain")
    first, second = (r["id"] for r in best)
    pipeline_run = f"pipelines/retrain/runs/{retrain['id']}"
    return [
        Shot("overview", "", "the Overview: experiments, datasets, models, deployments, alerts"),
        Shot("runs", "runs", "the Runs table with its filter, columns and paging"),
        Shot("run", f"runs/{first}", "a run: params, metric charts, artifacts, lineage"),
        Shot("compare", f"compare?ids={first},{second}", "two runs compared"),
        Shot("model", "models/credit-default", "a model's versions, aliases and evaluations"),
        Shot("deployment", "deployments/credit-scoring", "a deployment's routes and split"),
        Shot(
            "deployment-health",
            "deployments/credit-scoring",
            "a deployment's throughput, p99 latency and error rate, and its rollouts",
            scroll="#h-health",
        ),
        Shot("dataset", "datasets/credit", "a dataset's versions, profile and validation"),
        Shot("monitoring", "monitoring", "the drift heat map and performance over time"),
        Shot("alerts", "monitoring", "alerts with Acknowledge and Resolve", scroll="#h-alerts"),
        Shot("lineage", "lineage?ref=credit:v1", "the lineage graph around a dataset version"),
        Shot("pipelines", "pipelines", "the pipelines, their runs and the agent"),
        Shot("pipeline-run", pipeline_run, "a pipeline run's DAG with each step's state"),
    ]


def take(page: Any, url: str, path: Path, scroll: str | None = None) -> None:
    """Open ``url`` in ``page``, wait until it is ready, scroll ``scroll`` (a selector) to
    the top if given, and save the viewport to ``path``.

    Raises:
        RuntimeError: the page reported an error, logged one, or a request failed.
    """
    problems: list[str] = []
    page.on("console", lambda m: m.type == "error" and problems.append(m.text))
    page.on("pageerror", lambda e: problems.append(f"uncaught: {e}"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"{r.status}: {r.url}"))
    page.goto(url)
    page.wait_for_selector("body[data-ready]")
    page.wait_for_load_state("networkidle")
    status = page.get_attribute("body", "data-ready")
    if status != "true" or problems:
        raise RuntimeError(
            f"{url} is not clean ({status}): {problems or page.text_content('#status')}"
        )
    if scroll is not None:
        page.eval_on_selector(scroll, "el => el.scrollIntoView({block: 'start'})")
    page.screenshot(path=str(path))


def _shrink(path: Path) -> None:
    convert = shutil.which("convert")
    if convert is None:
        return
    smaller = path.with_suffix(".small.png")
    done = subprocess.run(
        [convert, str(path), "-strip", "-colors", "256", f"PNG8:{smaller}"], capture_output=True
    )
    if done.returncode == 0 and smaller.stat().st_size < path.stat().st_size:
        smaller.replace(path)  # atomic: the image is whole either way
    else:
        smaller.unlink(missing_ok=True)


def _quickstart(folder: Path) -> Any:
    from keel.config import resolve
    from keel.quickstart import run

    print(f"running the quickstart in {folder} (a minute or two)...", file=sys.stderr)
    run(folder, fast=True)
    return resolve(cwd=folder)


def capture(project: Path, out: Path, only: set[str] | None = None) -> Iterator[Path]:
    """Fill ``project`` with the quickstart, serve it and write each page's PNG to ``out``
    (only the pages named in ``only`` when given); yields each file as it is written."""
    import httpx
    from playwright.sync_api import sync_playwright

    from keel.server import create_app
    from keel.serving import serve_in_thread

    config = _quickstart(project)
    out.mkdir(parents=True, exist_ok=True)
    app = create_app(config, auth=False)
    with (
        serve_in_thread(app) as url,
        httpx.Client(base_url=url) as api,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            for shot in shots(api):
                if only and shot.name not in only:
                    continue
                page = browser.new_page(viewport=VIEWPORT)
                page.set_default_timeout(30_000)
                path = out / f"dashboard-{shot.name}.png"
                partial = path.with_suffix(".part.png")
                take(page, f"{url}/ui/p/{config.project}/{shot.path}", partial, shot.scroll)
                partial.replace(path)
                _shrink(path)
                page.close()
                yield path
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the PNGs go")
    parser.add_argument("--project", type=Path, help="run the quickstart here and keep it")
    parser.add_argument(
        "--only", help="comma-separated page names (e.g. overview,alerts); default: every page"
    )
    args = parser.parse_args(argv)
    only = {name.strip() for name in args.only.split(",")} if args.only else None
    if not Path(CHROMIUM).exists():
        parser.error(f"no Chromium at {CHROMIUM}: install Debian's chromium package")
    folder = args.project or Path(tempfile.mkdtemp(prefix="keel-screenshots-"))
    try:
        for path in capture(folder, args.out, only):
            print(f"{path} ({path.stat().st_size // 1024} KiB)")
    finally:
        if args.project is None:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
