"""Find columns that hold personal data, by their values and by their names.

:func:`scan_pii` looks at every column of an Arrow table (or an evenly spaced sample of
its rows) and reports which kinds of personal data it holds and in what share of its
values: e-mail addresses, phone numbers, payment card numbers (Luhn-checked), IBANs
(mod-97-checked), IP addresses and national identifiers. Columns whose *names* suggest
personal data (``first_name``, ``dob``, ``customer_id``) are reported too. A finding
names the column, the kind and the share, never a value; :func:`mask` hides the values
a report chooses to show as examples, and :func:`looks_hashed` tells whether a column
holds digests rather than clear values (the ``require_hashed`` policy).

Everything runs over whole arrays with ``pyarrow.compute`` and NumPy; no Python loop
touches a row. A value counts when the whole of it (trimmed) has the shape of a kind:
free text that merely mentions an address is not scanned.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from keel.errors import InvalidInput

__all__ = ["KINDS", "PiiFinding", "looks_hashed", "mask", "scan_pii", "unhashed"]

KINDS = (
    "email",
    "phone",
    "payment_card",
    "iban",
    "ip_address",
    "national_id",
    "name_suggests_personal",
)
"""Every kind a finding can have, in the order findings list them."""

_CHECKSUM_MIN_PASS = 0.5
"""Of the values shaped like a checksummed kind (card, IBAN, SIN, DNI), at least this share
must pass the checksum for the column to count: random digits pass Luhn one time in ten,
so a column of 16-digit ids gives ~10% and real card numbers ~100%."""

_BLOCK = 1 << 18
"""Candidates turned into a character matrix at a time, to bound memory when unsampled."""

# --- value shapes (RE2 syntax: no look-arounds, no back-references) -------------------

_EMAIL = (
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,63}$"
)

# Phone numbers need a leading + (or 00) or phone-like grouping, so that plain integers,
# ids, dates and hashes never match; the digit count (7-15, E.164) is checked separately.
_PHONE = "|".join(
    [
        r"^\+[1-9][0-9 ().\-]{5,22}[0-9]$",  # international: +44 20 7946 0958
        r"^00[1-9]\d{0,2}[ .\-][0-9 ().\-]{4,20}[0-9]$",  # 0044 20 7946 0958, not 0012345678
        r"^(?:1[ .\-]?)?(?:\(\d{3}\) ?|\d{3}[ .\-])\d{3}[ .\-]\d{4}$",  # (555) 123-4567
        r"^\(?0[1-9]\d{0,3}\)?[ \-/]\d{3,8}(?:[ \-]\d{3,4}){0,2}$",  # 020 7946 0958, 030-1234567
        r"^0[1-9](?:[ .\-]\d{2}){4}$",  # 01 23 45 67 89
    ]
)

_CARD_CANDIDATE = r"^\d(?:[ \-]?\d){12,18}$"
# Issuer prefixes and lengths (Visa, Mastercard, Amex, Diners, JCB, Discover/UnionPay,
# Maestro), over the digits alone.
_CARD_BRANDS = (
    "^(?:"
    + "|".join(
        [
            r"4\d{12}(?:\d{3}){0,2}",
            r"(?:5[1-5]\d\d|222[1-9]|22[3-9]\d|2[3-6]\d\d|27[01]\d|2720)\d{12}",
            r"3[47]\d{13}",
            r"3(?:0[0-5]|[68]\d)\d{11,16}",
            r"35(?:2[89]|[3-8]\d)\d{12,15}",
            r"6(?:011|4[4-9]\d|5\d\d|2\d\d)\d{12,15}",
            r"(?:5[06-9]|6\d)\d{11,17}",
        ]
    )
    + ")$"
)

_IBAN_CANDIDATE = r"^[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]){11,30}$"

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
_H = r"[0-9A-Fa-f]{1,4}"
_IPV6 = "|".join(
    [
        rf"(?:{_H}:){{7}}{_H}",
        rf"(?:{_H}:){{1,7}}:",
        rf"(?:{_H}:){{1,6}}:{_H}",
        rf"(?:{_H}:){{1,5}}(?::{_H}){{1,2}}",
        rf"(?:{_H}:){{1,4}}(?::{_H}){{1,3}}",
        rf"(?:{_H}:){{1,3}}(?::{_H}){{1,4}}",
        rf"(?:{_H}:){{1,2}}(?::{_H}){{1,5}}",
        rf"{_H}:(?::{_H}){{1,6}}",
        rf":(?::{_H}){{1,7}}",
        r"::",
        r"[Ff][Ee]80:(?::[0-9A-Fa-f]{0,4}){0,4}%[0-9A-Za-z]+",
        rf"::(?:[Ff]{{4}}(?::0{{1,4}})?:)?{_IPV4}",
        rf"(?:{_H}:){{1,4}}:{_IPV4}",
    ]
)
_IP = rf"^(?:{_IPV4}|{_IPV6})$"

# National identifiers with a shape clear enough to tell them from other codes.
_SSN = (  # US: area 001-899 but not 666, group 01-99, serial 0001-9999, dashed
    r"^(?:00[1-9]|0[1-9]\d|[1-578]\d\d|6[0-57-9]\d|66[0-57-9])-"
    r"(?:0[1-9]|[1-9]\d)-(?:000[1-9]|00[1-9]\d|0[1-9]\d\d|[1-9]\d{3})$"
)
_NINO = r"^[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]$"  # UK
_NINO_NEVER = r"^(?:BG|GB|NK|KN|TN|NT|ZZ)"  # prefixes HMRC never issues
_SIN = r"^[1-79]\d{2}[ \-]\d{3}[ \-]\d{3}$"  # Canada, Luhn-checked
_DNI = r"^[XYZ]?\d{7,8}-?[A-Z]$"  # Spain (DNI, NIE), check letter mod 23
_DNI_LETTERS = np.frombuffer(b"TRWAGMYFPDXBNJZSQVHLCKE", dtype=np.uint8)

# --- values that look like digests, for require_hashed --------------------------------

# hex of MD5, SHA-1, SHA-224, SHA-256, SHA-384, SHA-512 (and other digests of those sizes)
_HEX_DIGEST = "^(?:" + "|".join(f"[0-9a-fA-F]{{{n}}}" for n in (32, 40, 56, 64, 96, 128)) + ")$"
# base64 (standard or URL-safe, padded or not) of 16, 20, 32 or 64 bytes
_B64_DIGEST = (
    r"^(?:[A-Za-z0-9+/_\-]{22}(?:==)?|[A-Za-z0-9+/_\-]{27}=?"
    r"|[A-Za-z0-9+/_\-]{43}=?|[A-Za-z0-9+/_\-]{86}(?:==)?)$"
)
_B64_RICH = 0.9
"""Random base64 of 16+ bytes nearly always (~98%) mixes digits, upper and lower case;
clear words of the same length (``Christopher_Richardson``) rarely do. Base64-shaped
values count as hashed only when this share of them mix all three."""
_TAGGED_HASH = (
    r"^(?:\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}"  # bcrypt
    r"|\$argon2(?:id|i|d)\$\S+"
    r"|(?:sha1|sha256|sha512|md5|blake2b|blake3|pbkdf2[^:$]*)[:$]\S+)$"
)
_DIGEST_BYTES = (16, 20, 28, 32, 48, 64)

# --- column names ----------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


_PERSONAL_TOKENS = frozenset(
    _words(
        """
    firstname lastname surname forename fullname givenname familyname middlename
    maidenname nickname username email emails phone phones telephone tel fax
    address addresses addr street zip zipcode postcode postalcode birth birthday
    birthdate birthplace dob ssn nino passport iban ip ipv4 ipv6 ipaddr
    nationality ethnicity religion gender
    """
    )
)
_PERSONAL_PAIRS = frozenset(
    tuple(pair.split("_"))
    for pair in _words(
        """
    first_name last_name given_name family_name full_name middle_name maiden_name
    customer_name user_name person_name contact_name patient_name employee_name
    client_name holder_name card_holder e_mail customer_id user_id client_id
    patient_id employee_id member_id person_id account_number card_number credit_card
    debit_card card_no national_id tax_id social_security phone_number
    mobile_number cell_phone postal_code zip_code house_number license_number
    licence_number driver_license driving_licence id_number vat_number
    """
    )
)
_ALONE = frozenset({"name", "mobile", "cell"})
"""Tokens that suggest personal data only when they are the whole column name."""

_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z]|\d|$)|[A-Z]?[a-z]+|[A-Z]+|\d+")


@dataclass
class PiiFinding:
    """One kind of personal data found in one column.

    Attributes:
        column: the column's name.
        kind: one of :data:`KINDS`.
        share: the fraction of the checked values that have the kind's shape (and pass its
            checksum); ``None`` when only the column's name suggests personal data.
        matched: how many checked values matched (0 for a name-only finding).
        checked: how many non-empty values were looked at: all of them, or those in the
            evenly spaced sample when the table has more rows than ``sample_rows``.
        rows: how many rows the table has, so ``checked`` can be read against it.
        evidence: ``"values"`` or ``"name"``.
    """

    column: str
    kind: str
    share: float | None
    matched: int
    checked: int
    rows: int
    evidence: str

    def to_dict(self) -> dict[str, Any]:
        """The finding as plain JSON-ready data."""
        return asdict(self)


def scan_pii(
    table: pa.Table, *, sample_rows: int | None = 100_000, min_share: float = 0.05
) -> list[PiiFinding]:
    """Report the columns of ``table`` that hold personal data.

    Args:
        table: the table to scan.
        sample_rows: look at this many evenly spaced rows when the table has more
            (deterministic: the same table gives the same sample); ``None`` looks at all.
        min_share: report a kind in a column only when at least this fraction of its
            non-empty values have that kind.

    Returns:
        Findings in column order, value findings before a name finding; a column with a
        value finding gets no separate name finding.

    Example:
        >>> import pyarrow as pa
        >>> t = pa.table({"contact": ["ann@example.com", "bob@example.org", None]})
        >>> [(f.column, f.kind, f.share) for f in scan_pii(t)]
        [('contact', 'email', 1.0)]
    """
    if not isinstance(table, pa.Table):
        raise InvalidInput(
            f"scan_pii() needs a pyarrow Table; got a {type(table).__name__}. "
            "Turn other inputs into one with keel.validation.load_table(data).table."
        )
    if sample_rows is not None and (isinstance(sample_rows, bool) or sample_rows < 1):
        raise InvalidInput(
            f"scan_pii()'s sample_rows must be a positive number of rows or None; "
            f"got {sample_rows!r}."
        )
    if not 0.0 <= min_share <= 1.0:
        raise InvalidInput(
            f"scan_pii()'s min_share must be a fraction between 0 and 1; got {min_share!r}."
        )
    rows = table.num_rows
    counts = _counts_by_column(_sample(table, sample_rows))
    findings: list[PiiFinding] = []
    for name in table.column_names:
        found = []
        checked, matches = counts.get(name, (0, {}))
        for kind, matched in matches.items():
            share = matched / checked
            if matched and share >= min_share:
                found.append(PiiFinding(name, kind, share, matched, checked, rows, "values"))
        # a flag (email_verified, has_phone) says something about personal data, not it
        flag = pa.types.is_boolean(table.schema.field(name).type)
        if not found and not flag and _name_suggests_personal(name):
            found.append(PiiFinding(name, "name_suggests_personal", None, 0, 0, rows, "name"))
        findings.extend(found)
    return findings


def _sample(table: pa.Table, sample_rows: int | None) -> pa.Table:
    n = table.num_rows
    if sample_rows is None or n <= sample_rows:
        return table
    return table.take(pa.array(np.linspace(0, n - 1, sample_rows).astype(np.int64)))


def _as_strings(column: pa.ChunkedArray) -> pa.Array | None:
    """The column's non-empty values as trimmed strings, or None if it cannot hold PII
    values (floats, booleans, dates, nested types: their names are still checked)."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = kind.value_type
    scannable = pa.types.is_string(kind) or pa.types.is_large_string(kind)
    scannable |= pa.types.is_string_view(kind) or pa.types.is_integer(kind)
    scannable |= pa.types.is_decimal(kind) and kind.scale == 0
    if not scannable:
        return None
    # 64-bit offsets: an unsampled column may hold more than 2 GiB of text in one array
    column = column.cast(pa.large_string())
    values = pc.utf8_trim_whitespace(column.combine_chunks()).drop_null()
    return values.filter(pc.not_equal(pc.utf8_length(values), 0))


def _counts_by_column(sample: pa.Table) -> dict[str, tuple[int, dict[str, int]]]:
    """For each column that can hold PII values and has some: how many values were
    checked, and how many match each kind.

    Columns are scanned together, their values one after another in one array (up to
    ``_BLOCK`` values a batch), so that each pattern runs once per batch rather than once
    per column: a few example rows of 25 columns took 26 ms column by column, mostly
    compiling the same patterns 25 times. Checksum rules still hold per column (``bounds``).
    """
    counts: dict[str, tuple[int, dict[str, int]]] = {}
    batch: list[tuple[str, pa.Array]] = []
    size = 0

    def flush() -> None:
        lengths = [len(values) for _, values in batch]
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        values = pa.concat_arrays([values for _, values in batch])
        masks = _detect(values, bounds)
        per_kind = {k: np.add.reduceat(m.astype(np.int64), bounds[:-1]) for k, m in masks.items()}
        for i, (name, _) in enumerate(batch):
            counts[name] = (lengths[i], {k: int(c[i]) for k, c in per_kind.items()})
        batch.clear()

    for name in sample.column_names:
        values = _as_strings(sample.column(name))
        if values is None or not len(values):
            continue
        if batch and size + len(values) > _BLOCK:
            flush()
            size = 0
        batch.append((name, values))
        size += len(values)
    if batch:
        flush()
    return counts


def _detect(values: pa.Array, bounds: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """A boolean mask per kind over ``values`` (trimmed, non-empty strings), which may be
    several columns' values one after another, column ``i`` from ``bounds[i]`` to
    ``bounds[i + 1]`` (all one column by default)."""
    if bounds is None:
        bounds = np.array([0, len(values)])
    return {
        "email": _match(values, _EMAIL),
        "phone": _phone(values),
        "payment_card": _payment_card(values, bounds),
        "iban": _iban(values, bounds),
        "ip_address": _match(values, _IP),
        "national_id": _national_id(values, bounds),
    }


def _match(values: pa.Array, pattern: str) -> np.ndarray:
    return pc.match_substring_regex(values, pattern).to_numpy(zero_copy_only=False)


def _phone(values: pa.Array) -> np.ndarray:
    hits = _match(values, _PHONE)
    if hits.any():
        index = np.flatnonzero(hits)
        digits = pc.replace_substring_regex(values.take(index), r"\D", "")
        count = pc.utf8_length(digits).to_numpy(zero_copy_only=False)
        hits[index[(count < 7) | (count > 15)]] = False
    return hits


def _payment_card(values: pa.Array, bounds: np.ndarray) -> np.ndarray:
    shaped = _match(values, _CARD_CANDIDATE)
    if not shaped.any():
        return shaped
    index = np.flatnonzero(shaped)
    digits = pc.replace_substring_regex(values.take(index), r"\D", "")
    branded = _match(digits, _CARD_BRANDS)
    valid = branded & _luhn(digits)
    return _checksummed(len(values), index[branded], index[valid], bounds)


def _iban(values: pa.Array, bounds: np.ndarray) -> np.ndarray:
    shaped = _match(values, _IBAN_CANDIDATE)
    if not shaped.any():
        return shaped
    index = np.flatnonzero(shaped)
    compact = pc.utf8_upper(pc.replace_substring(values.take(index), " ", ""))
    return _checksummed(len(values), index, index[_mod97(compact)], bounds)


def _national_id(values: pa.Array, bounds: np.ndarray) -> np.ndarray:
    hits = _match(values, _SSN)
    hits |= _match(values, _NINO) & ~_match(values, _NINO_NEVER)
    for pattern, check in ((_SIN, _luhn), (_DNI, _dni_letter)):
        shaped = _match(values, pattern)
        if shaped.any():
            index = np.flatnonzero(shaped)
            valid = check(pc.replace_substring_regex(values.take(index), r"[ \-]", ""))
            hits |= _checksummed(len(values), index, index[valid], bounds)
    return hits


def _checksummed(n: int, shaped: np.ndarray, valid: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """A mask of the ``valid`` positions, kept in each column (``bounds``, see
    :func:`_detect`) where enough of the ``shaped`` ones pass, none where too few do."""
    hits = np.zeros(n, dtype=bool)
    if not len(shaped):
        return hits
    columns = len(bounds) - 1
    shaped_in = np.bincount(np.searchsorted(bounds, shaped, side="right") - 1, minlength=columns)
    column_of_valid = np.searchsorted(bounds, valid, side="right") - 1
    valid_in = np.bincount(column_of_valid, minlength=columns)
    enough = (shaped_in > 0) & (valid_in >= _CHECKSUM_MIN_PASS * shaped_in)
    hits[valid[enough[column_of_valid]]] = True
    return hits


def _char_matrix(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """ASCII codes of ``values`` as an (n, longest) uint8 matrix padded with zeros, and
    each value's length: lets per-position arithmetic run down all values at once."""
    values = values.cast(pa.large_string())
    _, offsets_buf, data_buf = values.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[
        values.offset : values.offset + len(values) + 1
    ]
    lengths = np.diff(offsets)
    width = int(lengths.max()) if len(lengths) else 0
    matrix = np.zeros((len(values), width), dtype=np.uint8)
    if width and data_buf is not None:
        data = np.frombuffer(data_buf, dtype=np.uint8)[offsets[0] : offsets[-1]]
        row = np.repeat(np.arange(len(values)), lengths)
        col = np.arange(len(data)) - np.repeat(offsets[:-1] - offsets[0], lengths)
        matrix[row, col] = data
    return matrix, lengths


def _blocks(values: pa.Array):
    for start in range(0, len(values), _BLOCK):
        yield _char_matrix(values.slice(start, _BLOCK))


def _luhn(digits: pa.Array) -> np.ndarray:
    """Whether each all-digit string passes the Luhn check."""
    out = []
    for matrix, lengths in _blocks(digits):
        from_right = lengths[:, None] - 1 - np.arange(matrix.shape[1])[None, :]
        d = matrix.astype(np.int16) - 48
        doubled = np.where(from_right % 2 == 1, d * 2, d)
        doubled = np.where(doubled > 9, doubled - 9, doubled)
        total = np.where(from_right >= 0, doubled, 0).sum(axis=1)
        out.append(total % 10 == 0)
    return np.concatenate(out) if out else np.zeros(0, dtype=bool)


def _mod97(ibans: pa.Array) -> np.ndarray:
    """Whether each compact upper-case IBAN passes ISO 13616's mod-97 check: move the
    first four characters to the end, read letters as 10..35, and the number mod 97 is 1.
    The remainder is carried position by position (at most 34), down all values at once."""
    out = []
    for matrix, lengths in _blocks(ibans):
        n, width = matrix.shape
        cols = (np.arange(width)[None, :] + 4) % np.maximum(lengths, 1)[:, None]
        rotated = matrix[np.arange(n)[:, None], cols].astype(np.int64)
        remainder = np.zeros(n, dtype=np.int64)
        for j in range(width):
            code = rotated[:, j]
            letter = code >= 65
            value = np.where(letter, code - 55, code - 48)
            step = (remainder * np.where(letter, 100, 10) + value) % 97
            remainder = np.where(j < lengths, step, remainder)
        out.append(remainder == 1)
    return np.concatenate(out) if out else np.zeros(0, dtype=bool)


def _dni_letter(ids: pa.Array) -> np.ndarray:
    """Whether each Spanish DNI/NIE (``12345678Z``, ``X1234567L``) has the right letter:
    the number mod 23 indexes ``TRWAGMYFPDXBNJZSQVHLCKE``; an NIE's X/Y/Z read as 0/1/2."""
    number = ids
    for letter, digit in (("X", "0"), ("Y", "1"), ("Z", "2")):
        number = pc.replace_substring_regex(number, f"^{letter}", digit)
    out = []
    for matrix, lengths in _blocks(number):
        if matrix.shape[1] != 9:
            out.append(np.zeros(len(lengths), dtype=bool))
            continue
        body = (matrix[:, :8].astype(np.int64) - 48) @ (10 ** np.arange(7, -1, -1))
        out.append((lengths == 9) & (matrix[:, 8] == _DNI_LETTERS[body % 23]))
    return np.concatenate(out) if out else np.zeros(0, dtype=bool)


def _name_suggests_personal(name: str) -> bool:
    tokens = [t.lower() for part in re.split(r"[^0-9A-Za-z]+", name) for t in _CAMEL.findall(part)]
    if not tokens:
        return False
    if len(tokens) == 1 and tokens[0] in _ALONE:
        return True
    if any(t in _PERSONAL_TOKENS for t in tokens):
        return True
    if any(pair in _PERSONAL_PAIRS for pair in itertools.pairwise(tokens)):
        return True
    joined = "".join(tokens)
    return joined in _PERSONAL_TOKENS


def looks_hashed(values: pa.Array | pa.ChunkedArray, *, min_share: float = 1.0) -> bool:
    """Whether ``values`` hold digests rather than clear values.

    A value looks hashed when it is the hex (32, 40, 56, 64, 96 or 128 characters) or
    base64 (of 16, 20, 32 or 64 bytes) form of a digest, a bcrypt or argon2 hash, or a
    ``sha256:...``-style tagged digest; binary values of digest length (16-64 bytes)
    count too. At least ``min_share`` of the non-empty values must look hashed (all, by
    default: one clear value is a leak). A column with no values has nothing in clear and
    counts as hashed. Integers and other types never look hashed.
    """
    present, clear = _present_and_clear(values)
    return _enough(~clear[present], min_share)


def unhashed(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """One bool per row: ``True`` where a value is present (not null, not blank) and does
    not look hashed (see :func:`looks_hashed`); the ``hashed`` check's row mask."""
    return _present_and_clear(values)[1]


def _present_and_clear(values: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: whether a value is there (not null, not blank), and whether it is present
    and in clear (not shaped like a digest)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    kind = values.type
    if pa.types.is_dictionary(kind):
        values = values.cast(kind.value_type)
        kind = kind.value_type
    present = values.is_valid().to_numpy(zero_copy_only=False)
    if pa.types.is_fixed_size_binary(kind):
        return present, present & (kind.byte_width not in _DIGEST_BYTES)
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        lengths = pc.fill_null(pc.binary_length(values), 0).to_numpy(zero_copy_only=False)
        return present, present & ~np.isin(lengths, _DIGEST_BYTES)
    if pa.types.is_string_view(kind):
        values = values.cast(pa.large_string())
    elif not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return present, present  # numbers and the rest are never digests
    values = pc.fill_null(pc.utf8_trim_whitespace(values), "")
    present &= pc.utf8_length(values).to_numpy(zero_copy_only=False) > 0
    hits = _match(values, _HEX_DIGEST) | _match(values, _TAGGED_HASH)
    b64 = _match(values, _B64_DIGEST) & ~hits & present
    if b64.any():
        rich = _match(values, r"\d") & _match(values, "[A-Z]") & _match(values, "[a-z]")
        if np.count_nonzero(rich & b64) >= _B64_RICH * np.count_nonzero(b64):
            hits |= b64
    return present, present & ~hits


def _enough(hits: np.ndarray, min_share: float) -> bool:
    return len(hits) == 0 or np.count_nonzero(hits) >= min_share * len(hits)


def mask(value: str, kind: str) -> str:
    """``value`` with enough hidden that it is no longer personal data, for showing a
    failing row in a report: ``j***@e***.com``, ``**** **** **** 4242``, ``+** *** ***
    **67``, ``DE** **** 3000``, ``192.*.*.*``, ``***-**-**89``, ``J***``. Never returns
    ``value`` itself.
    """
    if kind not in KINDS:
        raise InvalidInput(f"mask() knows the kinds {', '.join(KINDS)}; got {kind!r}.")
    text = str(value).strip()
    masked = _MASKERS.get(kind, _mask_generic)(text)
    if masked == value or (len(text) >= 4 and text in masked):
        masked = "*" * max(3, len(text) + 1)
    return masked


def _mask_generic(text: str) -> str:
    return text[0] + "***" if len(text) > 3 else "***"


def _mask_email(text: str) -> str:
    local, at, domain = text.rpartition("@")
    if not at or not local or "." not in domain:
        return _mask_generic(text)
    host, _, tld = domain.rpartition(".")
    return f"{local[0]}***@{host[:1]}***.{tld}"


def _mask_card(text: str) -> str:
    digits = re.sub(r"\D", "", text)
    return "**** **** **** " + digits[-4:] if len(digits) >= 12 else "**** ****"


def _mask_iban(text: str) -> str:
    compact = re.sub(r"\s", "", text)
    return f"{compact[:2]}** **** {compact[-4:]}" if len(compact) >= 15 else "****"


def _keep_last(text: str, keep: int) -> str:
    """Every letter and digit hidden but the last ``keep``; the punctuation kept."""
    seen = sum(ch.isalnum() for ch in text)
    out = []
    for ch in text:
        if ch.isalnum():
            seen -= 1
            out.append(ch if seen < keep else "*")
        else:
            out.append(ch)
    return "".join(out)


def _mask_ip(text: str) -> str:
    if "." in text and ":" not in text:
        return text.split(".")[0] + ".*.*.*"
    return text.split(":")[0] + ":*:*" if ":" in text else "***"


_MASKERS = {
    "email": _mask_email,
    "phone": lambda text: _keep_last(text, 2) if len(text) >= 7 else "***",
    "payment_card": _mask_card,
    "iban": _mask_iban,
    "ip_address": _mask_ip,
    "national_id": lambda text: _keep_last(text, 2) if len(text) >= 6 else "***",
}
