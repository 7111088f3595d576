"""The data lake: every tabular dataset version and platform table, queryable with SQL.

``keel.lake.query("SELECT ...")`` runs DuckDB over Parquet views of the current project,
named after what they hold:

- ``credit`` (the latest version of dataset ``credit``) and ``"credit:v3"`` (any version);
- ``run_predictions``: the holdout predictions of the project's runs, with ``run_id`` and
  ``artifact`` columns;
- ``predictions`` and ``feedback``: what the project's model servers logged (one row per
  predicted row; ``input`` is a struct of the features as served) and the ground truth
  sent back, to join by ``request_id`` or ``key``;
- later: monitoring windows.

A query is read-only: one SELECT over these views, which reads no other file, attaches
no database and loads no extension, within a row limit (``max_lake_rows``) and a time
limit (``lake_query_timeout_ms``). ``unsafe=True`` lifts the first rule for SQL you wrote.

Example::

    keel.lake.query('SELECT region, avg("default") FROM credit GROUP BY region')
"""

from __future__ import annotations

from ._query import query
from ._views import connect, view_names

__all__ = ["connect", "query", "view_names"]
