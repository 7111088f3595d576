"""Packages kept on disk by digest: a cold load re-hashes what is there and fetches only
what is absent or damaged, and a client of a keel server keeps what it downloaded."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from keel.client import Client
from keel.errors import IntegrityError
from keel.registry._loaded import clear_cache, load_package
from keel.registry._materialise import cached_manifest
from keel.registry._package import EXAMPLE_FILE, MANIFEST_FILE, build_package, read_package
from keel.store.objects import LocalObjectStore
from tests._served import Served, serve_store


class CountingStore(LocalObjectStore):
    """A local store that counts the objects read out of it (each read is a download
    from a remote store)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, fsync=False)
        self.reads: list[str] = []

    def open(self, digest: str):  # type: ignore[no-untyped-def]
        self.reads.append(digest)
        return super().open(digest)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame({"income": rng.normal(50, 15, 80), "age": rng.integers(18, 80, 80)})


@pytest.fixture(scope="module")
def model(frame: pd.DataFrame) -> LogisticRegression:
    return LogisticRegression(max_iter=500).fit(frame, (frame["income"] > 50).astype(int))


@pytest.fixture
def store(tmp_path: Path) -> CountingStore:
    return CountingStore(tmp_path / "objects")


@pytest.fixture
def package(store: CountingStore, model, frame) -> str:
    digest, _ = build_package(model, store, input_example=frame.head(5))
    store.reads.clear()
    return digest


def test_a_second_cold_load_reads_nothing_from_the_store(store, package, tmp_path, model, frame):
    cache = tmp_path / "cache"
    load_package(store, package, cache_dir=cache)
    files = read_package(store, package).files
    assert sorted(p.name for p in (cache / package).iterdir()) == sorted([MANIFEST_FILE, *files])
    clear_cache()  # a fresh process, as far as the in-memory cache goes
    store.reads.clear()
    loaded = load_package(store, package, cache_dir=cache)
    assert store.reads == []
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))


def test_damaged_files_in_the_folder_are_fetched_again(store, package, tmp_path, model, frame):
    cache = tmp_path / "cache"
    load_package(store, package, cache_dir=cache)
    files = read_package(store, package).files
    (cache / package / MANIFEST_FILE).write_bytes(b'{"format": 1, "flavor": "pyfunc"}')
    (cache / package / "model.skops").write_bytes(b"PK\x03\x04 not the model")
    (cache / package / EXAMPLE_FILE).unlink()
    clear_cache()
    store.reads.clear()
    loaded = load_package(store, package, cache_dir=cache)
    assert sorted(store.reads) == sorted([package, files["model.skops"], files[EXAMPLE_FILE]])
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))
    assert cached_manifest(store, package, cache / package).files == files


def test_a_corrupt_input_example_in_the_store_is_named(store, package, tmp_path) -> None:
    example = read_package(store, package).files[EXAMPLE_FILE]
    path = store.path(example)
    os.chmod(path, 0o644)
    path.write_bytes(b"PAR1 not the example")
    with pytest.raises(IntegrityError, match=rf"input example {EXAMPLE_FILE} \(object {example}"):
        load_package(store, package, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache" / package / EXAMPLE_FILE).exists()


# Through a keel server

_LOAD = """
import sys, keel
client = keel.Client(sys.argv[1], project="credit", token=sys.argv[2])
loaded = client.models.load("credit:1")
print(loaded.predict({"income": 70.0, "age": 30}).tolist(), "sqlalchemy" in sys.modules)
"""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    from keel.config import resolve

    config = resolve(
        uri=f"sqlite:///{tmp_path / 'meta' / 'keel.db'}",
        objects=str(tmp_path / "objects"),
        fsync=False,
    )
    with serve_store(config, tmp_path / "server", ("reader", "writer"), project="credit") as live:
        yield live


def _load_in_a_fresh_process(served: Served, cache: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    env["KEEL_CACHE_DIR"] = str(cache)
    done = subprocess.run(
        [sys.executable, "-c", _LOAD, served.url, served.tokens["reader"]],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_a_fresh_process_loads_from_the_server_then_from_its_cache(
    served: Served, tmp_path: Path, model
) -> None:
    with Client(served.url, project="credit", token=served.tokens["writer"]) as writer:
        version = writer.models.register(
            model, "credit", input_example=pd.DataFrame({"income": [70.0], "age": [30]})
        )
    expected = str(model.predict(pd.DataFrame({"income": [70.0], "age": [30]})).tolist())
    cache = tmp_path / "client-cache"
    # without SQLAlchemy: a client of a keel server needs no store of its own
    assert _load_in_a_fresh_process(served, cache) == f"{expected} False"
    kept = cache / "models" / version.package_digest
    with served.local() as local:
        files = read_package(local.objects, version.package_digest).files
        stored = local.objects.path(files["model.skops"])
    assert sorted(p.name for p in kept.iterdir()) == sorted([MANIFEST_FILE, *files])
    # the server loses the model file: a second process loads it from the cache alone
    assert stored.is_file()
    os.chmod(stored, 0o644)
    stored.unlink()
    assert _load_in_a_fresh_process(served, cache) == f"{expected} False"
