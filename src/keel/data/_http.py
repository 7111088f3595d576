"""Datasets in a keel server, through its REST API: the client does the heavy work.

Logging prepares the version here (Parquet parts, manifest and profile, pushed through
the server's object routes, which receive only the objects they lack) and asks the
server to record it; reading resolves through the server and fetches verified objects.
Same methods, signatures and return values as :class:`~keel.data.DatasetService`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from keel.errors import ConfigError

from ._materialise import as_format, check_format, polars_module, read_arrow, write_files
from ._prepare import prepare_version
from ._versions import DatasetVersion, Manifest, ManifestEntry, check_name, check_tag, parse_ref

if TYPE_CHECKING:
    from keel._remote import RemoteClient
    from keel.store import Store
    from keel.store.objects import HttpObjectStore

__all__ = ["HttpDatasets"]


class HttpDatasets:
    """Versioned datasets in one project of a keel server.

    Args:
        remote: the connection to the server (JSON routes).
        objects: the server's object store (pushes and verified downloads).
        project: the project to work in.
    """

    def __init__(self, remote: RemoteClient, objects: HttpObjectStore, project: str) -> None:
        self.remote = remote
        self.objects = objects
        self.project = project

    def __repr__(self) -> str:
        return f"HttpDatasets({self.remote.base_url!r}, project={self.project!r})"

    @property
    def store(self) -> Store:
        raise self._not_yet("The store itself")

    def tag(self, ref: str | DatasetVersion, tag: str, *, actor: Any = None) -> DatasetVersion:
        """Point ``name@tag`` at a version (moving it); the server records it under the
        token's name (``actor`` is ignored: the token is the actor)."""
        check_tag(tag)
        path = self._version_path(ref, "/tags")
        return _version(self.remote.json("PUT", path, json={"tag": tag}))

    def erase(self, dataset: str | DatasetVersion, where: str, **options: Any) -> Any:
        """Not through a server yet: erasure rewrites objects where they are stored."""
        raise self._not_yet("Erasing rows")

    def _not_yet(self, what: str) -> ConfigError:
        return ConfigError(
            f"{what} cannot be reached through a keel server yet ({self.remote.base_url}): "
            "point KEEL_URI at the database (and KEEL_OBJECTS at the object store) to use it."
        )

    # -- writing --------------------------------------------------------------------------

    def log(
        self,
        obj: Any,
        name: str,
        *,
        description: str | None = None,
        tags: Iterable[str] = (),
        parents: Iterable[DatasetVersion | str] = (),
        producer: tuple[str, str] | None = None,
        source: dict[str, Any] | None = None,
    ) -> DatasetVersion:
        """Store ``obj`` as the next version of dataset ``name`` (see
        :meth:`keel.data.DatasetService.log`): objects first, then one record."""
        check_name(name)
        tags = [check_tag(tag) for tag in tags]
        parents = [self.resolve(p).ref for p in parents]  # fail before any upload
        prepared = prepare_version(obj, self.objects)
        body: dict[str, Any] = {
            **prepared.to_dict(),
            "description": description,
            "tags": tags,
            "parents": parents,
            "source": source,
        }
        if producer is not None:
            kind, run_id = producer
            body["producer"] = {"kind": kind, "id": run_id}
        data = self.remote.json("POST", self._path(f"/datasets/{_seg(name)}/versions"), json=body)
        return _version(data)

    # -- reading --------------------------------------------------------------------------

    def resolve(self, ref: str | DatasetVersion) -> DatasetVersion:
        """The version a reference names: ``name``, ``name:vN``, ``name@tag``, a digest."""
        if isinstance(ref, DatasetVersion):
            return ref
        parse_ref(ref)  # a malformed reference is refused here, as locally
        return _version(self.remote.json("GET", self._path(f"/dataset-versions/{_seg(ref)}")))

    def manifest(self, ref: str | DatasetVersion) -> Manifest:
        """The files of a version (their objects are verified when fetched)."""
        data = self.remote.json("GET", self._version_path(ref, "/manifest"))
        return Manifest(
            kind=data["kind"],
            entries=[ManifestEntry(**e) for e in data["entries"]],
            schema=data.get("schema"),
            row_count=data.get("row_count"),
        )

    def profile(self, ref: str | DatasetVersion) -> dict[str, Any] | None:
        """The stored profile of a table version, as a dict (None for file datasets)."""
        return self.remote.json("GET", self._version_path(ref, "/profile"))

    def list(self) -> list[dict[str, Any]]:
        """Every dataset with its latest version and number of versions."""
        return self.remote.json("GET", self._path("/datasets"))

    def versions(self, name: str) -> list[DatasetVersion]:
        """Every version of a dataset, oldest first."""
        check_name(name)
        found = self.remote.json("GET", self._path(f"/datasets/{_seg(name)}/versions"))
        return [_version(v) for v in found]

    def local_paths(self, ref: str | DatasetVersion) -> list[Path] | None:
        """None: a server's objects are never local files."""
        return None

    def load(self, ref: str | DatasetVersion, *, format: str = "pandas") -> Any:
        """Read a table version as ``pandas``, ``arrow``, ``polars`` or a ``duckdb``
        relation."""
        version = self.resolve(ref)
        check_format(version, format)
        if format == "polars":
            polars_module("load a dataset as polars")  # before fetching anything
        return as_format(read_arrow(self.manifest(version), self.objects), format)

    def get(self, ref: str | DatasetVersion, to: str | Path) -> list[Path]:
        """Write a version's files under folder ``to``: all of them, verified, or none;
        nothing outside ``to``, whatever the manifest says."""
        return write_files(self.manifest(ref), self.objects, to)

    def delete(self, ref: str | DatasetVersion, *, force: bool = False, actor: Any = None) -> Any:
        """Delete one version nothing protected holds (the server checks every holder)."""
        from keel.store.deletion import Deletion

        if isinstance(ref, str):
            from ._delete import _explicit

            _explicit(ref)
        params = {"force": "true"} if force else None
        data = self.remote.json("DELETE", self._version_path(ref, ""), params=params)
        return Deletion(**data)

    # -- helpers --------------------------------------------------------------------------

    def _path(self, suffix: str) -> str:
        return f"/api/v1/projects/{_seg(self.project)}{suffix}"

    def _version_path(self, ref: str | DatasetVersion, suffix: str) -> str:
        if isinstance(ref, DatasetVersion):
            ref = ref.ref
        else:
            parse_ref(ref)
        return self._path(f"/dataset-versions/{_seg(ref)}{suffix}")


def _seg(value: str) -> str:
    """One URL path segment (a reference may hold ':' and '@', never '/')."""
    return quote(value, safe="")


def _version(data: dict[str, Any]) -> DatasetVersion:
    fields = {k: v for k, v in data.items() if k != "ref"}
    fields["tags"] = tuple(fields.get("tags") or ())
    return DatasetVersion(**fields)
