"""Energy meters: NVML total-energy counter (GPU), RAPL (CPU package), or the modeled energy; the
shared windows and result type are in ``meters.base``."""

from __future__ import annotations

from roofline.measure.meters.base import MeterError
from roofline.measure.meters.modeled import ModeledMeter
from roofline.measure.meters.nvml import NvmlMeter
from roofline.measure.meters.rapl import RaplMeter


def pick_meter(device_kind: str, device=None, prefer: str = "auto", window_s: float = 1.0, trials: int = 3):
    """The best available meter: NVML on a GPU, RAPL on a CPU when readable, else modeled.

    ``prefer`` = auto | nvml | rapl | modeled | none. Naming a meter that is unavailable raises MeterError.
    """

    if prefer == "none":
        return None
    if prefer in ("auto", "nvml") and device_kind == "gpu":

        try:
            return NvmlMeter(window_s=window_s, trials=trials)
        except MeterError:
            if prefer == "nvml":
                raise
    if prefer in ("auto", "rapl") and device_kind == "cpu":

        try:
            return RaplMeter(window_s=window_s, trials=trials)
        except MeterError:
            if prefer == "rapl":
                raise
    if prefer in ("nvml", "rapl"):
        raise MeterError(f"{prefer} meter is not available on a {device_kind} host")
    if prefer not in ("auto", "modeled"):
        raise MeterError(f"unknown energy meter {prefer!r} (auto, nvml, rapl, modeled, none)")
    return ModeledMeter(device)
