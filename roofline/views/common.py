"""Shared by every view module: axis limits, number cleaning and formatting, the device picker.

Pure functions to DataFrames; every frame carries ``kind`` (datasheet | modeled | measured) and ``source``.
No Streamlit or plotly here; units are SI (FLOP/s, bytes/s, s, J, W).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from hwdb.schema import Device
from roofline.fmt import si

# Intensity axis of a roofline chart (FLOP/byte): decode GEMV sits near 1, big GEMMs near 1e3-1e4.
X_MIN, X_MAX = 1e-2, 1e5


def finite_or_none(x: float | None) -> float | None:
    """None for None/NaN/inf (a metric the view shows as '-')."""
    if x is None:
        return None
    try:
        xf = float(x)
    except (TypeError, ValueError):
        return None
    return xf if math.isfinite(xf) else None


def log_range(values: Iterable[float], pad: float = 3.0, lo: float = X_MIN, hi: float = X_MAX) -> tuple[float, float]:
    """A log-axis range (as log10 bounds) covering the finite positive values with a factor ``pad`` margin."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x) and x > 0], dtype=float)
    if v.size == 0:
        return math.log10(lo), math.log10(hi)
    return math.log10(v.min() / pad), math.log10(v.max() * pad)


def fmt_metric(value: float | None, unit: str) -> str:
    """A headline number for humans: '-' when absent, SI prefixes, $ for USD."""

    if value is None:
        return "—"
    if unit == "USD":
        return f"${value:,.3g}"
    if unit == "1/W":  # accuracy (a fraction) per watt
        return f"{value:.3g} /W"
    return si(value, unit)


def device_filter_options(devices: Iterable[Device]) -> dict:
    """Choices the device picker offers: kinds, vendors, the largest memory (bytes)."""
    devs = list(devices)
    return {"kinds": sorted({d.kind for d in devs}), "vendors": sorted({d.vendor for d in devs}),
            "max_memory_bytes": max((d.memory_bytes for d in devs), default=0.0)}


def filter_devices(devices: Iterable[Device], kinds: Sequence[str] | None = None,
                   vendors: Sequence[str] | None = None, min_memory_bytes: float = 0.0) -> list[Device]:
    """Devices whose kind and vendor are among those given (empty/None = any) with at least that much memory."""
    out = [d for d in devices
           if (not kinds or d.kind in kinds) and (not vendors or d.vendor in vendors)
           and d.memory_bytes >= min_memory_bytes]
    return sorted(out, key=lambda d: d.id)


def source_of(d: Device, field: str) -> tuple[str, str]:
    try:
        s = d.source_of(field)
    except KeyError:
        return "", ""
    return s.title, s.url


def cite(d: Device, field: str, note: str = "") -> str:
    title, url = source_of(d, field)
    return f"datasheet: {title}{' — ' + note if note else ''} ({url})" if title else "datasheet"

