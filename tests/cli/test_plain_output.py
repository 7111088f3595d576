"""``keel data status`` and ``keel data add`` print without rich into a pipe: the same text.

Each case prints once through :mod:`keel.cli._plain` and once through rich (a fresh
``Console`` built after the environment is set, as in a real process), and the two must
be equal; where only rich can tell (wide text, a narrow console, forced colour) the plain
path must decline rather than guess.
"""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from keel.cli import _output, _plain, _workspace_run
from keel.data._workspace import AddResult, PathStatus


def _status(path: str, state: str = "clean", **changes: list[str]) -> PathStatus:
    result = PathStatus(path, f"{path}.keel", f"{path}:v3", "folder", state)
    for what, files in changes.items():
        setattr(result, what, files)
    return result


def _add(new: bool, path: str = "data", files: int = 200) -> AddResult:
    return AddResult(
        path=path,
        pointer=f"{path}.keel",
        ref=f"{path}:v2",
        digest="0" * 64,
        files=files,
        size=458_651,
        hashed=3 if new else 0,
        unchanged=files - 3 if new else files,
        new_version=new,
        gitignore=".gitignore" if new else None,
    )


STATUSES = {
    "clean": [_status("data")],
    "several": [_status("data"), _status("models/weights", "clean")],
    "wide": [_status("data"), _status("models/weights_and_more", "clean")],  # 93 columns
    "changed": [
        _status("data", "modified", added=["n.csv"], modified=["a.csv"], removed=["z"]),
        _status("raw", "missing"),
    ],
    "many changes": [_status("data", "modified", added=[f"f{i:05d}" for i in range(12_345)])],
    "brackets": [_status("[bold]x[/]", "modified", modified=["[red]y:x:"])],
    "only modified": [_status("data", "modified", modified=["a"])],
}


def _both(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], call) -> tuple:
    """What ``call()`` prints through the plain path, and through rich; and whether the
    plain path printed (rather than declined)."""
    taken = []
    real = _workspace_run._print_plain

    def spy(*args, **kw):
        taken.append(real(*args, **kw))
        return taken[-1]

    monkeypatch.setattr(_workspace_run, "_print_plain", spy)
    # where the plain path declines it hands over to rich: a console built now, as in a
    # real process, not the one this test process built before COLUMNS was set
    monkeypatch.setattr(_output, "console", Console(emoji=False))
    call()
    plain = capsys.readouterr().out
    monkeypatch.setattr(_output, "console", Console(emoji=False))
    monkeypatch.setattr(_plain, "plain_width", lambda stream: None)
    call()
    return plain, capsys.readouterr().out, any(taken)


@pytest.fixture(autouse=True)
def _pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("case", sorted(STATUSES))
@pytest.mark.parametrize("columns", ["80", "40", "200"])
def test_status_prints_what_rich_prints(monkeypatch, capsys, case: str, columns: str) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    plain, rich, taken = _both(
        monkeypatch, capsys, lambda: _workspace_run._print_status(STATUSES[case])
    )
    assert plain == rich
    assert "┏" in rich
    # a table wider than the console is shrunk by rich: only rich can print it
    assert taken == (columns == "200" or (columns == "80" and case != "wide"))


@pytest.mark.parametrize("new", [True, False])
@pytest.mark.parametrize("files", [1, 200])
def test_add_prints_what_rich_prints(monkeypatch, capsys, tmp_path, new: bool, files: int) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.chdir(tmp_path)  # no project here: the quick answer declines, the fake answers
    workspace = _FakeWorkspace(_add(new, files=files))
    monkeypatch.setattr("keel.data._workspace.Workspace.find", lambda: workspace)
    plain, rich, taken = _both(
        monkeypatch, capsys, lambda: _workspace_run.add(workspace.path, name=None, json=False)
    )
    assert plain == rich
    assert taken
    assert ("added data as data:v2" if new else "data is unchanged: data:v2") in plain


def test_plain_declines_what_only_rich_can_print() -> None:
    assert _plain.table_lines(["a"], set(), [["naïve"]], 80) is None  # wide or combining text
    assert _plain.table_lines(["a"], set(), [["x\ty"]], 80) is None
    assert _plain.table_lines(["a", "b"], set(), [["x" * 70, "y" * 5]], 80) is None  # shrinks
    assert _plain.table_lines(["a", "b"], set(), [["x" * 70, "y" * 3]], 80) is not None
    assert _plain.plain_lines(["x" * 81], 80) is None  # rich would wrap it
    assert _plain.plain_lines(["x" * 80], 80) == ["x" * 80]


def test_a_forced_terminal_or_a_tty_goes_to_rich(monkeypatch) -> None:
    class Tty:
        encoding = "utf-8"

        def isatty(self) -> bool:
            return True

    assert _plain.plain_width(Tty()) is None
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert _plain.plain_width(_Pipe()) is None
    monkeypatch.delenv("FORCE_COLOR")
    assert (_plain.plain_width(_Pipe()) or 0) > 0
    monkeypatch.setenv("COLUMNS", "123")
    assert _plain.plain_width(_Pipe()) == 123
    assert _plain.plain_width(_Pipe(encoding="latin-1")) is None  # rich draws ASCII boxes


class _Pipe:
    def __init__(self, encoding: str = "utf-8") -> None:
        self.encoding = encoding

    def isatty(self) -> bool:
        return False


class _FakeWorkspace:
    """Stands in for :class:`Workspace` with a fixed add result (the printing is tested)."""

    path = "data"

    def __init__(self, result: AddResult) -> None:
        self.result = result

    def add(self, path, *, name, on_progress, scanned=None) -> AddResult:
        return self.result

    def close(self) -> None:
        pass


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.floats(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=12,
)


@given(_JSON)
def test_plain_json_is_orjson_s_text_or_declines(data: object) -> None:
    text = _plain.plain_json(data)
    if text is not None:
        assert text == orjson.dumps(data, option=orjson.OPT_INDENT_2).decode()


def test_plain_json_writes_the_quick_answers() -> None:
    results = [_status("data").to_dict(), _add(False).to_dict()]
    assert _plain.plain_json(results) == orjson.dumps(results, option=orjson.OPT_INDENT_2).decode()
    assert _plain.plain_json([{"path": "naïve"}]) is None  # orjson writes what is not ASCII
