"""Timers: warm up, synchronize, take many repetitions, report median / p20 / p80 (seconds).

GPU: CUDA events around each call, with the L2 flushed before every call (a buffer larger than the
L2 is overwritten outside the timed region) so repeated calls do not measure the cache. Kernels too
short for one launch to be measured cleanly are replayed from a CUDA graph holding many calls.
CPU: ``time.perf_counter`` around each call, in rounds repeated until two rounds agree (a busy host
can swing a call by orders of magnitude between runs); a spread p80/p20 above SPREAD_WARN and a busy host
(load average against cores) are said, not hidden. Outputs are checked against the reference first: a
kernel that is wrong, or whose reference is all zeros, is never timed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from kernels.registry import max_rel_error
from roofline.errors import RooflineError
from roofline.fmt import si

L2_FLUSH_BYTES = 256 * 2**20  # > any current GPU L2 (H100: 50 MB), so every call starts cold
GRAPH_BELOW_S = 20e-6  # below this, launch gaps dominate: replay a CUDA graph of GRAPH_CALLS calls
GRAPH_CALLS = 50


class KernelWrongError(RooflineError):
    """The kernel's output does not match its reference: it is not timed."""


class GraphCaptureError(RooflineError):
    """A call that cannot be captured in a CUDA graph (host syncs, allocations) was asked to be replayed."""


CUDA_METHODS = ("auto", "events", "graph")  # auto: graph replay below GRAPH_BELOW_S, else events
# CPU timing: rounds of samples until two consecutive medians agree within STABLE_REL and the last round's
# p80/p20 is at most SPREAD_WARN, or MAX_ROUNDS rounds (each ~ target_s / 2: two calm rounds cost one target).
STABLE_REL = 0.10
MAX_ROUNDS = 8
SPREAD_WARN = 2.0  # p80 / p20 above this: the median is rough, and the profiler says so
BUSY_LOAD_PER_CORE = 0.75  # 1-minute load average per core above this before a CPU run: the host is busy


@dataclass(frozen=True)
class Timing:
    """Latency of one call. Units: s."""

    median_s: float
    p20_s: float
    p80_s: float
    reps: int
    method: str  # cuda-events | cuda-graph | perf_counter
    rounds: int = 1  # CPU: rounds of samples taken
    stable: bool = True  # CPU: False when MAX_ROUNDS passed before two rounds agreed

    @property
    def spread(self) -> float:
        """p80 / p20 (1.0 = every sample alike)."""
        return self.p80_s / self.p20_s if self.p20_s > 0 else float("inf")


def summarize(times_s: list[float] | np.ndarray, method: str) -> Timing:
    t = np.asarray(times_s, dtype=float)
    if t.size == 0 or not np.all(np.isfinite(t)) or np.any(t <= 0):
        raise RooflineError(f"timer produced no valid samples ({method})")
    p20, med, p80 = np.percentile(t, [20, 50, 80])
    return Timing(float(med), float(p20), float(p80), int(t.size), method)


def _first(x: Any) -> Any:
    return x[0] if isinstance(x, (tuple, list)) else x


def check_output(name: str, out: Any, ref: Any, rtol: float) -> float:
    """max relative error of ``out`` vs ``ref``; raises KernelWrongError above ``rtol`` or on a zero
    reference (timing on zeros measures nothing)."""

    r = _first(ref)
    if hasattr(r, "abs") and float(r.abs().max()) == 0.0:
        raise KernelWrongError(f"{name}: the reference output is all zeros; refusing to time on zeros")
    o = _first(out)
    if hasattr(o, "shape") and hasattr(r, "shape") and tuple(o.shape) != tuple(r.shape):
        raise KernelWrongError(f"{name}: output shape {tuple(o.shape)} != reference {tuple(r.shape)}")
    err = max_rel_error(out, ref)
    if not err <= rtol:  # NaN fails too
        raise KernelWrongError(f"{name}: max relative error {err:.3g} > tolerance {rtol:.3g}; not timed")
    return err


def _reps_for(call_s: float, target_s: float, min_reps: int, max_reps: int) -> int:
    return int(min(max(target_s / max(call_s, 1e-9), min_reps), max_reps))


def time_cpu(fn: Callable[[], Any], target_s: float = 0.2, warmup: int = 3, min_reps: int = 10,
             max_reps: int = 10_000, clock: Callable[[], float] = time.perf_counter, max_rounds: int = MAX_ROUNDS,
             stable_rel: float = STABLE_REL) -> Timing:
    """perf_counter around each call after ``warmup`` calls, in rounds of as many calls as fit in
    ``target_s / 2``, until two consecutive rounds' medians agree within ``stable_rel`` and the last round's
    p80/p20 is at most SPREAD_WARN; the result summarizes those two rounds. After ``max_rounds`` without
    agreement it summarizes every sample, with ``stable=False``."""
    t0 = clock()
    for _ in range(warmup):
        fn()
    est = (clock() - t0) / max(warmup, 1)
    rounds: list[list[float]] = []
    for _ in range(max(2, max_rounds)):
        times = []
        for _ in range(_reps_for(est, target_s / 2, min_reps, max_reps)):
            s = clock()
            fn()
            times.append(clock() - s)
        rounds.append(times)
        est = float(np.median(times))  # the next round is sized from this one, not from the warm-up
        if len(rounds) >= 2:
            a, b = float(np.median(rounds[-2])), est
            p20, p80 = np.percentile(times, [20, 80])
            if abs(a - b) <= stable_rel * max(a, b) and p80 <= SPREAD_WARN * p20:
                t = summarize(rounds[-2] + rounds[-1], "perf_counter")
                return Timing(t.median_s, t.p20_s, t.p80_s, t.reps, t.method, rounds=len(rounds), stable=True)
    t = summarize([x for r in rounds for x in r], "perf_counter")
    return Timing(t.median_s, t.p20_s, t.p80_s, t.reps, t.method, rounds=len(rounds), stable=False)


def spread_warning(label: str, timing: Timing) -> str | None:
    """A one-line warning when a timing's p80/p20 exceeds SPREAD_WARN (None otherwise)."""
    if timing.spread <= SPREAD_WARN:
        return None
    how = "" if timing.stable else f", not stable after {timing.rounds} rounds"
    return (f"{label}: noisy timing (p80/p20 = {timing.spread:.2f} > {SPREAD_WARN:g}{how}); the median "
            f"{si(timing.median_s, 's')} is rough: rerun on an idle host")


def host_load() -> tuple[float, int] | None:
    """(1-minute load average, CPU cores) of this host; None where the OS does not say."""
    try:
        load1 = os.getloadavg()[0]
    except (OSError, AttributeError):
        return None
    return float(load1), int(os.cpu_count() or 1)


def busy_warning(threshold: float = BUSY_LOAD_PER_CORE) -> str | None:
    """A one-line warning when the host is busy before a CPU run (load average per core above ``threshold``)."""
    hl = host_load()
    if hl is None:
        return None
    load1, cores = hl
    if load1 / cores <= threshold:
        return None
    return (f"host busy: load average {load1:.2f} on {cores} core{'s' if cores != 1 else ''}; CPU timings will "
            "be noisy (other work shares the cores): rerun on an idle host for numbers to compare")


def estimate_cuda_s(fn: Callable[[], Any], warmup: int = 5) -> float:
    """Seconds of one call after ``warmup`` calls: the mean of 3 back-to-back calls between two events."""
    import torch  # lazy: only GPU timing needs it; the CLI starts without torch

    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    s0, e0 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s0.record()
    for _ in range(3):
        fn()
    e0.record()
    torch.cuda.synchronize()
    return s0.elapsed_time(e0) / 3e3


def cuda_method_for(estimates_s: list[float]) -> str:
    """One method for every implementation of a point: graph replay when any of them is shorter than
    GRAPH_BELOW_S (launch gaps would dominate its events), else events -- never a mix, so a tiny kernel
    replayed warm is not compared with a peer timed cold."""
    return "graph" if any(e < GRAPH_BELOW_S for e in estimates_s) else "events"


def time_cuda(fn: Callable[[], Any], target_s: float = 0.5, warmup: int = 5, min_reps: int = 30,
              max_reps: int = 2000, flush_l2: bool = True, allow_graph: bool = True, method: str = "auto") -> Timing:
    """CUDA events around each call, L2 flushed before each; CUDA-graph replay for tiny kernels.

    ``method``: "events", "graph" (raises GraphCaptureError when the call cannot be captured), or "auto"
    (graph below GRAPH_BELOW_S when ``allow_graph``, falling back to events when capture fails). The
    chosen method is ``Timing.method`` (cuda-events | cuda-graph)."""
    import torch  # lazy: only GPU timing needs it; the CLI starts without torch

    if method not in CUDA_METHODS:
        raise ValueError(f"unknown CUDA timing method {method!r} ({', '.join(CUDA_METHODS)})")
    est = estimate_cuda_s(fn, warmup)
    flush = torch.empty(L2_FLUSH_BYTES // 4, dtype=torch.int32, device="cuda") if flush_l2 else None
    if method == "graph" or (method == "auto" and allow_graph and est < GRAPH_BELOW_S):
        try:
            return _time_graph(fn, target_s, min_reps, max_reps, flush)
        except RuntimeError as e:  # not capturable (host syncs, allocations)
            torch.cuda.synchronize()
            if method == "graph":
                raise GraphCaptureError(f"cannot replay in a CUDA graph: {str(e)[:160]}") from None
    n = _reps_for(est, target_s, min_reps, max_reps)
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(n)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(n)]
    for i in range(n):
        if flush is not None:
            flush.fill_(i)  # evicts the previous call's inputs and outputs from L2 (outside the events)
        starts[i].record()
        fn()
        ends[i].record()
    torch.cuda.synchronize()
    return summarize([s.elapsed_time(e) / 1e3 for s, e in zip(starts, ends, strict=True)], "cuda-events")


def _time_graph(fn: Callable[[], Any], target_s: float, min_reps: int, max_reps: int, flush) -> Timing:
    """Replay a graph of GRAPH_CALLS back-to-back calls; one sample = replay time / GRAPH_CALLS.

    Within a replay the inputs stay in L2 (as they do for a tiny kernel in a real decode step); the
    L2 is flushed between replays.
    """
    import torch  # lazy: only GPU timing needs it; the CLI starts without torch

    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):  # warm-up on a side stream, as capture requires
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for _ in range(GRAPH_CALLS):
            fn()
    g.replay()
    torch.cuda.synchronize()
    s0, e0 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s0.record()
    g.replay()
    e0.record()
    torch.cuda.synchronize()
    est = s0.elapsed_time(e0) / 1e3
    n = _reps_for(est, target_s, min_reps, max_reps)
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(n)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(n)]
    for i in range(n):
        if flush is not None:
            flush.fill_(i)
        starts[i].record()
        g.replay()
        ends[i].record()
    torch.cuda.synchronize()
    return summarize([s.elapsed_time(e) / 1e3 / GRAPH_CALLS for s, e in zip(starts, ends, strict=True)], "cuda-graph")


def sync_for(device: str) -> Callable[[], None]:
    """The barrier that makes all queued work on ``device`` finish (a no-op on the CPU)."""
    if device == "cuda":
        import torch  # lazy: only GPU timing needs it; the CLI starts without torch

        return torch.cuda.synchronize
    return lambda: None


def time_fn(fn: Callable[[], Any], device: str, target_s: float | None = None, method: str = "auto") -> Timing:
    if device == "cuda":
        return time_cuda(fn, target_s=target_s or 0.5, method=method)
    return time_cpu(fn, target_s=target_s or 0.2)


def time_point(fns: dict[str, Callable[[], Any]], device: str, target_s: float | None = None) -> dict[str, Timing]:
    """Every implementation of one point timed the same way (``Timing.method`` equal across them): on CUDA
    the method comes from ``cuda_method_for`` over their estimates, and when one cannot be captured in a
    graph all of them are timed with events; on the CPU perf_counter."""
    if device != "cuda":
        return {k: time_cpu(f, target_s=target_s or 0.2) for k, f in fns.items()}
    method = cuda_method_for([estimate_cuda_s(f) for f in fns.values()])
    try:
        return {k: time_cuda(f, target_s=target_s or 0.5, method=method) for k, f in fns.items()}
    except GraphCaptureError:
        return {k: time_cuda(f, target_s=target_s or 0.5, method="events") for k, f in fns.items()}
