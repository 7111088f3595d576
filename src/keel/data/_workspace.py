"""Data beside code, as DVC keeps it: pointers in git, bytes in the store.

``keel data add PATH`` versions a file or folder as a dataset and writes ``PATH.keel``, a
small pointer (name, version, manifest digest) to commit with the code, and keeps PATH
out of git. ``keel data pull`` restores every pointed-to path from the object store;
``keel data status`` shows what changed on disk since. Both read only the object store
(no metadata database), and a stat cache (:mod:`keel.store.objects._statcache`) spares
them from re-reading unchanged files.

Example::

    >>> ws = Workspace.find()                       # doctest: +SKIP
    >>> ws.add("data/images").ref                   # doctest: +SKIP
    'images:v1'
    >>> [s.state for s in ws.status()]              # doctest: +SKIP
    ['clean']
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keel._file_scan import Scanned
from keel.errors import (
    IntegrityError,
    InvalidInput,
    NotFound,
    ObjectNotFound,
    ProjectNotFound,
)
from keel.store.objects._statcache import (
    FileStat,
    Progress,
    StatCache,
    hash_files,
    restore_files,
    scan,
    store_files,
)

from ._quick_git import GitCheckIgnore
from ._quick_record import record_files_version
from ._versions import check_name

if TYPE_CHECKING:
    from keel.config import Config
    from keel.store import Store
    from keel.store.objects import ObjectStore

    from ._service import DatasetService
    from ._versions import DatasetVersion

__all__ = ["AddResult", "PathStatus", "Pointer", "PullResult", "Workspace"]

SUFFIX = ".keel"
CACHE_FILE = Path("cache") / "stat.db"  # inside .keel/

_PLAIN = re.compile(r"[A-Za-z0-9_.\-]+")
_YAML_SPECIAL = re.compile(
    r"(?i:true|false|yes|no|on|off|y|n|null|~)|[-+]?[0-9][0-9_.:eE+\-]*|[-+]?\.(?i:inf|nan)"
)
_GIT_LS_POINTERS = ("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--")
_QUOTED = re.compile(r'"(?:[ !#-\[\]-~]|\\["\\]|\\u[0-9a-f]{4}|\\U[0-9a-f]{8})*"')
_LINE = re.compile(r"([a-z_]+):[ \t]+(\S.*?)[ \t]*")


# -- pointers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Pointer:
    """What ``PATH.keel`` says: which version of which dataset PATH holds."""

    name: str
    version: int
    digest: str
    path: str
    kind: str  # "file" | "folder"
    files: int
    size: int

    @property
    def ref(self) -> str:
        return f"{self.name}:v{self.version}"

    def to_text(self) -> str:
        lines = [
            "# keel data pointer: commit it with your code; 'keel data pull' restores the data.",
            *(f"{key}: {_scalar(value)}" for key, value in asdict(self).items()),
        ]
        return "\n".join(lines) + "\n"

    @classmethod
    def read(cls, file: Path) -> Pointer:
        """Read and check a pointer file.

        Raises:
            InvalidInput: the file is not valid YAML or lacks a field, or a field is wrong.
        """
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise _bad_pointer(file, f"it cannot be read ({exc})") from exc
        data = _parse(text, file)
        missing = [k for k in ("name", "version", "digest", "path", "kind") if k not in data]
        if missing:
            raise _bad_pointer(file, f"it has no {', '.join(repr(k) for k in missing)}")
        try:
            pointer = cls(
                name=check_name(data["name"]),
                version=_positive(data["version"]),
                digest=_digest(data["digest"]),
                path=_sibling(data["path"]),
                kind=_kind(data["kind"]),
                files=_positive(data.get("files", 0), zero=True),
                size=_positive(data.get("size", 0), zero=True),
            )
        except (InvalidInput, ValueError, TypeError) as exc:
            raise _bad_pointer(file, getattr(exc, "message", str(exc))) from exc
        return pointer

    def write(self, file: Path) -> None:
        """Write the pointer atomically (a reader sees the old file or the new one)."""
        tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(self.to_text(), encoding="utf-8")
            os.replace(tmp, file)
        finally:
            tmp.unlink(missing_ok=True)


def _scalar(value: object) -> str:
    text = str(value)
    if isinstance(value, int) or (_PLAIN.fullmatch(text) and not _YAML_SPECIAL.fullmatch(text)):
        return text
    return '"' + "".join(_escape(c) for c in text) + '"'


def _escape(char: str) -> str:
    """A character in a YAML double-quoted scalar, kept to printable ASCII."""
    if char in '"\\':
        return "\\" + char
    if " " <= char <= "~":
        return char
    code = ord(char)
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _parse(text: str, file: Path) -> dict[str, Any]:
    """The pointer's fields: a fast path for the lines keel writes, else full YAML."""
    data: dict[str, Any] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.fullmatch(line)
        value = match[2] if match else ""
        if not match or value[0] in "'[{&*!|>%@`" or " #" in value:
            return _parse_yaml(text, file)
        if value[0] == '"':
            if not _QUOTED.fullmatch(value):
                return _parse_yaml(text, file)
            import codecs

            value = codecs.decode(value[1:-1], "unicode_escape")
        data[match[1]] = value
    return data


def _parse_yaml(text: str, file: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _bad_pointer(file, f"it is not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise _bad_pointer(file, "it is not a mapping of name, version, digest and path")
    return {str(k): v for k, v in data.items()}


def _bad_pointer(file: Path, problem: str) -> InvalidInput:
    return InvalidInput(
        f"{file} is not a valid keel pointer: {problem}. Restore it from git "
        f"('git checkout -- {file.name}'), or version the data again with "
        f"'keel data add {file.name[: -len(SUFFIX)]}'."
    )


def _positive(value: object, *, zero: bool = False) -> int:
    number = int(value) if isinstance(value, int | str) and not isinstance(value, bool) else -1
    if number < (0 if zero else 1):
        raise ValueError(
            f"expected a {'non-negative' if zero else 'positive'} integer, got {value!r}"
        )
    return number


def _digest(value: object) -> str:
    from keel.store.objects import check_digest

    return check_digest(value)


def _sibling(value: object) -> str:
    if not isinstance(value, str) or value in ("", ".", "..") or "/" in value or "\\" in value:
        raise ValueError(f"'path' must be the name of a file or folder beside it, got {value!r}")
    return value


def _kind(value: object) -> str:
    if value not in ("file", "folder"):
        raise ValueError(f"'kind' must be 'file' or 'folder', got {value!r}")
    return str(value)


# -- results ------------------------------------------------------------------------------


@dataclass
class AddResult:
    """What ``add`` did. ``hashed`` files were read; ``unchanged`` came from the stat cache."""

    path: str
    pointer: str
    ref: str
    digest: str
    files: int
    size: int
    hashed: int
    unchanged: int
    new_version: bool
    gitignore: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PathStatus:
    """How a pointed-to path differs from its version. ``state``: clean, modified or missing."""

    path: str
    pointer: str
    ref: str
    kind: str
    state: str
    added: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    hashed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PullResult:
    """What ``pull`` did for one pointer. ``kept`` files differ and were not overwritten."""

    path: str
    pointer: str
    ref: str
    restored: int = 0
    unchanged: int = 0
    kept: list[str] = field(default_factory=list)
    extra: int = 0
    bytes_restored: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- the workspace ------------------------------------------------------------------------


class Workspace:
    """The files of a keel project and the pointers that version them.

    Args:
        root: the project folder (the one holding ``.keel/``).
        config: settings naming the store to version into and restore from.
    """

    def __init__(self, root: Path, config: Config) -> None:
        self.root = root
        self.config = config
        self._objects: ObjectStore | None = None
        self._cache: StatCache | None = None

    def __repr__(self) -> str:
        return f"Workspace(root={str(self.root)!r}, config={self.config!r})"

    @classmethod
    def find(cls, start: str | os.PathLike[str] | None = None) -> Workspace:
        """The project at or above ``start`` (the working directory), found as git finds its."""
        from keel.config import resolve
        from keel.errors import ConfigError

        start = Path(start or Path.cwd())
        config = resolve(cwd=start, require_store=False)
        if config.project_root is None:
            raise ProjectNotFound(
                f"No keel project in {start.resolve()} or any folder above it; 'keel data' "
                "versions paths inside one. Run 'keel init' at the top of your repository."
            )
        if config.is_remote:
            raise ConfigError(
                f"KEEL_URI is a keel server ({config.uri}); 'keel data add/pull/status' need "
                "the store itself. Point KEEL_URI at the database and KEEL_OBJECTS at the objects."
            )
        return cls(config.project_root, config)

    @property
    def objects(self) -> ObjectStore:
        if self._objects is None:
            from keel.store.objects import open_object_store

            self._objects = open_object_store(
                self.config.objects, fsync=self.config.fsync, link=self.config.objects_link
            )
        return self._objects

    @property
    def cache(self) -> StatCache:
        if self._cache is None:
            from keel.config import PROJECT_DIR

            self._cache = StatCache(self.root / PROJECT_DIR / CACHE_FILE, self.objects.url)
        return self._cache

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()

    # -- add ------------------------------------------------------------------------------

    def add(
        self,
        path: str | os.PathLike[str],
        *,
        name: str | None = None,
        on_progress: Progress | None = None,
        scanned: Scanned | None = None,
    ) -> AddResult:
        """Version ``path`` as the next version of dataset ``name`` and write its pointer.

        Only files whose stat changed since keel last saw them are read; the others keep
        their cached digests. Table files are versioned byte for byte, as files.

        ``scanned``: a scan of the same path just made (by the quick path of ``keel data
        add``), taken instead of scanning again; a scan of another path is ignored.
        """
        target = self._target(path)
        pointer_file = _pointer_file(target)
        previous = None
        if pointer_file.is_file():
            try:
                previous = Pointer.read(pointer_file)
            except InvalidInput:
                if name is None:  # the name is in the broken file: say so rather than guess
                    raise
        name = check_name(name or (previous.name if previous else default_name(target.name)))
        key = self._key(target)
        folder = target.is_dir()
        if scanned is None or scanned.target != str(target):
            scanned = Scanned(str(target), time.time_ns(), scan(target))
        check = GitCheckIgnore(str(target))  # runs while the files are stored
        try:
            return self._add(
                target, name, key, folder, previous, pointer_file, scanned, check, on_progress
            )
        finally:
            check.close()

    def _add(
        self,
        target: Path,
        name: str,
        key: str,
        folder: bool,
        previous: Pointer | None,
        pointer_file: Path,
        scanned: Scanned,
        check: GitCheckIgnore,
        on_progress: Progress | None,
    ) -> AddResult:
        """:meth:`add` once the path is scanned and git's check of it is started."""
        checked, files = scanned.checked_ns, scanned.files
        if previous is not None and previous.name == name:
            unchanged = self._add_unchanged(
                target, key, folder, previous, pointer_file, scanned, check
            )
            if unchanged is not None:
                return unchanged
        if not files:
            raise InvalidInput(
                f"The folder {target} holds no files to version. Add files to it first."
            )

        from ._quick_record import recordable

        quick = recordable(self.config, name)
        with contextlib.ExitStack() as stack:
            store = None
            if not quick:  # the store is opened, and the name checked, before any work
                store = stack.enter_context(self._open_store(name))
            removals = self.objects.removals_started()  # before the cache is trusted
            cached = self.cache.entries(key, folder=folder)
            digests: dict[str, str] = {}
            todo = []
            oldest = None  # the earliest check of a cached digest used
            matched = 0  # cached entries of files still there: the others are forgotten
            for rel, (_, size, mtime_ns, inode) in files.items():
                entry = cached.get(_cache_key(key, rel, folder)) if cached else None
                matched += entry is not None
                digest = self.cache.lookup(entry, size, mtime_ns, inode)
                if digest is None:
                    todo.append(rel)
                else:
                    digests[rel] = digest
                    oldest = entry[4] if oldest is None else min(oldest, entry[4])
            if digests and (removals is None or oldest <= removals):
                todo += self._reread_gone(digests)  # objects may have gone since
            reused = dict(digests)
            new = store_files(self.objects, [files[rel] for rel in todo], on_progress)
            sizes = {rel: files[rel][1] for rel in digests}
            for rel, (digest, size) in zip(todo, new, strict=True):
                digests[rel], sizes[rel] = digest, size
            manifest = manifest_bytes((rel, digests[rel], sizes[rel]) for rel in files)
            manifest_digest = self.objects.put(manifest)
            total = sum(sizes.values())
            recorded = None
            if quick:  # one transaction through sqlite3, no SQLAlchemy
                reuse = []
                if previous is not None and (previous.name, previous.digest) == (
                    name,
                    manifest_digest,
                ):
                    reuse.append(previous.version)
                source = {"path": key, "via": "keel data add"}
                recorded = record_files_version(
                    self.config, name, manifest_digest, len(manifest), new, total, source, reuse
                )
            if recorded is not None:
                ref, number, created = recorded.ref, recorded.version, recorded.created
            else:
                if store is None:
                    store = stack.enter_context(self._open_store(name))
                from ._service import DatasetService

                service = DatasetService(store, self.config.project)
                version, created = self._version(
                    service, name, manifest_digest, previous, new, total, key
                )
                ref, number = version.ref, version.version
            if reused and removals is not None and self.objects.removals_started() != removals:
                self._restore_gone(reused, files)  # a gc started while this add ran
        self.cache.record(
            (_cache_key(key, rel, folder), *files[rel][1:], digests[rel], checked) for rel in todo
        )
        if matched < len(cached):  # some files are gone (without a look at every entry)
            self.cache.forget(k for k in cached if _rel(k, key, folder) not in files)
        self.cache.save_snapshot(key, manifest_digest, files, checked, known=scanned.fingerprint())
        Pointer(
            name=name,
            version=number,
            digest=manifest_digest,
            path=target.name,
            kind="folder" if folder else "file",
            files=len(files),
            size=total,
        ).write(pointer_file)
        gitignore = _ignore_in_git(target, check)
        return AddResult(
            path=key,
            pointer=self._key(pointer_file),
            ref=ref,
            digest=manifest_digest,
            files=len(files),
            size=total,
            hashed=len(todo),
            unchanged=len(files) - len(todo),
            new_version=created,
            gitignore=self._key(gitignore) if gitignore else None,
        )

    def _reread_gone(self, digests: dict[str, str]) -> list[str]:
        """The files among ``digests`` (known from the stat cache) whose objects are no
        longer stored, taken out of ``digests`` to be read again; the others' objects are
        refreshed so that ``keel gc --objects`` keeps them until the version records them.

        A deleted version's objects go at the next gc, while the stat cache still knows
        the workspace files that had them: without this, a version made afterwards would
        name bytes that no longer exist.
        """
        gone = set(self.objects.freshen(digests.values())) if digests else set()
        again = [rel for rel, digest in digests.items() if digest in gone]
        for rel in again:
            del digests[rel]
        return again

    def _restore_gone(self, reused: dict[str, str], files: dict[str, FileStat]) -> None:
        """Put back, from the files, the objects a removal (``keel gc --objects``) that
        started during this add took from under the version just recorded; refresh the
        others so that it keeps them.

        Raises:
            IntegrityError: a file changed while it was added, so its object cannot be put
                back; the version names bytes that are gone (run the add again).
        """
        gone = self._reread_gone(dict(reused))
        if not gone:
            return
        stored = store_files(self.objects, [files[rel] for rel in gone], None)
        for rel, (digest, _) in zip(gone, stored, strict=True):
            if digest != reused[rel]:
                raise IntegrityError(
                    f"{rel} changed while it was added, and 'keel gc --objects' removed its "
                    "earlier bytes meanwhile: the version just recorded names them. Run "
                    "'keel data add' again to record the file as it is now."
                )

    def _add_unchanged(
        self,
        target: Path,
        key: str,
        folder: bool,
        pointer: Pointer,
        pointer_file: Path,
        scanned: Scanned,
        check: GitCheckIgnore,
    ) -> AddResult | None:
        """What ``add`` returns for a path whose files all still match the version its
        pointer names, told by the stat snapshot and a read-only look at the metadata (no
        file read, nothing to store or record); None when that cannot be told cheaply.

        Nothing is taken on trust that the full path would check: the snapshot must name
        the pointer's manifest, the pointer must say what the scan says (kind, file count),
        the manifest must be in the object store and the version recorded with it.
        """
        from ._quick_lookup import recorded_manifest

        files = scanned.files
        if pointer.kind != ("folder" if folder else "file") or pointer.path != target.name:
            return None
        if len(files) != pointer.files or not files:
            return None
        if not self.cache.matches_snapshot(key, pointer.digest, files, known=scanned.fingerprint()):
            return None
        if recorded_manifest(self.config, pointer.name, pointer.version) != pointer.digest:
            return None
        if not self.objects.exists(pointer.digest):
            return None
        size = sum(stat[1] for stat in files.values())
        if size != pointer.size:
            return None
        self.cache.save_snapshot(
            key, pointer.digest, files, scanned.checked_ns, known=scanned.fingerprint()
        )
        pointer.write(pointer_file)  # as the full path does: the same text, rewritten
        gitignore = _ignore_in_git(target, check)
        return AddResult(
            path=key,
            pointer=self._key(pointer_file),
            ref=pointer.ref,
            digest=pointer.digest,
            files=len(files),
            size=size,
            hashed=0,
            unchanged=len(files),
            new_version=False,
            gitignore=self._key(gitignore) if gitignore else None,
        )

    @contextlib.contextmanager
    def _open_store(self, name: str) -> Iterator[Store]:
        """The metadata store, once ``name`` is known to be free for a dataset."""
        from keel.store import Store

        from ._service import DatasetService

        with Store.open(self.config) as store:
            DatasetService(store, self.config.project).check_name_free(name)
            yield store

    def _version(
        self,
        service: DatasetService,
        name: str,
        manifest_digest: str,
        previous: Pointer | None,
        new: list[tuple[str, int]],
        size: int,
        key: str,
    ) -> tuple[DatasetVersion, bool]:
        """The version with this manifest (the pointer's, or the latest), else a new one."""
        candidates = [name]
        if previous is not None and previous.name == name and previous.digest == manifest_digest:
            candidates.insert(0, previous.ref)
        for ref in candidates:
            try:
                found = service.resolve(ref)
            except NotFound:
                continue
            if found.manifest_digest == manifest_digest:
                return found, False
        _record_objects(service.store, dict(new))
        # TODO(lead): public API, e.g. DatasetService.log_manifest(manifest_digest, name,
        # kind, size, source=...): _record inserts one row per entry, which costs seconds
        # for 100,000 files; the entries' objects are recorded above in one statement.
        version = service._record(
            name,
            _Recorded(size=size),
            manifest_digest,
            None,
            None,
            [],
            [],
            None,
            {"path": key, "via": "keel data add"},
        )
        return version, True

    def _target(self, path: str | os.PathLike[str]) -> Path:
        given = Path(path)
        absolute = Path(os.path.normpath(given if given.is_absolute() else Path.cwd() / given))
        if absolute.name:  # resolve the folders above, not the path itself
            absolute = Path(os.path.realpath(absolute.parent)) / absolute.name
        if not absolute.exists() and not absolute.is_symlink():
            raise NotFound(f"Cannot add {path}: no such file or folder.")
        try:
            rel = absolute.relative_to(self.root)
        except ValueError:
            raise InvalidInput(
                f"Cannot add {path}: it is outside the keel project at {self.root}. Move it "
                "into the project, or run 'keel data add' from the project that holds it."
            ) from None
        if not rel.parts:
            raise InvalidInput(
                f"Cannot add {path}: it is the project folder itself. Add a file or folder in it."
            )
        if rel.parts[0] in (".keel", ".git"):
            raise InvalidInput(f"Cannot add {path}: it is inside {rel.parts[0]}/, keel's or git's.")
        if absolute.name.endswith(SUFFIX):
            raise InvalidInput(
                f"Cannot add {path}: it is a keel pointer. Add the path it points at, "
                f"'{absolute.name[: -len(SUFFIX)]}'."
            )
        if absolute.is_symlink() or not (absolute.is_file() or absolute.is_dir()):
            raise InvalidInput(
                f"Cannot add {path}: it is not a regular file or folder (a symbolic link or a "
                "device). Add the file or folder itself."
            )
        for parent in rel.parents:
            if parent.parts and _pointer_file(self.root / parent).is_file():
                raise InvalidInput(
                    f"Cannot add {path}: it is inside {parent.as_posix()}, which "
                    f"{parent.as_posix()}{SUFFIX} already versions. Add "
                    f"{parent.as_posix()} again instead."
                )
        return absolute

    def _key(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    # -- status ---------------------------------------------------------------------------

    def status(
        self, paths: Sequence[str | os.PathLike[str]] = (), *, on_progress: Progress | None = None
    ) -> list[PathStatus]:
        """How each pointed-to path (all of them by default) differs from its version."""
        return [self._status(file, pointer, on_progress) for file, pointer in self.pointers(paths)]

    def _status(self, file: Path, pointer: Pointer, on_progress: Progress | None) -> PathStatus:
        if not self.objects.exists(pointer.digest):
            self._manifest(file, pointer)  # raises, naming the pointer and the store
        target = file.parent / pointer.path
        result = PathStatus(self._key(target), self._key(file), pointer.ref, pointer.kind, "clean")
        if not target.exists():
            result.state = "missing"
            return result
        folder = pointer.kind == "folder"
        if target.is_dir() != folder:  # a file where a folder was, or the reverse
            result.added = sorted(scan(target))
            result.removed = sorted(self._manifest(file, pointer))
            result.state = "modified"
            return result
        key = self._key(target)
        checked = time.time_ns()
        files = scan(target)
        if self.cache.matches_snapshot(key, pointer.digest, files):
            return result
        manifest = self._manifest(file, pointer)
        _, result.modified, result.hashed = self._compare(
            key, folder, files, manifest, checked, on_progress
        )
        result.added = sorted(rel for rel in files if rel not in manifest)
        result.removed = sorted(rel for rel in manifest if rel not in files)
        result.modified.sort()
        if result.added or result.removed or result.modified:
            result.state = "modified"
        else:
            self.cache.save_snapshot(key, pointer.digest, files, checked)
        return result

    def _compare(
        self,
        key: str,
        folder: bool,
        files: dict[str, FileStat],
        manifest: dict[str, tuple[str, int]],
        checked: int,
        on_progress: Progress | None,
    ) -> tuple[list[str], list[str], int]:
        """Files on disk equal to / different from their version, and how many were read.

        Files found equal by reading them go into the stat cache for next time.
        """
        cache = self.cache
        cached = cache.entries(key, folder=folder)
        same, different, to_hash = [], [], []
        for rel, (_, size, mtime_ns, inode) in files.items():
            want = manifest.get(rel)
            if want is None:
                continue
            digest = cache.lookup(cached.get(_cache_key(key, rel, folder)), size, mtime_ns, inode)
            if digest is not None:
                (same if digest == want[0] else different).append(rel)
            elif size != want[1]:
                different.append(rel)
            else:
                to_hash.append(rel)
        digests = hash_files([files[rel][0] for rel in to_hash], on_progress)
        rows = []
        for rel, digest in zip(to_hash, digests, strict=True):
            if digest == manifest[rel][0]:
                same.append(rel)
                rows.append((_cache_key(key, rel, folder), *files[rel][1:], digest, checked))
            else:
                different.append(rel)
        cache.record(rows)
        return same, different, len(to_hash)

    # -- pull -----------------------------------------------------------------------------

    def pull(
        self,
        paths: Sequence[str | os.PathLike[str]] = (),
        *,
        force: bool = False,
        on_progress: Progress | None = None,
    ) -> list[PullResult]:
        """Restore each pointed-to path (all of them by default) from the object store.

        Files that already match are left alone; files that differ are kept unless
        ``force``; files the version does not have are left in place. Every restored
        file is verified against its digest and written atomically.

        Raises:
            IntegrityError: an object is corrupt (its file is not written).
            ObjectNotFound: an object is missing from the store.
        """
        return [
            self._pull(file, pointer, force, on_progress) for file, pointer in self.pointers(paths)
        ]

    def _pull(
        self, file: Path, pointer: Pointer, force: bool, on_progress: Progress | None
    ) -> PullResult:
        manifest = self._manifest(file, pointer)
        target = file.parent / pointer.path
        folder = pointer.kind == "folder"
        result = PullResult(self._key(target), self._key(file), pointer.ref)
        if target.exists() and target.is_dir() != folder:
            raise InvalidInput(
                f"Cannot restore {result.path} ({pointer.ref}, a {pointer.kind}): a "
                f"{'file' if folder else 'folder'} is in the way. Move it aside and pull again."
            )
        for rel in manifest:
            _check_rel(rel, file)
        key = self._key(target)
        checked = time.time_ns()
        files = scan(target) if target.exists() else {}
        present = {rel: stat for rel, stat in files.items() if rel in manifest}
        same, different, _ = self._compare(key, folder, present, manifest, checked, on_progress)
        result.unchanged = len(same)
        result.extra = len(files) - len(present)
        result.kept = sorted(different) if not force else []
        todo = [rel for rel in manifest if rel not in present] + (
            sorted(different) if force else []
        )
        if not todo:
            return result

        def dest(rel: str) -> Path:
            return target / rel if folder else target

        for parent in sorted({dest(rel).parent for rel in todo}):
            try:
                parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise InvalidInput(
                    f"Cannot restore {result.path}: cannot make the folder {parent} "
                    f"({exc.strerror}). Move aside whatever is in the way and pull again."
                ) from exc
        stats = restore_files(
            self.objects, [(manifest[rel][0], dest(rel)) for rel in todo], on_progress
        )
        self.cache.record(
            (_cache_key(key, rel, folder), *stat, manifest[rel][0], checked)
            for rel, (stat, checked) in zip(todo, stats, strict=True)
        )
        result.restored = len(todo)
        result.bytes_restored = sum(manifest[rel][1] for rel in todo)
        return result

    # -- pointers and manifests -----------------------------------------------------------

    def pointers(self, paths: Sequence[str | os.PathLike[str]] = ()) -> list[tuple[Path, Pointer]]:
        """The pointer files named by ``paths`` (data paths or pointers), else every one."""
        if not paths:
            return [(file, Pointer.read(file)) for file in sorted(self._discover())]
        found = []
        for path in paths:
            absolute = Path(os.path.abspath(path))
            file = absolute if absolute.name.endswith(SUFFIX) else _pointer_file(absolute)
            if absolute.exists() and not file.resolve().is_relative_to(self.root):
                raise InvalidInput(
                    f"{path} is outside the keel project at {self.root}. Run the command "
                    "from the project that holds it."
                )
            if not file.is_file():
                raise NotFound(
                    f"{path} has no keel pointer ({file.name} does not exist). Version it "
                    f"with 'keel data add {path}', or list pointers with 'keel data status'."
                )
            found.append((file, Pointer.read(file)))
        return found

    def _discover(self) -> list[Path]:
        """Pointer files in the project: those git knows (not ignored), else by walking."""
        import subprocess

        try:
            listed = subprocess.run(
                [*_GIT_LS_POINTERS, f"*{SUFFIX}"],
                cwd=self.root,
                capture_output=True,
                check=False,
            )
        except OSError:  # no git
            listed = None
        if listed is not None and listed.returncode == 0:
            found = {self.root / os.fsdecode(p) for p in listed.stdout.split(b"\0") if p}
            return [p for p in found if p.parts[len(self.root.parts)] != ".keel" and p.is_file()]
        return _walk_for_pointers(self.root)

    def _manifest(self, file: Path, pointer: Pointer) -> dict[str, tuple[str, int]]:
        """``path -> (digest, size)`` of the version a pointer names (verified)."""
        import orjson

        try:
            raw = self.objects.read_bytes(pointer.digest)
        except ObjectNotFound as exc:
            raise NotFound(
                f"{self._key(file)} names {pointer.ref} (manifest {pointer.digest[:16]}), which "
                f"is not in the object store {self.objects.url}. It was added against another "
                "store: point KEEL_OBJECTS at that one, or version the data here with "
                f"'keel data add {pointer.path}'."
            ) from exc
        except IntegrityError as exc:
            raise IntegrityError(
                f"The manifest of {pointer.ref}, named by {self._key(file)}, is corrupt. "
                f"{exc.message}"
            ) from exc
        try:
            data = orjson.loads(raw)
            if data["kind"] != "files":
                raise ValueError("a table version")
            # Plain dicts, not ManifestEntry objects: 100,000 entries in 50 ms, not 300 ms.
            return {e["path"]: (e["digest"], e["size"]) for e in data["entries"]}
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(
                f"{self._key(file)} names the object {pointer.digest[:16]}, which is not the "
                "manifest of a file dataset. The pointer was edited by hand or damaged: restore "
                "it from git."
            ) from exc


# -- helpers ------------------------------------------------------------------------------


@dataclass
class _Recorded:
    """What ``DatasetService._record`` reads from a manifest whose entries are recorded."""

    size: int
    kind: str = "files"
    entries: tuple = ()
    schema: None = None
    row_count: None = None


def default_name(filename: str) -> str:
    """A dataset name from a file name: ``My Data (2024).csv`` -> ``My-Data-2024-.csv``."""
    name = re.sub(r"[^A-Za-z0-9_.\-]+", "-", filename)
    name = re.sub(r"^[^A-Za-z0-9]+", "", name)[:200]
    return name or "data"


def manifest_bytes(entries: Iterable[tuple[str, str, int]]) -> bytes:
    """The manifest of ``(path, digest, size)`` files, byte for byte ``Manifest.to_bytes()``.

    Built directly because ``dataclasses.asdict`` takes half a second for 100,000 entries.
    """
    import orjson

    rows = sorted(entries)
    data = {
        "format": 1,
        "kind": "files",
        "entries": [{"path": p, "digest": d, "size": s, "rows": None} for p, d, s in rows],
        "schema": None,
        "row_count": None,
    }
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def _pointer_file(target: Path) -> Path:
    return target.with_name(target.name + SUFFIX)


def _cache_key(key: str, rel: str, folder: bool) -> str:
    return f"{key}/{rel}" if folder else key


def _rel(cache_key: str, key: str, folder: bool) -> str:
    return cache_key[len(key) + 1 :] if folder else Path(key).name


def _check_rel(rel: str, file: Path) -> None:
    parts = rel.split("/")
    if rel.startswith("/") or "\\" in rel or any(p in ("", ".", "..") for p in parts):
        raise InvalidInput(
            f"The version {file.name} names holds the path {rel!r}, which would be written "
            "outside its folder. Nothing was restored; check where this store came from."
        )


def _record_objects(store: Store, sizes: dict[str, int]) -> None:
    """Record stored objects in the metadata, many per statement (idempotent)."""
    # TODO(lead): public API, e.g. Store.record_objects({digest: size}).
    if not sizes:
        return
    from keel.store import now_ms, schema

    created = now_ms()
    rows = [
        {"digest": d, "size": s, "media_type": None, "created_at": created}
        for d, s in sorted(sizes.items())  # in key order: cheaper for the index
    ]
    with store.write() as conn:
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        statement = insert(schema.objects).on_conflict_do_nothing()
        for start in range(0, len(rows), 5000):
            conn.execute(statement, rows[start : start + 5000])


def _ignore_in_git(target: Path, check: GitCheckIgnore | None = None) -> Path | None:
    """Keep ``target`` out of git, as DVC does: add ``/name`` to the .gitignore beside it.

    ``check``: git's answer for ``target``, started earlier (else it is asked now).
    Returns the .gitignore written, or None if git already ignores the path.
    """
    if check is None:
        check = GitCheckIgnore(str(target))
    if check.ignored():
        return None
    gitignore = target.parent / ".gitignore"
    line = "/" + re.sub(r"([*?\[\\])", r"\\\1", target.name)
    text = gitignore.read_text(encoding="utf-8") if gitignore.is_file() else ""
    if line in text.splitlines() or f"{line}/" in text.splitlines():
        return None
    with open(gitignore, "a", encoding="utf-8") as fh:
        fh.write(("\n" if text and not text.endswith("\n") else "") + line + "\n")
    return gitignore


def _walk_for_pointers(root: Path) -> list[Path]:
    """Pointer files under ``root``, outside git: hidden folders and data paths are skipped."""
    found, stack = [], [root]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        names = {e.name for e in entries}
        pointed = {n[: -len(SUFFIX)] for n in names if n.endswith(SUFFIX)}
        for entry in entries:
            if entry.name.endswith(SUFFIX) and entry.is_file():
                found.append(Path(entry.path))
            elif (
                entry.is_dir(follow_symlinks=False)
                and entry.name not in pointed
                and not entry.name.startswith(".")
                and entry.name not in ("node_modules", "__pycache__")
            ):
                stack.append(Path(entry.path))
    return found
