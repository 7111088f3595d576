"""Datasets: versions, profiles, diff, checkout, erasure.

Names load on first use: ``keel data status`` must start in a blink, and importing the
dataset service pulls in SQLAlchemy, NumPy and pyarrow.
"""

from __future__ import annotations

from keel._lazy import lazy_names

TYPE_CHECKING = False  # typing costs 'keel data status' a tenth of its start-up
if TYPE_CHECKING:
    from ._delete import delete_version
    from ._erase import ErasureResult, VersionErasure, erase, object_references_to
    from ._erase_check import CopySource, StoredCopy, check_erasures
    from ._ingest import IngestResult, ingest
    from ._listed_check import check_listed_objects
    from ._owners import version_owners
    from ._predicate import equality_values
    from ._prepare import PreparedVersion
    from ._prepare_parts import prepare_parts
    from ._service import DatasetService
    from ._versions import DatasetVersion, Manifest, ManifestEntry, parse_ref

_LAZY = {
    "CopySource": "._erase_check",
    "DatasetService": "._service",
    "DatasetVersion": "._versions",
    "ErasureResult": "._erase",
    "IngestResult": "._ingest",
    "Manifest": "._versions",
    "ManifestEntry": "._versions",
    "PreparedVersion": "._prepare",
    "StoredCopy": "._erase_check",
    "VersionErasure": "._erase",
    "check_erasures": "._erase_check",
    "check_listed_objects": "._listed_check",
    "delete_version": "._delete",
    "equality_values": "._predicate",
    "erase": "._erase",
    "ingest": "._ingest",
    "object_references_to": "._erase",
    "parse_ref": "._versions",
    "prepare_parts": "._prepare_parts",
    "version_owners": "._owners",
}

__all__ = [
    "CopySource",
    "DatasetService",
    "DatasetVersion",
    "ErasureResult",
    "IngestResult",
    "Manifest",
    "ManifestEntry",
    "PreparedVersion",
    "StoredCopy",
    "VersionErasure",
    "check_erasures",
    "check_listed_objects",
    "delete_version",
    "equality_values",
    "erase",
    "ingest",
    "object_references_to",
    "parse_ref",
    "prepare_parts",
    "version_owners",
]


__getattr__ = lazy_names(__name__, _LAZY)


def __dir__() -> list[str]:
    return sorted(__all__)
