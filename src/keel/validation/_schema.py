"""A schema: the checks a table must pass, kept as a readable YAML file in git.

The YAML groups checks by column, then the table, then the compliance policy::

    schema: credit
    extra_columns: warn            # allow | warn | error
    columns:
      age:
        dtype: integer
        not_null: true
        in_range: {min: 18, max: 100}
      state:
        in_set: [CA, NY, TX]
      income:
        mean: {min: 2000, max: 9000, severity: warn}
        quantile: [{q: 0.5, min: 1000, max: 8000}, {q: 0.99, max: 50000}]
    table:
      row_count: {min: 500}
      freshness: {column: applied_at, max_age: 2d}
    policy:
      forbid: [email, payment_card]
      require_hashed: [customer_id]

Each check is ``kind: value``: a mapping of its parameters (``severity: warn`` included),
a bare value for its main parameter, ``true`` for checks without parameters, or a list of
mappings to apply the same kind more than once. Errors name the file and line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from keel.errors import InvalidInput, NotFound, SchemaError, did_you_mean

from ._checks import Check, Hashed, NoExtraColumns, Pii, make_check

__all__ = ["Policy", "Schema"]

FORMAT = 1
_TOP_KEYS = ("schema", "version", "inferred_from", "extra_columns", "columns", "table", "policy")
_EXTRA = ("allow", "warn", "error")


@dataclass
class Policy:
    """Compliance rules: PII kinds no column may hold, and columns that must be hashed."""

    forbid: list[str] = field(default_factory=list)
    require_hashed: list[str] = field(default_factory=list)

    def checks(self) -> list[Check]:
        out: list[Check] = []
        if self.forbid:
            out.append(Pii(kinds=list(self.forbid)))
        out += [Hashed(column=name) for name in self.require_hashed]
        return out

    def to_dict(self) -> dict[str, list[str]]:
        return {
            k: list(v)
            for k, v in (("forbid", self.forbid), ("require_hashed", self.require_hashed))
            if v
        }


@dataclass
class Schema:
    """Checks for a table, with a name, a compliance policy and what it was inferred from.

    Example::

        from keel.validation import Schema, checks

        schema = Schema(
            [checks.not_null("age"), checks.in_range("age", 18, 100), checks.row_count(min=1)],
            name="credit",
        )
        schema.save("schemas/credit.yaml")
    """

    checks: list[Check] = field(default_factory=list)
    name: str | None = None
    extra_columns: str = "allow"
    policy: Policy = field(default_factory=Policy)
    inferred_from: str | None = None
    declared: list[str] = field(default_factory=list)
    """Columns named without checks (allowed by ``extra_columns``, checked for nothing)."""

    def __post_init__(self) -> None:
        if self.extra_columns not in _EXTRA:
            raise SchemaError(
                f"extra_columns must be one of {', '.join(_EXTRA)}, not {self.extra_columns!r}."
            )
        for check in self.checks:
            if not isinstance(check, Check):
                raise SchemaError(
                    f"Schema checks must be checks (keel.validation.checks.*), not "
                    f"{type(check).__name__}."
                )

    @property
    def columns(self) -> list[str]:
        """The columns the schema names, in order of first mention."""
        named = [c.column for c in self.checks if c.column] + list(self.policy.require_hashed)
        named += self.declared
        return list(dict.fromkeys(named))

    def all_checks(self) -> list[Check]:
        """The checks to run: the schema's own, the policy's, and the extra-columns rule."""
        out = list(self.checks) + self.policy.checks()
        if self.extra_columns != "allow":
            out.append(NoExtraColumns(allowed=self.columns, severity=self.extra_columns))
        return out

    # -- reading and writing --------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The YAML structure (see the module docstring)."""
        columns: dict[str, dict[str, Any]] = {}
        table: dict[str, Any] = {}
        for check in self.checks:
            if check.kind == "custom" and check.function is None:  # type: ignore[attr-defined]
                continue  # a Python function has no YAML form
            value = _yaml_value(check)
            if check.column and not check.in_table:
                place = columns.setdefault(check.column, {})
            else:
                place = table
            if check.kind in place:
                previous = place[check.kind]
                place[check.kind] = (
                    previous if isinstance(previous, list) else [_as_mapping(previous, check)]
                ) + [_as_mapping(value, check)]
            else:
                place[check.kind] = value
        for name in self.declared:
            columns.setdefault(name, {})
        out: dict[str, Any] = {"schema": self.name, "version": FORMAT}
        if self.inferred_from:
            out["inferred_from"] = self.inferred_from
        out["extra_columns"] = self.extra_columns
        out["columns"] = columns
        if table:
            out["table"] = table
        policy = self.policy.to_dict()
        if policy:
            out["policy"] = policy
        return out

    def to_yaml(self) -> str:
        """The schema as YAML text, in the order a person reads it."""
        header = "# keel validation schema: edit freely, keep in git. See docs/validation.md.\n"
        return header + yaml.safe_dump(
            self.to_dict(), sort_keys=False, default_flow_style=None, width=100
        )

    def save(self, path: str | Path) -> Path:
        """Write the YAML to ``path`` atomically (a temporary file, then a rename)."""
        import os

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(self.to_yaml(), encoding="utf-8")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Schema:
        """Read a schema YAML file; errors name the file and line."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise NotFound(
                f"Schema file {path} does not exist. Write one, or propose one with "
                f"'keel infer-schema DATA --out {path}'."
            ) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"Cannot read schema file {path}: {exc}.") from exc
        return cls.from_yaml(text, source=str(path))

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "<schema>") -> Schema:
        """Parse schema YAML; malformed YAML and bad checks raise :class:`SchemaError`
        naming ``source`` and the line."""
        try:
            data = yaml.load(text, Loader=_LineLoader)  # a SafeLoader subclass
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise SchemaError(f"{source}{where}: malformed YAML: {problem}.") from exc
        if not isinstance(data, dict):
            raise SchemaError(
                f"{source}: a schema is a mapping with 'columns:' (and 'table:', 'policy:'); "
                f"this file holds {type(data).__name__}."
            )
        return cls.from_dict(data, source=source)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "<schema>") -> Schema:
        """Build from the YAML structure (see the module docstring)."""
        at = _Locator(source)
        unknown = [k for k in data if k not in _TOP_KEYS]
        if unknown:
            raise SchemaError(
                f"{at(data, unknown[0])}: unknown key {unknown[0]!r}."
                f"{did_you_mean(str(unknown[0]), _TOP_KEYS)} A schema has {', '.join(_TOP_KEYS)}."
            )
        if data.get("version", FORMAT) != FORMAT:
            raise SchemaError(
                f"{at(data, 'version')}: schema version {data['version']!r} is not one this "
                f"keel reads ({FORMAT}). Upgrade keel."
            )
        checks: list[Check] = []
        declared: list[str] = []
        columns = data.get("columns") or {}
        if not isinstance(columns, dict):
            raise SchemaError(f"{at(data, 'columns')}: 'columns' must map column names to checks.")
        for column, spec in columns.items():
            declared.append(str(column))
            if spec is None:
                continue
            if not isinstance(spec, dict):
                raise SchemaError(
                    f"{at(columns, column)}: the checks of column {column!r} must be a mapping "
                    "such as 'not_null: true'."
                )
            checks += _checks(spec, str(column), at)
        table = data.get("table") or {}
        if not isinstance(table, dict):
            raise SchemaError(f"{at(data, 'table')}: 'table' must map check kinds to parameters.")
        checks += _checks(table, None, at)
        policy = data.get("policy") or {}
        if not isinstance(policy, dict) or set(policy) - {"forbid", "require_hashed"}:
            raise SchemaError(
                f"{at(data, 'policy')}: 'policy' takes 'forbid' (PII kinds) and "
                "'require_hashed' (column names)."
            )
        for key in policy:
            if not isinstance(policy[key], list) or not all(
                isinstance(v, str) for v in policy[key]
            ):
                raise SchemaError(f"{at(policy, key)}: policy {key} must be a list of names.")
        try:
            built = cls(
                checks,
                name=data.get("schema"),
                extra_columns=data.get("extra_columns", "allow"),
                policy=Policy(
                    list(policy.get("forbid", [])), list(policy.get("require_hashed", []))
                ),
                inferred_from=data.get("inferred_from"),
                declared=declared,
            )
            built.policy.checks()  # validates the PII kinds
        except SchemaError as exc:
            raise SchemaError(
                f"{at(data, 'policy' if 'policy' in data else 'extra_columns')}: {exc.message}"
            ) from exc
        return built


def _checks(spec: dict[str, Any], column: str | None, at: _Locator) -> list[Check]:
    out = []
    for kind, value in spec.items():
        values = (
            value
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value)
            else [value]
        )
        for one in values:
            try:
                check = make_check(str(kind), one, column=column)
            except SchemaError as exc:
                where = f" (column {column!r})" if column else ""
                raise SchemaError(f"{at(spec, kind)}{where}: {exc.message}") from exc
            if check is not None:
                out.append(check)
    return out


def _yaml_value(check: Check) -> Any:
    params = check.params()
    if check.in_table and check.column:
        return {"column": check.column, **params}
    if not params:
        return True
    if check.shorthand and list(params) == [check.shorthand]:
        return params[check.shorthand]
    return params


def _as_mapping(value: Any, check: Check) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if value is True:
        return {}
    return {check.shorthand: value} if check.shorthand else {}


class _LineLoader(yaml.SafeLoader):
    """A safe loader whose mappings remember the line of each key."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        mapping = _Lines(super().construct_mapping(node, deep=True))
        mapping.lines = {
            self.construct_object(key, deep=True): key.start_mark.line + 1 for key, _ in node.value
        }
        mapping.line = node.start_mark.line + 1
        return mapping


_LineLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _LineLoader.construct_mapping
)


class _Lines(dict):
    lines: dict[Any, int]
    line: int


class _Locator:
    def __init__(self, source: str) -> None:
        self.source = source

    def __call__(self, mapping: Any, key: Any) -> str:
        lines = getattr(mapping, "lines", {})
        line = lines.get(key) or getattr(mapping, "line", None)
        return f"{self.source} line {line}" if line else self.source
