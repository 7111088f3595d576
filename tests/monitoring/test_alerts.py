"""Alerts as incidents on SQLite and PostgreSQL: open, dedup, resolve, cool-down, severity."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from keel.client import Client
from keel.config import Config
from keel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from keel.monitoring.alerts import AlertService, handle, wait_for_actions
from keel.store import Store
from keel.store import schema as t
from keel.store.actors import Actor

from .alerting import HOUR, T0, events, result, spec


@pytest.fixture
def client(store: Store, store_config: Config) -> Iterator[Client]:
    opened = Client(config=store_config)
    yield opened
    opened.close()


def test_a_breached_result_opens_an_alert_and_runs_its_actions_once(client: Client) -> None:
    first = result(("data_drift", "income"))
    [alert] = handle(client, spec(), first, wait=True)
    assert alert.change == "opened"
    assert alert.status == "open"
    assert alert.severity == "warning"
    assert alert.keys == ("data_drift/income",)
    assert alert.result_id == first.id
    assert alert.message.startswith("credit-drift on credit-scoring: 1 breached finding: ")
    assert "data_drift of income" in alert.message
    assert [a["status"] for a in alert.actions] == ["ok"]
    # the result and its monitor were recorded with it
    with client.store.read() as conn:
        stored = conn.execute(sa.select(t.monitor_results)).mappings().one()
    assert stored["id"] == first.id
    assert stored["passed"] is False
    assert stored["scores"]["findings"][0]["subject"] == "income"
    assert [e["object_id"] for e in events(client, "alert.open")] == [alert.id]
    assert len(events(client, "alert.log")) == 1


def test_the_same_breach_again_is_counted_not_alerted_again(client: Client) -> None:
    [opened] = handle(client, spec(), result(("data_drift", "income")), wait=True)
    later = result(("data_drift", "income"), at=T0 + HOUR)
    [seen] = handle(client, spec(), later, wait=True)
    assert seen.id == opened.id
    assert seen.change == "seen"
    assert seen.occurrences == 2
    assert seen.last_seen == T0 + HOUR
    assert seen.last_result_id == later.id
    assert len(events(client, "alert.log")) == 1  # the actions ran once
    # the same result handled twice counts once
    assert handle(client, spec(), later, wait=True) == []
    assert AlertService(client.store).get(opened.id).occurrences == 2


def test_a_new_finding_while_open_opens_its_own_alert(client: Client) -> None:
    [first] = handle(client, spec(), result(("data_drift", "income")), wait=True)
    both = result(("data_drift", "income"), ("performance", "roc_auc"), at=T0 + HOUR)
    changed = handle(client, spec(), both, wait=True)
    assert [(a.id == first.id, a.change) for a in changed] == [(True, "seen"), (False, "opened")]
    new = changed[1]
    assert new.keys == ("performance/roc_auc",)
    assert new.severity == "critical"  # a model answering worse is critical
    assert len(events(client, "alert.log")) == 2


def test_a_passing_result_resolves_every_open_alert(client: Client) -> None:
    handle(client, spec(), result(("data_drift", "income")), wait=True)
    handle(client, spec(), result(("service", "p99_ms"), at=T0 + 1), wait=True)
    resolved = handle(client, spec(), result(at=T0 + HOUR), wait=True)
    assert {a.change for a in resolved} == {"resolved"}
    assert {a.status for a in resolved} == {"resolved"}
    assert {a.resolved_at for a in resolved} == {T0 + HOUR}
    assert len(resolved) == 2
    assert AlertService(client.store).list(status="open") == []
    assert len(events(client, "alert.resolve")) == 2
    # a passing result with nothing open changes nothing
    assert handle(client, spec(), result(at=T0 + 2 * HOUR), wait=True) == []


def test_a_breach_within_the_cool_down_reopens_the_alert_without_actions(client: Client) -> None:
    [alert] = handle(client, spec(), result(("data_drift", "income")), wait=True)
    handle(client, spec(), result(at=T0 + HOUR), wait=True)  # resolved
    [again] = handle(client, spec(), result(("data_drift", "income"), at=T0 + 90 * 60_000))
    assert again.id == alert.id
    assert again.change == "reopened"
    assert again.status == "open"
    assert again.reopened == 1
    assert again.resolved_at is None
    assert len(events(client, "alert.log")) == 1
    # resolved again, and breached after the cool-down: a new incident with its actions
    handle(client, spec(), result(at=T0 + 2 * HOUR), wait=True)
    [fresh] = handle(client, spec(), result(("data_drift", "income"), at=T0 + 4 * HOUR), wait=True)
    assert fresh.id != alert.id
    assert fresh.change == "opened"
    assert len(events(client, "alert.log")) == 2


def test_without_a_cool_down_a_new_breach_is_a_new_alert(client: Client) -> None:
    quick = spec(alerting={"cooldown": 0})
    [alert] = handle(client, quick, result(("range", "prediction")), wait=True)
    handle(client, quick, result(at=T0 + 1), wait=True)
    [fresh] = handle(client, quick, result(("range", "prediction"), at=T0 + 2), wait=True)
    assert fresh.id != alert.id
    assert fresh.change == "opened"


def test_alerts_list_by_status_and_monitor_newest_first(client: Client) -> None:
    [a] = handle(client, spec(), result(("data_drift", "income")), wait=True)
    other = spec(name="latency", on_alert=[])
    [b] = handle(client, other, result(("service", "p99_ms"), monitor="latency", at=T0 + 5))
    handle(client, spec(), result(at=T0 + HOUR), wait=True)
    alerts = AlertService(client.store)
    assert [x.id for x in alerts.list(status="all")] == [b.id, a.id]
    assert [x.id for x in alerts.list()] == [b.id]
    assert [x.id for x in alerts.list(status="resolved")] == [a.id]
    assert [x.id for x in alerts.list(status="all", monitor="credit-drift")] == [a.id]
    assert alerts.get(b.id).monitor == "latency"
    assert alerts.get(b.id).actions == ()
    with pytest.raises(NotFound, match="No alert 'nope' in project 'default'.*keel alerts ls"):
        alerts.get("nope")
    with pytest.raises(InvalidInput, match="status 'closed' is not one of open, resolved, all"):
        alerts.list(status="closed")
    with pytest.raises(InvalidInput, match="limit must be an integer from 1 to 1000"):
        alerts.list(limit=0)


def test_actions_run_in_a_thread_by_default(client: Client) -> None:
    [alert] = handle(client, spec(), result(("data_drift", "income")))
    assert wait_for_actions(timeout=60)
    assert [a["status"] for a in AlertService(client.store).get(alert.id).actions] == ["ok"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": ""}, "needs a name"),
        ({"deployment": 3}, "deployment must be a name"),
        ({"on_alert": {"log": True}}, "on_alert must be a list of actions"),
        ({"on_alert": [{"page": "ops"}]}, r"on_alert\[0\] must name exactly one action of log"),
        ({"on_alert": [{"webhook": "ftp://x"}]}, "webhook must be an http:// or https:// URL"),
        ({"on_alert": [{"log": True, "webhook": "http://x"}]}, "exactly one action"),
        ({"on_alert": [{"command": []}]}, "command must be a non-empty list of strings"),
        ({"on_alert": [{"callable": "nocolon"}]}, "callable must be 'module:function'"),
        ({"on_alert": [{"webhook": "http://x", "tries": 0}]}, "tries must be a number from 1"),
        ({"on_alert": [{"rollback": True, "tries": 2}]}, "rollback has no option tries"),
        ({"alerting": {"cooldown": "soon"}}, "cooldown must be a duration"),
        ({"alerting": {"max_retrains_per_day": -1}}, "max_retrains_per_day must be a whole"),
        ({"alerting": {"snooze": "1h"}}, "alerting has no snooze; it takes cooldown"),
    ],
)
def test_a_malformed_spec_is_refused_before_anything_is_recorded(
    client: Client, changes: dict, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        handle(client, spec(**changes), result(("data_drift", "income")))
    with client.store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.alerts)).scalar() == 0


def test_a_result_of_another_monitor_is_refused(client: Client) -> None:
    with pytest.raises(InvalidInput, match="is monitor 'other''s, not 'credit-drift''s"):
        handle(client, spec(), result(("data_drift", "income"), monitor="other"))
    with pytest.raises(InvalidInput, match="takes a MonitorResult, not dict"):
        handle(client, spec(), {"id": "x"})  # type: ignore[arg-type]


def test_a_person_acknowledges_then_resolves_an_alert_and_each_is_audited(client: Client) -> None:
    [alert] = handle(client, spec(), result(("data_drift", "income")), wait=True)
    reader = AlertService(client.store, actor=Actor("viewer", "reader"))
    with pytest.raises(PermissionDenied, match="needs 'writer'"):
        reader.acknowledge(alert.id)
    with pytest.raises(PermissionDenied):
        reader.resolve(alert.id)
    alice = AlertService(client.store, actor=Actor("alice", "writer"))
    acked = alice.acknowledge(alert.id, comment="looking at the feed")
    assert (acked.status, acked.acknowledged_by, acked.comment) == (
        "open",
        "alice",
        "looking at the feed",
    )
    assert acked.acknowledged_at is not None
    # acknowledging again (anyone) changes nothing and records nothing
    assert AlertService(client.store, actor=Actor("bob", "writer")).acknowledge(alert.id) == acked
    with pytest.raises(InvalidInput, match="at most 2000"):
        alice.resolve(alert.id, comment="x" * 2001)
    done = alice.resolve(alert.id)
    assert (done.status, done.resolved_by, done.change) == ("resolved", "alice", "resolved")
    assert done.resolved_at is not None
    assert AlertService(client.store).list(status="open") == []
    with pytest.raises(Conflict, match="resolved already \\(by alice\\)"):
        alice.resolve(alert.id)
    with pytest.raises(Conflict):
        alice.acknowledge(alert.id)
    with pytest.raises(NotFound):
        alice.resolve("0" * 32)
    acts = [(e["action"], e["actor"]) for e in events(client, "alert.acknowledge")]
    acts += [(e["action"], e["actor"]) for e in events(client, "alert.resolve")]
    assert acts == [("alert.acknowledge", "alice"), ("alert.resolve", "alice")]


def test_a_reopened_alert_forgets_who_acknowledged_and_resolved_it(client: Client) -> None:
    [alert] = handle(client, spec(), result(("data_drift", "income")), wait=True)
    people = AlertService(client.store, actor=Actor("alice", "writer"))
    people.acknowledge(alert.id)
    resolved = people.resolve(alert.id)
    breach = result(("data_drift", "income"), at=resolved.resolved_at + 60_000)
    [again] = handle(client, spec(), breach, wait=True)
    assert (again.id, again.change, again.status) == (alert.id, "reopened", "open")
    assert (again.acknowledged_by, again.resolved_by) == (None, None)
