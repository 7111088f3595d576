"""Content-addressed object store: blake3 digests, atomic writes, verified reads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from keel._lazy import lazy_names
from keel.errors import ConfigError

from ._base import ObjectStore, Source
from ._hashing import check_digest, hash_bytes
from ._local import LocalObjectStore

if TYPE_CHECKING:
    from ._fsspec import FsspecObjectStore
    from ._http import MISSING_BATCH, HttpObjectStore

# the remote stores load on first use: 'keel data add' into a local store needs neither
__getattr__ = lazy_names(
    __name__,
    {"FsspecObjectStore": "._fsspec", "HttpObjectStore": "._http", "MISSING_BATCH": "._http"},
)

__all__ = [
    "MISSING_BATCH",
    "FsspecObjectStore",
    "HttpObjectStore",
    "LocalObjectStore",
    "ObjectStore",
    "Source",
    "check_digest",
    "hash_bytes",
    "open_object_store",
]

# Object stores whose uploads become visible only when complete; others stage then move.
HTTP_SCHEMES = frozenset({"http", "https"})
ATOMIC_PUT_SCHEMES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"})


def open_object_store(
    url: str, *, fsync: bool = True, link: str = "copy", **storage_options: Any
) -> ObjectStore:
    """Open the object store at ``url``: a folder path, ``file://...``, a keel server
    (``http(s)://host:port``) or any other fsspec URL.

    ``storage_options`` go to fsspec (for S3: ``endpoint_url``, ``key``, ``secret``, ...);
    for S3 they default to the usual AWS environment variables. For a keel server the one
    option is ``token``; ``keel.Client(server_url).objects`` passes the client's own.
    """
    if not url:
        raise ConfigError("The object store URL is empty. Set KEEL_OBJECTS or run 'keel init'.")
    scheme, sep, rest = url.partition("://")
    if not sep:
        return LocalObjectStore(url, fsync=fsync, link=link)
    if scheme == "file":
        return LocalObjectStore(rest, fsync=fsync, link=link)
    if scheme in HTTP_SCHEMES:
        from ._http import HttpObjectStore

        # fsspec's read-only HTTP filesystem knows neither keel's layout nor how to write:
        # an http(s) object store is a keel server's
        return HttpObjectStore(url, token=storage_options.pop("token", None))
    import fsspec

    from ._fsspec import FsspecObjectStore

    known = fsspec.available_protocols()
    if scheme not in known:
        from keel.errors import did_you_mean

        raise ConfigError(
            f"Unknown object store scheme {scheme!r} in {url!r}.{did_you_mean(scheme, known)} "
            "Use a folder path or an fsspec URL such as s3://bucket/prefix."
        )
    return FsspecObjectStore(url, atomic_put=scheme in ATOMIC_PUT_SCHEMES, **storage_options)
