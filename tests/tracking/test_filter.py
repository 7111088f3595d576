"""The run search filter language: parsing, errors, and the SQL it runs on SQLite and PostgreSQL."""

from __future__ import annotations

import math
import re

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keel.errors import InvalidInput
from keel.store import Store
from keel.store import schema as t
from keel.tracking._filter import (
    BoolOp,
    Comparison,
    Node,
    OrderKey,
    apply_order,
    compile_filter,
    filter_and_order,
    parse_filter,
    parse_order_by,
)

INF = math.inf
INJECTION = "it's \"quoted\" '; DROP TABLE runs; --"

# name: (status, metrics, params, tags); ids and created_at follow this order, so the
# default order (newest first) is eps_1, delta, gamma, beta, alpha.
RUNS = {
    "alpha": (
        "FINISHED",
        {"auc": 0.91, "val loss": 0.3},
        {"model": "gbm", "lr": "0.1", "depth": "8"},
        {"team": "risk", "my tag": "x", "owner": "ann"},
    ),
    "beta": (
        "FINISHED",
        {"auc": 0.85, "val loss": 0.25},
        {"model": "gbm", "lr": "0.05", "depth": "10"},
        {"team": "fraud", "owner": "bob"},
    ),
    "gamma": (
        "FAILED",
        {"auc": 0.7},
        {"model": "logreg", "lr": "auto", "depth": "abc"},
        {"team": "risk", "owner": "cy"},
    ),
    "delta": ("RUNNING", {"loss": INF}, {"model": "rf", "lr": "1e-3", "depth": "1e999"}, {}),
    "eps_1": ("FINISHED", {"auc": 0.85, "loss": -INF}, {"model": "GBM"}, {"team": "Risk"}),
}
IDS = {name: f"{i + 1:032x}" for i, name in enumerate(RUNS)}
ALL = ["eps_1", "delta", "gamma", "beta", "alpha"]


def _insert_run(conn: sa.Connection, experiment: str, name: str, index: int, spec: tuple) -> None:
    status, metrics, params, tags = spec
    created = 1000 * (index + 1)
    conn.execute(
        t.runs.insert().values(
            id=IDS.get(name, f"{index + 1:032x}"),
            experiment_id=experiment,
            parent_id=IDS["alpha"] if name == "eps_1" else None,
            name=name,
            status=status,
            created_at=created,
            started_at=None if name == "gamma" else created + 1,
            ended_at=None if status == "RUNNING" else created + 10,
        )
    )
    run_id = IDS.get(name, f"{index + 1:032x}")
    for key, value in metrics.items():
        row = {"run_id": run_id, "key": key, "step": 0, "timestamp": created, "value": value}
        conn.execute(t.run_latest_metrics.insert().values(**row))
    for table, values in ((t.run_params, params), (t.run_tags, tags)):
        for key, text in values.items():
            conn.execute(table.insert().values(run_id=run_id, key=key, value=text))
    if name == "eps_1":
        conn.execute(t.run_tags.insert().values(run_id=run_id, key="note", value=INJECTION))


@pytest.fixture
def runs(store: Store) -> Store:
    """The store with the five runs of RUNS in one experiment."""
    with store.write() as conn:
        conn.execute(
            t.experiments.insert().values(
                id="e" * 32, project_id=store.project_id(), name="credit", created_at=0
            )
        )
        for index, (name, spec) in enumerate(RUNS.items()):
            _insert_run(conn, "e" * 32, name, index, spec)
    return store


def find(store: Store, text: str | None, order_by: list[str] | None = None) -> list[str]:
    query = sa.select(t.runs.c.name).where(compile_filter(parse_filter(text)))
    with store.read() as conn:
        return list(conn.execute(apply_order(query, parse_order_by(order_by))).scalars())


def check(store: Store, cases: dict[str, list[str]]) -> None:
    """Every filter finds exactly its runs; a failure lists every filter that did not."""
    found = {text: find(store, text) for text in cases}
    assert {k: v for k, v in found.items() if v != cases[k]} == {}


# -- matching ---------------------------------------------------------------------------


def test_metrics_compare_numerically_and_a_missing_metric_never_matches(runs: Store) -> None:
    check(
        runs,
        {
            "metrics.auc > 0.8": ["eps_1", "beta", "alpha"],
            "metrics.auc >= 0.85": ["eps_1", "beta", "alpha"],
            "metrics.auc < 0.85": ["gamma"],
            "metrics.auc <= 0.85": ["eps_1", "gamma", "beta"],
            "metrics.auc = 0.85": ["eps_1", "beta"],
            "metrics.auc == 0.85": ["eps_1", "beta"],
            # a run without the metric matches no comparison, not even !=
            "metrics.auc != 0.85": ["gamma", "alpha"],
            "metrics.auc <> 0.85": ["gamma", "alpha"],
            "metrics.auc IN (0.7, 0.91)": ["gamma", "alpha"],
            "metrics.auc not in (0.7, 0.91)": ["eps_1", "beta"],
            "metrics.auc IS NULL": ["delta"],
            "metrics.auc is not null": ["eps_1", "gamma", "beta", "alpha"],
            "metrics.`val loss` < 0.28": ["beta"],
            'metrics."val loss" >= 0.28': ["alpha"],
            "metric.auc > 9e-1": ["alpha"],
            "metrics.auc>0.8": ["eps_1", "beta", "alpha"],
            "metrics.auc > -1": ["eps_1", "gamma", "beta", "alpha"],
            "metrics.nope > 0 or metrics.nope IS NOT NULL": [],
            "metrics.loss = inf": ["delta"],
            "metrics.loss = +Infinity": ["delta"],
            "metrics.loss = -inf": ["eps_1"],
            "metrics.loss > 1e308": ["delta"],
            "metrics.loss < inf": ["eps_1"],
            "metrics.loss > -inf": ["delta"],
            "metrics.loss IN (-inf, inf)": ["eps_1", "delta"],
            # nan is tested with = and !=; these runs have no NaN metric
            "metrics.auc = nan": [],
            "metrics.auc != NaN": ["eps_1", "gamma", "beta", "alpha"],
            "metrics.auc IN (nan, 0.7)": ["gamma"],
            "metrics.auc NOT IN (nan, 0.7)": ["eps_1", "beta", "alpha"],
        },
    )

    if runs.engine.dialect.name == "sqlite":
        return  # SQLite stores NaN as NULL, so a NOT NULL metric can never be NaN there
    # a NaN metric matches = nan, is not ordered, and sorts after numbers, before missing
    with runs.write() as conn:
        _insert_run(conn, "e" * 32, "nan_run", 9, ("FINISHED", {"auc": math.nan}, {}, {}))
    assert find(runs, "metrics.auc = nan") == ["nan_run"]
    assert "nan_run" not in find(runs, "metrics.auc != nan")
    assert "nan_run" not in find(runs, "metrics.auc > 0")  # PostgreSQL's NaN > everything
    assert find(runs, "metrics.auc IN (0.7, nan)") == ["nan_run", "gamma"]
    expected = ["alpha", "eps_1", "beta", "gamma", "nan_run", "delta"]
    assert find(runs, None, ["metrics.auc desc"]) == expected
    assert find(runs, None, ["metrics.auc"]) == ["gamma", "eps_1", "beta", "alpha", *expected[-2:]]


def test_params_compare_as_text_with_strings_and_as_numbers_with_numbers(runs: Store) -> None:
    check(
        runs,
        {
            "params.model = 'gbm'": ["beta", "alpha"],
            'params.model = "gbm"': ["beta", "alpha"],
            "params.model != 'gbm'": ["eps_1", "delta", "gamma"],
            "params.model IN ('rf', 'logreg')": ["delta", "gamma"],
            "params.model NOT IN ('rf', 'logreg')": ["eps_1", "beta", "alpha"],
            "params.lr IS NULL": ["eps_1"],
            "param.lr IS NOT NULL": ["delta", "gamma", "beta", "alpha"],
            # numbers: only values that are decimal numbers take part ('auto', '1e999' do not)
            "params.lr < 0.08": ["delta", "beta"],
            "params.lr > 0.01": ["beta", "alpha"],
            "params.lr = 0.001": ["delta"],
            "params.lr = 1e-3": ["delta"],
            "params.depth > 9": ["beta"],
            "params.depth >= 8": ["beta", "alpha"],
            "params.depth = 8": ["alpha"],
            "params.depth = 8.0": ["alpha"],
            "params.depth != 8": ["beta"],
            "params.depth IN (8, 10)": ["beta", "alpha"],
            "params.depth NOT IN (8)": ["beta"],
            "params.depth < 1e300": ["beta", "alpha"],
            # text: compared character by character
            "params.lr = '1e-3'": ["delta"],
            "params.lr = '0.001'": [],
            "params.depth = '8.0'": [],
            "params.depth < '9'": ["delta", "beta", "alpha"],
            "params.depth > 'a'": ["gamma"],
        },
    )


def test_tags_attributes_and_like(runs: Store) -> None:
    alpha = IDS["alpha"]
    check(
        runs,
        {
            # LIKE is case-sensitive on both databases, ILIKE is not
            "params.model LIKE 'g%'": ["beta", "alpha"],
            "params.model LIKE 'G%'": ["eps_1"],
            "params.model LIKE '_b_'": ["beta", "alpha"],
            "params.model ILIKE 'g%'": ["eps_1", "beta", "alpha"],
            "params.model not like 'g%'": ["eps_1", "delta", "gamma"],
            "params.model NOT ILIKE 'G%'": ["delta", "gamma"],
            "tags.team ILIKE 'RISK'": ["eps_1", "gamma", "alpha"],
            "name LIKE '%a'": ["delta", "gamma", "beta", "alpha"],
            "name LIKE '%_%'": ALL,
            # a backslash makes % and _ literal, written \_ or \\_
            r"name LIKE '%\_%'": ["eps_1"],
            r"name LIKE '%\\_%'": ["eps_1"],
            "name LIKE 'eps*'": [],
            "name LIKE '[e]%'": [],
            "tags.team = 'risk'": ["gamma", "alpha"],
            "tag.team IN ('fraud')": ["beta"],
            "tags.team IS NULL": ["delta"],
            "tags.\"my tag\" = 'x'": ["alpha"],
            "tags.`my tag` != 'y'": ["alpha"],
            "attributes.status = 'FINISHED'": ["eps_1", "beta", "alpha"],
            "status != 'FINISHED'": ["delta", "gamma"],
            "run.status IN ('RUNNING', 'FAILED')": ["delta", "gamma"],
            "attribute.name = 'beta'": ["beta"],
            "NAME >= 'delta'": ["eps_1", "delta", "gamma"],
            f"run_id = '{alpha}'": ["alpha"],
            f"attributes.parent_id = '{alpha}'": ["eps_1"],
            "parent_id IS NULL": ["delta", "gamma", "beta", "alpha"],
            "created_at >= 3000": ["eps_1", "delta", "gamma"],
            "created_at < 2000.5": ["beta", "alpha"],
            "attributes.created_at IN (1000, 5000)": ["eps_1", "alpha"],
            "ended_at IS NULL": ["delta"],
            "started_at > 0": ["eps_1", "delta", "beta", "alpha"],
            "ended_at < inf": ["eps_1", "gamma", "beta", "alpha"],
        },
    )


def test_and_binds_tighter_than_or_and_parentheses_group(runs: Store) -> None:
    """Also: no filter at all matches every run."""
    check(
        runs,
        {
            "tags.team = 'fraud' or metrics.auc > 0.8 and params.model = 'GBM'": [
                "eps_1",
                "beta",
            ],
            "(tags.team = 'fraud' or metrics.auc > 0.8) and params.model = 'GBM'": ["eps_1"],
            "metrics.auc > 0.8 and params.model = 'gbm' or status = 'RUNNING'": [
                "delta",
                "beta",
                "alpha",
            ],
            "metrics.auc > 0.8 AND (params.model = 'gbm' OR status = 'RUNNING')": ["beta", "alpha"],
            "((name = 'alpha')) or (((name = 'beta')))": ["beta", "alpha"],
            "name = 'alpha' and name = 'beta'": [],
        },
    )
    a, b, c = (Comparison("attributes", "name", "=", n) for n in "abc")
    assert parse_filter("name = 'a' or name = 'b' and name = 'c'") == BoolOp(
        "or", (a, BoolOp("and", (b, c)))
    )
    assert parse_filter("(name = 'a' or name = 'b') and name = 'c'") == BoolOp(
        "and", (BoolOp("or", (a, b)), c)
    )
    # chains and redundant parentheses flatten into one node
    assert parse_filter("name = 'a' and (name = 'b' and name = 'c')") == BoolOp("and", (a, b, c))
    for nothing in (None, "", "   \n\t"):
        assert parse_filter(nothing) is None
        assert find(runs, nothing) == ALL


def test_quotes_and_sql_in_values_are_matched_literally(runs: Store) -> None:
    before = runs.counts()
    check(
        runs,
        {
            """tags.note = 'it''s "quoted" ''; DROP TABLE runs; --'""": ["eps_1"],
            r"""tags.note = 'it\'s "quoted" \'; DROP TABLE runs; --'""": ["eps_1"],
            r'''tags.note = "it's \"quoted\" '; DROP TABLE runs; --"''': ["eps_1"],
            "tags.note LIKE '%DROP TABLE%'": ["eps_1"],
            "name = '''; DROP TABLE runs; --'": [],
            "name = 'x'' OR ''1''=''1'": [],
            "params.`model'; DROP TABLE runs; --` = 'x'": [],
        },
    )
    with pytest.raises(InvalidInput, match="unexpected character ';'"):
        parse_filter("name = ''; DROP TABLE runs; --'")
    assert runs.counts() == before


# -- ordering ---------------------------------------------------------------------------


def test_order_by_puts_missing_values_last_and_breaks_ties_by_id(runs: Store) -> None:
    cases = {
        (): ALL,
        ("metrics.auc desc",): ["alpha", "eps_1", "beta", "gamma", "delta"],
        ("metrics.auc",): ["gamma", "eps_1", "beta", "alpha", "delta"],
        ("metrics.auc ASC",): ["gamma", "eps_1", "beta", "alpha", "delta"],
        ("metrics.`val loss`",): ["beta", "alpha", "eps_1", "delta", "gamma"],
        ("metrics.loss desc",): ["delta", "eps_1", "gamma", "beta", "alpha"],
        # params: numbers by value, then other text, then runs without the param
        ("params.lr",): ["delta", "beta", "alpha", "gamma", "eps_1"],
        ("params.lr desc",): ["alpha", "beta", "delta", "gamma", "eps_1"],
        ("params.depth",): ["alpha", "beta", "delta", "gamma", "eps_1"],
        ("tags.owner",): ["alpha", "beta", "gamma", "eps_1", "delta"],
        ("tags.owner desc",): ["gamma", "beta", "alpha", "eps_1", "delta"],
        ("name desc",): ["gamma", "eps_1", "delta", "beta", "alpha"],
        ("attributes.ended_at desc",): ["eps_1", "gamma", "beta", "alpha", "delta"],
        ("run.ended_at",): ["alpha", "beta", "gamma", "eps_1", "delta"],
        ("status", "metrics.auc desc"): ["gamma", "alpha", "eps_1", "beta", "delta"],
        ("status desc", "name"): ["delta", "alpha", "beta", "eps_1", "gamma"],
    }
    found = {key: find(runs, None, list(key)) for key in cases}
    assert {k: v for k, v in found.items() if v != cases[k]} == {}
    assert find(runs, "params.model ILIKE 'gbm'", ["metrics.auc desc"]) == [
        "alpha",
        "eps_1",
        "beta",
    ]
    # as search_runs uses it: on a select that joins runs with their experiment
    e = t.experiments
    select = (
        sa.select(t.runs.c.name, e.c.name.label("experiment"))
        .join(e, e.c.id == t.runs.c.experiment_id)
        .where(e.c.name == "credit", compile_filter(parse_filter("metrics.auc > 0")))
    )
    keys = parse_order_by(["params.lr desc", "metrics.auc"])
    with runs.read() as conn:
        rows = conn.execute(apply_order(select, keys)).all()
    assert [tuple(row) for row in rows] == [
        ("alpha", "credit"),
        ("beta", "credit"),
        ("gamma", "credit"),
        ("eps_1", "credit"),
    ]


def test_nodes_print_as_filter_text() -> None:
    node = parse_filter("""metric.`val loss` <> 1.0 AND (tags."my tag" in ('a') Or Name is null)""")
    assert str(node) == (
        "metrics.`val loss` != 1 and (tags.`my tag` IN ('a') or attributes.name IS NULL)"
    )
    assert str(Comparison("params", "note", "=", "it's")) == r"params.note = 'it\'s'"
    assert repr(OrderKey("metrics", "auc", True)) == (
        "OrderKey(entity='metrics', key='auc', descending=True)"
    )


@pytest.mark.parametrize(
    ("text", "order_by", "expected"),
    [
        ("metrics.auc > 0", ["metrics.auc desc"], ["alpha", "eps_1", "beta", "gamma"]),
        ("metrics.auc > 0", ["metrics.auc"], ["gamma", "eps_1", "beta", "alpha"]),
        ("metrics.auc >= 0.85 and params.model ILIKE 'gbm'", ["metrics.auc"], None),
        ("metrics.auc IN (0.85, 0.7)", ["metrics.auc desc", "name"], None),
        ("metrics.loss < 1 or metrics.auc > 0", ["metrics.loss desc"], None),  # not bounded
        ("metrics.loss > -1e308", ["metrics.loss desc"], ["delta"]),  # not -inf, but inf
        ("metrics.loss != 0", ["metrics.loss desc"], ["delta", "eps_1"]),
        ("metrics.auc > 0.8 and metrics.auc < 0.9", ["metrics.auc desc", "status"], None),
    ],
)
def test_a_search_ordered_by_the_metric_it_bounds_finds_the_same_runs(
    runs: Store, text: str, order_by: list[str], expected: list[str] | None
) -> None:
    """The joined shape (the filter bounds the first order key) answers exactly what the
    outer-joined one does."""
    node, keys = parse_filter(text), parse_order_by(order_by)
    query = sa.select(t.runs.c.name)
    with runs.read() as conn:
        joined = list(conn.execute(filter_and_order(query, node, keys)).scalars())
        general = list(conn.execute(apply_order(query.where(compile_filter(node)), keys)).scalars())
    assert joined == general
    if expected is not None:
        assert joined == expected


def test_parse_order_by() -> None:
    assert parse_order_by(None) == []
    assert parse_order_by(["metrics.auc desc", "params.lr", "name", "run.created_at ASC"]) == [
        OrderKey("metrics", "auc", True),
        OrderKey("params", "lr", False),
        OrderKey("attributes", "name", False),
        OrderKey("attributes", "created_at", False),
    ]
    assert parse_order_by("tags.`my tag` desc") == [OrderKey("tags", "my tag", True)]


# -- errors -----------------------------------------------------------------------------


def test_error_message_points_at_the_mistake() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_filter("metrics.auc > 0.8 andd params.model = 'gbm'")
    assert str(caught.value) == (
        "Cannot parse the filter at position 18: expected 'and', 'or' or the end of the "
        "filter, got 'andd'.\n"
        "  metrics.auc > 0.8 andd params.model = 'gbm'\n"
        "                    ^^^^"
    )


ERRORS = {
    # unknown names
    "metircs.auc > 1": r"position 0: 'metircs' is not metrics.*Did you mean 'metric",
    "attributes.stauts = 'x'": r"'stauts' is not an attribute.*Did you mean 'status'.*parent_id",
    "colour = 'red'": r"'colour' is not an attribute of runs.*Valid: status, name, run_id",
    "metrics > 1": r"expected a key after 'metrics', as in metrics.auc",
    "metrics. > 1": r"expected a key right after 'metrics.'",
    "metrics.`` > 1": r"expected a key right after 'metrics.'",
    # structure
    "metrics.auc 0.8": r"position 12: expected an operator \(=, !=.*after metrics.auc, got '0.8'",
    "metrics.auc": r"expected an operator .* got the end of the filter",
    "metrics.auc >": r"position 13: expected a value \(a number or a quoted string\) after >",
    "metrics.auc > and": r"expected a value after >; quote text values",
    "params.model = gbm": r"quote text values, as in 'gbm'",
    "params.model = 'gbm": r"position 15: unterminated string starting with '",
    'params.model = "gbm': r'unterminated string starting with "',
    "metrics.`val loss > 1": r"unterminated string starting with `",
    "(metrics.auc > 1": r"expected 'and', 'or' or '\)' to close the '\(' at position 0, got",
    "metrics.auc > 1)": r"position 15: unbalanced '\)'",
    "()": r"expected a key such as metrics.auc.*got '\)'",
    "params.model IN ()": r"position 17: the list after IN is empty",
    "params.model NOT IN ('a' 'b')": r"expected ',' or '\)' to close the list at position 20",
    "params.model IN 'a'": r"expected '\(' and a list of values after IN",
    "metrics.auc > 0.8 foo": r"expected 'and', 'or' or the end of the filter, got 'foo'",
    "metrics.auc > 0.8 and": r"expected a key such as .* got the end of the filter",
    "and metrics.auc > 1": r"position 0: expected a key such as",
    "params.a NOT = 1": r"expected IN, LIKE or ILIKE after NOT, got '='",
    "params.a IS 1": r"expected NULL after IS, got '1'",
    "params.a IS NOT 'x'": r"expected NULL after IS NOT",
    "metrics.auc = null": r"compare with NULL using IS NULL or IS NOT NULL",
    "params.a = `b`": r"backticks quote keys, not values; write the value as 'b'",
    "metrics.auc > 1e5x": r"'1e5x' is not a number",
    "metrics.auc > 1.2.3": r"'1.2.3' is not a number",
    "metrics.auc > 0.8 & name = 'a'": r"unexpected character '&'",
    "name = 'a\x00'": r"NUL character",
    "(" * 60 + "name = 'a'" + ")" * 60: r"nested more than 50 deep",
    # meaning
    "metrics.auc = 'high'": r"Invalid condition .* metrics.auc is a metric, so compare it with a",
    "metrics.auc LIKE '0.9%'": r"metrics.auc is a metric, so compare it with a number",
    "params.lr LIKE 0.1": r"LIKE needs a quoted pattern",
    "tags.team > 1": r"tags are text.*Quote it \('1'\).*param or a metric",
    "tags.team IN (1, 2)": r"tags are text, so tags.team cannot be compared with the number 1",
    "name = 5": r"attributes.name is text; quote the value, as in '5'",
    "created_at > 'yesterday'": r"a time in ms since the epoch, so compare it with a number",
    "params.lr IN (0.1, 'auto')": r"the list mixes numbers and strings",
    "metrics.auc < nan": r"nan is not ordered; test for it with = nan or != nan",
    "params.lr = nan": r"nan can only be compared with metrics",
}


@pytest.mark.parametrize(("text", "message"), ERRORS.items(), ids=range(len(ERRORS)))
def test_errors_say_what_is_wrong_and_where(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        parse_filter(text)
    lines = str(caught.value).split("\n")
    assert len(lines) == 3
    position = int(re.search(r"at position (\d+)", lines[0]).group(1))  # type: ignore[union-attr]
    assert lines[2].index("^") == position + 2  # the caret sits under the mistake


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["metrics.auc descending"], r"order_by item 0 at position 12: expected 'asc', 'desc'"),
        (["name", "metrics.auc desc x"], r"order_by item 1 at position 17: expected the end"),
        ([""], r"order_by item 0 at position 0: expected a key"),
        (["metircs.auc"], r"Did you mean 'metric"),
        (["bogus"], r"'bogus' is not an attribute of runs"),
        ([3], r"order_by items must be strings like 'metrics.auc desc'. Got 3."),
    ],
)
def test_order_by_errors(items: list[str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_order_by(items)


@pytest.mark.parametrize(
    ("node", "message"),
    [
        (Comparison("metrics", "auc", ">", "x"), r"compare it with a number, not 'x'"),
        (Comparison("things", "x", "=", "a"), r"things.x is not a metric, param, tag or attribute"),
        (Comparison("attributes", "colour", "=", "a"), r"unknown attribute 'colour'"),
        (Comparison("params", "lr", "~", "a"), r"unknown operator '~'"),
        (Comparison("params", "lr", "IN", "a"), r"IN needs a list of values"),
        (Comparison("params", "lr", "IN", ()), r"IN needs a list of values"),
        (Comparison("params", "lr", "=", ("a",)), r"expected one value"),
        (Comparison("params", "lr", "IS NULL", "a"), r"IS NULL takes no value"),
        (Comparison("params", "lr", "=", None), r"expected a number or a string, got None"),
        (BoolOp("xor", ()), r"a BoolOp is 'and' or 'or' of operands"),
        ("metrics.auc > 1", r"expected a Comparison or a BoolOp"),
    ],
)
def test_compile_rejects_hand_built_nodes_the_parser_would_refuse(node: Node, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        compile_filter(node)


def test_apply_order_and_parse_filter_reject_bad_arguments() -> None:
    with pytest.raises(InvalidInput, match=r"Cannot order by .*unknown attribute 'colour'"):
        apply_order(sa.select(t.runs.c.name), [OrderKey("attributes", "colour", False)])
    with pytest.raises(InvalidInput, match=r"A filter must be a string .* Got 3"):
        parse_filter(3)  # type: ignore[arg-type]


# -- properties -------------------------------------------------------------------------

CMP = ["=", "!=", "<", "<=", ">", ">="]
KEYS = st.text(st.characters(exclude_characters="\x00"), min_size=1, max_size=6)
TEXTS = st.text(st.characters(exclude_characters="\x00"), max_size=8)
NUMBERS = st.floats(allow_nan=False) | st.integers(-1000, 1000).map(float)
TIMES = {"created_at", "started_at", "ended_at"}
ATTRIBUTES = ["status", "name", "run_id", "parent_id", *TIMES]


@st.composite
def comparisons(
    draw: st.DrawFn,
    keys: st.SearchStrategy[str] = KEYS,
    numbers: st.SearchStrategy[float] = NUMBERS,
    texts: st.SearchStrategy[str] = TEXTS,
) -> Comparison:
    """Any valid comparison: each entity with the operators and values it accepts."""
    entity = draw(st.sampled_from(["metrics", "params", "tags", "attributes"]))
    key = draw(st.sampled_from(ATTRIBUTES) if entity == "attributes" else keys)
    if entity == "metrics" or key in TIMES:
        numeric = True
    elif entity == "params":
        numeric = draw(st.booleans())
    else:
        numeric = False
    like = [] if numeric else ["LIKE", "ILIKE", "NOT LIKE", "NOT ILIKE"]
    op = draw(st.sampled_from([*CMP, *like, "IN", "NOT IN", "IS NULL", "IS NOT NULL"]))
    values = numbers if numeric else texts
    if entity == "metrics" and op in ("=", "!=", "IN", "NOT IN"):
        values = values | st.just(math.nan)
    if op.startswith("IS"):
        return Comparison(entity, key, op, None)
    if op.endswith("IN"):
        return Comparison(entity, key, op, tuple(draw(st.lists(values, min_size=1, max_size=3))))
    return Comparison(entity, key, op, draw(values))


def combine(op: str, operands: list[Node]) -> Node:
    """The tree the parser builds: nested and-in-and (or-in-or) is flattened."""
    flat: list[Node] = []
    for node in operands:
        flat.extend(node.operands if isinstance(node, BoolOp) and node.op == op else [node])
    return BoolOp(op, tuple(flat))


def _branches(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    return st.builds(
        combine, st.sampled_from(["and", "or"]), st.lists(children, min_size=2, max_size=3)
    )


def trees(leaves: st.SearchStrategy[Comparison]) -> st.SearchStrategy[Node]:
    return st.recursive(leaves, _branches, max_leaves=6)


@given(trees(comparisons()))
def test_rendering_a_filter_and_parsing_it_gives_it_back(node: Node) -> None:
    assert parse_filter(str(node)) == node


PIECES = [
    "metrics.auc", "params.lr", "tags.`a b`", "name", "status", "metircs.x", "and", "or",
    "not", "in", "is", "null", "like", "(", ")", ",", "=", "!=", "<>", "<", ">=", "0.5",
    "-inf", "nan", "1e5", "'x'", '"y', "`", "\\", "'a''b'", "IN", "LIKE", "x.",
]  # fmt: skip


@settings(max_examples=200)
@given(st.text(max_size=60) | st.lists(st.sampled_from(PIECES), max_size=12).map(" ".join))
def test_any_text_parses_or_raises_invalid_input(text: str) -> None:
    """Never another exception, and never slow (Hypothesis' deadline fails a slow example)."""
    try:
        node = parse_filter(text)
    except InvalidInput:
        return
    if node is not None:
        assert parse_filter(str(node)) == node
        compile_filter(node)


@given(st.lists(st.text(max_size=30) | st.sampled_from(PIECES), max_size=3))
def test_any_order_by_parses_or_raises_invalid_input(items: list[str]) -> None:
    try:
        keys = parse_order_by(items)
    except InvalidInput:
        return
    assert len(keys) == len(items)


DATA = comparisons(
    st.sampled_from(["auc", "loss", "val loss", "lr", "depth", "model", "team"]) | KEYS,
    st.sampled_from([0.7, 0.85, 0.91, 0.05, 8.0, 1000.0, INF, -INF]) | NUMBERS,
    st.sampled_from(["gbm", "GBM", "risk", "g%", "%a", "_b_", "auto", "FINISHED"]) | TEXTS,
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(DATA, DATA, st.lists(st.sampled_from(PIECES[:5]), max_size=3))
def test_filters_run_on_the_database_and_combine_as_sets(
    runs: Store, left: Comparison, right: Comparison, order: list[str]
) -> None:
    """Generated filters execute on both databases (no cast or type errors), ``and`` is
    intersection, ``or`` is union, and ordering returns each match exactly once."""
    a, b = set(find(runs, str(left))), set(find(runs, str(right)))
    assert set(find(runs, str(BoolOp("and", (left, right))))) == a & b
    both = find(runs, str(BoolOp("or", (left, right))), order)
    assert sorted(both) == sorted(a | b)
