"""Sixteen clients at once through one real ``keel server`` (SQLite and PostgreSQL): each
its own ``keel.Client`` over HTTP with a writer token, pushing datasets and registering
models at the same moment. Nothing is lost (every version is recorded and reads back with
its bytes), the store stays sound (``fsck`` finds nothing), and bytes that several clients
push are stored once."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import blake3
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from keel.config import Config
from keel.store.fsck import fsck
from keel.store.objects import LocalObjectStore
from tests._served import Served, serve_store

PROJECT = "team"
CLIENTS = 16
SHARED = os.urandom(300_000)
"""A file every client's dataset holds: pushed sixteen times, stored once."""


@pytest.fixture
def served(store_config: Config, tmp_path: Path) -> Iterator[Served]:
    with serve_store(store_config, tmp_path / "server", ("writer", "reader"), project=PROJECT) as s:
        yield s


def _folder(root: Path, k: int) -> dict[str, bytes]:
    """Client ``k``'s files: the shared one, one shared with its neighbour, and its own."""
    files = {
        "shared.bin": SHARED,
        f"pair/{k // 2}.bin": bytes([k // 2]) * 50_000,
        "own/a.txt": f"client {k}\n".encode() * 100,
        "own/b.bin": os.urandom(20_000 + k),
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return files


def _at_once(work: Callable[[int], object]) -> list[object]:
    """Run ``work(k)`` for every client on its own thread, all released together."""
    results: list[object] = [None] * CLIENTS
    failures: list[BaseException] = []
    start = threading.Barrier(CLIENTS)

    def one(k: int) -> None:
        try:
            start.wait()
            results[k] = work(k)
        except BaseException as exc:  # reported below with the others
            failures.append(exc)

    threads = [threading.Thread(target=one, args=(k,)) for k in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [], failures
    return results


def test_sixteen_clients_pushing_and_registering_lose_nothing(
    served: Served, tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)})
    y = (X["a"] > 0).astype(int)
    folders = [tmp_path / f"client-{k}" for k in range(CLIENTS)]
    contents = [_folder(folder, k) for k, folder in enumerate(folders)]

    def work(k: int) -> tuple[str, str, str]:
        with served.remote("writer") as client:
            own = client.datasets.log(folders[k], f"data-{k}")
            # half the clients also append to one dataset at the same moment
            common = client.datasets.log(folders[k], "common") if k % 2 else own
            model = LogisticRegression(C=1.0 + k).fit(X, y)
            version = client.models.register(model, f"model-{k % 4}", input_example=X.head())
            return own.ref, common.ref, version.ref

    results = _at_once(work)

    with served.local() as local:
        # every dataset version is recorded and reads back with every file's bytes
        for k, (own_ref, _, _) in enumerate(results):  # type: ignore[misc]
            written = local.datasets.get(own_ref, tmp_path / f"back-{k}")
            got = {
                p.relative_to(tmp_path / f"back-{k}").as_posix(): p.read_bytes() for p in written
            }
            assert got == contents[k]
        common = [r[1] for k, r in enumerate(results) if k % 2]  # type: ignore[index]
        # eight versions of 'common': every distinct content one version, none lost
        versions = local.datasets.versions("common")
        assert {v.ref for v in versions} == set(common)
        assert len(versions) == len(set(common)) == CLIENTS // 2
        # sixteen model versions over four names, each loadable and numbered without a gap
        for name in (f"model-{i}" for i in range(4)):
            numbers = sorted(v.version for v in local.models.versions(name))
            assert numbers == [1, 2, 3, 4]
        for k, (_, _, model_ref) in enumerate(results):  # type: ignore[misc]
            expected = LogisticRegression(C=1.0 + k).fit(X, y).predict_proba(X)
            assert np.allclose(local.models.load(model_ref).predict_proba(X), expected)

        report = fsck(local.store)
        assert report.corrupt == []
        assert report.missing == {}
        assert report.stale_temporaries == 0
        assert report.unreferenced == []  # no object pushed without a record naming it

    backing = LocalObjectStore(served.config.objects, fsync=False)
    stored = list(backing.digests())
    assert len(stored) == len(set(stored))
    assert blake3.blake3(SHARED).hexdigest() in stored  # pushed by sixteen, stored once
    # shared, 8 pair files, 16 x 2 own files, then manifests, profiles and model packages
    file_digests = {blake3.blake3(d).hexdigest() for c in contents for d in c.values()}
    assert len(file_digests) == 1 + CLIENTS // 2 + 2 * CLIENTS
    assert file_digests <= set(stored)
    served_client = served.remote("reader")
    with served_client:
        back = served_client.datasets.get(results[3][0], tmp_path / "through-server")  # type: ignore[index]
        assert len(back) == len(contents[3])
