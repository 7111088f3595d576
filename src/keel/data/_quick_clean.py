"""``keel data status`` and ``keel data add`` of a clean workspace, answered from the
stat cache with the standard library's core alone.

A clean workspace is the common case: every pointed-to path has the stats it had when
keel last knew it held its version. :class:`keel.data._workspace.Workspace` answers that
in a few milliseconds, after importing a hundred (``pathlib``, ``dataclasses``,
``subprocess``, the object stores, the full configuration). :func:`status` and
:func:`add` give the same answers (``tests/data/test_quick_clean.py`` compares them)
with ``os``, ``sqlite3`` and ``blake3``, or ``None`` at the first doubt: anything not
clean, a pointer in another form, a setting beyond :mod:`keel._quick_settings`, an
object store that is not a local folder, a stat cache or git that does not answer. Files
whose stat cannot be trusted (changed within the racy window of the last check, as right
after an add) are read and compared with the version's manifest, as the full way does.
The caller then runs the workspace as usual, which compares, stores, records and
reports as it always does; a ``None`` after :func:`add` started costs nothing, since it
writes only once everything is known to be unchanged.
"""

from __future__ import annotations

import os
import sqlite3
import time

from keel._file_scan import Scanned, racy_window, scan_files
from keel._quick_settings import QuickSettings, quick_settings

from ._quick_pointer import plain_text, read_plain

__all__ = ["QuickAdd", "QuickStatus", "add", "status"]

_SUFFIX = ".keel"
_LS_POINTERS = ("ls-files", "-z", "--cached", "--others", "--exclude-standard", "--")


class QuickStatus:
    """A clean ``PathStatus``: its attributes and ``to_dict``, nothing changed."""

    __slots__ = ("added", "hashed", "kind", "modified", "path", "pointer", "ref", "removed")
    state = "clean"

    def __init__(self, path: str, pointer: str, ref: str, kind: str, hashed: int = 0) -> None:
        self.path, self.pointer, self.ref, self.kind = path, pointer, ref, kind
        self.added: list[str] = []
        self.modified: list[str] = []
        self.removed: list[str] = []
        self.hashed = hashed

    def to_dict(self) -> dict[str, object]:
        """``PathStatus.to_dict``: the same keys in the same order."""
        names = ("path", "pointer", "ref", "kind", "state", "added", "modified", "removed")
        return {**{n: getattr(self, n) for n in names}, "hashed": self.hashed}


class QuickAdd:
    """An ``AddResult`` of an unchanged path: its attributes and ``to_dict``."""

    __slots__ = ("digest", "files", "gitignore", "path", "pointer", "ref", "size")
    hashed = 0
    new_version = False

    def __init__(
        self, path: str, pointer: str, ref: str, digest: str, files: int, size: int
    ) -> None:
        self.path, self.pointer, self.ref, self.digest = path, pointer, ref, digest
        self.files, self.size = files, size
        self.gitignore: str | None = None

    @property
    def unchanged(self) -> int:
        return self.files

    def to_dict(self) -> dict[str, object]:
        """``AddResult.to_dict``: the same keys in the same order."""
        names = ("path", "pointer", "ref", "digest", "files", "size", "hashed", "unchanged")
        return {
            **{n: getattr(self, n) for n in names},
            "new_version": False,
            "gitignore": self.gitignore,
        }


def status(paths: list[str]) -> list[QuickStatus] | None:
    """``Workspace.find().status(paths)`` when every path is clean; None otherwise."""
    found = _settings_and_cache()
    if found is None:
        return None
    settings, cache = found
    try:
        files = _pointer_files(settings.project_root, paths)
        if files is None:
            return None
        results = []
        for file in files:
            result = _clean(settings, cache, file)
            if result is None:
                return None
            results.append(result)
        return results
    finally:
        cache.close()


def add(path: str, name: str | None, scanned: list[Scanned] | None = None) -> QuickAdd | None:
    """``Workspace.find().add(path, name=name)`` when ``path`` still holds the version its
    pointer names (the pointer is rewritten, the snapshot renewed, as the full way does);
    None otherwise, with nothing written.

    When the path was scanned, the scan is appended to ``scanned`` (if given), so that
    the full way can take it (``Workspace.add(scanned=...)``) rather than scan again.
    """
    found = _settings_and_cache()
    if found is None:
        return None
    settings, cache = found
    try:
        return _add(settings, cache, path, name, scanned)
    finally:
        cache.close()


def _settings_and_cache() -> tuple[QuickSettings, sqlite3.Connection] | None:
    settings = quick_settings()
    if settings is None or "://" in settings.objects:
        return None
    cache_file = os.path.join(settings.project_root, ".keel", "cache", "stat.db")
    if not os.path.isfile(cache_file):
        return None
    try:
        cache = sqlite3.connect(cache_file, timeout=10, isolation_level=None)
        row = cache.execute("SELECT value FROM meta WHERE key = 'objects'").fetchone()
    except sqlite3.Error:
        return None
    # the cache speaks for LocalObjectStore(objects).url
    if row is None or row[0] != os.path.realpath(os.path.expanduser(settings.objects)):
        cache.close()
        return None
    return settings, cache


def _pointer_files(root: str, paths: list[str]) -> list[str] | None:
    """``Workspace.pointers(paths)``'s files, or None where it would walk or raise."""
    if paths:
        found = []
        for path in paths:
            absolute = os.path.abspath(path)
            file = absolute if absolute.endswith(_SUFFIX) else absolute + _SUFFIX
            if _relative(root, file) is None or _relative(root, os.path.realpath(file)) is None:
                return None
            if not os.path.isfile(file):
                return None
            found.append(file)
        return found
    from ._quick_git import git

    listed = git([*_LS_POINTERS, f"*{_SUFFIX}"], root)
    if listed is None or listed[0] != 0:
        return None  # no git: the full way walks the project
    rels = {os.fsdecode(p) for p in listed[1].split(b"\0") if p}
    keep = [
        r.split("/")
        for r in rels
        if r.split("/")[0] != ".keel" and os.path.isfile(os.path.join(root, r))
    ]
    return [os.path.join(root, *parts) for parts in sorted(keep)]


def _clean(settings: QuickSettings, cache: sqlite3.Connection, file: str) -> QuickStatus | None:
    """``Workspace._status`` of one pointer when its path is clean; None otherwise."""
    pointer = read_plain(file)
    if pointer is None or not _exists(settings.objects, pointer["digest"]):
        return None
    target = os.path.join(os.path.dirname(file), pointer["path"])
    folder = pointer["kind"] == "folder"
    if not os.path.exists(target) or os.path.isdir(target) != folder:
        return None
    key, file_key = _relative(settings.project_root, target), _relative(settings.project_root, file)
    if key is None or file_key is None:
        return None
    checked = time.time_ns()
    files = _scan(target)
    if files is None:
        return None
    scan = Scanned(target, checked, files)
    read = _matches_snapshot(cache, key, pointer["digest"], scan, settings.objects)
    if read is None:
        return None
    if read:  # as the full way does after reading files
        _save_snapshot(cache, key, pointer["digest"], scan)
    ref = f"{pointer['name']}:v{pointer['version']}"
    return QuickStatus(key, file_key, ref, pointer["kind"], hashed=read)


def _add(
    settings: QuickSettings,
    cache: sqlite3.Connection,
    path: str,
    name: str | None,
    scanned: list[Scanned] | None,
) -> QuickAdd | None:
    root = settings.project_root
    target = _target(root, path)
    if target is None:
        return None
    file = target + _SUFFIX
    pointer = read_plain(file)
    if pointer is None or (name is not None and name != pointer["name"]):
        return None
    key, file_key = _relative(root, target), _relative(root, file)
    folder = os.path.isdir(target)
    checked = time.time_ns()
    files = _scan(target)
    if files is None or key is None or file_key is None:
        return None
    scan = Scanned(target, checked, files)
    if scanned is not None:
        scanned.append(scan)
    if pointer["kind"] != ("folder" if folder else "file") or pointer["path"] != os.path.basename(
        target
    ):
        return None
    if len(files) != pointer["files"] or not files:
        return None
    digest = str(pointer["digest"])
    if _matches_snapshot(cache, key, digest, scan, settings.objects) != 0:  # none read
        return None
    from ._quick_lookup import recorded_manifest

    if recorded_manifest(settings, str(pointer["name"]), int(pointer["version"])) != digest:
        return None
    if not _exists(settings.objects, digest):
        return None
    size = sum(stat[1] for stat in files.values())
    text = plain_text(pointer)
    if size != pointer["size"] or text is None:
        return None
    # everything is known unchanged: write what the full way writes
    _save_snapshot(cache, key, digest, scan)
    _write_pointer(file, text)
    result = QuickAdd(
        key, file_key, f"{pointer['name']}:v{pointer['version']}", digest, len(files), size
    )
    from ._quick_git import ignore_in_git

    gitignore = ignore_in_git(target)
    result.gitignore = _relative(root, gitignore) if gitignore else None
    return result


def _target(root: str, path: str) -> str | None:
    """``Workspace._target(path)`` when it would return a path; None where it raises."""
    absolute = os.path.normpath(os.path.join(os.getcwd(), path))
    name = os.path.basename(absolute)
    if name:
        absolute = os.path.join(os.path.realpath(os.path.dirname(absolute)), name)
    rel = _relative(root, absolute)
    if rel is None or not rel or rel.split("/")[0] in (".keel", ".git"):
        return None
    if name.endswith(_SUFFIX) or os.path.islink(absolute):
        return None
    if not (os.path.isfile(absolute) or os.path.isdir(absolute)):
        return None
    parts = rel.split("/")
    for i in range(1, len(parts)):
        if os.path.isfile(os.path.join(root, *parts[:i]) + _SUFFIX):
            return None
    return absolute


def _relative(root: str, path: str) -> str | None:
    """``Path(path).relative_to(root).as_posix()``, '' for root itself; None outside it."""
    if path == root:
        return ""
    prefix = root if root.endswith(os.sep) else root + os.sep
    return path[len(prefix) :] if path.startswith(prefix) else None


def _exists(objects: str, digest: str) -> bool:
    """Whether the object is a loose file of the local store (in a pack: ask the store)."""
    root = os.path.realpath(os.path.expanduser(objects))
    return os.path.isfile(os.path.join(root, digest[:2], digest[2:]))


def _scan(target: str) -> dict[str, tuple[str, int, int, int]] | None:
    """``objects._statcache.scan(target)``; None where it raises."""
    try:
        return scan_files(target)
    except OSError:
        return None


def _matches_snapshot(
    cache: sqlite3.Connection,
    key: str,
    manifest: str,
    scan: Scanned,
    objects: str,
) -> int | None:
    """How many files had to be read to know the folder holds ``manifest``: 0 when
    ``StatCache.matches_snapshot`` knows it from their stats, more when files changed too
    close to the snapshot's check stood in the way and reading them found the manifest's
    bytes (as ``Workspace._compare`` reads them); None when it is not known (or the cache
    cannot be read)."""
    try:
        row = cache.execute(
            "SELECT manifest, fingerprint, checked_ns FROM snapshots WHERE path = ?", (key,)
        ).fetchone()
    except sqlite3.Error:
        return None
    if row is None or row[0] != manifest:
        return None
    digest, newest = scan.fingerprint()
    if digest != row[1]:
        return None
    checked = row[2]
    if checked - newest > racy_window(newest):
        return 0
    racy = [stat for stat in scan.files.items() if checked - stat[1][2] <= racy_window(stat[1][2])]
    return len(racy) if _read_equal(objects, manifest, racy) else None


def _read_equal(
    objects: str, manifest: str, racy: list[tuple[str, tuple[str, int, int, int]]]
) -> bool:
    """Whether each of these files holds the bytes the manifest names for it; False at any
    doubt (a manifest not stored as a loose object, not verified, not a file manifest)."""
    import blake3

    path = os.path.join(os.path.realpath(os.path.expanduser(objects)), manifest[:2], manifest[2:])
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
        if blake3.blake3(raw).hexdigest() != manifest:
            return False
        import json

        data = json.loads(raw)
        if data["kind"] != "files":
            return False
        wanted = {e["path"]: (e["digest"], e["size"]) for e in data["entries"]}
        for rel, (file, size, _, _) in racy:
            want = wanted.get(rel)
            if want is None or want[1] != size:
                return False
            hasher = blake3.blake3()
            with open(file, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    hasher.update(chunk)
            if hasher.hexdigest() != want[0]:
                return False
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return True


def _save_snapshot(cache: sqlite3.Connection, key: str, manifest: str, scan: Scanned) -> None:
    """``StatCache.save_snapshot``: a cache that cannot be written now stays behind."""
    digest, _ = scan.fingerprint()
    checked_ns = scan.checked_ns
    try:
        cache.execute("PRAGMA synchronous = OFF")  # as StatCache: a cache, the tail may go
        cache.execute("BEGIN IMMEDIATE")
        try:
            cache.execute(
                "INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?)",
                (key, manifest, digest, checked_ns),
            )
            cache.execute("COMMIT")
        except BaseException:
            if cache.in_transaction:
                cache.execute("ROLLBACK")
            raise
    except sqlite3.Error:
        return


def _write_pointer(file: str, text: str) -> None:
    """``Pointer.write``: atomically (a reader sees the old file or the new one)."""
    directory, name = os.path.split(file)
    tmp = os.path.join(directory, f".{name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, file)
    finally:
        if os.path.lexists(tmp):  # the write failed
            os.unlink(tmp)
