"""PII scanning: every kind found on clean data, near-misses left alone, masking, CLI."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from keel.errors import InvalidInput
from keel.validation._pii import (
    KINDS,
    PiiFinding,
    _luhn,
    _mod97,
    _name_suggests_personal,
    looks_hashed,
    mask,
    scan_pii,
)
from tests._cli import run_keel, run_python

N = 200
RNG = np.random.default_rng(7)


# --- generators of clean values --------------------------------------------------------


def luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:  # doubled once the check digit is appended
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def cards(n: int, prefix: str = "4", length: int = 16) -> list[str]:
    bodies = [
        prefix + "".join(map(str, RNG.integers(0, 10, length - len(prefix) - 1))) for _ in range(n)
    ]
    return [b + luhn_digit(b) for b in bodies]


def iban(country: str, bban: str) -> str:
    def as_number(text: str) -> int:
        return int("".join(str(int(ch, 36)) for ch in text))

    check = 98 - as_number(bban + country + "00") % 97
    return f"{country}{check:02d}{bban}"


def ibans(n: int) -> list[str]:
    out = []
    for i in range(n):
        if i % 2:
            out.append(iban("DE", f"{RNG.integers(10**17, 10**18)}"))
        else:
            out.append(iban("GB", f"WEST{RNG.integers(10**13, 10**14)}"))
    return out


def spaced(text: str) -> str:
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def table(**columns) -> pa.Table:
    return pa.table(columns)


def kinds(findings: list[PiiFinding], column: str) -> dict[str, PiiFinding]:
    return {f.kind: f for f in findings if f.column == column}


# --- each kind on clean values ---------------------------------------------------------


def test_each_kind_is_found_with_its_share() -> None:
    ints = RNG.integers(0, 10_000, N)
    t = table(
        contact=[f"user.{i}+tag@mail{i % 7}.example.co.uk" for i in ints],
        tel=[
            [
                "+44 20 7946 0958",
                "(555) 123-4567",
                "555.123.4567",
                "020 7946 0958",
                "01 23 45 67 89",
                "030-1234567",
                "+14155552671",
            ][i % 7]
            for i in range(N)
        ],
        card=cards(N // 2) + cards(N // 4, "5555", 16) + cards(N // 4, "37", 15),
        account=[spaced(v) if i % 2 else v for i, v in enumerate(ibans(N))],
        ip=[
            str(ipaddress.IPv4Address(int(v)))
            if i % 2
            else str(ipaddress.IPv6Address(int(v) << 64))
            for i, v in enumerate(RNG.integers(1, 2**32 - 1, N))
        ],
        nid=[
            ["123-45-6789", "AB 12 34 56 C", "JG103759A", "130 692 544", "12345678Z", "X1234567L"][
                i % 6
            ]
            for i in range(N)
        ],
    )
    found = scan_pii(t)
    expected = {
        "contact": "email",
        "tel": "phone",
        "card": "payment_card",
        "account": "iban",
        "ip": "ip_address",
        "nid": "national_id",
    }
    for column, kind in expected.items():
        by_kind = kinds(found, column)
        assert kind in by_kind, (column, found)
        finding = by_kind[kind]
        assert finding.share == 1.0
        assert finding.matched == finding.checked == N
        assert finding.rows == N
        assert finding.evidence == "values"
    # no kind leaks into another column's finding
    assert {(f.column, f.kind) for f in found} == set(expected.items())


def test_card_numbers_stored_as_integers_are_found() -> None:
    import decimal

    numbers = cards(N)
    t = table(
        pan=pa.array([int(c) for c in numbers], pa.int64()),
        pan_decimal=pa.array([decimal.Decimal(c) for c in numbers], pa.decimal128(19, 0)),
    )
    found = [(f.column, f.kind, f.share) for f in scan_pii(t)]
    assert found == [("pan", "payment_card", 1.0), ("pan_decimal", "payment_card", 1.0)]


def test_string_types_chunks_and_slices() -> None:
    values = [f"p{i}@example.org" for i in range(N)]
    chunked = pa.chunked_array([values[:50], values[50:]])
    t = pa.table(
        {
            "chunked": chunked,
            "large": pa.array(values, pa.large_string()),
            "view": pa.array(values, pa.string_view()),
            "dict": pa.array(values).dictionary_encode(),
        }
    ).slice(30, 100)
    found = scan_pii(t)
    assert [(f.column, f.kind, f.matched) for f in found] == [
        (c, "email", 100) for c in ("chunked", "large", "view", "dict")
    ]


def test_mixed_column_gives_a_share_over_non_empty_values() -> None:
    values = [f"a{i}@example.com" for i in range(30)] + ["n/a"] * 60 + [None] * 20 + [""] * 10
    (finding,) = scan_pii(table(notes=values))
    assert finding.matched == 30
    assert finding.checked == 90
    assert finding.share == pytest.approx(30 / 90)
    assert finding.rows == 120
    assert scan_pii(table(notes=values), min_share=0.5) == []


def test_min_share_zero_reports_a_single_match() -> None:
    values = ["ann@example.com"] + ["x"] * 999
    assert scan_pii(table(c=values)) == []
    (finding,) = scan_pii(table(c=values), min_share=0.0)
    assert finding.matched == 1


# --- near-misses -----------------------------------------------------------------------


def _bump_last(card: str) -> str:
    return card[:-1] + str((int(card[-1]) + 1) % 10)


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("luhn_failing", [_bump_last(c) for c in cards(N)]),
        # random 16-digit ids starting like Visa: one in ten passes Luhn by chance
        ("random_16_digits", [str(v) for v in RNG.integers(4 * 10**15, 5 * 10**15, 1000)]),
        ("bad_iban_check", [v[:2] + f"{(int(v[2:4]) + 1) % 100:02d}" + v[4:] for v in ibans(N)]),
        ("bad_ipv4", ["999.1.1.1", "256.0.0.1", "1.2.3", "1.2.3.4.5", "01.02.03.004"] * 40),
        ("versions_times_macs", ["12:30:45", "00:1a:2b:3c:4d:5e", "2024-01-15", "v1.2.3"] * 50),
        ("integer_ids", [str(v) for v in RNG.integers(1, 10**12, N)]),
        ("zero_padded_ids", [f"{v:010d}" for v in RNG.integers(1, 10**8, N)]),
        ("hex_hashes", [f"{v:032x}" for v in RNG.integers(0, 2**62, N)]),
        (
            "bad_ssn",
            ["000-12-3456", "666-12-3456", "912-34-5678", "123-00-4567", "12-345-6789"] * 40,
        ),
        ("bad_nino", ["GB123456A", "BG 12 34 56 A", "DA123456A", "AB123456E", "QQ123456C"] * 50),
        ("bad_dni", ["12345678A", "X1234567A", "1234567Z"] * 60),
        ("words", ["hello world", "name@", "@example.com", "a@b", "not an email@x.com"] * 40),
        ("short_numbers", ["555-1234", "+12345", "(0) 12", "123 456"] * 50),
    ],
)
def test_near_misses_are_not_flagged(name: str, values: list[str]) -> None:
    assert scan_pii(table(**{"col": values})) == [], name


def test_columns_scanned_together_keep_their_own_checksum_rule(monkeypatch) -> None:
    """Columns are scanned in one array, but a column of mostly failing card or IBAN
    checksums neither hides a neighbour's valid ones nor borrows its passes."""
    columns = {
        "failing_cards": [_bump_last(c) for c in cards(N)],
        "cards": cards(10) + ["n/a"] * (N - 10),
        "bad_ibans": [v[:2] + f"{(int(v[2:4]) + 1) % 100:02d}" + v[4:] for v in ibans(N)],
        "ibans": ibans(10) + ["n/a"] * (N - 10),
        "emails": [f"user{i}@example.com" for i in range(N)],
    }
    together = scan_pii(table(**columns), min_share=0.0)
    alone = [f for name, v in columns.items() for f in scan_pii(table(**{name: v}), min_share=0.0)]
    assert together == alone
    assert [(f.column, f.kind, f.matched) for f in together] == [
        ("cards", "payment_card", 10),
        ("ibans", "iban", 10),
        ("emails", "email", N),
    ]
    monkeypatch.setattr("keel.validation._pii._BLOCK", 250)  # a batch of one or two columns
    assert scan_pii(table(**columns), min_share=0.0) == together


def test_plain_integer_columns_are_not_phones_or_cards() -> None:
    t = table(
        amount=pa.array(RNG.integers(0, 10**9, N), pa.int64()),
        epoch_ms=pa.array(RNG.integers(1.6e12, 1.8e12, N), pa.int64()),
        score=pa.array(RNG.normal(size=N)),
    )
    assert scan_pii(t) == []


# --- column names ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "first_name",
        "lastName",
        "Surname",
        "name",
        "email",
        "E-Mail",
        "phone_number",
        "mobile",
        "home_address",
        "street",
        "zip",
        "zipCode",
        "postcode",
        "date_of_birth",
        "dob",
        "ssn",
        "passport_no",
        "iban",
        "client_ip",
        "IPAddress",
        "customer_id",
        "userId",
        "CUSTOMER_ID",
        "card_number",
        "national_id",
    ],
)
def test_names_that_suggest_personal_data(name: str) -> None:
    assert _name_suggests_personal(name)


@pytest.mark.parametrize(
    "name",
    [
        "unzipped_size",
        "product_name",
        "model_name",
        "hour_sin",
        "id",
        "amount",
        "shipping_cost",
        "tip",
        "zipper_count",
        "mobile_app_version",
        "date_of_purchase",
        "phoneme_count",
        "",
        "__",
    ],
)
def test_names_that_do_not(name: str) -> None:
    assert not _name_suggests_personal(name)


def test_name_only_findings_and_no_duplicate_for_value_findings() -> None:
    t = table(
        first_name=["Ann", "Bob"],
        email=["ann@example.com", "bob@example.com"],
        dob=pa.array([1, 2], pa.int32()).cast(pa.date32()),
        amount=[1.0, 2.0],
        email_verified=[True, False],
    )
    found = [(f.column, f.kind, f.share, f.evidence) for f in scan_pii(t)]
    assert found == [
        ("first_name", "name_suggests_personal", None, "name"),
        ("email", "email", 1.0, "values"),
        ("dob", "name_suggests_personal", None, "name"),
    ]


# --- sampling --------------------------------------------------------------------------


def test_big_table_is_sampled_evenly_and_deterministically() -> None:
    n = 300_000
    half = n // 2
    emails = pa.array(np.char.add(np.arange(half).astype(str), "@example.com"))
    other = pa.array(np.arange(half).astype(str))
    t = pa.table({"c": pa.chunked_array([emails, other])})
    first = scan_pii(t, sample_rows=1_000)
    (finding,) = first
    assert finding.checked == 1_000
    assert finding.rows == n
    # evenly spaced rows see both halves; the first 1,000 rows alone would say 100%
    assert finding.share == pytest.approx(0.5, abs=0.002)
    assert scan_pii(t, sample_rows=1_000) == first
    (whole,) = scan_pii(t, sample_rows=None)
    assert (whole.checked, whole.matched) == (n, half)


def test_bad_arguments_are_refused() -> None:
    t = table(c=["x"])
    with pytest.raises(InvalidInput, match="sample_rows must be a positive number"):
        scan_pii(t, sample_rows=0)
    with pytest.raises(InvalidInput, match="min_share must be a fraction between 0 and 1"):
        scan_pii(t, min_share=1.5)
    with pytest.raises(InvalidInput, match="needs a pyarrow Table; got a list"):
        scan_pii([1, 2])  # type: ignore[arg-type]


def test_empty_and_all_null_tables() -> None:
    assert scan_pii(pa.table({"c": pa.array([], pa.string())})) == []
    assert scan_pii(pa.table({"c": pa.array([None, None], pa.string())})) == []


def test_finding_to_dict() -> None:
    (finding,) = scan_pii(table(c=["ann@example.com"]))
    assert finding.to_dict() == {
        "column": "c",
        "kind": "email",
        "share": 1.0,
        "matched": 1,
        "checked": 1,
        "rows": 1,
        "evidence": "values",
    }
    assert "ann@example.com" not in json.dumps(finding.to_dict())


# --- the vectorised checksums against plain Python -------------------------------------


@given(st.lists(st.text("0123456789", min_size=13, max_size=19), min_size=1, max_size=50))
def test_luhn_agrees_with_python(numbers: list[str]) -> None:
    expected = [luhn_digit(n[:-1]) == n[-1] for n in numbers]
    assert _luhn(pa.array(numbers)).tolist() == expected


@given(
    st.lists(st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=15, max_size=34), max_size=50)
)
def test_mod97_agrees_with_python(values: list[str]) -> None:
    def ok(text: str) -> bool:
        moved = text[4:] + text[:4]
        return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1

    assert _mod97(pa.array(values, pa.string())).tolist() == [ok(v) for v in values]


@given(st.lists(st.ip_addresses(), min_size=1, max_size=30))
def test_every_ip_address_is_found(addresses: list) -> None:
    texts = [str(a) for a in addresses] + [a.exploded for a in addresses]
    (finding,) = scan_pii(table(c=texts), min_share=0.0)
    assert finding.kind == "ip_address"
    assert finding.matched == len(texts)


# --- hashed values ---------------------------------------------------------------------


def _digests(n: int, size: int) -> list[bytes]:
    return [RNG.bytes(size) for _ in range(n)]


def test_looks_hashed() -> None:
    import base64

    assert looks_hashed(pa.array([d.hex() for d in _digests(50, 32)]))
    assert looks_hashed(pa.array([d.hex().upper() for d in _digests(50, 16)]))
    assert looks_hashed(pa.chunked_array([[d.hex() for d in _digests(50, 20)]]))
    assert looks_hashed(pa.array([base64.b64encode(d).decode() for d in _digests(200, 16)]))
    assert looks_hashed(
        pa.array([base64.urlsafe_b64encode(d).decode().rstrip("=") for d in _digests(200, 32)])
    )
    assert looks_hashed(pa.array(["$2b$12$" + "a" * 53, "sha256:" + "b" * 64]))
    assert looks_hashed(pa.array(_digests(20, 32), pa.binary(32)))
    assert looks_hashed(pa.array(_digests(20, 32), pa.binary()))
    assert looks_hashed(pa.array([None, None], pa.string()))


def test_clear_values_do_not_look_hashed() -> None:
    hashes = [d.hex() for d in _digests(99, 32)]
    assert not looks_hashed(pa.array([*hashes, "ann@example.com"]))
    assert looks_hashed(pa.array([*hashes, "ann@example.com"]), min_share=0.95)
    assert not looks_hashed(pa.array(["Christopher_Richardson", "Alexandra_Wintersmith"]))
    assert not looks_hashed(pa.array([f"C{i:05d}" for i in range(100)]))
    assert not looks_hashed(pa.array(RNG.integers(0, 10**9, 10)))
    assert not looks_hashed(pa.array(_digests(5, 7), pa.binary()))


# --- masking ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind", "masked"),
    [
        ("john.doe@example.com", "email", "j***@e***.com"),
        ("4242 4242 4242 4242", "payment_card", "**** **** **** 4242"),
        ("378282246310005", "payment_card", "**** **** **** 0005"),
        ("+44 20 7946 0958", "phone", "+** ** **** **58"),
        ("DE89 3704 0044 0532 0130 00", "iban", "DE** **** 3000"),
        ("192.168.1.23", "ip_address", "192.*.*.*"),
        ("2001:db8::1", "ip_address", "2001:*:*"),
        ("123-45-6789", "national_id", "***-**-**89"),
        ("Alice", "name_suggests_personal", "A***"),
        ("Al", "name_suggests_personal", "***"),
    ],
)
def test_mask_examples(value: str, kind: str, masked: str) -> None:
    assert mask(value, kind) == masked


@given(st.text(max_size=40), st.sampled_from(KINDS))
def test_mask_never_returns_the_clear_value(value: str, kind: str) -> None:
    masked = mask(value, kind)
    assert masked != value
    if len(value.strip()) >= 4:
        assert value.strip() not in masked


@given(st.emails())
def test_masked_emails_keep_only_initials(value: str) -> None:
    local, _, _ = value.rpartition("@")
    masked = mask(value, "email")
    assert masked != value
    assert masked.startswith(local[0] + "***@")  # the first character, then stars
    if len(local) > 1 and "*" not in local:
        assert local not in masked


def test_mask_unknown_kind() -> None:
    with pytest.raises(InvalidInput, match=r"mask\(\) knows the kinds email, phone.*got 'mail'"):
        mask("x", "mail")


# --- the command -----------------------------------------------------------------------


def customers() -> pa.Table:
    return table(
        customer_id=[f"C{i:04d}" for i in range(N)],
        email=[f"person{i}@example.com" for i in range(N)],
        card=cards(N),
        spend=RNG.normal(size=N),
    )


def test_cli_on_a_parquet_file(tmp_path: Path) -> None:
    pq.write_table(customers(), tmp_path / "customers.parquet")
    shown = run_keel("scan-pii", "customers.parquet", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    for text in ("customer_id", "name_suggests_personal", "email", "payment_card", "100.0%"):
        assert text in shown.stdout
    assert f"{N}/{N}" in shown.stdout
    assert "person1@example.com" not in shown.stdout

    out = run_keel("scan-pii", "customers.parquet", "--json", "--sample", "50", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["rows"] == N
    assert report["checked_rows"] == 50
    assert {(f["column"], f["kind"]) for f in report["findings"]} == {
        ("customer_id", "name_suggests_personal"),
        ("email", "email"),
        ("card", "payment_card"),
    }
    assert all(f["checked"] in (0, 50) for f in report["findings"])

    found = run_keel("scan-pii", "customers.parquet", "--fail-on-find", cwd=tmp_path)
    assert found.returncode == 3
    pq.write_table(table(spend=[1.0, 2.0]), tmp_path / "clean.parquet")
    clean = run_keel("scan-pii", "clean.parquet", "--fail-on-find", cwd=tmp_path)
    assert clean.returncode == 0
    assert "No personal data found" in clean.stdout


def test_cli_on_a_dataset_ref(tmp_path: Path) -> None:
    assert run_keel("init", cwd=tmp_path).returncode == 0
    pq.write_table(customers(), tmp_path / "c.parquet")
    run_python("import keel; keel.log_dataset('c.parquet', 'customers')", cwd=tmp_path)
    out = run_keel("scan-pii", "customers:v1", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["data"] == "customers:v1"
    assert {f["kind"] for f in report["findings"]} == {
        "name_suggests_personal",
        "email",
        "payment_card",
    }
    unknown = run_keel("scan-pii", "nobody:v1", cwd=tmp_path)
    assert unknown.returncode == 1
    assert "nobody" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_cli_bad_input(tmp_path: Path) -> None:
    missing = run_keel("scan-pii", "missing.parquet", cwd=tmp_path)
    assert missing.returncode == 1
    assert "missing.parquet does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr
    outside = run_keel("scan-pii", "credit:v3", cwd=tmp_path)
    assert outside.returncode == 1
    assert "keel init" in outside.stderr
    assert "Traceback" not in outside.stderr
    (tmp_path / "table.txt").write_text("a,b\n")
    odd = run_keel("scan-pii", "./table.txt", cwd=tmp_path)
    assert odd.returncode == 1
    assert "Traceback" not in odd.stderr
    usage = run_keel("scan-pii", "x.parquet", "--min-share", "2", cwd=tmp_path)
    assert usage.returncode == 2
