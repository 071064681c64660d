"""What every energy meter shares: the result type, the error, counter deltas and the measuring windows.

Counter meters share ``measure_windows``: run the kernel back to back for a window of at least
``window_s`` seconds, synchronized at both edges, read the energy counter at each edge, and divide
by the number of calls. Several windows (trials) give a mean and a coefficient of variation.
Units: J, W, s.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from roofline.errors import RooflineError

MAX_ZERO_WINDOWS = 3  # a counter that reads 0 this many times in a row is not updating: give up


class MeterError(RooflineError):
    """An energy meter that cannot be used (missing library, unsupported counter, no permission)."""


@dataclass(frozen=True)
class EnergyResult:
    """Energy of one call, averaged over ``trials`` windows. Units: J, W, s, MHz, degC."""

    energy_j: float
    energy_dynamic_j: float
    energy_cv: float
    power_w: float
    idle_power_w: float
    method: str  # nvml-counter | rapl | modeled
    trials: int = 0
    window_s: float = 0.0
    calls: int = 0
    sm_clock_mhz_before: float = math.nan
    sm_clock_mhz_after: float = math.nan
    temp_c_before: float = math.nan
    temp_c_after: float = math.nan
    throttle_reasons: str = ""
    rejected_windows: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)


def nan_result(method: str, idle_w: float = math.nan, note: str = "") -> EnergyResult:
    return EnergyResult(math.nan, math.nan, math.nan, math.nan, idle_w, method, notes=(note,) if note else ())


def counter_delta(e0: float, e1: float, wrap: float | None) -> float:
    """e1 - e0 for a monotone counter that restarts from 0 after ``wrap`` (None: never wraps)."""
    d = e1 - e0
    if d < 0:
        if not wrap:
            raise MeterError(f"energy counter went backwards ({e0} -> {e1}) and has no known wrap")
        d += wrap
    return d


def measure_windows(fn: Callable[[], Any], sync: Callable[[], None], read: Callable[[], float],
                    call_s: float, window_s: float = 1.0, trials: int = 3, wrap: float | None = None,
                    unit_j: float = 1.0, clock: Callable[[], float] = time.perf_counter
                    ) -> tuple[list[float], list[float], int, int]:
    """Per-call energy (J) and mean power (W) of each accepted window; also calls per window, rejected.

    ``read`` returns the raw counter (integers stay exact: NVML mJ, RAPL uJ), ``unit_j`` converts a
    raw delta to J, ``wrap`` is the raw value after which the counter restarts from 0.

    Each window runs at least ``window_s`` of back-to-back calls between two synchronized counter reads.
    A window whose counter did not move is rejected (the counter updates only every ~100 ms) and the
    next window is twice as long.
    """
    if window_s <= 0 or trials < 1:
        raise MeterError(f"bad energy window ({window_s} s x {trials} trials)")
    batch = max(1, min(1000, int(0.05 / max(call_s, 1e-9))))  # check the clock every ~50 ms of work
    per_call, power, rejected, zeros, calls = [], [], 0, 0, 0
    w = window_s
    while len(per_call) < trials:
        sync()
        e0, t0 = read(), clock()
        n = 0
        while clock() - t0 < w:
            for _ in range(batch):
                fn()
            n += batch
            sync()  # bounds the queue so the clock sees real progress
        sync()
        t1, e1 = clock(), read()
        d = counter_delta(e0, e1, wrap) * unit_j
        if d <= 0:
            rejected += 1
            zeros += 1
            if zeros >= MAX_ZERO_WINDOWS:
                raise MeterError(f"energy counter read 0 over {zeros} windows up to {w:.2g} s; not updating")
            w *= 2
            continue
        zeros = 0
        per_call.append(d / n)
        power.append(d / (t1 - t0))
        calls = n
    return per_call, power, calls, rejected


def summarize_windows(per_call: list[float], power: list[float], call_s: float, idle_w: float, method: str,
                      **extra: Any) -> EnergyResult:
    e = statistics.fmean(per_call)
    cv = statistics.pstdev(per_call) / e if len(per_call) > 1 and e > 0 else math.nan
    dyn = e - idle_w * call_s if math.isfinite(idle_w) else math.nan
    return EnergyResult(energy_j=e, energy_dynamic_j=dyn, energy_cv=cv, power_w=statistics.fmean(power),
                        idle_power_w=idle_w, method=method, trials=len(per_call), **extra)
