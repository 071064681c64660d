"""The hardware screen: cited peaks, roofline lines and ridge points, what the model assumes per device.

Pure functions to DataFrames; every frame carries ``kind`` (datasheet | modeled | measured) and ``source``.
No Streamlit or plotly here; units are SI (FLOP/s, bytes/s, s, J, W).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

import pandas as pd

from hwdb.schema import DTYPES, Device, Source, frozen_map
from roofline.engine.efficiency import efficiency_for
from roofline.engine.energy import coefficients_for
from roofline.engine.model import ceilings
from roofline.errors import InputError
from roofline.provenance import DATASHEET, MEASURED
from roofline.views.common import X_MAX, X_MIN, cite, source_of


def peaks_table(devices: Iterable[Device]) -> pd.DataFrame:
    """Long table of every cited number of the devices: one row per (device, quantity).

    Columns: device_id, device, quantity, dtype, value, unit, kind, source, url, note.
    """
    rows = []

    def add(d: Device, quantity: str, dtype: str, value: float | None, unit: str, field: str, kind: str = DATASHEET,
            note: str = "", source: tuple[str, str] | None = None) -> None:
        if value is None:
            return
        title, url = source if source is not None else source_of(d, field)
        kind = user_kind(d, kind, field)
        rows.append({"device_id": d.id, "device": d.name, "quantity": quantity, "dtype": dtype, "value": float(value),
                     "unit": unit, "kind": kind, "source": title, "url": url, "note": note})

    for d in devices:
        for c in ceilings(d):
            add(d, "peak", c.dtype, c.peak_ops_per_s, "op/s", f"peak.{c.dtype}", note=d.peak_notes.get(c.dtype, ""))
            add(d, "ridge", c.dtype, c.ridge_flop_per_byte, "FLOP/B", f"peak.{c.dtype}",
                note="peak / memory bandwidth")
        add(d, "memory bandwidth", "", d.mem_bw_bytes_per_s, "B/s", "memory.bw_bytes_per_s", note=d.memory_type)
        add(d, "memory capacity", "", d.memory_bytes, "B", "memory.capacity_bytes", note=d.memory_type)
        for cache in d.caches:
            add(d, f"{cache.name} size", "", cache.size_bytes, "B", f"cache.{cache.name}")
            add(d, f"{cache.name} bandwidth", "", cache.bw_bytes_per_s, "B/s", f"cache.{cache.name}")
        add(d, "TDP", "", d.tdp_w, "W", "power.tdp_w")
        add(d, "idle power", "", d.idle_w, "W", "power.idle_w")
        add(d, "interconnect bandwidth", "", d.interconnect_bw_bytes_per_s, "B/s", "interconnect.bw_bytes_per_s",
            note=d.interconnect)
        add(d, "MSRP", "", d.msrp_usd, "USD", "price.msrp_usd", note=d.price_date)
        add(d, "cloud price", "", d.cloud_usd_per_h, "USD/h", "price.cloud_usd_per_h", note=d.price_date)
        m = d.measured
        if m is not None:
            msrc = (f"{m.run_id} ({m.date})", m.source)
            add(d, "memory bandwidth", "copy", m.copy_bw_bytes_per_s, "B/s", "", MEASURED, "device-to-device copy",
                msrc)
            for dt, v in m.matmul_ops_per_s.items():
                add(d, "peak", dt, v, "op/s", "", MEASURED, "large matmul", msrc)
            add(d, "idle power", "", m.idle_power_w, "W", "", MEASURED, m.idle_state, msrc)
    cols = ["device_id", "device", "quantity", "dtype", "value", "unit", "kind", "source", "url", "note"]
    return pd.DataFrame(rows, columns=cols)


def peaks_matrix(devices: Iterable[Device]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Wide view of the datasheet numbers: (values, sources), one row per device.

    Columns: memory_bytes, mem_bw_bytes_per_s, one per supported dtype (op/s), tdp_w. ``sources`` holds the
    citation of each cell (same shape) for hover text.
    """
    vals, srcs = [], []
    for d in devices:
        v = {"device": d.name, "kind": d.kind, "vendor": d.vendor, "memory_bytes": d.memory_bytes,
             "mem_bw_bytes_per_s": d.mem_bw_bytes_per_s}
        s = {"device": d.id, "kind": "", "vendor": "", "memory_bytes": cite(d, "memory.capacity_bytes"),
             "mem_bw_bytes_per_s": cite(d, "memory.bw_bytes_per_s")}
        for dt in DTYPES:
            v[dt] = d.peak(dt)
            s[dt] = cite(d, f"peak.{dt}", d.peak_notes.get(dt, "")) if d.peak(dt) is not None else "not supported"
        v["tdp_w"], s["tdp_w"] = d.tdp_w, cite(d, "power.tdp_w")
        vals.append(v)
        srcs.append(s)
    return pd.DataFrame(vals), pd.DataFrame(srcs)




def roofline_lines(devices: Iterable[Device], dtypes: Sequence[str] | None = None, caches: bool = True,
                   measured: bool = True, x_min: float = X_MIN, x_max: float = X_MAX) -> pd.DataFrame:
    """Polylines of each device's roofs on a log-log chart: attainable op/s vs intensity (FLOP/byte).

    One roof per (device, dtype): min(peak[dtype], I * DRAM bw), drawn through its ridge point. Cache roofs
    (I * cache bw, capped at the highest peak) where the cache bandwidth is published; measured roofs (matmul
    ceiling, copy bandwidth) where the device was measured.
    Columns: device_id, device, roof, dtype, memory, x, y, kind, source.
    """
    rows = []

    def roof(d: Device, name: str, dtype: str, memory: str, peak: float, bw: float, kind: str, source: str) -> None:
        ridge = peak / bw
        xs = [x_min] + ([ridge] if x_min < ridge < x_max else []) + [x_max]
        for x in xs:
            rows.append({"device_id": d.id, "device": d.name, "roof": name, "dtype": dtype, "memory": memory,
                         "x": x, "y": min(peak, x * bw), "kind": kind, "source": source})

    for d in devices:
        cs = [c for c in ceilings(d) if not dtypes or c.dtype in dtypes]
        bw_src = source_of(d, "memory.bw_bytes_per_s")[0]
        mem = d.memory_type or "DRAM"
        for c in cs:
            roof(d, f"{c.dtype} / {mem}", c.dtype, mem, c.peak_ops_per_s, d.mem_bw_bytes_per_s,
                 user_kind(d, DATASHEET, f"peak.{c.dtype}", "memory.bw_bytes_per_s"),
                 f"{c.source}; bandwidth: {bw_src}")
        top = max((c.peak_ops_per_s for c in cs), default=None)
        if caches and top:
            for cache in d.caches:
                if cache.bw_bytes_per_s:
                    roof(d, f"{cache.name} bandwidth", "", cache.name, top, cache.bw_bytes_per_s, DATASHEET,
                         source_of(d, f"cache.{cache.name}")[0])
        m = d.measured
        if measured and m is not None:
            bw = m.copy_bw_bytes_per_s or d.mem_bw_bytes_per_s
            for dt, ops in m.matmul_ops_per_s.items():
                if not dtypes or dt in dtypes:
                    roof(d, f"{dt} measured", dt, f"{mem} (copy)" if m.copy_bw_bytes_per_s else mem, ops, bw,
                         MEASURED, f"{m.run_id} ({m.date})")
    return pd.DataFrame(rows, columns=["device_id", "device", "roof", "dtype", "memory", "x", "y", "kind", "source"])


def ridge_points(devices: Iterable[Device], dtypes: Sequence[str] | None = None) -> pd.DataFrame:
    """Ridge point of each datasheet roof. Columns: device_id, device, dtype, x (FLOP/B), y (op/s), kind, source."""
    rows = [{"device_id": d.id, "device": d.name, "dtype": c.dtype, "x": c.ridge_flop_per_byte,
             "y": c.peak_ops_per_s, "kind": DATASHEET, "source": c.source}
            for d in devices for c in ceilings(d) if not dtypes or c.dtype in dtypes]
    return pd.DataFrame(rows, columns=["device_id", "device", "dtype", "x", "y", "kind", "source"])


def supported_dtypes(devices: Iterable[Device]) -> list[str]:
    """Union of the devices' dtypes, in DTYPES order."""
    have = {dt for d in devices for dt in d.supported_dtypes}
    return [dt for dt in DTYPES if dt in have]


def model_provenance(device: Device) -> dict:
    """Where a device's modeled numbers come from: efficiency and energy coefficient kinds and sources."""
    eff = efficiency_for(device)
    en = coefficients_for(device)
    return {"efficiency_kind": eff.kind, "efficiency_source": eff.source, "energy_kind": en.kind,
            "energy_source": en.source, "memory_eff": eff.memory, "idle_w": en.idle_w, "e_byte_j": en.e_byte_j}


# ------------------------------------------------------------------------------------------ what-if device

WHAT_IF = "user-entered (what-if)"  # the source every edited number cites; never written to hwdb
USER_ENTERED = "user-entered"  # the kind of an edited number (instead of datasheet)


def is_what_if(d: Device) -> bool:
    return "what-if" in d.sources


def user_kind(d: Device, kind: str, *fields: str) -> str:
    """``kind``, or USER_ENTERED when any of ``fields`` was edited on a what-if device."""
    if kind == DATASHEET and is_what_if(d) and any(d.field_sources.get(f) == "what-if" for f in fields):
        return USER_ENTERED
    return kind


def custom_device(base: Device, peaks_ops_per_s: dict[str, float] | None = None,
                  mem_bw_bytes_per_s: float | None = None, memory_bytes: float | None = None,
                  tdp_w: float | None = None, cloud_usd_per_h: float | None = None,
                  msrp_usd: float | None = None) -> Device:
    """A copy of ``base`` with the given numbers replaced, for "what if this part had ...?" questions.

    The copy is labelled everywhere it shows: id ``what-if-<base>``, a name ending "(what-if)", and every edited
    field cited to WHAT_IF. It lives in memory only (no path; nothing here writes hwdb). Its measured overlay is
    dropped (calibrated efficiencies belong to the real part), so it is modeled with default efficiencies.
    A peak of 0 or None removes that dtype (absent = unsupported); other values must be > 0."""
    edits: dict[str, float] = {}
    peaks = dict(base.peak_ops_per_s)
    for dt, v in (peaks_ops_per_s or {}).items():
        if dt not in DTYPES:
            raise InputError(f"what-if device: unknown dtype {dt!r} (use {', '.join(DTYPES)})")
        if v is None or v == 0:
            peaks.pop(dt, None)
        elif not v > 0:
            raise InputError(f"what-if device: the {dt} peak must be > 0, got {v!r}")
        else:
            peaks[dt] = float(v)
        edits[f"peak.{dt}"] = 1.0
    if not peaks:
        raise InputError("what-if device: at least one dtype needs a peak")
    fields = {"mem_bw_bytes_per_s": ("memory.bw_bytes_per_s", mem_bw_bytes_per_s),
              "memory_bytes": ("memory.capacity_bytes", memory_bytes), "tdp_w": ("power.tdp_w", tdp_w),
              "cloud_usd_per_h": ("price.cloud_usd_per_h", cloud_usd_per_h), "msrp_usd": ("price.msrp_usd", msrp_usd)}
    kw: dict = {}
    for attr, (field, v) in fields.items():
        if v is None:
            continue
        if not v > 0:
            raise InputError(f"what-if device: {attr} must be > 0, got {v!r}")
        kw[attr] = float(v)
        edits[field] = 1.0
    src = Source(key="what-if", title=WHAT_IF, url="", note=f"edited copy of {base.id}; not saved")
    field_sources = {**base.field_sources, **{f: "what-if" for f in edits}}
    return replace(base, id=f"what-if-{base.id}", name=f"{base.name} (what-if)", peak_ops_per_s=frozen_map(peaks),
                   sources=frozen_map({**base.sources, "what-if": src}), field_sources=frozen_map(field_sources),
                   peak_notes=frozen_map({dt: WHAT_IF if f"peak.{dt}" in edits else n
                                          for dt, n in base.peak_notes.items()}),
                   path="", measured=None, **kw)
