"""Modeled energy: no meter could be read, so energy comes from the device's energy coefficients
(roofline.engine.energy) applied to the measured time and the declared cost. Labelled ``modeled``."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from roofline.engine.energy import coefficients_for
from roofline.engine.model import compute_dtype_for
from roofline.errors import UnsupportedDtypeError
from roofline.measure.meters.base import EnergyResult, nan_result
from roofline.ops import hwdb_dtype


class ModeledMeter:
    method = "modeled"

    def __init__(self, device=None):
        self.device = device
        self.idle_state = "modeled"
        self.coef = None
        if device is not None:

            self.coef = coefficients_for(device)
        self.idle_w = self.coef.idle_w if self.coef else math.nan

    def idle_power_w(self, seconds: float = 0.0, state: str = "") -> float:
        return self.idle_w

    def state(self) -> dict[str, Any]:
        return {"sm_clock_mhz": math.nan, "temp_c": math.nan, "throttle": []}

    def measure(self, fn: Callable[[], Any], sync: Callable[[], None], call_s: float, flops: float = 0.0,
                bytes_moved: float = 0.0, dtype: str = "") -> EnergyResult:

        if self.coef is None:
            return nan_result(self.method, note="no hwdb device: energy not modeled (pass --device ID)")
        try:
            dt = compute_dtype_for(self.device, hwdb_dtype(dtype) or "fp32")
        except UnsupportedDtypeError:
            return nan_result(self.method, self.idle_w, f"{self.device.id} has no {dtype} ceiling")
        e = self.coef.energy_j(call_s, flops, bytes_moved, dt)
        return EnergyResult(energy_j=e, energy_dynamic_j=e - self.idle_w * call_s, energy_cv=math.nan,
                            power_w=e / call_s if call_s > 0 else math.nan, idle_power_w=self.idle_w,
                            method=self.method, notes=(f"modeled from {self.coef.kind} coefficients ({self.coef.source})",))

    def close(self) -> None:
        pass
