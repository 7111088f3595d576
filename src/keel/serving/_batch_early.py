"""Reading the input of batch scoring while the model loads.

Which columns a batch job reads depends on the model's signature, which the loaded package
holds; but the model version's record holds the same signature, known before the package
is loaded. :func:`start_reading` starts the reader thread over the columns the record
names, so the first part's hashing and the first batches' decoding run on the other core
while the model's imports and load run in this one. :meth:`EarlyReading.take` hands the
reader over when the plan made from the loaded model reads the very same columns in the
same batches; otherwise the early reader is stopped and scoring reads afresh (nothing read
early is used). Every part is still hashed and checked in full before anything is recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ._batch_prefetch import Prefetched, prefetched

if TYPE_CHECKING:
    from keel.data import DatasetVersion, Manifest
    from keel.registry import ModelVersion
    from keel.store.objects import ObjectStore

__all__ = ["EarlyReading", "recorded_inputs", "start_reading"]

Batches = Callable[[list[str]], Iterator[Any]]
"""Given the columns to read, the input's batches (every part, in order)."""


class EarlyReading:
    """A reader started before the scoring plan was known, for the columns ``inputs``."""

    def __init__(self, inputs: list[str], batch_rows: int, reader: Prefetched[Any]) -> None:
        self.inputs = inputs
        self.batch_rows = batch_rows
        self._reader: Prefetched[Any] | None = reader

    def take(self, inputs: list[str], batch_rows: int) -> Prefetched[Any] | None:
        """The reader, if it reads ``inputs`` in batches of ``batch_rows`` rows; else None
        (and the reader is stopped). Only the first call can return it."""
        reader, self._reader = self._reader, None
        if reader is not None and (inputs, batch_rows) != (self.inputs, self.batch_rows):
            reader.close()
            return None
        return reader

    def close(self) -> None:
        """Stop the reader unless it was taken (then its taker closes it)."""
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()


def recorded_inputs(
    version: ModelVersion, source: DatasetVersion, keep: tuple[str, ...]
) -> list[str] | None:
    """The columns a job scoring ``source`` with ``version`` would read, from the records
    alone (the version's signature, the input's schema); None when they cannot say (no
    readable signature, or a column the input lacks: the loaded model's plan says why)."""
    have = [c.get("name") for c in source.schema or [] if isinstance(c, dict)]
    signature = version.signature
    if signature is None:
        features = [c for c in have if isinstance(c, str) and c not in keep]
    else:
        try:
            features = [str(c["name"]) for c in signature["inputs"]]
        except (KeyError, TypeError):
            return None
    inputs = list(dict.fromkeys([*features, *keep]))
    if not features or any(c not in have for c in inputs):
        return None
    return inputs


def start_reading(
    objects: ObjectStore,
    manifest: Manifest,
    inputs: list[str],
    batch_rows: int,
    read: Callable[[ObjectStore, str, list[str], int], Iterator[Any]],
) -> EarlyReading:
    """Start reading ``inputs`` from every part of ``manifest`` in a reader thread, now.

    ``read(objects, digest, inputs, batch_rows)`` yields one part's batches (hashing and
    checking it, as :func:`keel.serving.batch.read_batches` does).
    """
    batches = (b for e in manifest.entries for b in read(objects, e.digest, inputs, batch_rows))
    return EarlyReading(inputs, batch_rows, prefetched(batches))
