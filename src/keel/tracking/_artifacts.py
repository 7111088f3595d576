"""A run's artifacts back on disk: one, a folder of them, or all, verified as they are read.

Works on any :class:`TrackingBackend` (a store or a keel server): it reads each artifact
through ``open_artifact``, which checks the bytes against the recorded digest.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path, PurePosixPath

from keel._plural import plural
from keel.errors import AlreadyExists, InvalidInput, NotFound, did_you_mean

from ._backend import TrackingBackend
from ._records import ArtifactRecord, RunRecord

__all__ = ["download_artifacts", "select_artifacts"]


def select_artifacts(run: RunRecord, name: str | None = None) -> list[ArtifactRecord]:
    """The artifacts of ``run`` that ``name`` names: one by its name, every artifact under a
    folder name (``model`` gives ``model/...``), or all of them when ``name`` is None.

    Raises:
        NotFound: no artifact has this name or lies under it; the message lists them.
    """
    if name is None:
        return list(run.artifacts)
    if not isinstance(name, str) or not name.strip("/"):
        raise InvalidInput(f"An artifact name is a non-empty string. Got {name!r:.80}.")
    folder = name.rstrip("/") + "/"
    chosen = [a for a in run.artifacts if a.name == name or a.name.startswith(folder)]
    if not chosen:
        names = [a.name for a in run.artifacts]
        raise NotFound(
            f"Run {run.id} has no artifact named {name!r}, nor a folder of them."
            f"{did_you_mean(name, names)} It has: {', '.join(names[:20]) or 'none'}"
            f"{' ...' if len(names) > 20 else ''}."
        )
    return chosen


def download_artifacts(
    backend: TrackingBackend,
    run: RunRecord,
    name: str | None = None,
    to: str | os.PathLike[str] = ".",
) -> list[Path]:
    """Write the artifacts of ``run`` that ``name`` names (see :func:`select_artifacts`)
    under folder ``to``, each at its own name (``model/weights.bin`` goes to
    ``to/model/weights.bin``); return the paths written.

    All or nothing: every target is checked first, and files written before a failure
    (a corrupt object, a full disk) are removed again. Existing files are never replaced.

    Raises:
        NotFound: ``name`` names no artifact of the run.
        InvalidInput: ``to`` is a file, or an artifact name would leave ``to``.
        AlreadyExists: a file is already where an artifact would go.
        IntegrityError: an artifact's bytes do not match its digest.
    """
    chosen = select_artifacts(run, name)
    root = Path(to).expanduser().absolute()
    if root.exists() and not root.is_dir():
        raise InvalidInput(f"{root} is a file, not a folder: give a new or existing folder.")
    targets = [(a, root / _safe_relative(a.name, run.id)) for a in chosen]
    taken = [str(path) for _, path in targets if path.exists()]
    if taken:
        raise AlreadyExists(
            f"Not downloading the artifacts of run {run.id}: {', '.join(taken[:5])} already "
            f"{plural(taken, 'exists', 'exist')}. Choose another --to folder, or move them "
            "first. Nothing was written."
        )
    made_root = not root.exists()
    written: list[Path] = []
    try:
        for artifact, path in targets:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
            try:
                with backend.open_artifact(run.id, artifact.name) as src, open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1024 * 1024)
                os.replace(tmp, path)
            finally:
                with contextlib.suppress(OSError):
                    tmp.unlink()
            written.append(path)
    except BaseException:
        for path in written:
            with contextlib.suppress(OSError):
                path.unlink()
        if made_root:
            shutil.rmtree(root, ignore_errors=True)
        raise
    return written


def _safe_relative(name: str, run_id: str) -> Path:
    """An artifact name as a path under the target folder, refusing one that would leave it."""
    parts = PurePosixPath(name).parts
    if (
        not parts
        or name.startswith("/")
        or any(p in ("..", ".", "") for p in parts)
        or ("\\" in name or ":" in parts[0])
    ):
        raise InvalidInput(
            f"Artifact {name!r} of run {run_id} cannot be written as a file under the target "
            "folder (its name is absolute or climbs out with '..'). Read it with "
            "open_artifact instead."
        )
    return Path(*parts)
