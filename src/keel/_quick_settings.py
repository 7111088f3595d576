"""The few settings ``keel data status`` and ``keel data add`` need, read without
:mod:`keel.config`.

Resolving every setting (a 38-field dataclass, ``pathlib``, ``typing``) costs a clean
``keel data status`` a fifth of its start-up. These two commands need four answers: the
project folder, the metadata store's URL, the object store's folder and the project's
name. :func:`quick_settings` gives them with ``os.path`` alone, by the same precedence
(environment > ``keel.toml`` > default) and the same rules as :func:`keel.config.resolve`
(``tests/test_quick_settings.py`` compares both on the same environments and files).

Every doubt answers ``None``, never a guess: any other ``KEEL_*`` variable set (but a
valid ``KEEL_FSYNC`` or ``KEEL_OBJECTS_LINK``, which a clean answer does not use), a
``keel.toml`` with other settings or values that are not plain strings, a malformed
value, a keel server, no project. The caller then resolves the configuration as usual,
which reports each of these as it always does.
"""

from __future__ import annotations

import os

__all__ = ["QuickSettings", "quick_settings", "sqlite_file"]

_PROJECT_DIR = ".keel"  # keel.config.PROJECT_DIR
_ENV = {"uri": "KEEL_URI", "objects": "KEEL_OBJECTS", "project": "KEEL_PROJECT"}
_TOML = "keel.toml"
# settings these commands do not read, whose value is still checked (a bad one is an error)
_CHECKED = {
    "KEEL_FSYNC": frozenset(("1", "true", "yes", "on", "0", "false", "no", "off")),
    "KEEL_OBJECTS_LINK": frozenset(("copy", "reflink", "hardlink")),
}


class QuickSettings:
    """The settings a clean ``data status`` or ``data add`` reads, as
    :class:`keel.config.Config` names them (``uri``, ``objects``, ``project``,
    ``project_root``, as strings)."""

    __slots__ = ("objects", "project", "project_root", "uri")

    def __init__(self, uri: str, objects: str, project: str, project_root: str) -> None:
        self.uri = uri
        self.objects = objects
        self.project = project
        self.project_root = project_root

    def __repr__(self) -> str:
        return (
            f"QuickSettings(uri={self.uri!r}, objects={self.objects!r}, "
            f"project={self.project!r}, project_root={self.project_root!r})"
        )


def quick_settings(
    cwd: str | None = None, env: dict[str, str] | os._Environ[str] | None = None
) -> QuickSettings | None:
    """The settings of the project at or above ``cwd`` (the working directory) under
    ``env`` (``os.environ``); ``None`` when :func:`keel.config.resolve` must be asked."""
    env = os.environ if env is None else env
    for name, value in env.items():
        if not name.startswith("KEEL_") or not value or name in _ENV.values():
            continue
        if value.strip().lower() not in _CHECKED.get(name, ()):
            return None
    here = os.path.realpath(cwd or os.getcwd())
    root = _project_root(here)
    if root is None:
        return None
    toml_path = _find_toml(here)
    toml: dict[str, str] = {}
    if toml_path is not None:
        read = _read_toml(toml_path)
        if read is None:
            return None
        toml = read
    raw: dict[str, str | None] = {}
    from_toml: dict[str, bool] = {}
    for name, variable in _ENV.items():
        value = env.get(variable)
        from_toml[name] = not value and name in toml
        raw[name] = value or toml.get(name)
    base = os.path.dirname(toml_path) if toml_path and from_toml["uri"] else here
    uri = _uri(raw["uri"], base) if raw["uri"] is not None else None
    if uri is None:
        if raw["uri"] is not None:
            return None
        uri = f"sqlite:///{os.path.join(root, _PROJECT_DIR, 'keel.db')}"
    if uri.startswith(("http://", "https://")):
        return None
    objects = raw["objects"]
    if objects is None:
        db_file = sqlite_file(uri)
        if db_file is None or os.path.normpath(db_file) != db_file:
            return None  # PostgreSQL, or a path pathlib would first normalise: keel.config
        objects = os.path.join(os.path.dirname(db_file), "objects")
    elif "://" not in objects:
        objects = os.path.realpath(os.path.join(base, os.path.expanduser(objects)))
    project = raw["project"] if raw["project"] is not None else "default"
    return QuickSettings(uri, objects, project, root)


def _project_root(here: str) -> str | None:
    """keel.config.find_project_root: the nearest folder upward that holds ``.keel/``."""
    folder = here
    while True:
        if os.path.isdir(os.path.join(folder, _PROJECT_DIR)):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def _find_toml(here: str) -> str | None:
    """keel.config._find_toml: the nearest keel.toml, searched up to the project root."""
    folder = here
    while True:
        candidate = os.path.join(folder, _TOML)
        if os.path.isfile(candidate):
            return candidate
        if os.path.isdir(os.path.join(folder, _PROJECT_DIR)):
            return None
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def _read_toml(path: str) -> dict[str, str] | None:
    """The file's settings when they are only ``uri``, ``objects`` or ``project``, each a
    string; None for anything else (other settings, other types, a malformed file)."""
    import tomllib

    try:
        with open(path, encoding="utf-8") as fh:
            data = tomllib.loads(fh.read())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    table = data.get("keel", data)
    if not isinstance(table, dict):
        return None
    if any(key not in _ENV or not isinstance(value, str) for key, value in table.items()):
        return None
    return table


def _uri(raw: str, base: str) -> str | None:
    """keel.config.normalize_uri; None where it raises."""
    raw = raw.strip()
    if not raw:
        return None
    if "://" in raw or raw.startswith("sqlite:"):
        return raw
    path = os.path.realpath(os.path.join(base, os.path.expanduser(raw)))
    if os.path.isdir(path):
        inside = os.path.basename(path) == _PROJECT_DIR
        db_dir = path if inside else os.path.join(path, _PROJECT_DIR)
        return f"sqlite:///{os.path.join(db_dir, 'keel.db')}"
    return f"sqlite:///{path}"


def sqlite_file(uri: str) -> str | None:
    """:func:`keel.config.sqlite_path` as a string: the file of a ``sqlite:///`` URL, or
    None for other URLs and in-memory SQLite."""
    if not uri.startswith("sqlite:///"):
        return None
    rest = uri.removeprefix("sqlite:///").split("?", 1)[0]
    return rest if rest and rest != ":memory:" else None
