"""Datasets: versions, profiles, diff, checkout."""

from ._erase import ErasureResult, VersionErasure, erase
from ._erase_check import check_erasures
from ._ingest import IngestResult, ingest
from ._sdk import dataset_service, load_dataset, log_dataset
from ._service import DatasetService
from ._versions import DatasetVersion, Manifest, ManifestEntry, parse_ref

__all__ = [
    "DatasetService",
    "DatasetVersion",
    "ErasureResult",
    "IngestResult",
    "Manifest",
    "ManifestEntry",
    "VersionErasure",
    "check_erasures",
    "dataset_service",
    "erase",
    "ingest",
    "load_dataset",
    "log_dataset",
    "parse_ref",
]
