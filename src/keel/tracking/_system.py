"""A background thread that samples CPU, memory, disk, network and GPU use for a run."""

from __future__ import annotations

import contextlib
import logging
import math
import numbers
import threading
from collections.abc import Callable
from typing import Any

import psutil

from keel.errors import InvalidInput, KeelError

__all__ = ["SystemMetricsSampler"]

_logger = logging.getLogger("keel.tracking")

_MB = 1024 * 1024  # the "mb" in metric names is the binary megabyte (MiB), as psutil and top use
_JOIN_TIMEOUT = 30.0  # stop() waits this long for a slow `log` call to return


class SystemMetricsSampler:
    """Call ``log(metrics, step)`` every ``interval`` seconds from a daemon thread.

    Keys, all floats: ``system/cpu_percent`` (system-wide), ``system/memory_used_mb``,
    ``system/memory_percent``, ``system/process_rss_mb`` (this process), and, as totals
    since :meth:`start`, ``system/disk_read_mb``, ``system/disk_write_mb``,
    ``system/net_sent_mb`` and ``system/net_recv_mb`` (left out where the OS reports no
    disk or network counters). With ``pynvml`` (package ``nvidia-ml-py``) and at least one
    NVIDIA GPU, also ``system/gpu{i}/utilization_percent``, ``system/gpu{i}/memory_used_mb``
    and ``system/gpu{i}/memory_percent``; without them, no GPU keys and no error.

    Steps count samples from 0. The first sample is taken one interval after
    :meth:`start` (CPU use is a rate and needs an interval to measure over), and
    :meth:`stop` takes a final one, so every sampler logs at least once. An exception
    raised by ``log`` is reported on the ``keel.tracking`` logger (a warning with the
    traceback for the first of a run of failures, debug messages after it) and sampling
    goes on.

    Args:
        log: Called with the metrics and the step, on the sampler's thread.
        interval: Seconds between samples, greater than 0.

    Example:
        >>> samples = []
        >>> sampler = SystemMetricsSampler(lambda m, step: samples.append(step), interval=60)
        >>> sampler.start()
        >>> sampler.stop()
        >>> samples
        [0]
    """

    def __init__(self, log: Callable[[dict[str, float], int], None], interval: float = 5.0) -> None:
        if (
            not isinstance(interval, numbers.Real)
            or isinstance(interval, bool)
            or not math.isfinite(interval)
            or interval <= 0
        ):
            raise InvalidInput(
                "The 'interval' argument of SystemMetricsSampler must be a number of seconds "
                f"greater than 0. Got {interval!r} instead. Pass e.g. interval=5.0."
            )
        self.log = log
        self.interval = float(interval)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"SystemMetricsSampler(log={self.log!r}, interval={self.interval!r})"

    def start(self) -> None:
        """Start sampling in a daemon thread; does nothing if already running.

        Raises:
            KeelError: If the sampler was stopped; samplers are not restarted, create a
                new one.
        """
        if self._thread is not None:
            if self._stopping.is_set():
                raise KeelError(
                    f"{self!r} was stopped and cannot be restarted. "
                    "Create a new SystemMetricsSampler to sample again."
                )
            return
        self._thread = threading.Thread(target=self._run, name="keel-system-metrics", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Take a final sample and wait for the thread to end; safe to call more than once."""
        thread = self._thread
        if thread is None:
            return
        self._stopping.set()
        if thread is threading.current_thread():
            return  # called from inside `log`: the loop ends once `log` returns
        thread.join(_JOIN_TIMEOUT)
        if thread.is_alive():
            _logger.warning(
                "%r: `log` has not returned after %.0f s; leaving the daemon thread behind.",
                self,
                _JOIN_TIMEOUT,
            )

    def _run(self) -> None:
        try:
            probe = _Probe()
        except Exception:
            _logger.warning("%r cannot read system counters; not sampling.", self, exc_info=True)
            return
        step = 0
        failing = False
        try:
            # Event.wait returns as soon as stop() sets it, so stop() never sleeps out the
            # interval; the loop's last pass (wait returned True) is the final sample.
            while True:
                stopping = self._stopping.wait(self.interval)
                try:
                    self.log(probe.sample(), step)
                    failing = False
                except Exception:
                    level = logging.DEBUG if failing else logging.WARNING
                    _logger.log(
                        level, "%r: sample %d was not logged.", self, step, exc_info=not failing
                    )
                    failing = True
                step += 1
                if stopping:
                    return
        finally:
            probe.close()


class _Probe:
    """Reads the counters; holds the baselines that cumulative metrics are measured from."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._cpu = psutil.cpu_times()
        self._disk = psutil.disk_io_counters()
        self._net = psutil.net_io_counters()
        self._nvml, self._gpus = _open_gpus()

    def sample(self) -> dict[str, float]:
        cpu = psutil.cpu_times()
        memory = psutil.virtual_memory()
        metrics = {
            "system/cpu_percent": _cpu_percent(self._cpu, cpu),
            "system/memory_used_mb": memory.used / _MB,
            "system/memory_percent": float(memory.percent),
            "system/process_rss_mb": self._process.memory_info().rss / _MB,
        }
        self._cpu = cpu
        if self._disk is not None and (disk := psutil.disk_io_counters()) is not None:
            metrics["system/disk_read_mb"] = _delta_mb(self._disk.read_bytes, disk.read_bytes)
            metrics["system/disk_write_mb"] = _delta_mb(self._disk.write_bytes, disk.write_bytes)
        if self._net is not None and (net := psutil.net_io_counters()) is not None:
            metrics["system/net_sent_mb"] = _delta_mb(self._net.bytes_sent, net.bytes_sent)
            metrics["system/net_recv_mb"] = _delta_mb(self._net.bytes_recv, net.bytes_recv)
        for i, handle in enumerate(self._gpus):
            metrics.update(self._gpu_metrics(i, handle))
        return metrics

    def _gpu_metrics(self, i: int, handle: Any) -> dict[str, float]:
        try:
            utilization = self._nvml.nvmlDeviceGetUtilizationRates(handle).gpu
            memory = self._nvml.nvmlDeviceGetMemoryInfo(handle)
        except self._nvml.NVMLError as exc:  # e.g. the GPU fell off the bus; skip it this time
            _logger.debug("GPU %d could not be read: %s", i, exc)
            return {}
        return {
            f"system/gpu{i}/utilization_percent": float(utilization),
            f"system/gpu{i}/memory_used_mb": memory.used / _MB,
            f"system/gpu{i}/memory_percent": 100.0 * memory.used / memory.total
            if memory.total
            else 0.0,
        }

    def close(self) -> None:
        if self._gpus:
            with contextlib.suppress(self._nvml.NVMLError):
                self._nvml.nvmlShutdown()


def _open_gpus() -> tuple[Any, list[Any]]:
    """Return the pynvml module and one handle per GPU, or no handles if there are none."""
    try:
        import pynvml
    except ImportError:
        return None, []
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:  # no driver, no library: a machine without NVIDIA GPUs
        _logger.debug("No GPU metrics: %s", exc)
        return None, []
    try:
        handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
    except pynvml.NVMLError as exc:
        _logger.debug("No GPU metrics: %s", exc)
        handles = []
    if not handles:
        pynvml.nvmlShutdown()
        return None, []
    return pynvml, handles


def _cpu_percent(before: Any, after: Any) -> float:
    """System-wide CPU use between two ``psutil.cpu_times()`` readings, as psutil computes it.

    Computed here rather than with ``psutil.cpu_percent()``, whose baseline is shared state
    that any other caller in the process would move.
    """

    def busy_and_total(t: Any) -> tuple[float, float]:
        # guest time is already counted in user time on Linux.
        total = sum(t) - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0)
        return total - t.idle - getattr(t, "iowait", 0.0), total

    busy0, total0 = busy_and_total(before)
    busy1, total1 = busy_and_total(after)
    if total1 <= total0:
        return 0.0
    return min(100.0, max(0.0, 100.0 * (busy1 - busy0) / (total1 - total0)))


def _delta_mb(before: int, after: int) -> float:
    return max(0, after - before) / _MB
