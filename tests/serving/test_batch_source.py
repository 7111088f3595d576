"""A corrupt input part stops batch scoring, though its hash is checked beside the reading."""

from __future__ import annotations

import os

import pytest

from keel.errors import IntegrityError, NotFound
from keel.serving.batch import predict_dataset

from .conftest import Scored


@pytest.mark.parametrize("where", [0.5, 0.999], ids=["middle", "footer-side"])
def test_a_corrupt_input_part_is_named_and_nothing_is_recorded(
    scored: Scored, where: float
) -> None:
    client = scored.client
    (part,) = client.datasets.manifest(client.datasets.resolve("applications")).entries
    path = client.objects.path(part.digest)
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[int(len(data) * where)] ^= 0xFF  # one bit pattern flipped: same size, other bytes
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=f"Input part {part.digest} .* is corrupt"):
        predict_dataset("credit", "applications", batch_rows=4_000, client=client)
    with pytest.raises(NotFound):
        client.datasets.resolve("credit-predictions")


def test_an_intact_input_scores_every_row(scored: Scored) -> None:
    out = predict_dataset("credit", "applications", batch_rows=7_000, client=scored.client)
    assert out.row_count == len(scored.frame)
