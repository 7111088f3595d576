"""Triggers: constructors, their dicts and bad specs; each kind fires exactly when it should."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import keel
from keel.client import Client
from keel.config import Config
from keel.errors import InvalidInput
from keel.monitoring.alerts import handle
from keel.pipelines._firing import fire_triggers
from keel.pipelines.triggers import parse_trigger, parse_triggers, trigger_key
from keel.store import Store

from ..monitoring.alerting import result, spec
from .triggering import pipeline, runs


@pytest.fixture
def client(store: Store, store_config: Config) -> Iterator[Client]:
    """A client on an initialised store (SQLite and PostgreSQL)."""
    opened = Client(config=store_config)
    yield opened
    opened.close()


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


# -- the constructors -------------------------------------------------------------------


def test_each_trigger_is_a_dict_that_parses_back_and_prints_like_its_call() -> None:
    made = [
        keel.cron(" 0 3 * * * "),
        keel.on_dataset("credit-train", param="data"),
        keel.on_files("s3://bucket/in/", pattern="*.csv", param="files"),
        keel.on_alert(monitor="credit-drift"),
    ]
    assert [m.to_dict() for m in made] == [
        {"kind": "schedule", "cron": "0 3 * * *"},
        {"kind": "dataset", "dataset": "credit-train", "param": "data"},
        {"kind": "files", "path": "s3://bucket/in/", "pattern": "*.csv", "param": "files"},
        {"kind": "alert", "monitor": "credit-drift"},
    ]
    assert [parse_trigger(m.to_dict()) for m in made] == made
    assert parse_triggers([m.to_dict() for m in made]) == made
    assert [repr(m) for m in made] == [
        "keel.cron('0 3 * * *')",
        "keel.on_dataset('credit-train', param='data')",
        "keel.on_files('s3://bucket/in/', pattern='*.csv', param='files')",
        "keel.on_alert(monitor='credit-drift')",
    ]
    assert repr(keel.on_dataset("credit-train")) == "keel.on_dataset('credit-train')"
    keys = {trigger_key(m) for m in made}
    assert len(keys) == 4
    assert all(len(k) == 64 for k in keys)
    # the key is the dict's digest: key order does not matter, any argument does
    assert trigger_key({"cron": "0 3 * * *", "kind": "schedule"}) == made[0].key
    assert keel.on_dataset("credit-train").key != keel.on_dataset("credit-train", "x").key


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: keel.cron("every day"), r"keel.cron\(\): 'every day' is not a cron line"),
        (lambda: keel.cron("61 * * * *"), "Give five fields"),
        (lambda: keel.cron("0 3 * * * *"), "is not a cron line"),
        (lambda: keel.cron(""), "the schedule must be a non-empty string"),
        (lambda: keel.on_dataset(""), r"keel.on_dataset\(\): dataset must be a non-empty"),
        (lambda: keel.on_dataset(3), "dataset must be a non-empty string"),
        (lambda: keel.on_dataset("d", param="my data"), "param must be None or the name"),
        (lambda: keel.on_files("/in", pattern=""), "pattern must be a non-empty string"),
        (lambda: keel.on_files(None), "path must be a non-empty string"),
        (lambda: keel.on_alert(monitor=""), "monitor must be a non-empty string"),
    ],
)
def test_a_bad_trigger_says_what_is_wrong(make, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        make()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("0 3 * * *", r"must be made by keel.cron, .* not str '0 3 \* \* \*'"),
        (
            {"kind": "schedul", "cron": "0 3 * * *"},
            "kind must be one of schedule, dataset, "
            "files, alert, not 'schedul'. Did you mean 'schedule'",
        ),
        ({"kind": "dataset"}, "A 'dataset' trigger takes dataset, param: dataset missing"),
        ({"kind": "alert", "monitor": "m", "deployment": "d"}, "deployment unknown"),
        ({"kind": "schedule", "cron": "nope"}, "'nope' is not a cron line"),
    ],
)
def test_a_bad_trigger_dict_says_what_is_wrong(spec: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_trigger(spec)


def test_a_bad_trigger_list_names_the_entry() -> None:
    with pytest.raises(InvalidInput, match=r"triggers\[1\]: A trigger's kind must be one of"):
        parse_triggers([keel.cron("0 3 * * *"), {"kind": "weekly"}])
    with pytest.raises(InvalidInput, match="triggers must be a list"):
        parse_triggers(keel.cron("0 3 * * *"))


# -- firing -----------------------------------------------------------------------------


def test_cron_fires_once_per_occurrence_after_it_is_first_seen(client: Client) -> None:
    pipeline(client, "nightly", keel.cron("0 3 * * *"))
    store = client.store
    assert fire_triggers(store, now=ms("2027-01-10T03:30")) == []  # first seen: nothing
    assert fire_triggers(store, now=ms("2027-01-11T02:59")) == []
    [fired] = fire_triggers(store, now=ms("2027-01-11T03:00"))
    assert fired.record == {
        "kind": "schedule",
        "cron": "0 3 * * *",
        "scheduled_for": ms("2027-01-11T03:00"),
    }
    assert fire_triggers(store, now=ms("2027-01-11T03:05")) == []  # that occurrence is done
    # three days with no agent: one run, not three, and the next is tomorrow's
    [late] = fire_triggers(store, now=ms("2027-01-14T10:00"))
    assert late.record["scheduled_for"] == ms("2027-01-12T03:00")
    assert fire_triggers(store, now=ms("2027-01-15T02:00")) == []
    assert len(fire_triggers(store, now=ms("2027-01-15T03:00"))) == 1
    queued = runs(store)
    assert [r["id"] for r in queued] == [fired.run, late.run, queued[2]["id"]]
    assert {(r["status"], r["pipeline"]) for r in queued} == {("queued", "nightly")}
    assert queued[0]["trigger"] == fired.record


def test_a_new_dataset_version_fires_with_its_ref_as_the_param(client: Client) -> None:
    client.datasets.log(pd.DataFrame({"x": [1, 2]}), "credit-train")  # there before: no run
    pipeline(client, "retrain", keel.on_dataset("credit-train", param="data"))
    pipeline(client, "plain", keel.on_dataset("credit-train"))
    pipeline(client, "later", keel.on_dataset("not-yet"))
    store = client.store
    assert fire_triggers(store) == []
    assert fire_triggers(store) == []
    client.datasets.log(pd.DataFrame({"x": [1, 2, 3]}), "credit-train")
    client.datasets.log(pd.DataFrame({"x": [1, 2, 3, 4]}), "credit-train")
    fired = fire_triggers(store)
    assert [(f.pipeline, f.record["version"]) for f in fired] == [
        ("plain", "credit-train:v3"),
        ("retrain", "credit-train:v3"),
    ]
    assert fire_triggers(store) == []  # seen
    client.datasets.log(pd.DataFrame({"y": [1]}), "not-yet")  # a dataset that did not exist
    [new] = fire_triggers(store)
    assert (new.pipeline, new.record["version"]) == ("later", "not-yet:v1")
    params = {r["pipeline"]: r["params"] for r in runs(store)}
    assert params == {"plain": {}, "retrain": {"data": "credit-train:v3"}, "later": {}}


def test_files_landing_in_a_folder_fire_with_their_list(client: Client, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "old.csv").write_text("a\n1\n")
    pipeline(client, "ingest", keel.on_files(str(inbox), pattern="*.csv", param="files"))
    store = client.store
    assert fire_triggers(store) == []  # old.csv was there first
    (inbox / "notes.txt").write_text("not a csv")
    assert fire_triggers(store) == []
    (inbox / "jan.csv").write_text("a\n2\n")
    (inbox / "sub").mkdir()
    (inbox / "sub" / "feb.csv").write_text("a\n3\n")
    [fired] = fire_triggers(store)
    landed = [str(inbox / "jan.csv"), str(inbox / "sub" / "feb.csv")]
    assert fired.record == {"kind": "files", "path": str(inbox), "count": 2, "files": landed}
    assert fire_triggers(store) == []
    (inbox / "old.csv").write_text("a\n1\n4\n")  # changed
    [changed] = fire_triggers(store)
    assert changed.record["files"] == [str(inbox / "old.csv")]
    (inbox / "jan.csv").unlink()  # gone: nothing to run
    assert fire_triggers(store) == []
    assert [r["params"] for r in runs(store)] == [
        {"files": landed},
        {"files": [str(inbox / "old.csv")]},
    ]


def test_files_landing_in_a_bucket_prefix_fire(
    client: Client, s3_bucket: str, s3_endpoint: str
) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.put_object(Bucket=s3_bucket, Key="in/first.csv", Body=b"a\n1\n")
    prefix = f"s3://{s3_bucket}/in/"
    pipeline(client, "ingest", keel.on_files(prefix, pattern="*.csv", param="files"))
    store = client.store
    assert fire_triggers(store) == []
    s3.put_object(Bucket=s3_bucket, Key="in/second.csv", Body=b"a\n2\n")
    s3.put_object(Bucket=s3_bucket, Key="in/readme.md", Body=b"no")
    s3.put_object(Bucket=s3_bucket, Key="elsewhere/third.csv", Body=b"a\n3\n")
    [fired] = fire_triggers(store)
    assert fired.record["files"] == [f"s3://{s3_bucket}/in/second.csv"]
    assert fire_triggers(store) == []
    s3.put_object(Bucket=s3_bucket, Key="in/first.csv", Body=b"a\n1\n5\n")  # rewritten
    [again] = fire_triggers(store)
    assert again.record["files"] == [f"s3://{s3_bucket}/in/first.csv"]
    assert [r["params"]["files"] for r in runs(store)] == [
        [f"s3://{s3_bucket}/in/second.csv"],
        [f"s3://{s3_bucket}/in/first.csv"],
    ]


def test_an_alert_of_the_monitor_fires(client: Client) -> None:
    handle(client, spec(name="credit-drift"), result(("data_drift", "income")), wait=True)
    pipeline(client, "retrain", keel.on_alert(monitor="credit-drift"))
    store = client.store
    assert fire_triggers(store) == []  # the alert opened before the trigger was seen
    other = spec(name="other-monitor")
    handle(client, other, result(("data_drift", "debt"), monitor="other-monitor"), wait=True)
    assert fire_triggers(store) == []
    [alert] = handle(client, spec(name="credit-drift"), result(("data_drift", "debt")), wait=True)
    [fired] = fire_triggers(store)
    assert fired.record == {
        "kind": "alert",
        "monitor": "credit-drift",
        "alert": alert.id,
        "alerts": [alert.id],
    }
    assert fire_triggers(store) == []
    assert [r["trigger"] for r in runs(store)] == [fired.record]


def test_a_trigger_that_cannot_be_checked_is_reported_and_the_others_go_on(
    client: Client,
) -> None:
    from keel.pipelines._records import record_pipeline

    spec_ = {
        "entrypoint": "flows:x",
        "triggers": [{"kind": "weekly"}, keel.cron("* * * * *").to_dict()],
    }
    record_pipeline(client.store, "default", "x", spec_)
    now = ms("2027-01-10T00:00")
    [bad] = fire_triggers(client.store, now=now)
    assert bad.run is None
    assert bad.error.startswith("A trigger's kind must be one of")
    fired = fire_triggers(client.store, now=now + 60_000)
    assert [f.run is not None for f in fired] == [False, True]


def test_a_firing_needs_the_lease_when_one_is_given(client: Client) -> None:
    from keel.store import leases

    pipeline(client, "minutely", keel.cron("* * * * *"))
    now = ms("2027-01-10T00:00")
    lease = ("agent", "me")
    fire_triggers(client.store, now=now, lease=lease)  # first seen
    assert fire_triggers(client.store, now=now + 60_000, lease=lease) == []  # not held
    assert leases.acquire(client.store, "agent", "me", 60_000, now=now + 60_000)
    assert len(fire_triggers(client.store, now=now + 60_000, lease=lease)) == 1
    assert len(runs(client.store)) == 1


# -- properties -------------------------------------------------------------------------

_names = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=40)
_params = st.none() | st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True)
_triggers = st.one_of(
    st.sampled_from(["0 3 * * *", "*/15 * * * *", "0 0 1 * *", "30 6 * * 1-5"]).map(keel.cron),
    st.builds(keel.on_dataset, _names.filter(str.strip), _params),
    st.builds(keel.on_files, _names.filter(str.strip), st.just("*.csv"), _params),
    st.builds(keel.on_alert, _names.filter(str.strip)),
)


@given(_triggers)
def test_a_trigger_round_trips_through_its_dict_and_json(trigger) -> None:
    import json

    data = json.loads(json.dumps(trigger.to_dict()))  # as the pipeline's spec stores it
    again = parse_trigger(data)
    assert again == trigger
    assert again.key == trigger.key
    assert parse_trigger(again.to_dict()).to_dict() == data


_keys = st.sampled_from(["kind", "cron", "dataset", "path", "monitor", "param", "pattern", "x"])
_values = (
    st.none()
    | st.integers()
    | st.text(max_size=12)
    | st.sampled_from(["schedule", "dataset", "files", "alert", "* * * * *"])
)


@given(st.dictionaries(_keys, _values))
def test_any_dict_parses_or_is_refused_with_invalid_input(data: dict) -> None:
    refused: list[str] = []
    try:
        trigger = parse_trigger(data)
    except InvalidInput as exc:  # never another exception: a bad spec is a clear error
        refused.append(exc.message)
    if refused:
        assert refused[0].strip()
    else:
        assert trigger.to_dict()["kind"] == data["kind"]
