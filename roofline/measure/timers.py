"""Timers: warm up, synchronize, take many repetitions, report median / p20 / p80 (seconds).

GPU: CUDA events around each call, with the L2 flushed before every call (a buffer larger than the
L2 is overwritten outside the timed region) so repeated calls do not measure the cache. Kernels too
short for one launch to be measured cleanly are replayed from a CUDA graph holding many calls.
CPU: ``time.perf_counter`` around each call. Outputs are checked against the reference first: a
kernel that is wrong, or whose reference is all zeros, is never timed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from kernels.registry import max_rel_error
from roofline.errors import RooflineError

L2_FLUSH_BYTES = 256 * 2**20  # > any current GPU L2 (H100: 50 MB), so every call starts cold
GRAPH_BELOW_S = 20e-6  # below this, launch gaps dominate: replay a CUDA graph of GRAPH_CALLS calls
GRAPH_CALLS = 50


class KernelWrongError(RooflineError):
    """The kernel's output does not match its reference: it is not timed."""


class GraphCaptureError(RooflineError):
    """A call that cannot be captured in a CUDA graph (host syncs, allocations) was asked to be replayed."""


CUDA_METHODS = ("auto", "events", "graph")  # auto: graph replay below GRAPH_BELOW_S, else events


@dataclass(frozen=True)
class Timing:
    """Latency of one call. Units: s."""

    median_s: float
    p20_s: float
    p80_s: float
    reps: int
    method: str  # cuda-events | cuda-graph | perf_counter


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
             max_reps: int = 10_000, clock: Callable[[], float] = time.perf_counter) -> Timing:
    """perf_counter around each call after ``warmup`` calls; as many calls as fit in ``target_s``."""
    t0 = clock()
    for _ in range(warmup):
        fn()
    est = (clock() - t0) / max(warmup, 1)
    times = []
    for _ in range(_reps_for(est, target_s, min_reps, max_reps)):
        s = clock()
        fn()
        times.append(clock() - s)
    return summarize(times, "perf_counter")


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
