"""RAPL energy meter: CPU package energy counters under /sys/class/powercap (usually root-only).

Each top-level ``intel-rapl:N`` zone is one package; its ``energy_uj`` wraps at
``max_energy_range_uj``. Windows as for NVML (roofline.measure.meters.base.measure_windows).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from roofline.measure.meters.base import (
    EnergyResult,
    MeterError,
    counter_delta,
    measure_windows,
    summarize_windows,
)

POWERCAP = Path("/sys/class/powercap")


class RaplMeter:
    method = "rapl"

    def __init__(self, window_s: float = 1.0, trials: int = 3, root: Path = POWERCAP,
                 clock: Callable[[], float] = time.perf_counter, sleep: Callable[[float], None] = time.sleep):
        self.window_s, self.trials, self.clock, self.sleep = window_s, trials, clock, sleep
        zones = sorted(p for p in Path(root).glob("intel-rapl:*") if p.name.count(":") == 1)
        if not zones:
            raise MeterError(f"RAPL: no package zones under {root}")
        self.zones = zones
        try:
            self.wraps = [int((z / "max_energy_range_uj").read_text()) for z in zones]
            self._read_each()
        except (OSError, ValueError) as e:
            raise MeterError(f"RAPL: cannot read {zones[0]}/energy_uj ({getattr(e, 'strerror', None) or e})") from None
        self.idle_w = math.nan
        self.idle_state = ""
        self._last: list[float] | None = None
        self._acc = 0

    def _read_each(self) -> list[int]:
        return [int((z / "energy_uj").read_text()) for z in self.zones]

    def read_uj(self) -> int:
        """Sum over packages, accumulated across wraps of each package counter. Units: uJ."""
        now = self._read_each()
        if self._last is not None:
            for prev, cur, wrap in zip(self._last, now, self.wraps, strict=True):
                self._acc += counter_delta(prev, cur, wrap + 1)
        self._last = now
        return self._acc

    def state(self) -> dict[str, Any]:
        return {"sm_clock_mhz": math.nan, "temp_c": math.nan, "throttle": []}

    def idle_power_w(self, seconds: float = 2.0, state: str = "before the suite") -> float:
        e0, t0 = self.read_uj(), self.clock()
        self.sleep(seconds)
        d, dt = (self.read_uj() - e0) * 1e-6, self.clock() - t0
        if d <= 0:
            raise MeterError("RAPL: the energy counter did not move while idle")
        self.idle_w, self.idle_state = d / dt, state
        return self.idle_w

    def measure(self, fn: Callable[[], Any], sync: Callable[[], None], call_s: float, flops: float = 0.0,
                bytes_moved: float = 0.0, dtype: str = "") -> EnergyResult:
        per_call, power, calls, rejected = measure_windows(fn, sync, self.read_uj, call_s, self.window_s,
                                                           self.trials, None, 1e-6, self.clock)
        return summarize_windows(per_call, power, call_s, self.idle_w, self.method, window_s=self.window_s,
                                 calls=calls, rejected_windows=rejected)

    def close(self) -> None:
        pass
