"""Reading a version's objects back: as a table, or as files in a folder.

Pure helpers over a manifest and any object store, so a local :class:`DatasetService`
and a keel server's client read versions the same way.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import Any

from keel._parquet import read_parquet
from keel.errors import InvalidInput
from keel.store.objects import ObjectStore

from ._versions import DatasetVersion, Manifest

__all__ = ["FORMATS", "as_format", "check_format", "read_arrow", "write_files"]

FORMATS = ("pandas", "arrow", "duckdb", "polars")


def check_format(version: DatasetVersion, format: str) -> None:
    """Raise :class:`InvalidInput` unless ``version`` can be loaded as ``format``."""
    if format not in FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(FORMATS)}. Got {format!r}.")
    if version.kind != "table":
        raise InvalidInput(
            f"{version.ref} is a set of files, not a table. Materialise it with "
            f"'keel data get {version.ref} --to DIR' or DatasetService.get()."
        )


def as_format(table: Any, format: str) -> Any:
    """An Arrow ``table`` as ``pandas``, ``arrow``, ``polars`` or a ``duckdb`` relation
    (polars is optional: a clear error says how to install it)."""
    if format == "arrow":
        return table
    if format == "pandas":
        return table.to_pandas()
    if format == "duckdb":
        import duckdb

        return duckdb.from_arrow(table)
    return polars_module("load a dataset as polars").from_arrow(table)


def polars_module(purpose: str) -> Any:
    """The polars module, or InvalidInput saying how to install it (it is optional)."""
    try:
        import polars
    except ImportError:
        raise InvalidInput(
            f"polars is not installed, so keel cannot {purpose}. Install it with "
            "'pip install polars', or use format='pandas' or 'arrow'."
        ) from None
    return polars


def read_arrow(manifest: Manifest, objects: ObjectStore) -> Any:
    """The table's Parquet parts, verified and concatenated into one Arrow table."""
    import pyarrow as pa

    tables = []
    for entry in manifest.entries:
        with objects.open(entry.digest) as fh:
            tables.append(read_parquet(fh))
    return pa.concat_tables(tables) if len(tables) > 1 else tables[0]


def write_files(manifest: Manifest, objects: ObjectStore, to: str | Path) -> list[Path]:
    """Write the manifest's files under folder ``to``: all of them, verified, or none.

    Every path is checked first (whatever a stored manifest says, nothing is written
    outside ``to``). The files go to a hidden staging folder and are moved into place
    only when every one matched its digest, so a corrupt or missing object leaves ``to``
    as it was (and no folder at all if it did not exist).
    """
    manifest.check_paths()
    to = Path(to).expanduser().absolute()
    if to.exists() and not to.is_dir():
        raise InvalidInput(f"{to} is a file, not a folder: give a new or existing folder.")
    created = not to.exists()
    home = to.parent if created else to
    new_parents = [p for p in (home, *home.parents) if not p.exists()]
    try:
        home.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=home, prefix=".keel-get-", suffix=".part"))
    except OSError as exc:
        for parent in new_parents:
            with contextlib.suppress(OSError):
                parent.rmdir()
        raise InvalidInput(
            f"Cannot write into {to}: {exc.strerror or exc} ({exc.filename or home}). "
            "Choose a folder you can create and write to."
        ) from None
    try:
        jobs = [(entry.digest, staging / entry.path) for entry in manifest.entries]
        get_many = getattr(objects, "get_many", None)  # a server's store fetches in parallel
        if get_many is not None:
            get_many(jobs, sizes={entry.digest: entry.size for entry in manifest.entries})
        else:
            for digest, dest in jobs:
                objects.get(digest, dest)
        if created:
            staging.rename(to)
        else:
            inside = to.resolve()
            for entry in manifest.entries:  # all checked before any is moved
                parent = (to / entry.path).parent.resolve()
                if not parent.is_relative_to(inside):
                    # a symbolic link in the existing folder would carry the file elsewhere
                    raise InvalidInput(
                        f"Cannot write {entry.path[:80]!r} into {to}: a symbolic link there "
                        f"leads to {parent}, outside it. Fetch into an empty folder instead."
                    )
            for entry in manifest.entries:
                (to / entry.path).parent.mkdir(parents=True, exist_ok=True)
                (staging / entry.path).replace(to / entry.path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for parent in new_parents:  # deepest first; only the (empty) folders made here
            with contextlib.suppress(OSError):
                parent.rmdir()
        raise
    shutil.rmtree(staging, ignore_errors=True)
    return [to / entry.path for entry in manifest.entries]
