"""Where things live: every keel setting, declared once and resolved once.

Precedence, highest first: an explicit argument, the environment variable, the nearest
``keel.toml``, the default. The default store is the nearest ``.keel/`` folder upward
from the working directory, found the way git finds ``.git/``.

Example::

    >>> from keel.config import resolve
    >>> cfg = resolve(uri="sqlite:////tmp/demo/keel.db", objects="/tmp/demo/objects")
    >>> cfg.objects
    '/tmp/demo/objects'
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keel.errors import ConfigError, ProjectNotFound, did_you_mean

__all__ = [
    "PROJECT_DIR",
    "SETTINGS",
    "Config",
    "Setting",
    "current",
    "find_project_root",
    "reset",
    "resolve",
    "setting",
    "user_cache_folder",
]

PROJECT_DIR = ".keel"
"""Name of the folder ``keel init`` creates; holds the metadata database and objects."""

DATABASE_FILE = "keel.db"
OBJECTS_DIR = "objects"
CONFIG_FILE = "keel.toml"


def _parse_bool(raw: str | bool) -> bool:
    if isinstance(raw, bool):
        return raw
    value = str(raw).strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def _parse_choice(*choices: str) -> Callable[[Any], str]:
    def parse(raw: Any) -> str:
        value = str(raw).strip().lower()
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {raw!r}")
        return value

    return parse


def _parse_seconds(raw: Any) -> float:
    value = float(raw)
    if not value > 0 or value == float("inf"):
        raise ValueError(f"expected a positive number of seconds, got {raw!r}")
    return value


def _parse_seconds_or_off(raw: Any) -> float:
    value = float(raw)
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"expected 0 (off) or a positive number of seconds, got {raw!r}")
    return value


def _parse_int(raw: Any) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError(f"expected a positive integer, got {raw!r}")
    return value


def _parse_positive_float(raw: Any) -> float:
    value = float(raw)
    if not value > 0 or value == float("inf"):
        raise ValueError(f"expected a positive number, got {raw!r}")
    return value


def _parse_non_negative_float(raw: Any) -> float:
    value = float(raw)
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"expected zero or a positive number, got {raw!r}")
    return value


def _parse_secret(raw: Any) -> str:
    value = str(raw)
    if len(value) < 16:
        raise ValueError(f"expected at least 16 characters, got {len(value)}")
    return value


@dataclass(frozen=True)
class Setting:
    """One setting: its name in keel.toml, its environment variable, type and default."""

    name: str
    env: str
    default: Any
    doc: str
    parse: Callable[[Any], Any] = str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "uri",
        "KEEL_URI",
        None,
        "Metadata store: a path, sqlite:///file.db, postgresql+psycopg://... or http(s)://. "
        "Default: the nearest .keel/ folder.",
    ),
    Setting(
        "objects",
        "KEEL_OBJECTS",
        None,
        "Object store: a folder or an fsspec URL such as s3://bucket/prefix. "
        "Default: .keel/objects next to the metadata database.",
    ),
    Setting("project", "KEEL_PROJECT", "default", "Project (namespace) to work in."),
    Setting(
        "log_format",
        "KEEL_LOG_FORMAT",
        "text",
        "Format of keel's own logs when the CLI or server configures them: text or json.",
        _parse_choice("text", "json"),
    ),
    Setting(
        "log_level",
        "KEEL_LOG_LEVEL",
        "WARNING",
        "Level of keel's own logs: DEBUG, INFO, WARNING or ERROR.",
        lambda raw: _parse_choice("debug", "info", "warning", "error")(raw).upper(),
    ),
    Setting(
        "fsync",
        "KEEL_FSYNC",
        True,
        "Flush objects to disk before they become visible (survives power loss).",
        _parse_bool,
    ),
    Setting(
        "objects_link",
        "KEEL_OBJECTS_LINK",
        "copy",
        "How a local file enters a local object store: copy, reflink (share blocks where "
        "the filesystem can, else copy) or hardlink (the object is the file, made "
        "read-only; else copy).",
        _parse_choice("copy", "reflink", "hardlink"),
    ),
    Setting(
        "token",
        "KEEL_TOKEN",
        None,
        "Bearer token sent to a keel server (from 'keel token create').",
    ),
    Setting(
        "system_metrics",
        "KEEL_SYSTEM_METRICS",
        None,
        "Sample CPU, memory, disk, network and GPU use into runs as system/* metrics. "
        "Default: on, except under pytest.",
        _parse_bool,
    ),
    Setting(
        "max_upload_mb",
        "KEEL_MAX_UPLOAD_MB",
        1024,
        "Largest artifact or object the server accepts in one upload, in MiB.",
        _parse_int,
    ),
    Setting(
        "run_heartbeat_timeout",
        "KEEL_RUN_HEARTBEAT_TIMEOUT",
        300,
        "Seconds after which a RUNNING run whose process stopped reporting (killed, "
        "crashed, power cut) counts as KILLED; a live run reports every fifth of this.",
        _parse_int,
    ),
    Setting(
        "max_field_kb",
        "KEEL_MAX_FIELD_KB",
        256,
        "Largest free-form field of a run the store accepts, in KiB: its code and environment "
        "(each, as JSON) and its error text.",
        _parse_int,
    ),
    Setting(
        "server_auth",
        "KEEL_SERVER_AUTH",
        True,
        "Whether the platform server requires a bearer token on every request. On unless set "
        "to false; 'keel server' turns it off on a loopback address when it is not set.",
        _parse_bool,
    ),
    Setting(
        "max_request_mb",
        "KEEL_MAX_REQUEST_MB",
        4,
        "Largest request body (other than an artifact upload) the server reads, in MiB. "
        "The SDK splits metric batches into bodies of at most 1 MiB.",
        _parse_int,
    ),
    Setting(
        "query_timeout_ms",
        "KEEL_QUERY_TIMEOUT_MS",
        10_000,
        "How long one database read of a server request may run before it is stopped (503).",
        _parse_int,
    ),
    Setting(
        "max_filter_chars",
        "KEEL_MAX_FILTER_CHARS",
        20_000,
        "Longest run search filter, in characters.",
        _parse_int,
    ),
    Setting(
        "max_filter_terms",
        "KEEL_MAX_FILTER_TERMS",
        50,
        "Most comparisons in one run search filter (PostgreSQL plans 100 in seconds).",
        _parse_int,
    ),
    Setting(
        "max_in_values",
        "KEEL_MAX_IN_VALUES",
        1000,
        "Most values in one IN or NOT IN list of a run search filter.",
        _parse_int,
    ),
    Setting(
        "max_order_by",
        "KEEL_MAX_ORDER_BY",
        5,
        "Most order_by keys in one run search.",
        _parse_int,
    ),
    Setting(
        "max_search_experiments",
        "KEEL_MAX_SEARCH_EXPERIMENTS",
        100,
        "Most experiments named in one run search.",
        _parse_int,
    ),
    Setting(
        "max_search_results",
        "KEEL_MAX_SEARCH_RESULTS",
        10_000,
        "Largest max_results of one run search.",
        _parse_int,
    ),
    Setting(
        "max_lake_rows",
        "KEEL_MAX_LAKE_ROWS",
        10_000,
        "Most rows one lake query returns; past it the first rows come back, marked truncated.",
        _parse_int,
    ),
    Setting(
        "lake_query_timeout_ms",
        "KEEL_LAKE_QUERY_TIMEOUT_MS",
        30_000,
        "How long one lake query may run before it is interrupted (QueryTimeout).",
        _parse_int,
    ),
    Setting(
        "agent_tick_seconds",
        "KEEL_AGENT_TICK_SECONDS",
        30.0,
        "How often the agent inside 'keel server' checks which monitors are due, in seconds; "
        "0 turns the agent off.",
        _parse_seconds_or_off,
    ),
    Setting(
        "agent_max_runs",
        "KEEL_AGENT_MAX_RUNS",
        2,
        "Most pipeline runs the agent executes at once (queued and resumed runs wait for a "
        "free slot).",
        _parse_int,
    ),
    Setting(
        "serve_poll_seconds",
        "KEEL_SERVE_POLL_SECONDS",
        5.0,
        "How often a model server checks whether an alias it serves has moved, in seconds.",
        _parse_seconds,
    ),
    Setting(
        "serve_health_seconds",
        "KEEL_SERVE_HEALTH_SECONDS",
        60.0,
        "How often each model server process records its requests, errors and latency per "
        "model version (the Deployments page's service health), in seconds.",
        _parse_positive_float,
    ),
    Setting(
        "predictions_flush_rows",
        "KEEL_PREDICTIONS_FLUSH_ROWS",
        10_000,
        "Prediction log rows a model server buffers before it writes them as one Parquet part.",
        _parse_int,
    ),
    Setting(
        "predictions_flush_seconds",
        "KEEL_PREDICTIONS_FLUSH_SECONDS",
        5.0,
        "Longest a logged prediction waits in memory before it is written, in seconds.",
        _parse_positive_float,
    ),
    Setting(
        "predictions_salt",
        "KEEL_PREDICTIONS_SALT",
        None,
        "Secret that keys the hash of prediction log columns a deployment's logging.hash "
        "names (at least 16 characters). Default: a random secret kept beside a SQLite "
        "database; required with PostgreSQL.",
        _parse_secret,
    ),
    Setting(
        "reproduces",
        "KEEL_REPRODUCES",
        None,
        "Id of the run this process re-runs: 'keel runs reproduce' sets it for its child, "
        "and every run the child starts is tagged keel.reproduces with it.",
    ),
    Setting(
        "ray_address",
        "KEEL_RAY_ADDRESS",
        None,
        "Ray cluster that batch scoring fans out over (ray://head:10001, or auto); when set, "
        "'keel predict' uses it without --ray. Unset: --ray starts a local Ray.",
    ),
    Setting(
        "deleted_retention_days",
        "KEEL_DELETED_RETENTION_DAYS",
        30.0,
        "Days a deleted run or experiment can still be restored; 'keel gc' purges it for good "
        "after that (0: the next gc purges it).",
        _parse_non_negative_float,
    ),
    Setting(
        "health_retention_days",
        "KEEL_HEALTH_RETENTION_DAYS",
        30.0,
        "Days the service health rows model servers write are kept; 'keel gc' removes older "
        "ones (0: every interval already ended).",
        _parse_non_negative_float,
    ),
    Setting(
        "predictions_retention_days",
        "KEEL_PREDICTIONS_RETENTION_DAYS",
        None,
        "Days the prediction log and feedback of served models are kept; 'keel gc' removes "
        "the parts whose newest row is older (0: every part). Unset: kept for ever.",
        _parse_non_negative_float,
    ),
    Setting(
        "cache_dir",
        "KEEL_CACHE_DIR",
        None,
        "Folder of the client's own caches (what a push already sent to each server; model "
        "packages loaded from a server, re-verified on each load). Unset: "
        "$XDG_CACHE_HOME/keel, else ~/.cache/keel.",
    ),
    Setting(
        "gc_grace_minutes",
        "KEEL_GC_GRACE_MINUTES",
        60.0,
        "Minutes an unreferenced object is kept by 'keel gc --objects' after it was last "
        "written: a writer may be about to record a reference to it.",
        _parse_non_negative_float,
    ),
)
_BY_NAME = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class Config:
    """Resolved settings. Build with :func:`resolve`; :func:`current` caches them."""

    uri: str
    objects: str
    project: str = "default"
    log_format: str = "text"
    log_level: str = "WARNING"
    fsync: bool = True
    objects_link: str = "copy"
    token: str | None = field(default=None, repr=False)
    system_metrics: bool | None = None
    max_upload_mb: int = 1024
    run_heartbeat_timeout: int = 300
    max_field_kb: int = 256
    server_auth: bool = True
    max_request_mb: int = 4
    query_timeout_ms: int = 10_000
    max_filter_chars: int = 20_000
    max_filter_terms: int = 50
    max_in_values: int = 1000
    max_order_by: int = 5
    max_search_experiments: int = 100
    max_search_results: int = 10_000
    max_lake_rows: int = 10_000
    lake_query_timeout_ms: int = 30_000
    agent_tick_seconds: float = 30.0
    agent_max_runs: int = 2
    serve_poll_seconds: float = 5.0
    serve_health_seconds: float = 60.0
    predictions_flush_rows: int = 10_000
    predictions_flush_seconds: float = 5.0
    predictions_salt: str | None = field(default=None, repr=False)
    reproduces: str | None = None
    ray_address: str | None = None
    deleted_retention_days: float = 30.0
    health_retention_days: float = 30.0
    predictions_retention_days: float | None = None
    gc_grace_minutes: float = 60.0
    cache_dir: str | None = None
    project_root: Path | None = None
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)
    """Where each setting came from: 'argument', the variable name, the toml path or 'default'."""

    @property
    def sample_system_metrics(self) -> bool:
        """Whether runs sample system metrics: the setting, else on outside pytest."""
        if self.system_metrics is not None:
            return self.system_metrics
        return "PYTEST_CURRENT_TEST" not in os.environ

    @property
    def is_remote(self) -> bool:
        """True when the metadata store is a keel server reached over HTTP."""
        return self.uri.startswith(("http://", "https://"))


def find_project_root(start: Path | None = None) -> Path | None:
    """Return the nearest folder at or above ``start`` that holds a ``.keel/`` folder."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / PROJECT_DIR).is_dir():
            return folder
    return None


def _find_toml(start: Path) -> Path | None:
    here = start.resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_FILE
        if candidate.is_file():
            return candidate
        if (folder / PROJECT_DIR).is_dir():
            return None  # keel.toml belongs beside .keel/; stop at the project root
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    import tomllib  # here: most projects have no keel.toml, and start-up time counts

    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"Cannot read {path}: {exc}. Fix the file or remove it.") from exc
    table = data.get("keel", data)
    unknown = sorted(set(table) - set(_BY_NAME))
    if unknown:
        name = unknown[0]
        raise ConfigError(
            f"Unknown setting {name!r} in {path}.{did_you_mean(name, list(_BY_NAME))} "
            f"Known settings: {', '.join(_BY_NAME)}."
        )
    return table


def normalize_uri(raw: str, base: Path) -> str:
    """Turn a path or URL given for the metadata store into a URL.

    A folder means the ``.keel/`` database inside it (or the folder itself when it is
    a ``.keel/`` folder); a file path means that SQLite file.
    """
    raw = raw.strip()
    if not raw:
        raise ConfigError("KEEL_URI is empty. Unset it, or give a path or a database URL.")
    if "://" in raw or raw.startswith("sqlite:"):
        return raw
    path = (base / Path(raw).expanduser()).resolve()
    if path.is_dir():
        db_dir = path if path.name == PROJECT_DIR else path / PROJECT_DIR
        return f"sqlite:///{db_dir / DATABASE_FILE}"
    return f"sqlite:///{path}"


def sqlite_path(uri: str) -> Path | None:
    """The file of a ``sqlite:///`` URL, or None for other URLs and in-memory SQLite."""
    if not uri.startswith("sqlite:///"):
        return None
    rest = uri.removeprefix("sqlite:///").split("?", 1)[0]
    return Path(rest) if rest and rest != ":memory:" else None


def _value(
    setting: Setting,
    overrides: Mapping[str, Any],
    env: Mapping[str, str],
    toml: Mapping[str, Any],
    toml_path: Path | None,
) -> tuple[Any, str]:
    """One setting's parsed value and where it came from, in the precedence order."""
    if overrides.get(setting.name) is not None:
        raw, source = overrides[setting.name], "argument"
    elif env.get(setting.env):
        raw, source = env[setting.env], setting.env
    elif setting.name in toml:
        raw, source = toml[setting.name], str(toml_path)
    else:
        return setting.default, "default"
    try:
        return setting.parse(raw), source
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"Setting {setting.name} from {source} is invalid: {exc}.") from exc


def setting(
    name: str,
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    toml: bool = True,
) -> Any:
    """One setting on its own: environment > keel.toml > default, with no store needed.

    For what must be known before (or without) a project: the CLI's log format and level,
    which hold even outside a project, and values a parent process hands its children.

    Args:
        name: the setting's name (``log_level``), as in :data:`SETTINGS`.
        cwd: folder to search upward from for keel.toml; the working directory by default.
        env: environment to read; ``os.environ`` by default.
        toml: read keel.toml too; False for the environment and the default only.

    Raises:
        ConfigError: no such setting, or its value (or keel.toml) is malformed.
    """
    if name not in _BY_NAME:
        raise ConfigError(f"Unknown setting {name!r}.{did_you_mean(name, list(_BY_NAME))}")
    toml_path = _find_toml((cwd or Path.cwd()).resolve()) if toml else None
    table = _read_toml(toml_path) if toml_path else {}
    return _value(_BY_NAME[name], {}, os.environ if env is None else env, table, toml_path)[0]


def resolve(
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    require_store: bool = True,
    **overrides: Any,
) -> Config:
    """Resolve every setting: argument > environment > keel.toml > default.

    Args:
        cwd: folder to search upward from; the working directory by default.
        env: environment to read; ``os.environ`` by default.
        require_store: raise :class:`ProjectNotFound` when no store can be located.
        **overrides: explicit values for settings, by name (``uri=...``, ``objects=...``).

    Raises:
        ConfigError: a setting has a value of the wrong form.
        ProjectNotFound: no ``.keel/`` folder upward and no ``KEEL_URI``.
    """
    cwd = (cwd or Path.cwd()).resolve()
    env = os.environ if env is None else env
    unknown = sorted(set(overrides) - set(_BY_NAME))
    if unknown:
        raise ConfigError(
            f"Unknown setting {unknown[0]!r}.{did_you_mean(unknown[0], list(_BY_NAME))}"
        )
    toml_path = _find_toml(cwd)
    toml = _read_toml(toml_path) if toml_path else {}

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for one in SETTINGS:
        values[one.name], sources[one.name] = _value(one, overrides, env, toml, toml_path)

    root = find_project_root(cwd)
    base = toml_path.parent if toml_path and sources["uri"] == str(toml_path) else cwd
    if values["uri"] is not None:
        uri = normalize_uri(values["uri"], base)
    elif root is not None:
        uri = f"sqlite:///{root / PROJECT_DIR / DATABASE_FILE}"
        sources["uri"] = f"{root / PROJECT_DIR}"
    elif require_store:
        raise ProjectNotFound(
            f"No keel project found in {cwd} or any folder above it, and KEEL_URI is not set. "
            "Run 'keel init' to create one here, or set KEEL_URI to an existing store."
        )
    else:
        uri = f"sqlite:///{cwd / PROJECT_DIR / DATABASE_FILE}"

    objects = values["objects"]
    if objects is None:
        db_file = sqlite_path(uri)
        if db_file is not None:
            objects = str(db_file.parent / OBJECTS_DIR)
        elif root is not None:
            objects = str(root / PROJECT_DIR / OBJECTS_DIR)
        elif not uri.startswith("postgres"):
            objects = ""  # a keel server owns its objects; other schemes fail on opening
        else:
            raise ConfigError(
                f"KEEL_URI points at {uri.split('://', 1)[0]}, which holds no objects. "
                "Set KEEL_OBJECTS to a folder or an fsspec URL such as s3://bucket/prefix."
            )
        sources["objects"] = sources.get("objects", "default")
    elif "://" not in objects:
        objects = str((base / Path(objects).expanduser()).resolve())

    values.update(uri=uri, objects=objects)
    return Config(project_root=root, sources=sources, **values)


_current: Config | None = None


def current() -> Config:
    """The configuration of this process, resolved on first use and then cached."""
    global _current
    if _current is None:
        _current = resolve()
    return _current


def reset() -> None:
    """Forget the cached configuration (after changing directory or environment)."""
    global _current
    _current = None


def user_cache_folder() -> Path:
    """The client's cache folder: the ``cache_dir`` setting (``KEEL_CACHE_DIR``), else
    ``$XDG_CACHE_HOME/keel``, else ``~/.cache/keel``."""
    own = setting("cache_dir", toml=False)
    if own:
        return Path(own)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "keel"
