"""Batch scoring: a registered model over a whole dataset version, kept as a new version.

``predict_dataset("credit@champion", "applications:v3")`` reads the version's Parquet
parts in Arrow batches, enforces the model's signature on each, predicts, and writes the
output (the kept input columns, ``prediction``, and ``proba_<class>`` for classifiers)
into Parquet parts that go to the object store as they fill. The new version is recorded
at the end, in one transaction, with the model version as its producer and the input
version as its parent in the lineage graph, so nothing is recorded if any batch fails.

Memory holds a few batches (one being scored, two decoded ahead by a reader thread) and
the input row group they come from, two output batches waiting for the writer thread,
and the output part being written (up to :data:`PART_ROWS` rows, profiled when it
closes), never the whole input table. Parquet encoding, storing and profiling run in
that thread while the next batch is read and predicted, and the local path records the
version from the profiles so made, without reading its parts back. The pieces that make
that fast live beside this module: the reader thread (:mod:`._batch_prefetch`), the
input's hash checked beside the reading (:mod:`._batch_source`), labels read off the
probabilities (:mod:`._batch_labels`), float outputs sorted for the profile as they are
written (:mod:`._batch_presort`) and BLAS held to the cores left over
(:mod:`._batch_blas`).
The reading (and the input's hashing) starts before the model is loaded, over the columns
the model version's record names (:mod:`._batch_early`), and is used only if the loaded
model's plan reads the same.
With Ray (``ray=True``, or ``KEEL_RAY_ADDRESS`` set) the rows are split into slices
scored by tasks on the cluster, each writing its own parts; the parts are then combined
in order into one version (see :mod:`keel.serving._batch_ray`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keel._plural import plural
from keel.errors import ConfigError, InvalidInput, KeelError

from ._batch_blas import blas_threads_for_scoring
from ._batch_early import EarlyReading, recorded_inputs, start_reading
from ._batch_labels import ProbaLabels, proba_labels
from ._batch_prefetch import prefetched
from ._batch_presort import PartRows
from ._batch_source import reading

if TYPE_CHECKING:
    import pyarrow as pa

    from keel.client import Client
    from keel.data import DatasetVersion, Manifest
    from keel.data._prepare import PreparedVersion
    from keel.registry import ModelVersion
    from keel.store.objects import ObjectStore

__all__ = [
    "MAX_BATCH_ROWS",
    "PART_ROWS",
    "ROW_GROUP_ROWS",
    "PartWriter",
    "Scorer",
    "ScoringPlan",
    "predict_dataset",
    "read_batches",
    "score_parts",
]

PART_ROWS = 1_000_000
"""Rows per output Parquet part (as :func:`keel.log_dataset` writes tables)."""
ROW_GROUP_ROWS = 65_536
"""Fewest rows the output gathers before writing a row group (unless the output is shorter)."""
MAX_BATCH_ROWS = 10_000_000
"""Largest ``batch_rows``: a batch is held in memory whole, with its predictions."""
_RESERVED = ("prediction", "proba_")

Progress = Callable[[int], None]
"""Called with the number of rows just scored, after each batch (each slice on Ray)."""


@dataclass(frozen=True)
class ScoringPlan:
    """What every scorer needs, checked once before any row is read (sent to Ray tasks).

    Attributes:
        model: the model version scored with.
        trust: whether its package may run code when loaded.
        features: the columns handed to the model (its signature's inputs, in order).
        keep: input columns copied beside the predictions.
        batch_rows: rows per batch.
        input_ref: the version scored (``applications:v3``), for messages.
    """

    model: ModelVersion
    trust: bool
    features: tuple[str, ...]
    keep: tuple[str, ...]
    batch_rows: int
    input_ref: str = ""

    @property
    def inputs(self) -> list[str]:
        """The columns read from the input: features and kept columns, each once."""
        return list(dict.fromkeys([*self.features, *self.keep]))


def predict_dataset(
    model_ref: str,
    dataset_ref: str,
    *,
    output: str | None = None,
    batch_rows: int = 65_536,
    columns: Iterable[str] | None = None,
    ray: bool | None = None,
    trust: bool = False,
    client: Client | None = None,
    progress: Progress | None = None,
) -> DatasetVersion:
    """Score every row of a table version with a registered model; keep the predictions
    as a new dataset version, linked to both in the lineage graph.

    Args:
        model_ref: the model version (``credit:4``, ``credit@champion``, ``credit``).
        dataset_ref: the table version to score (``applications:v3``, ``applications``).
        output: the dataset to write the predictions to; ``<model>-predictions`` by default.
        batch_rows: rows scored at a time (memory holds three batches: one scored, two
            decoded ahead; plus the input row group they are read from).
        columns: input columns to keep beside the predictions (an id, say).
        ray: fan out over Ray; by default only when ``KEEL_RAY_ADDRESS`` is set.
        trust: allow a model whose files can run code when loaded (pyfunc).
        client: the keel client; :func:`keel.client.default_client` by default.
        progress: called with the rows just scored, for progress bars.

    Returns:
        The new version; its ``source`` records the model version, its package digest
        and the input version.

    Raises:
        NotFound: no such model or dataset version.
        InvalidInput: the dataset is a set of files or empty, lacks a column the model or
            ``columns`` names, holds a value of the wrong type, or an argument is malformed.
            Nothing is recorded.
    """
    from keel.data import parse_ref, prepare_parts

    batch_rows = _check_batch_rows(batch_rows)
    keep = _check_columns(columns)
    if output is not None:
        _check_output(output, parse_ref)
    if client is None:
        from keel.client import default_client

        client = default_client()
    if client.remote:
        raise ConfigError(
            f"Batch scoring cannot run through a keel server yet ({client.config.uri}): point "
            "KEEL_URI at the database and KEEL_OBJECTS at the object store to score."
        )
    datasets, models = client.datasets, client.models
    source = datasets.resolve(dataset_ref)
    if source.kind != "table":
        raise InvalidInput(
            f"{source.ref} is a set of files, not a table: only tables can be scored. "
            "Log the data as a table (a DataFrame, Parquet or CSV file) and score that."
        )
    if not source.row_count:
        raise InvalidInput(f"{source.ref} has no rows: there is nothing to score.")
    version = models.get(model_ref)
    name = output if output is not None else f"{version.model[:188]}-predictions"
    datasets.check_name_free(name)
    use_ray = ray if ray is not None else bool(client.config.ray_address)
    manifest = datasets.manifest(source)
    early = None
    if not use_ray and (inputs := recorded_inputs(version, source, keep)) is not None:
        # read (and hash) the input on the other core while the model loads
        early = start_reading(client.objects, manifest, inputs, batch_rows, _read_columns)
    try:
        loaded = models.load(version, trust=trust)
        plan = _plan(loaded, version, source, keep, batch_rows, trust)
        if use_ray:
            from ._batch_ray import score_on_ray

            digests = score_on_ray(client.config, plan, manifest, progress)
            prepared = prepare_parts(client.objects, digests)
        else:
            prepared = _score_here(client.objects, loaded, plan, manifest, progress, early)
    finally:
        if early is not None:
            early.close()
    return datasets.record(
        name,
        prepared,
        description=f"Predictions of {version.ref} on {source.ref}",
        parents=[source],
        producer=("model_version", version.id),
        source={
            "kind": "predictions",
            "model": version.ref,
            "model_version_id": version.id,
            "package_digest": version.package_digest,
            "input": source.ref,
            "input_manifest": source.manifest_digest,
            "kept_columns": list(keep),
            "engine": "ray" if use_ray else "local",
        },
    )


def score_parts(
    objects: ObjectStore,
    loaded: Any,
    plan: ScoringPlan,
    manifest: Manifest,
    progress: Progress | None = None,
) -> list[str]:
    """Score every part of ``manifest`` here, one batch at a time; the digests of the
    output parts, in order."""
    with PartWriter(objects) as writer:
        _score_into(writer, objects, loaded, plan, manifest, progress)
    return writer.digests  # closed: the last part is stored too


def _score_here(
    objects: ObjectStore,
    loaded: Any,
    plan: ScoringPlan,
    manifest: Manifest,
    progress: Progress | None = None,
    early: EarlyReading | None = None,
) -> PreparedVersion:
    """Score every part of ``manifest`` here, profiling the output as it is written; the
    version ready to record (its parts are not read back). ``early`` is a reader started
    before the plan was known, used if it reads what the plan reads."""
    with PartWriter(objects, profile=True) as writer:
        _score_into(writer, objects, loaded, plan, manifest, progress, early)
    return writer.prepared()


def _score_into(
    writer: PartWriter,
    objects: ObjectStore,
    loaded: Any,
    plan: ScoringPlan,
    manifest: Manifest,
    progress: Progress | None,
    early: EarlyReading | None = None,
) -> None:
    scorer, at = Scorer(loaded, plan), 0
    reader = early.take(plan.inputs, plan.batch_rows) if early is not None else None
    if reader is None:
        batches = (b for e in manifest.entries for b in read_batches(objects, e.digest, plan))
        reader = prefetched(batches)  # the next batch is decoded while this is scored
    with reader, blas_threads_for_scoring():
        for batch in reader:
            writer.write(scorer.score(batch, at))
            at += batch.num_rows
            if progress is not None:
                progress(batch.num_rows)


def read_batches(
    objects: ObjectStore, digest: str, plan: ScoringPlan, start: int = 0, stop: int | None = None
) -> Iterator[pa.RecordBatch]:
    """Rows ``start`` to ``stop`` of the Parquet part ``digest``, in batches of at most
    ``plan.batch_rows``, reading only the row groups they fall in.

    The part is hashed while it is read (in a thread, for a local store) and checked
    after the last batch, before this generator ends: IntegrityError if its bytes are not
    ``digest``'s (also when reading fails, which a corrupt part explains best).
    """
    yield from _read_columns(objects, digest, plan.inputs, plan.batch_rows, start, stop)


def _read_columns(
    objects: ObjectStore,
    digest: str,
    inputs: list[str],
    batch_rows: int,
    start: int = 0,
    stop: int | None = None,
) -> Iterator[pa.RecordBatch]:
    """:func:`read_batches` of the columns ``inputs``, ``batch_rows`` rows at a time."""
    with reading(objects, digest) as (fh, verified):
        try:
            yield from _batches_of(fh, inputs, batch_rows, start, stop)
        except Exception:
            verified()
            raise
        verified()


def _batches_of(
    fh: Any, inputs: list[str], batch_rows: int, start: int, stop: int | None
) -> Iterator[Any]:
    import pyarrow.parquet as pq

    with _native(fh) as source:
        parquet = pq.ParquetFile(source)
        meta = parquet.metadata
        stop = meta.num_rows if stop is None else min(stop, meta.num_rows)
        groups, first, at = [], None, 0
        for i in range(meta.num_row_groups):
            rows = meta.row_group(i).num_rows
            if at < stop and at + rows > start:
                groups.append(i)
                first = at if first is None else first
            at += rows
        if not groups:
            return
        at = first
        for batch in parquet.iter_batches(batch_rows, groups, columns=inputs):
            lo, hi = max(start - at, 0), min(stop - at, batch.num_rows)
            at += batch.num_rows
            if hi > lo:
                yield batch.slice(lo, hi - lo) if (lo, hi) != (0, batch.num_rows) else batch
            if at >= stop:
                return


@contextlib.contextmanager
def _native(fh: Any) -> Iterator[Any]:
    """``fh`` (verified) as Arrow reads fastest: a memory map of its file when it is one
    (Arrow then reads without the GIL and without copies), else ``fh`` itself."""
    import pyarrow as pa

    name = getattr(fh, "name", None)
    try:
        same = isinstance(name, str) and os.path.samestat(os.fstat(fh.fileno()), os.stat(name))
    except (AttributeError, OSError, ValueError):
        same = False
    if not same:
        yield fh
        return
    with pa.memory_map(name) as mapped:
        yield mapped


class Scorer:
    """Turns input batches into output tables: kept columns, predictions, probabilities.

    A batch whose features are all numbers without nulls, of the types the signature
    keeps them as, goes to the model as one NumPy block made straight from its Arrow
    columns (one copy); any other batch goes through pandas and the signature's checks
    and casts. The first batch decides, by comparing the two.
    """

    def __init__(self, loaded: Any, plan: ScoringPlan) -> None:
        self.loaded = loaded
        self.plan = plan
        # a native scorer answers what the estimator would, without loading it (and
        # importing scikit-learn): its classes and whether it gives probabilities
        scorer = getattr(loaded, "scorer", None)
        if scorer is not None:
            classes, gives_proba = loaded.classes, loaded.gives_proba
        else:
            native = loaded.native
            classes = getattr(native, "classes_", None)
            gives_proba = hasattr(native, "predict_proba")
        self._proba = None
        if classes is not None and gives_proba:
            try:
                self._proba = loaded.proba_function()  # fed as predict is: NumPy if it can
            except KeelError:
                self._proba = None
        self._classes = None if self._proba is None else list(classes)
        # predict read off the probabilities where that is what it computes (one model
        # pass); checked against predict on the first batch either way
        self._labels = None
        if self._proba is not None and scorer is None:
            self._labels = proba_labels(native, loaded.predict)
        elif self._proba is not None and getattr(classes, "ndim", 0) == 1 and len(classes) > 1:
            self._labels = ProbaLabels(loaded.predict, classes)
        self._numeric: pa.Schema | None = None  # the features' schema the block path takes
        self._dtype: Any = None
        self._decided = False

    def score(self, batch: pa.RecordBatch, first_row: int = 0) -> pa.Table:
        """The output rows of one input batch, whose first row is row ``first_row`` of the
        input (for messages).

        Raises:
            InvalidInput: the batch does not match the signature, or the model failed on
                it (its error is given, with the rows).
        """
        import numpy as np
        import pyarrow as pa

        frame = self._frame(batch.select(list(self.plan.features)))
        names = [*self.plan.keep]
        arrays = [batch.column(c) for c in self.plan.keep]
        try:
            proba = None if self._proba is None else self._proba(frame)
            if self._labels is not None:
                output = self._labels(frame, proba)
            else:
                output = self.loaded.predict(frame)
        except KeelError:
            raise
        except Exception as exc:  # the model's own error: name the rows it failed on
            detail = (str(exc).strip().splitlines() or [""])[0][:300]
            last = first_row + batch.num_rows - 1
            raise InvalidInput(
                f"{self.plan.model.ref} failed on rows {first_row:,} to {last:,} of "
                f"{self.plan.input_ref or 'the input'}: {type(exc).__name__}: {detail} "
                "Fix those rows (or the model) and score again; nothing was recorded."
            ) from exc
        for name, values in _prediction_columns(output, batch.num_rows):
            names.append(name)
            arrays.append(_arrow(values))
        if proba is not None:
            proba = np.asarray(proba, dtype=float)
            for i, label in enumerate(self._classes or []):
                names.append(f"proba_{label}")
                arrays.append(pa.array(proba[:, i]))
        return pa.Table.from_arrays(arrays, names=names)

    def _frame(self, features: pa.RecordBatch) -> Any:
        """The features as the model takes them: a DataFrame over one NumPy block when
        the batch allows it, else through pandas and the signature's checks."""
        import numpy as np
        import pandas as pd

        if (
            self._numeric is not None
            and features.schema.equals(self._numeric)
            and not any(c.null_count for c in features.columns)
        ):
            # column-major: each Arrow column is copied once, contiguously
            block = np.empty((features.num_rows, features.num_columns), self._dtype, order="F")
            for j, column in enumerate(features.columns):
                block[:, j] = column.to_numpy()
            return pd.DataFrame(block, columns=list(self.plan.features), copy=False)
        frame = self.loaded.enforce(features.to_pandas())
        if not self._decided:
            self._decided = True
            if _same_numbers(features, frame):
                self._numeric, self._dtype = features.schema, frame.dtypes.iloc[0]
        return frame


def _same_numbers(features: pa.RecordBatch, frame: Any) -> bool:
    """Whether ``frame`` (the enforced features) holds every Arrow column of ``features``
    as the NumPy numbers that column is, in the same order: then a block made from the
    Arrow columns is what the signature's checks would have made."""
    import pyarrow as pa

    if list(frame.columns) != list(features.schema.names) or features.num_columns == 0:
        return False
    for field, dtype in zip(features.schema, frame.dtypes, strict=True):
        kind = field.type
        if not (pa.types.is_floating(kind) or pa.types.is_integer(kind)):
            return False
        if dtype != kind.to_pandas_dtype():
            return False
    return len({str(d) for d in frame.dtypes}) == 1  # one block: one type for all


class PartWriter:
    """Writes output tables into Parquet parts of at most :data:`PART_ROWS` rows, each put
    in the object store as soon as it is full (a temporary file holds one part at a time).

    Encoding and storing run in a background thread, overlapping the next batch's
    reading and predicting (Arrow and the hash release the GIL); at most two tables wait
    for it. Small tables are gathered into row groups of at least :data:`ROW_GROUP_ROWS`
    rows first, so that tiny batches do not make a file of tiny row groups. With
    ``profile=True`` the thread also profiles each part as it closes (the part's tables
    are in memory until then), so :meth:`prepared` records the version without reading
    the parts back.
    """

    def __init__(self, objects: ObjectStore, *, profile: bool = False) -> None:
        import queue
        import threading

        self.objects = objects
        self.digests: list[str] = []
        self.profile: Any = None
        self._profiling = profile
        self._sizes: list[tuple[int, int]] = []  # (bytes, rows) of each stored part
        self._part = PartRows()  # the current part's rows, to profile
        self._folder = tempfile.TemporaryDirectory(prefix="keel-predict-")
        self._writer: Any = None
        self._path: Path | None = None
        self._rows = 0
        self._schema: pa.Schema | None = None
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._queue: queue.Queue[pa.Table | None] = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._aborted = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="keel-predict-writer", daemon=True)
        self._thread.start()

    def write(self, table: pa.Table) -> None:
        """Append ``table`` (its schema must match the first table's)."""
        import pyarrow as pa

        if self._schema is None:
            self._schema = table.schema
        elif not table.schema.equals(self._schema):
            try:
                table = table.cast(self._schema)
            except (pa.ArrowException, ValueError) as exc:
                raise InvalidInput(
                    f"The model's output changed type between batches: {table.schema} after "
                    f"{self._schema} ({exc}). Make predict return one type for every batch."
                ) from exc
        self._check()
        self._queue.put(table)

    def close(self) -> list[str]:
        """Store the last part; the digests of every part, in order."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()
            self._folder.cleanup()
        self._check()
        return self.digests

    def prepared(self) -> PreparedVersion:
        """The closed writer's parts as a table version ready to record (``profile=True``):
        the manifest and the merged profile stored, no part read back."""
        from keel.data import Manifest, ManifestEntry
        from keel.data._prepare import PreparedVersion
        from keel.data._tables import schema_of

        if not self._profiling or not self._closed:
            raise RuntimeError("prepared() needs a closed PartWriter made with profile=True")
        if not self.digests or self._schema is None:
            raise InvalidInput("A table version needs at least one Parquet part; none was written.")
        entries = [
            ManifestEntry(f"part-{i:05d}.parquet", digest, size, rows)
            for i, (digest, (size, rows)) in enumerate(zip(self.digests, self._sizes, strict=True))
        ]
        rows = sum(r for _, r in self._sizes)
        manifest = Manifest("table", entries, schema_of(self._schema.empty_table()), rows)
        manifest.check_paths()
        manifest_digest = self.objects.put(manifest.to_bytes())
        profile_digest = self.objects.put(self.profile.to_json()) if self.profile else None
        return PreparedVersion(manifest, manifest_digest, profile_digest)

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        """The background thread: write what comes, then the last part (unless aborted)."""
        while (table := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._take(table)
                except BaseException as exc:  # raised in the caller's thread by _check
                    self._error = exc
        if self._error is None and not self._aborted:
            try:
                self._drain()
                self._flush()
            except BaseException as exc:
                self._error = exc
        if self._writer is not None:  # an error or an abort left a part open
            self._writer.close()

    def _take(self, table: pa.Table) -> None:
        self._pending.append(table)
        self._pending_rows += table.num_rows
        if self._pending_rows >= ROW_GROUP_ROWS:
            self._drain()

    def _drain(self) -> None:
        """Write the gathered tables into the current part, rolling over when it is full."""
        import pyarrow as pa

        if not self._pending:
            return
        table = pa.concat_tables(self._pending)
        self._pending, self._pending_rows = [], 0
        while table.num_rows:
            if self._writer is None:
                self._open()
            room = PART_ROWS - self._rows
            piece = table.slice(0, room)
            self._writer.write_table(piece)
            if self._profiling:
                self._part.add(piece)
            self._rows += piece.num_rows
            table = table.slice(room)
            if self._rows >= PART_ROWS:
                self._flush()

    def _open(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._path = Path(self._folder.name) / f"part-{len(self.digests):05d}.parquet"
        # Dictionary encoding is left to the columns that are not floats: on a million
        # distinct probabilities it builds a hash table only to give it up, which took
        # three quarters of the writing time and made the file larger.
        floats = (pa.types.is_floating(f.type) for f in self._schema)
        plain = [f.name for f, real in zip(self._schema, floats, strict=True) if not real]
        self._writer = pq.ParquetWriter(
            self._path, self._schema, compression="zstd", use_dictionary=plain
        )
        self._rows = 0

    def _flush(self) -> None:
        """Close the current part and store it; its profile is computed meanwhile (from
        the rows in memory, in a thread of its own), as storing is mostly hashing and
        waiting for the disk."""
        if self._writer is None or self._path is None:
            return
        self._writer.close()
        self._writer = None
        size = self._path.stat().st_size
        profiling = _Background(self._add_profile) if self._profiling else None
        try:
            digest = self.objects.put(self._path)
        finally:
            if profiling is not None:
                profiling.result()  # waited for even when storing failed
        self.digests.append(digest)
        self._sizes.append((size, self._rows))
        self._path.unlink()

    def _add_profile(self) -> None:
        """The closed part's profile merged into the running one (as prepare_parts does)."""
        from keel.data._profile import merge_profiles, profile_table

        part = self._part.table()
        merged = self.profile
        profile = profile_table(part, edges=merged.edges() if merged is not None else None)
        self.profile = profile if merged is None else merge_profiles(merged, profile)

    def __enter__(self) -> PartWriter:
        return self

    def __exit__(self, kind: object, *rest: object) -> None:
        if kind is None:
            self.close()
            return
        self._aborted = True
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()
        self._folder.cleanup()


class _Background(threading.Thread):
    """``function()`` run in a thread; :meth:`result` waits and raises what it raised."""

    def __init__(self, function: Callable[[], None]) -> None:
        super().__init__(name="keel-predict-profile", daemon=True)
        self._function = function
        self._error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self._function()
        except BaseException as exc:  # raised by result, in the caller's thread
            self._error = exc

    def result(self) -> None:
        """Wait for the function to end; raise its exception, if any."""
        self.join()
        if self._error is not None:
            raise self._error


# -- checks --------------------------------------------------------------------------------


def _check_batch_rows(batch_rows: object) -> int:
    if (
        isinstance(batch_rows, bool)
        or not isinstance(batch_rows, int)
        or not 1 <= batch_rows <= MAX_BATCH_ROWS
    ):
        raise InvalidInput(
            f"batch_rows must be a whole number from 1 to {MAX_BATCH_ROWS:,}. Got "
            f"{str(batch_rows)[:40]!r}; 65536 is a good start (memory holds one batch)."
        )
    return batch_rows


def _check_columns(columns: object) -> tuple[str, ...]:
    if columns is None:
        return ()
    if isinstance(columns, str):
        columns = [columns]
    try:
        keep = tuple(columns)  # type: ignore[call-overload]
    except TypeError:
        keep = None
    if keep is None or not all(isinstance(c, str) and c for c in keep):
        raise InvalidInput(
            f"columns must be a list of input column names to keep (e.g. ['id']). Got "
            f"{str(columns)[:60]!r}."
        )
    if clash := [c for c in keep if c.startswith(_RESERVED)]:
        raise InvalidInput(
            f"Cannot keep the {plural(clash, 'column')} {clash}: names starting with "
            "'prediction' or 'proba_' "
            "are the output's own. Rename them in the input, or keep other columns."
        )
    return tuple(dict.fromkeys(keep))


def _check_output(output: object, parse_ref: Callable[[object], Any]) -> None:
    parsed = parse_ref(output)  # refuses a malformed name with the naming rule
    if parsed.name is None or output != parsed.name:
        raise InvalidInput(
            f"output must be a dataset name such as 'credit-predictions', not a version or "
            f"digest. Got {str(output)[:60]!r}."
        )


def _plan(
    loaded: Any,
    version: ModelVersion,
    source: DatasetVersion,
    keep: tuple[str, ...],
    batch_rows: int,
    trust: bool,
) -> ScoringPlan:
    """Check the input's columns against the model's signature and ``keep``, up front."""
    have = [c["name"] for c in source.schema or []]
    if absent := [c for c in keep if c not in have]:
        raise InvalidInput(
            f"{source.ref} has no {plural(absent, 'column')} {absent} to keep. "
            f"Its columns: {', '.join(have[:30])}."
        )
    if loaded.signature is not None:
        features = tuple(loaded.signature.names)
        if absent := [c for c in features if c not in have]:
            raise InvalidInput(
                f"{source.ref} lacks the {plural(absent, 'column')} {absent} that "
                f"{version.ref} takes as inputs "
                f"(its signature). Score data that has every input: "
                f"{', '.join(features[:30])}."
            )
    else:  # no signature: every column that is not kept goes to the model
        features = tuple(c for c in have if c not in keep)
    return ScoringPlan(version, trust, features, keep, batch_rows, source.ref)


def _prediction_columns(output: Any, rows: int) -> list[tuple[str, Any]]:
    """A model's output as named columns: ``prediction``, or ``prediction_<k>`` for a
    model with several outputs."""
    import numpy as np
    import pandas as pd

    if isinstance(output, pd.Series):
        output = output.to_numpy()
    if isinstance(output, pd.DataFrame):
        named = [(str(c), output[c].to_numpy()) for c in output.columns]
    else:
        values = np.asarray(output)
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        named = (
            [(str(i), values[:, i]) for i in range(values.shape[1])]
            if values.ndim == 2
            else [("", values)]
        )
    if any(len(v) != rows for _, v in named) or (named and np.ndim(named[0][1]) != 1):
        raise InvalidInput(
            f"The model returned predictions of shape {np.shape(output)} for {rows} rows; "
            "batch scoring needs one value (or one row of values) per input row."
        )
    if len(named) == 1:
        return [("prediction", named[0][1])]
    return [(f"prediction_{n}", v) for n, v in named]


def _arrow(values: Any) -> pa.Array:
    import pyarrow as pa

    try:
        return pa.array(values)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise InvalidInput(
            f"The model's predictions cannot be stored in a table: {exc}. Make predict return "
            "numbers or strings."
        ) from exc
