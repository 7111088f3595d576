"""The system metrics sampler, run for real on this machine's counters."""

from __future__ import annotations

import logging
import math
import sys
import threading
import time
import types
from collections.abc import Callable
from typing import Any

import psutil
import pytest

from keel.errors import InvalidInput, KeelError
from keel.tracking._system import SystemMetricsSampler

MB = 1024 * 1024
BASE_KEYS = {
    "system/cpu_percent",
    "system/memory_used_mb",
    "system/memory_percent",
    "system/process_rss_mb",
}
DISK_KEYS = {"system/disk_read_mb", "system/disk_write_mb"}
NET_KEYS = {"system/net_sent_mb", "system/net_recv_mb"}

Sample = tuple[dict[str, float], int]


def expected_keys() -> set[str]:
    """Every key this machine can report: disk and network need the OS's counters."""
    keys = set(BASE_KEYS)
    if psutil.disk_io_counters() is not None:
        keys |= DISK_KEYS
    if psutil.net_io_counters() is not None:
        keys |= NET_KEYS
    return keys


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll until ``condition`` holds; the generous timeout only guards against hanging."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


@pytest.fixture
def samples() -> list[Sample]:
    return []


@pytest.fixture
def capture_logs(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> pytest.LogCaptureFixture:
    # Another test may have configured the 'keel' logger not to propagate to caplog's root.
    monkeypatch.setattr(logging.getLogger("keel"), "propagate", True)
    caplog.set_level(logging.DEBUG, logger="keel.tracking")
    return caplog


def test_samples_arrive_in_steps_with_every_key(samples: list[Sample]) -> None:
    sampler = SystemMetricsSampler(lambda m, step: samples.append((m, step)), interval=0.05)
    sampler.start()
    try:
        wait_for(lambda: len(samples) >= 2)
    finally:
        sampler.stop()

    assert len(samples) >= 2
    assert [step for _, step in samples] == list(range(len(samples)))
    for metrics, _ in samples:
        assert set(metrics) == expected_keys()
        for key, value in metrics.items():
            assert isinstance(value, float), key
            assert math.isfinite(value), key
            assert value >= 0, key
        assert metrics["system/cpu_percent"] <= 100
        assert metrics["system/memory_percent"] <= 100
        assert metrics["system/process_rss_mb"] > 0


def test_disk_and_network_are_totals_since_start(samples: list[Sample]) -> None:
    sampler = SystemMetricsSampler(lambda m, step: samples.append((m, step)), interval=0.02)
    sampler.start()
    try:
        wait_for(lambda: len(samples) >= 3)
    finally:
        sampler.stop()
    for key in expected_keys() & (DISK_KEYS | NET_KEYS):
        values = [metrics[key] for metrics, _ in samples]
        assert values == sorted(values), key  # cumulative counters never go down


def test_stop_is_prompt_idempotent_and_takes_a_final_sample(samples: list[Sample]) -> None:
    sampler = SystemMetricsSampler(lambda m, step: samples.append((m, step)), interval=60)
    sampler.stop()  # before start: nothing to do
    sampler.start()
    sampler.start()  # already running: nothing to do
    sampler.stop()
    assert not sampler._thread.is_alive()
    sampler.stop()
    assert [step for _, step in samples] == [0]
    assert set(samples[0][0]) == expected_keys()


def test_a_stopped_sampler_cannot_be_restarted(samples: list[Sample]) -> None:
    sampler = SystemMetricsSampler(lambda m, step: samples.append((m, step)), interval=60)
    sampler.start()
    sampler.stop()
    with pytest.raises(KeelError, match=r"was stopped and cannot be restarted\. Create a new"):
        sampler.start()


def test_a_failing_log_call_is_reported_and_sampling_goes_on(
    samples: list[Sample], capture_logs: pytest.LogCaptureFixture
) -> None:
    def log(metrics: dict[str, float], step: int) -> None:
        if step == 0:
            raise ConnectionError("tracking server is down")
        samples.append((metrics, step))

    sampler = SystemMetricsSampler(log, interval=0.02)
    sampler.start()
    try:
        wait_for(lambda: len(samples) >= 3)
    finally:
        sampler.stop()

    assert [step for _, step in samples] == list(range(1, len(samples) + 1))
    warnings = [r for r in capture_logs.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "sample 0 was not logged" in warnings[0].getMessage()
    assert "tracking server is down" in capture_logs.text


def test_a_run_of_failures_warns_once(capture_logs: pytest.LogCaptureFixture) -> None:
    attempts: list[int] = []

    def log(metrics: dict[str, float], step: int) -> None:
        attempts.append(step)
        raise RuntimeError("still down")

    sampler = SystemMetricsSampler(log, interval=0.02)
    sampler.start()
    try:
        wait_for(lambda: len(attempts) >= 3)
    finally:
        sampler.stop()

    levels = [r.levelno for r in capture_logs.records if r.name == "keel.tracking"]
    assert levels.count(logging.WARNING) == 1
    assert levels.count(logging.DEBUG) == len(attempts) - 1


def test_no_gpu_keys_without_pynvml(samples: list[Sample], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` fail
    sampler = SystemMetricsSampler(lambda m, step: samples.append((m, step)), interval=60)
    sampler.start()
    sampler.stop()
    assert set(samples[0][0]) == expected_keys()


def fake_pynvml(gpus: int, init_fails: bool = False) -> types.ModuleType:
    """A stand-in for NVIDIA's library: this machine has no GPU to test against."""
    nvml = types.ModuleType("pynvml")
    nvml.calls = []

    class NVMLError(Exception):
        pass

    def init() -> None:
        nvml.calls.append("init")
        if init_fails:
            raise NVMLError("NVML Shared Library Not Found")

    nvml.NVMLError = NVMLError
    nvml.nvmlInit = init
    nvml.nvmlShutdown = lambda: nvml.calls.append("shutdown")
    nvml.nvmlDeviceGetCount = lambda: gpus
    nvml.nvmlDeviceGetHandleByIndex = lambda i: f"handle{i}"
    nvml.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(
        gpu=37 if h == "handle0" else 90
    )
    nvml.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(used=2 * MB, total=8 * MB)
    return nvml


def run_once(monkeypatch: pytest.MonkeyPatch, nvml: Any) -> dict[str, float]:
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    samples: list[Sample] = []
    sampler = SystemMetricsSampler(lambda m, step: samples.append((m, step)), interval=60)
    sampler.start()
    sampler.stop()
    return samples[0][0]


def test_gpu_metrics_are_reported_per_device(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = fake_pynvml(gpus=2)
    metrics = run_once(monkeypatch, nvml)
    assert metrics["system/gpu0/utilization_percent"] == 37.0
    assert metrics["system/gpu1/utilization_percent"] == 90.0
    assert metrics["system/gpu1/memory_used_mb"] == 2.0
    assert metrics["system/gpu1/memory_percent"] == 25.0
    assert set(metrics) - expected_keys() == {
        f"system/gpu{i}/{name}"
        for i in range(2)
        for name in ("utilization_percent", "memory_used_mb", "memory_percent")
    }
    assert nvml.calls == ["init", "shutdown"]


@pytest.mark.parametrize(
    "nvml", [fake_pynvml(gpus=0), fake_pynvml(gpus=1, init_fails=True)], ids=["none", "no-driver"]
)
def test_no_gpu_keys_when_nvml_finds_no_gpu(
    monkeypatch: pytest.MonkeyPatch, nvml: types.ModuleType
) -> None:
    assert set(run_once(monkeypatch, nvml)) == expected_keys()


def test_the_sampler_thread_is_a_daemon(samples: list[Sample]) -> None:
    sampler = SystemMetricsSampler(lambda m, step: samples.append((m, step)), interval=60)
    sampler.start()
    try:
        assert sampler._thread.daemon
        assert sampler._thread in threading.enumerate()
    finally:
        sampler.stop()


@pytest.mark.parametrize("interval", [0, -1, float("nan"), float("inf"), "5", True])
def test_a_bad_interval_says_what_was_expected(interval: Any) -> None:
    with pytest.raises(
        InvalidInput,
        match=r"'interval' argument of SystemMetricsSampler must be a number of seconds "
        r"greater than 0\. Got .* instead\. Pass e\.g\. interval=5\.0\.",
    ):
        SystemMetricsSampler(lambda m, step: None, interval=interval)


def test_repr_reads_like_the_constructor() -> None:
    def log(metrics: dict[str, float], step: int) -> None:
        pass

    assert (
        repr(SystemMetricsSampler(log, interval=2))
        == f"SystemMetricsSampler(log={log!r}, interval=2.0)"
    )
