"""Weighted routing: which version answers a request.

Each route owns a slice of ``[0, 100)`` as wide as its weight, in the order the routes are
given. A request with a sticky key lands on the point its key hashes to, so the same key
always reaches the same version, and moving weight between two neighbouring routes only
moves the keys in the slice that changed hands (10% -> 20% moves the keys of the new 10%,
nobody else). A request without a key lands on a random point.
"""

from __future__ import annotations

import bisect
import hashlib
import random
from collections.abc import Sequence

from keel.errors import InvalidInput

__all__ = ["Router", "key_point"]

_SCALE = 100.0 / 2**64


def key_point(key: str) -> float:
    """Where ``key`` falls in ``[0, 100)``: the same for every process and run."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") * _SCALE


class Router:
    """Chooses one of ``routes`` (``(ref, weight)``, weights summing to 100) per request.

    Args:
        routes: the answering versions and their weights in percent, in a stable order.
        seed: seed of the random choice for requests without a key (tests).

    Example::

        >>> router = Router([("credit@champion", 90), ("credit@challenger", 10)], seed=0)
        >>> router.choose("customer-42") == router.choose("customer-42")
        True
    """

    def __init__(self, routes: Sequence[tuple[str, float]], *, seed: int | None = None) -> None:
        live = [(ref, float(weight)) for ref, weight in routes if weight > 0]
        if not live:
            raise InvalidInput(
                "A deployment needs at least one route with a weight above 0; "
                f"got {list(routes)!r}."
            )
        total = sum(weight for _, weight in live)
        self.refs = tuple(ref for ref, _ in live)
        bounds, edge = [], 0.0
        for _, weight in live:
            edge += weight * 100.0 / total
            bounds.append(edge)
        bounds[-1] = 100.0  # rounding must never leave a point past the last route
        self._bounds = bounds
        self._single = self.refs[0] if len(self.refs) == 1 else None
        self._random = random.Random(seed).random

    def choose(self, key: str | None = None) -> str:
        """The ref that answers: by ``key``'s hash when given, at random otherwise."""
        if self._single is not None:
            return self._single
        point = key_point(key) if key is not None else self._random() * 100.0
        return self.refs[min(bisect.bisect_right(self._bounds, point), len(self.refs) - 1)]

    def __repr__(self) -> str:
        widths = [b - a for a, b in zip([0.0, *self._bounds], self._bounds, strict=False)]
        return f"Router({list(zip(self.refs, widths, strict=True))!r})"
