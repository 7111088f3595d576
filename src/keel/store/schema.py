"""The metadata schema: one table per concept of the domain model (DESIGN.md).

SQLAlchemy Core tables, shared by SQLite and PostgreSQL. Conventions:

- ids are 32-character hex strings (:func:`keel.store.new_id`), time-ordered;
- times are integers, milliseconds since the Unix epoch, UTC;
- a column that holds an object digest has a foreign key to ``objects.digest``, which is
  how ``keel fsck`` finds every reference to the object store;
- free-form structured fields are JSON.

Every change to this file goes with an Alembic migration in ``migrations/versions``.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["metadata"]

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _id(name: str = "id", **kw) -> sa.Column:
    return sa.Column(name, sa.String(32), primary_key=True, **kw)


def _ref(name: str, target: str, *, nullable: bool = False, ondelete: str | None = None):
    return sa.Column(
        name, sa.String(32), sa.ForeignKey(target, ondelete=ondelete), nullable=nullable
    )


def _digest(name: str = "digest", *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.String(64), sa.ForeignKey("objects.digest"), nullable=nullable)


def _time(name: str = "created_at", *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.BigInteger, nullable=nullable)


# -- core -------------------------------------------------------------------------------

projects = sa.Table(
    "projects",
    metadata,
    _id(),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("description", sa.Text),
    _time(),
)

objects = sa.Table(
    "objects",
    metadata,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("media_type", sa.String(200)),
    _time(),
)

tokens = sa.Table(
    "tokens",
    metadata,
    _id(),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),  # reader | writer | approver | admin
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    _time(),
    _time("revoked_at", nullable=True),
)

token_projects = sa.Table(
    "token_projects",
    metadata,
    _ref("token_id", "tokens.id", ondelete="CASCADE"),
    # a name, not a projects.id: a token may be scoped to a project nobody has written to yet
    sa.Column("project", sa.String(100), nullable=False),
    sa.PrimaryKeyConstraint("token_id", "project"),
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    _id(),
    _ref("project_id", "projects.id"),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("action", sa.String(100), nullable=False),
    sa.Column("object_kind", sa.String(50), nullable=False),
    sa.Column("object_id", sa.String(200), nullable=False),
    sa.Column("details", sa.JSON),
    _time(),
    sa.Index(None, "object_kind", "object_id"),
)

lineage_edges = sa.Table(
    "lineage_edges",
    metadata,
    sa.Column("src_kind", sa.String(50), primary_key=True),
    sa.Column("src_id", sa.String(200), primary_key=True),
    sa.Column("relation", sa.String(50), primary_key=True),
    sa.Column("dst_kind", sa.String(50), primary_key=True),
    sa.Column("dst_id", sa.String(200), primary_key=True),
    _time(),
    sa.Index(None, "dst_kind", "dst_id"),
)

# -- tracking ---------------------------------------------------------------------------

experiments = sa.Table(
    "experiments",
    metadata,
    _id(),
    _ref("project_id", "projects.id"),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.Text),
    _time(),
    sa.UniqueConstraint("project_id", "name"),
    # soft delete (migration 0010): hidden from listings while set, purged by gc after
    # deleted_retention_days
    _time("deleted_at", nullable=True),
    sa.Index(None, "deleted_at"),
)

runs = sa.Table(
    "runs",
    metadata,
    _id(),
    _ref("experiment_id", "experiments.id"),
    _ref("parent_id", "runs.id", nullable=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    _time(),
    _time("started_at", nullable=True),
    _time("ended_at", nullable=True),
    sa.Column("error", sa.Text),
    sa.Column("code", sa.JSON),
    sa.Column("environment", sa.JSON),
    # when the run's process last reported: a RUNNING run silent for longer than
    # run_heartbeat_timeout is dead (killed with -9, power cut) and is reported KILLED
    _time("heartbeat_at", nullable=True),
    sa.Index(None, "experiment_id", "created_at"),
    sa.Index(None, "status", "heartbeat_at"),
    _time("deleted_at", nullable=True),  # soft delete (migration 0010)
    sa.Index(None, "deleted_at"),
)

run_params = sa.Table(
    "run_params",
    metadata,
    _ref("run_id", "runs.id", ondelete="CASCADE"),
    sa.Column("key", sa.String(250), nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.PrimaryKeyConstraint("run_id", "key"),
    sa.Index(None, "key", "value"),
)

run_tags = sa.Table(
    "run_tags",
    metadata,
    _ref("run_id", "runs.id", ondelete="CASCADE"),
    sa.Column("key", sa.String(250), nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.PrimaryKeyConstraint("run_id", "key"),
    sa.Index(None, "key", "value"),
)

run_latest_metrics = sa.Table(
    "run_latest_metrics",
    metadata,
    # one row per metric of a run, the latest point; its integer id names the metric's
    # series of points in run_metrics (migration 0013)
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    _ref("run_id", "runs.id", ondelete="CASCADE"),
    sa.Column("key", sa.String(250), nullable=False),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
    sa.Column("value", sa.Float, nullable=True),  # NULL is NaN
    sa.UniqueConstraint("run_id", "key"),
    sa.Index(None, "key", "value"),
)

run_metrics = sa.Table(
    "run_metrics",
    metadata,
    # one row per chunk of a curve: the points of one series (run_latest_metrics.id, one
    # run's metric) written in one batch, as three packed little-endian arrays of equal
    # length, in the order logged (migration 0014: a row and an index entry per point
    # bound bulk logging); ``id`` orders the chunks of a series. No foreign key
    # (migration 0012): the writer verifies the run once per transaction and the purge
    # deletes chunks. See keel.tracking._chunks for the format. On PostgreSQL the three
    # arrays have STORAGE EXTERNAL (not compressed, migration 0014).
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("series_id", sa.BigInteger, nullable=False),
    sa.Column("points", sa.Integer, nullable=False),  # how many points the chunk holds
    sa.Column("steps", sa.LargeBinary, nullable=False),  # int64 each
    sa.Column("timestamps", sa.LargeBinary, nullable=False),  # int64 each, ms
    sa.Column("metric_values", sa.LargeBinary, nullable=False),  # float64 each, NaN kept
    sa.Index(None, "series_id", "id"),
)

run_artifacts = sa.Table(
    "run_artifacts",
    metadata,
    _ref("run_id", "runs.id", ondelete="CASCADE"),
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("kind", sa.String(50), nullable=False),
    _digest(),
    sa.Column("size", sa.BigInteger, nullable=False),
    _time(),
    sa.PrimaryKeyConstraint("run_id", "name"),
)

# -- data -------------------------------------------------------------------------------

datasets = sa.Table(
    "datasets",
    metadata,
    _id(),
    _ref("project_id", "projects.id"),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.Text),
    _time(),
    sa.UniqueConstraint("project_id", "name"),
)

dataset_versions = sa.Table(
    "dataset_versions",
    metadata,
    _id(),
    _ref("dataset_id", "datasets.id"),
    sa.Column("version", sa.Integer, nullable=False),
    _digest("manifest_digest"),
    sa.Column("kind", sa.String(20), nullable=False),  # table | files
    sa.Column("row_count", sa.BigInteger),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("schema", sa.JSON),
    _digest("profile_digest", nullable=True),
    sa.Column("source", sa.JSON),
    sa.Column("description", sa.Text),
    _time(),
    sa.UniqueConstraint("dataset_id", "version"),
)

dataset_tags = sa.Table(
    "dataset_tags",
    metadata,
    _ref("dataset_id", "datasets.id"),
    sa.Column("tag", sa.String(200), nullable=False),
    _ref("version_id", "dataset_versions.id"),
    _time(),
    sa.PrimaryKeyConstraint("dataset_id", "tag"),
)

# -- validation -------------------------------------------------------------------------

schemas = sa.Table(
    "schemas",
    metadata,
    _id(),
    _ref("project_id", "projects.id"),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("spec", sa.JSON, nullable=False),
    _ref("inferred_from", "dataset_versions.id", nullable=True),
    _time(),
)

validation_reports = sa.Table(
    "validation_reports",
    metadata,
    _id(),
    _ref("schema_id", "schemas.id", nullable=True),
    sa.Column("subject_kind", sa.String(50), nullable=False),
    sa.Column("subject_id", sa.String(200), nullable=False),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("summary", sa.JSON, nullable=False),
    _digest("report_digest", nullable=True),
    _time(),
    sa.Index(None, "subject_kind", "subject_id"),
)

# -- pipelines --------------------------------------------------------------------------

pipelines = sa.Table(
    "pipelines",
    metadata,
    _id(),
    _ref("project_id", "projects.id"),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("spec", sa.JSON),
    _time(),
    sa.UniqueConstraint("project_id", "name"),
)

pipeline_runs = sa.Table(
    "pipeline_runs",
    metadata,
    _id(),
    _ref("pipeline_id", "pipelines.id"),
    # queued | running | waiting (for an approval) | succeeded | failed | cancelled
    sa.Column("status", sa.String(20), nullable=False),
    # {"kind": "manual" | "schedule" | "dataset" | "files" | "alert", ...}
    sa.Column("trigger", sa.JSON, nullable=False),
    _time(),
    _time("started_at", nullable=True),
    _time("ended_at", nullable=True),
    sa.Column("params", sa.JSON),  # the typed params the run was given, defaults filled in
    sa.Column("options", sa.JSON),  # executor, cache and what else the run was asked to do
    sa.Column("error", sa.Text),  # why a failed run failed, one paragraph
    # the process running it renews its lease; a run whose lease expired is not running
    sa.Column("lease_holder", sa.String(200)),
    _time("lease_expires_at", nullable=True),
    sa.Index(None, "status"),
)

step_runs = sa.Table(
    "step_runs",
    metadata,
    _id(),
    _ref("pipeline_run_id", "pipeline_runs.id", ondelete="CASCADE"),
    sa.Column("step", sa.String(200), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False, default=1),
    sa.Column("cache_key", sa.String(64)),
    _digest("log_digest", nullable=True),
    _time(),
    _time("started_at", nullable=True),
    _time("ended_at", nullable=True),
    sa.Column("params", sa.JSON),  # the constant arguments the step was called with
    sa.Column("inputs", sa.JSON),  # per argument: the upstream output's ref and digest
    sa.Column("outputs", sa.JSON),  # per output: kind, ref and digest of what was materialised
    sa.Column("code_hash", sa.String(64)),
    sa.Column("cached_from", sa.String(32)),  # the step run whose outputs a cache hit reused
    sa.Column("error", sa.Text),  # the failing attempt's traceback
    _ref("run_id", "runs.id", nullable=True),  # the tracking run the step logged to, if any
    sa.Index(None, "cache_key"),
    sa.Index(None, "pipeline_run_id", "step"),
)

pipeline_approvals = sa.Table(
    "pipeline_approvals",
    metadata,
    _id(),
    _ref("project_id", "projects.id"),
    _ref("pipeline_run_id", "pipeline_runs.id", ondelete="CASCADE"),
    sa.Column("step", sa.String(200), nullable=False),
    sa.Column("title", sa.String(500), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # pending | approved | rejected | expired
    _time("requested_at"),
    _time("timeout_at", nullable=True),
    sa.Column("decided_by", sa.String(200)),
    _time("decided_at", nullable=True),
    sa.Column("comment", sa.Text),
    sa.UniqueConstraint("pipeline_run_id", "step", "title"),
    sa.Index(None, "project_id", "status"),
)

trigger_state = sa.Table(
    "trigger_state",
    metadata,
    _ref("pipeline_id", "pipelines.id"),
    sa.Column("trigger_key", sa.String(64), nullable=False),  # digest of the trigger's spec
    sa.Column("state", sa.JSON, nullable=False),  # last fired, last version or files seen
    _time("updated_at"),
    sa.PrimaryKeyConstraint("pipeline_id", "trigger_key"),
)

agent_leases = sa.Table(
    "agent_leases",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),  # what is led, e.g. "agent"
    sa.Column("holder", sa.String(200), nullable=False),
    _time("acquired_at"),
    _time("expires_at"),
)

# -- registry ---------------------------------------------------------------------------

models = sa.Table(
    "models",
    metadata,
    _id(),
    _ref("project_id", "projects.id"),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("policy", sa.JSON),
    _time(),
    sa.UniqueConstraint("project_id", "name"),
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    _id(),
    _ref("model_id", "models.id"),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("flavor", sa.String(50), nullable=False),
    _digest("package_digest"),
    sa.Column("signature", sa.JSON),
    _ref("run_id", "runs.id", nullable=True),
    sa.Column("metrics", sa.JSON),
    sa.Column("description", sa.Text),
    _time(),
    sa.UniqueConstraint("model_id", "version"),
)

model_aliases = sa.Table(
    "model_aliases",
    metadata,
    _ref("model_id", "models.id"),
    sa.Column("alias", sa.String(100), nullable=False),
    _ref("version_id", "model_versions.id"),
    _time("updated_at"),
    sa.PrimaryKeyConstraint("model_id", "alias"),
)

approvals = sa.Table(
    "approvals",
    metadata,
    _id(),
    _ref("version_id", "model_versions.id"),
    sa.Column("decision", sa.String(20), nullable=False),  # approved | rejected
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("comment", sa.Text),
    _time(),
)

evaluations = sa.Table(
    "evaluations",
    metadata,
    _id(),
    _ref("version_id", "model_versions.id"),
    _ref("baseline_id", "model_versions.id", nullable=True),
    sa.Column("data_ref", sa.String(300), nullable=False),
    sa.Column("metrics", sa.JSON, nullable=False),
    sa.Column("gate", sa.Text),
    sa.Column("passed", sa.Boolean),
    _digest("report_digest", nullable=True),
    _time(),
    sa.Index(None, "version_id", "created_at"),
)

# -- deployment and monitoring ----------------------------------------------------------

deployments = sa.Table(
    "deployments",
    metadata,
    _id(),
    _ref("project_id", "projects.id"),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("spec", sa.JSON),
    _time(),
    sa.UniqueConstraint("project_id", "name"),
)

rollouts = sa.Table(
    "rollouts",
    metadata,
    _id(),
    _ref("deployment_id", "deployments.id"),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    _time(),
    # the revision a rollback of this one returns to; the revision a rollback restored
    sa.Column("previous_revision", sa.Integer),
    sa.Column("restores", sa.Integer),
    sa.UniqueConstraint("deployment_id", "revision"),
)

monitors = sa.Table(
    "monitors",
    metadata,
    _id(),
    _ref("project_id", "projects.id"),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("spec", sa.JSON, nullable=False),
    _time(),
    sa.UniqueConstraint("project_id", "name"),
)

monitor_results = sa.Table(
    "monitor_results",
    metadata,
    _id(),
    _ref("monitor_id", "monitors.id"),
    _time("window_start"),
    _time("window_end"),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("scores", sa.JSON, nullable=False),
    _time(),
)

alerts = sa.Table(
    "alerts",
    metadata,
    _id(),
    _ref("monitor_result_id", "monitor_results.id"),
    sa.Column("severity", sa.String(10), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # open | resolved
    sa.Column("actions", sa.JSON),
    _time(),
    # the incident: its monitor, the finding keys it covers (kind/subject), how often it
    # was seen, when it was last seen and when it resolved (see keel.monitoring.alerts)
    _ref("monitor_id", "monitors.id", nullable=True),
    sa.Column("details", sa.JSON),
    _time("last_seen", nullable=True),
    _time("resolved_at", nullable=True),
    sa.Index(None, "monitor_id", "status"),
)

rollout_steps = sa.Table(
    "rollout_steps",
    metadata,
    _id(),
    _ref("rollout_id", "rollouts.id", ondelete="CASCADE"),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("weight", sa.Float, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("metrics", sa.JSON),
    _time(),
    sa.Index(None, "rollout_id", "step"),
)

# -- service health (each model server process, every health_interval) ------------------

service_health = sa.Table(
    "service_health",
    metadata,
    _id(),  # chosen by the writing process, so a retried write is recognised
    _ref("project_id", "projects.id"),
    sa.Column("deployment", sa.String(200), nullable=False),
    sa.Column("model_version", sa.String(200), nullable=False),  # "" before routing
    sa.Column("worker", sa.String(100), nullable=False),
    _time("bucket_ms"),  # the wall-clock interval every worker's row of it shares
    _time("start_ms"),
    _time("end_ms"),
    sa.Column("requests", sa.Integer, nullable=False),
    sa.Column("errors", sa.Integer, nullable=False),  # 5xx
    sa.Column("client_errors", sa.Integer, nullable=False),  # 4xx
    sa.Column("p50_ms", sa.Float),
    sa.Column("p99_ms", sa.Float),
    _time(),
    sa.Index(None, "project_id", "deployment", "bucket_ms"),
)

# -- prediction logs --------------------------------------------------------------------

prediction_parts = sa.Table(
    "prediction_parts",
    metadata,
    _id(),
    _ref("project_id", "projects.id"),
    sa.Column("deployment", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),  # predictions | feedback
    _digest(),
    sa.Column("rows", sa.Integer, nullable=False),
    _time("first_at"),
    _time("last_at"),
    _time(),
    sa.Index(None, "project_id", "kind", "first_at"),
)
