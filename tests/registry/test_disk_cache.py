"""Clearing the model packages a client keeps on disk: `keel.registry.cached_packages`,
`clear_model_cache` and the `keel cache size|clear` commands, over packages a real load
kept there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from keel.errors import InvalidInput
from keel.registry import cached_packages, clear_model_cache
from keel.registry._disk_cache import model_cache_folder
from keel.registry._loaded import clear_cache, load_package
from keel.registry._package import MANIFEST_FILE, build_package, read_package
from keel.store.objects import LocalObjectStore


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame({"income": rng.normal(50, 15, 60), "age": rng.integers(18, 80, 60)})


@pytest.fixture(scope="module")
def model(frame: pd.DataFrame) -> LogisticRegression:
    return LogisticRegression(max_iter=500).fit(frame, (frame["income"] > 50).astype(int))


@pytest.fixture
def objects(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects", fsync=False)


@pytest.fixture
def cached(tmp_path: Path, objects, model, frame) -> tuple[Path, str]:
    """A cache folder holding one package, put there by a load."""
    package, _ = build_package(model, objects, input_example=frame.head(5))
    folder = tmp_path / "cache" / "models"
    load_package(objects, package, cache_dir=folder)
    clear_cache()
    return folder, package


def test_cached_packages_counts_what_a_load_kept(cached, objects) -> None:
    folder, package = cached
    (folder / "notes.txt").write_text("not a package")  # not keel's: neither listed nor removed
    (folder / "mine").mkdir()
    [found] = cached_packages(folder)
    expected = [folder / package / MANIFEST_FILE] + [
        folder / package / name for name in read_package(objects, package).files
    ]
    assert found.digest == package
    assert found.files == len(expected)
    assert found.bytes == sum(p.stat().st_size for p in expected)


def test_clear_removes_packages_only_and_a_later_load_fetches_again(
    cached, objects, model, frame
) -> None:
    folder, package = cached
    (folder / "notes.txt").write_text("not a package")
    dry = clear_model_cache(folder, dry_run=True)
    assert [p.digest for p in dry] == [package]
    assert (folder / package / MANIFEST_FILE).is_file()  # a dry run removes nothing
    removed = clear_model_cache(folder)
    assert [p.digest for p in removed] == [package]
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
    assert cached_packages(folder) == []
    loaded = load_package(objects, package, cache_dir=folder)  # fetched and kept again
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))
    assert [p.digest for p in cached_packages(folder)] == [package]


def test_a_folder_left_by_an_interrupted_clear_is_removed_next_time(cached) -> None:
    folder, package = cached
    left = folder / f".removing-{package}-0badf00d"
    (folder / package).rename(left)
    assert [p.digest for p in cached_packages(folder)] == [left.name]
    clear_model_cache(folder)
    assert list(folder.iterdir()) == []


def test_no_cache_folder_is_an_empty_cache_and_a_file_is_refused(tmp_path: Path) -> None:
    assert cached_packages(tmp_path / "absent") == []
    assert clear_model_cache(tmp_path / "absent") == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidInput, match=r"model cache .*file is a file, not a folder"):
        cached_packages(tmp_path / "file")


def test_the_folder_follows_keel_cache_dir(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("KEEL_CACHE_DIR", str(tmp_path / "c"))
    assert model_cache_folder() == tmp_path / "c" / "models"


def _keel(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    env |= {"KEEL_CACHE_DIR": str(cache), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "keel", "cache", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )


def test_cli_size_and_clear(cached) -> None:
    folder, package = cached
    cache = folder.parent
    size = json.loads(_keel("size", "--json", cache=cache).stdout)
    assert size["folder"] == str(folder)
    assert [p["digest"] for p in size["packages"]] == [package]
    assert size["bytes"] == size["packages"][0]["bytes"] > 0
    table = _keel("size", cache=cache).stdout
    assert package in table
    assert f"1 packages, {size['bytes']:,} bytes" in table
    dry = _keel("clear", "--dry-run", cache=cache).stdout
    assert "would remove 1 packages" in dry
    assert (folder / package).is_dir()
    cleared = json.loads(_keel("clear", "--json", cache=cache).stdout)
    assert cleared["bytes_freed"] == size["bytes"]
    assert not cleared["dry_run"]
    assert not (folder / package).exists()
    assert "removed 0 packages, 0 bytes" in _keel("clear", cache=cache).stdout
