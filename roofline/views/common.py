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


MISSING = "—"  # what every view shows for a number that is absent (never "None" or "nan")


def fmt_metric(value: float | None, unit: str) -> str:
    """A headline number for humans: '—' when absent (None, NaN, inf), SI prefixes, $ for USD, '/W' for IPW."""

    value = finite_or_none(value)
    if value is None:
        return MISSING
    if unit == "USD":
        return f"${value:,.3g}"
    if unit in ("1/W", "/W"):  # accuracy (a fraction) per watt: one unit everywhere
        return f"{value:.3g} /W"
    if unit in ("1/J", "/J"):
        return f"{value:.3g} /J"
    if unit == "%":
        return f"{100 * value:.0f}%"
    if unit == "FLOP/B":  # intensity: plain numbers read better than milli-FLOP per byte
        return f"{value:.3g} FLOP/B" if abs(value) < 1000 else si(value, unit)
    return _si(value, unit)


def _si(value: float, unit: str) -> str:
    """roofline.fmt.si, with femto for the energy coefficients (a fraction of a pJ per FLOP)."""
    if value != 0 and abs(value) < 1e-12 and unit:
        return f"{value * 1e15:.3g} f{unit}"
    return si(value, unit, 3)


def tick_label(value: float, unit: str = "") -> str:
    """An axis tick: SI prefixes ('1 PFLOP/s', '20 ms'), plain decimals for unitless values below 1 ('0.01'),
    '$0.5' for USD. The one tick format of the dashboard and both report formats."""
    if value == 0:
        return "0"
    if unit == "USD":
        return f"${value:,.3g}"
    if (unit == "" and abs(value) < 1) or unit in ("/W", "1/W", "/J", "1/J"):  # small plain numbers (IPW)
        return f"{value:.3g}"
    return _si(value, unit)


def si_ticks(lo: float, hi: float, unit: str = "", log: bool = True, max_ticks: int = 9) -> tuple[list[float],
                                                                                            list[str]]:
    """Tick values covering [lo, hi] and their labels (``tick_label``): on a log axis decades, with 2 and 5
    between them when the range spans few decades; on a linear axis 1-2-5 steps. Empty for an empty range."""
    lo, hi = finite_or_none(lo), finite_or_none(hi)
    if lo is None or hi is None or hi < lo or (log and (lo <= 0 or hi <= 0)):
        return [], []
    if log:
        d0, d1 = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
        inside = lambda xs: [v for v in xs if lo / 1.0001 <= v <= hi * 1.0001]  # noqa: E731
        decades = [10.0**d for d in range(d0, d1 + 1)]
        vals = inside(sorted({m * x for x in decades for m in (1, 2, 5)}))
        if len(vals) > max_ticks:
            vals = inside(decades)
        if len(vals) > max_ticks:  # many decades: every k-th one
            k = math.ceil(len(vals) / max_ticks)
            vals = [v for v in vals if round(math.log10(v)) % k == 0]
    else:
        span = hi - lo if hi > lo else abs(hi) or 1.0
        raw = span / max(max_ticks - 1, 1)
        mag = 10.0 ** math.floor(math.log10(raw))
        step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
        first = math.ceil(lo / step - 1e-9) * step
        vals, v = [], first
        while v <= hi + 1e-9 * step:
            vals.append(0.0 if abs(v) < 1e-12 * step else float(v))
            v += step
    return vals, [tick_label(v, unit) for v in vals]


# hwdb field names as a reader says them (Sources tables, hovers); unknown fields fall back to their words.
FIELD_LABELS = {
    "memory.capacity_bytes": "memory capacity", "memory.bw_bytes_per_s": "memory bandwidth",
    "memory.type": "memory type", "power.tdp_w": "TDP", "power.idle_w": "idle power",
    "price.msrp_usd": "list price (MSRP)", "price.cloud_usd_per_h": "cloud price per hour",
    "interconnect.bw_bytes_per_s": "interconnect bandwidth", "interconnect.kind": "interconnect",
    "release_year": "release year", "sparsity": "2:4 sparsity support",
}


def field_label(field: str) -> str:
    """'peak.bf16' -> 'bf16 peak', 'memory.bw_bytes_per_s' -> 'memory bandwidth', 'cache.L2' -> 'L2 cache'."""
    if field in FIELD_LABELS:
        return FIELD_LABELS[field]
    head, _, tail = field.partition(".")
    if head == "peak" and tail:
        return f"{tail} peak"
    if head == "cache" and tail:
        return f"{tail} cache"
    words = (tail or head)
    for suffix in ("_bytes_per_s", "_bytes", "_per_s", "_usd", "_w"):
        words = words.removesuffix(suffix)
    return words.replace("_", " ").replace(".", " ")


def band_overlap_note(names: str, show: int = 3) -> str:
    """``within band of ...`` for a ranking row: the devices (comma-separated, in rank order) whose bands overlap
    this one's; past ``show`` names, the count and the first few (wide bands overlap almost everything, and a
    list of twenty ids says only that)."""
    ids = [n for n in names.split(",") if n]
    if not ids:
        return ""
    if len(ids) <= show:
        return "within band of " + ", ".join(ids)
    return f"within band of {len(ids)} others ({', '.join(ids[:show])}, ...)"


def layout_cell(r) -> str:
    """The replica a ranking row prices: ``4x`` for TP4, ``16x TP8xPP2`` (devices, then the layout) beyond TP."""
    def num(k: str) -> int:
        v = r.get(k)
        return int(v) if v is not None and v == v and v else 1

    tp = r.get("tp")
    if tp is None or tp != tp:
        return "-"
    tp, pp, ep = num("tp"), num("pp"), num("ep")
    if pp == 1 and ep == 1:
        return f"{tp}x"
    return f"{tp * pp * ep}x " + "x".join(f"{k}{v}" for k, v in (("TP", tp), ("PP", pp), ("EP", ep)) if v > 1)


def band(obj, key: str) -> tuple[float, float] | None:
    """The uncertainty range (``key_lo``, ``key_hi``) of a number on a prediction, a row or a dict, when both
    exist and are finite; None otherwise (predictions without bands show the number alone)."""
    def get(name: str):
        if isinstance(obj, dict):
            return obj.get(name)
        if hasattr(obj, "index") and hasattr(obj, "get") and not isinstance(obj, type):  # a pandas row
            return obj.get(name)
        return getattr(obj, name, None)

    bands = None if isinstance(obj, dict) else getattr(obj, "bands", None)  # a Prediction: its bands mapping
    if isinstance(bands, dict) and key in bands:
        lo, hi = (finite_or_none(x) for x in bands[key])
    else:
        lo, hi = finite_or_none(get(f"{key}_lo")), finite_or_none(get(f"{key}_hi"))
    if lo is None or hi is None:
        return None
    return (min(lo, hi), max(lo, hi))


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
    if d.field_sources.get(field) == "what-if":  # an edited number of a what-if device (views.hardware)
        return "user-entered (what-if; not in hwdb, not saved)"
    title, url = source_of(d, field)
    return f"datasheet: {title}{' — ' + note if note else ''} ({url})" if title else "datasheet"

