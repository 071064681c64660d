"""NVML energy meter: total-energy counter deltas (mJ) over >= 1 s windows of back-to-back calls.

``nvmlDeviceGetPowerUsage`` on Hopper is a 1 s average and is not used for energy. The counter
updates about every 100 ms, so short windows read 0 and are rejected. NVML errors are translated into
MeterError here, at the boundary. ``nvml`` can be injected (a mock or a replayed recording).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import pynvml

from roofline.measure.meters.base import (
    EnergyResult,
    MeterError,
    counter_delta,
    measure_windows,
    summarize_windows,
)

ENERGY_WRAP_MJ = 2**64  # the counter is an unsigned 64-bit count of mJ
# NVML clocks-event (throttle) reason bits -> names
THROTTLE_BITS = {0x1: "gpu_idle", 0x2: "applications_clocks", 0x4: "sw_power_cap", 0x8: "hw_slowdown",
                 0x10: "sync_boost", 0x20: "sw_thermal", 0x40: "hw_thermal", 0x80: "hw_power_brake",
                 0x100: "display_clocks"}


def decode_throttle(mask: int) -> list[str]:
    return [name for bit, name in THROTTLE_BITS.items() if mask & bit]


class NvmlMeter:
    method = "nvml-counter"

    def __init__(self, index: int = 0, window_s: float = 1.0, trials: int = 3, nvml: Any = None,
                 clock: Callable[[], float] = time.perf_counter, sleep: Callable[[float], None] = time.sleep):
        nvml = pynvml if nvml is None else nvml
        self.nv, self.window_s, self.trials, self.clock, self.sleep = nvml, window_s, trials, clock, sleep
        self.idle_w = math.nan
        self.idle_state = ""
        try:
            self.nv.nvmlInit()
            self.handle = self.nv.nvmlDeviceGetHandleByIndex(index)
        except Exception as e:
            raise self._translate(e, "cannot open the GPU") from None
        self.read_mj()  # fails now, not mid-suite, when the counter is unsupported

    def _translate(self, e: Exception, what: str) -> MeterError:
        not_supported = getattr(self.nv, "NVMLError_NotSupported", ())
        if not_supported and isinstance(e, not_supported):
            return MeterError(f"NVML: {what}: not supported on this GPU")
        return MeterError(f"NVML: {what}: {e}")

    def read_mj(self) -> int:
        """Total energy since driver load, mJ (an integer: deltas stay exact near the wrap)."""
        try:
            return int(self.nv.nvmlDeviceGetTotalEnergyConsumption(self.handle))
        except Exception as e:
            raise self._translate(e, "total energy counter") from None

    def driver_version(self) -> str:
        try:
            v = self.nv.nvmlSystemGetDriverVersion()
        except Exception:
            return ""
        return v.decode() if isinstance(v, bytes) else str(v)

    def state(self) -> dict[str, Any]:
        """SM clock (MHz), temperature (degC) and clocks-event reasons now; NaN/'' where unsupported."""
        out: dict[str, Any] = {"sm_clock_mhz": math.nan, "temp_c": math.nan, "throttle": []}
        try:
            out["sm_clock_mhz"] = float(self.nv.nvmlDeviceGetClockInfo(self.handle, self.nv.NVML_CLOCK_SM))
        except Exception:
            pass
        try:
            out["temp_c"] = float(self.nv.nvmlDeviceGetTemperature(self.handle, self.nv.NVML_TEMPERATURE_GPU))
        except Exception:
            pass
        get = getattr(self.nv, "nvmlDeviceGetCurrentClocksEventReasons", None) or \
            getattr(self.nv, "nvmlDeviceGetCurrentClocksThrottleReasons", None)
        try:
            out["throttle"] = decode_throttle(int(get(self.handle))) if get else []
        except Exception:
            pass
        return out

    def idle_power_w(self, seconds: float = 2.0, state: str = "before the suite") -> float:
        """Mean power with nothing running, from the counter over ``seconds`` (rejected if it reads 0)."""
        for _ in range(3):
            e0, t0 = self.read_mj(), self.clock()
            self.sleep(seconds)
            t1, e1 = self.clock(), self.read_mj()
            d = counter_delta(e0, e1, ENERGY_WRAP_MJ) / 1e3
            if d > 0 and t1 > t0:
                self.idle_w, self.idle_state = d / (t1 - t0), state
                return self.idle_w
            seconds *= 2
        raise MeterError("NVML: the energy counter did not move while idle")

    def measure(self, fn: Callable[[], Any], sync: Callable[[], None], call_s: float, flops: float = 0.0,
                bytes_moved: float = 0.0, dtype: str = "") -> EnergyResult:
        before = self.state()
        per_call, power, calls, rejected = measure_windows(fn, sync, self.read_mj, call_s, self.window_s,
                                                           self.trials, ENERGY_WRAP_MJ, 1e-3, self.clock)
        after = self.state()
        reasons = sorted({r for r in before["throttle"] + after["throttle"] if r != "gpu_idle"})
        return summarize_windows(per_call, power, call_s, self.idle_w, self.method, window_s=self.window_s,
                                 calls=calls, rejected_windows=rejected,
                                 sm_clock_mhz_before=before["sm_clock_mhz"], sm_clock_mhz_after=after["sm_clock_mhz"],
                                 temp_c_before=before["temp_c"], temp_c_after=after["temp_c"],
                                 throttle_reasons=",".join(reasons))

    def close(self) -> None:
        try:
            self.nv.nvmlShutdown()
        except Exception:
            pass
