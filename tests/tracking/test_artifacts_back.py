"""Artifacts back out of a run (issue 16): one, a folder of them or all, on every backend
and transport, all or nothing, never outside the target folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from keel.errors import AlreadyExists, InvalidInput, NotFound
from keel.tracking import (
    ArtifactRecord,
    RunRecord,
    Tracker,
    TrackingBackend,
    download_artifacts,
)


def _run_with_artifacts(tracker: Tracker, tmp_path: Path):
    folder = tmp_path / "plots"
    (folder / "roc").mkdir(parents=True)
    (folder / "roc" / "curve.txt").write_text("0.1,0.9")
    (folder / "notes.md").write_text("# notes")
    with tracker.start_run("e", capture=False) as run:
        run.log_artifact(b"weights" * 1000, "model.bin")
        run.log_artifact(folder)
    return run


def test_download_one_a_folder_or_all(
    tracker: Tracker, backend: TrackingBackend, tmp_path: Path
) -> None:
    run = _run_with_artifacts(tracker, tmp_path)
    record = backend.get_run(run.id)
    one = download_artifacts(backend, record, "model.bin", tmp_path / "one")
    assert one == [tmp_path / "one" / "model.bin"]
    assert one[0].read_bytes() == b"weights" * 1000
    plots = download_artifacts(backend, record, "plots", tmp_path / "two")
    assert sorted(p.relative_to(tmp_path / "two").as_posix() for p in plots) == [
        "plots/notes.md",
        "plots/roc/curve.txt",
    ]
    assert (tmp_path / "two" / "plots" / "roc" / "curve.txt").read_text() == "0.1,0.9"
    every = run.download_artifacts(to=tmp_path / "all")
    assert len(every) == 3
    assert not list((tmp_path / "all").rglob(".*.part"))


def test_download_refuses_what_it_cannot_do_and_changes_nothing(
    tracker: Tracker, backend: TrackingBackend, tmp_path: Path
) -> None:
    run = _run_with_artifacts(tracker, tmp_path)
    record = backend.get_run(run.id)
    with pytest.raises(NotFound, match=r"no artifact named 'model\.bni'.*model\.bin"):
        download_artifacts(backend, record, "model.bni", tmp_path / "x")
    assert not (tmp_path / "x").exists()
    target = tmp_path / "taken"
    (target / "plots").mkdir(parents=True)
    (target / "plots" / "notes.md").write_text("mine")
    with pytest.raises(AlreadyExists, match="notes.md"):
        download_artifacts(backend, record, None, target)
    assert (target / "plots" / "notes.md").read_text() == "mine"
    assert not (target / "model.bin").exists()
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(InvalidInput, match="is a file, not a folder"):
        download_artifacts(backend, record, "model.bin", a_file)


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/passwd", "a/../../b", "C:\\x"])
def test_a_name_that_would_climb_out_is_refused(tmp_path: Path, name: str) -> None:
    # what a tampered store or server could answer: checked before anything is read
    record = RunRecord("r1", "e", "e1", "run", "FINISHED", 0)
    record.artifacts = [ArtifactRecord(name, "file", "0" * 64, 1, 0)]
    with pytest.raises(InvalidInput, match="climbs out"):
        download_artifacts(None, record, None, tmp_path / "in")  # type: ignore[arg-type]
    assert not (tmp_path / "in").exists()
    assert not (tmp_path / "escape.txt").exists()
