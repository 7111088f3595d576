"""Memory the server holds for object requests is bounded, whatever the clients do at once.

The server runs in this process (uvicorn on a thread), so ``tracemalloc`` sees what its
requests allocate; the bodies the clients send are built before the measure starts.
"""

from __future__ import annotations

import os
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import blake3
import httpx
import pytest

from keel.server.routes.objects import BATCHES_IN_FLIGHT
from keel.store.objects._http_batch import frame
from tests._served import Served, serve_local

API = "/api/v1/objects"
MiB = 1024 * 1024
CLIENTS = 40
BATCH = 3 * MiB
"""What keel's client sends per batch."""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serve_local(tmp_path / "server", ("writer", "reader")) as s:
        yield s


def _bodies(count: int) -> list[tuple[list[str], bytes]]:
    """``count`` batch bodies of about 3 MiB, each of 24 objects of 128 KiB."""
    bodies = []
    for _ in range(count):
        pairs = [
            (blake3.blake3(d).hexdigest(), d) for d in (os.urandom(BATCH // 24) for _ in range(24))
        ]
        bodies.append(([p[0] for p in pairs], frame(pairs)))
    return bodies


def test_many_batches_at_once_are_held_a_few_at_a_time(served: Served) -> None:
    bodies = _bodies(CLIENTS)
    headers = {**served.headers("writer"), "Content-Type": "application/octet-stream"}
    with httpx.Client(timeout=60, limits=httpx.Limits(max_connections=CLIENTS)) as http:
        http.get(f"{served.url}/api/v1/health")  # warm: imports and first allocations
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]

            def send(body: bytes) -> int:
                return http.post(
                    f"{served.url}{API}/batch", content=body, headers=headers
                ).status_code

            with ThreadPoolExecutor(CLIENTS) as pool:
                codes = list(pool.map(send, [b for _, b in bodies]))
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
    assert codes == [201] * CLIENTS
    # every body whole at once would be CLIENTS x 3 MiB (about 100 MiB measured); the
    # server holds BATCHES_IN_FLIGHT of them (about 32 MiB measured, with their copies)
    assert peak < (BATCHES_IN_FLIGHT + 8) * BATCH, f"peak {peak / MiB:.1f} MiB, {CLIENTS} batches"
