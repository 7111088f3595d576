"""The data lake: every tabular dataset version and platform table, queryable with SQL.

``keel.lake.query("SELECT ...")`` runs DuckDB over Parquet views named after what they
hold:

- ``credit`` (the latest version of dataset ``credit``) and ``"credit:v3"`` (any version);
- ``run_predictions``: every run's holdout predictions, with ``run_id`` and ``artifact``
  columns;
- later: prediction logs and monitoring windows, partitioned by date.

Example::

    keel.lake.query('SELECT region, avg("default") FROM credit GROUP BY region')
"""

from __future__ import annotations

from ._views import connect, query, view_names

__all__ = ["connect", "query", "view_names"]
