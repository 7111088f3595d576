"""Datasets: versions, profiles, diff, checkout."""

from ._ingest import IngestResult, ingest
from ._sdk import dataset_service, load_dataset, log_dataset
from ._service import DatasetService
from ._versions import DatasetVersion, Manifest, ManifestEntry, parse_ref

__all__ = [
    "DatasetService",
    "DatasetVersion",
    "IngestResult",
    "Manifest",
    "ManifestEntry",
    "dataset_service",
    "ingest",
    "load_dataset",
    "log_dataset",
    "parse_ref",
]
