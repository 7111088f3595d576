"""Data validation: schemas inferred from data, checks, reports, PII scanning, erasure."""

from ._data import Subject, load_table

__all__ = ["Subject", "load_table"]
