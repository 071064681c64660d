"""Data shaping for the dashboard and reports: pure functions from hwdb / predictions / traces to DataFrames.

Every frame carries ``kind`` (datasheet | modeled | measured) and ``source`` columns so a view can say
where each number came from. No Streamlit or plotly here; units are SI (FLOP/s, bytes/s, s, J, W).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from hwdb.schema import DTYPES, Device
from roofline.efficiency import efficiency_for
from roofline.energy import coefficients_for
from roofline.errors import InputError
from roofline.model import Estimate, ceilings

DATASHEET, MODELED, MEASURED = "datasheet", "modeled", "measured"
# Intensity axis of a roofline chart (FLOP/byte): decode GEMV sits near 1, big GEMMs near 1e3-1e4.
X_MIN, X_MAX = 1e-2, 1e5
MAX_UPLOAD_BYTES = 50 * 2**20  # a trace upload larger than this is refused with a message (the app keeps running)

# ---------------------------------------------------------------------------------------------- hardware


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


def _src(d: Device, field: str) -> tuple[str, str]:
    try:
        s = d.source_of(field)
    except KeyError:
        return "", ""
    return s.title, s.url


def peaks_table(devices: Iterable[Device]) -> pd.DataFrame:
    """Long table of every cited number of the devices: one row per (device, quantity).

    Columns: device_id, device, quantity, dtype, value, unit, kind, source, url, note.
    """
    rows = []

    def add(d: Device, quantity: str, dtype: str, value: float | None, unit: str, field: str, kind: str = DATASHEET,
            note: str = "", source: tuple[str, str] | None = None) -> None:
        if value is None:
            return
        title, url = source if source is not None else _src(d, field)
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
        s = {"device": d.id, "kind": "", "vendor": "", "memory_bytes": _cite(d, "memory.capacity_bytes"),
             "mem_bw_bytes_per_s": _cite(d, "memory.bw_bytes_per_s")}
        for dt in DTYPES:
            v[dt] = d.peak(dt)
            s[dt] = _cite(d, f"peak.{dt}", d.peak_notes.get(dt, "")) if d.peak(dt) is not None else "not supported"
        v["tdp_w"], s["tdp_w"] = d.tdp_w, _cite(d, "power.tdp_w")
        vals.append(v)
        srcs.append(s)
    return pd.DataFrame(vals), pd.DataFrame(srcs)


def _cite(d: Device, field: str, note: str = "") -> str:
    title, url = _src(d, field)
    return f"datasheet: {title}{' — ' + note if note else ''} ({url})" if title else "datasheet"


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
        bw_src = _src(d, "memory.bw_bytes_per_s")[0]
        mem = d.memory_type or "DRAM"
        for c in cs:
            roof(d, f"{c.dtype} / {mem}", c.dtype, mem, c.peak_ops_per_s, d.mem_bw_bytes_per_s, DATASHEET,
                 f"{c.source}; bandwidth: {bw_src}")
        top = max((c.peak_ops_per_s for c in cs), default=None)
        if caches and top:
            for cache in d.caches:
                if cache.bw_bytes_per_s:
                    roof(d, f"{cache.name} bandwidth", "", cache.name, top, cache.bw_bytes_per_s, DATASHEET,
                         _src(d, f"cache.{cache.name}")[0])
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


# ---------------------------------------------------------------------------------------------- estimates


def estimates_frame(estimates: Sequence[Estimate], phases: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per modeled op: name, op_kind, layer, phase, count, flops, bytes, dtype, time_s, bound, intensity,
    attainable_flops_per_s, achieved_flops_per_s, energy_j, kind, source, time_share, energy_share.
    ``phases`` (Prediction.op_phases) labels each estimate prefill / decode."""
    phases = list(phases) if phases else [""] * len(estimates)
    rows = []
    for e, ph in zip(estimates, phases, strict=True):
        o = e.op
        rows.append({"name": o.name, "op_kind": o.kind, "layer": o.layer or o.kind, "phase": ph, "count": o.count,
                     "flops": o.total_flops, "bytes": o.total_bytes, "dtype": o.dtype, "time_s": e.time_s,
                     "bound": e.bound, "intensity": e.intensity_flop_per_byte,
                     "attainable_flops_per_s": e.attainable_flops_per_s,
                     "achieved_flops_per_s": e.achieved_flops_per_s, "energy_j": e.energy_j, "kind": e.kind,
                     "source": f"roofline.model on {e.device_id}"})
    cols = ["name", "op_kind", "layer", "phase", "count", "flops", "bytes", "dtype", "time_s", "bound", "intensity",
            "attainable_flops_per_s", "achieved_flops_per_s", "energy_j", "kind", "source"]
    df = pd.DataFrame(rows, columns=cols)
    tt, te = df["time_s"].sum(), df["energy_j"].sum()
    df["time_share"] = df["time_s"] / tt if tt > 0 else 0.0
    df["energy_share"] = df["energy_j"] / te if te > 0 else 0.0
    return df


def op_points(estimates: Sequence[Estimate], phases: Sequence[str] | None = None, x_min: float = X_MIN,
              x_max: float = X_MAX) -> pd.DataFrame:
    """Modeled ops as points on the roofline: x = intensity (clipped to the axis), y = achieved FLOP/s
    (flops / modeled time, overhead included), pct_of_roof = y / attainable; ops without FLOPs are dropped."""
    df = estimates_frame(estimates, phases)
    df = df[(df["flops"] > 0) & (df["time_s"] > 0)].copy()
    df["x"] = df["intensity"].clip(lower=x_min, upper=x_max)
    df["y"] = df["achieved_flops_per_s"]
    df["pct_of_roof"] = df["y"] / df["attainable_flops_per_s"]
    df["label"] = np.where(df["phase"] != "", df["name"] + " (" + df["phase"] + ")", df["name"])
    return df.reset_index(drop=True)


_BY = {"op": ("name", None), "layer": ("op_kind", "layer"), "op_kind": ("op_kind", None), "name": ("name", None)}


def breakdown(estimates: Sequence[Estimate], by: str = "op", phases: Sequence[str] | None = None) -> pd.DataFrame:
    """Latency and energy summed by op (``op``), by layer (``layer``: layer x phase, split by op kind) or by op
    kind, largest time first. Columns: group, part, time_s, energy_j, time_share, energy_share, flops, bytes,
    kind. ``group`` is the phase (by op / op_kind) or 'layer · phase' (by layer); ``part`` is what is stacked."""
    if by not in _BY:
        raise InputError(f"cannot break down by {by!r} (use op, layer or op_kind)")
    part, grp = _BY[by]
    df = estimates_frame(estimates, phases)
    if grp is None:
        df["group"] = np.where(df["phase"] != "", df["phase"], "step")
    else:
        df["group"] = np.where(df["phase"] != "", df[grp] + " · " + df["phase"], df[grp])
    df["part"] = df[part]
    g = df.groupby(["group", "part"], sort=False)[["time_s", "energy_j", "flops", "bytes"]].sum().reset_index()
    tt, te = g["time_s"].sum(), g["energy_j"].sum()
    g["time_share"] = g["time_s"] / tt if tt > 0 else 0.0
    g["energy_share"] = g["energy_j"] / te if te > 0 else 0.0
    g["kind"] = MODELED
    order = g.groupby("part")["time_s"].sum().sort_values(ascending=False).index
    g["part"] = pd.Categorical(g["part"], categories=list(order), ordered=True)
    return g.sort_values(["part", "group"]).reset_index(drop=True).assign(part=lambda x: x["part"].astype(str))


def breakdown_long(estimates: Sequence[Estimate], by: str = "op", phases: Sequence[str] | None = None) -> pd.DataFrame:
    """``breakdown`` reshaped for a stacked bar: one row per (metric in {latency, energy}, group, part) with the
    value (s or J) and its share of the metric's total. Columns: metric, group, part, value, unit, share, kind."""
    b = breakdown(estimates, by, phases)
    lat = pd.DataFrame({"metric": "latency", "group": b["group"], "part": b["part"], "value": b["time_s"],
                        "unit": "s", "share": b["time_share"]})
    en = pd.DataFrame({"metric": "energy", "group": b["group"], "part": b["part"], "value": b["energy_j"],
                       "unit": "J", "share": b["energy_share"]})
    out = pd.concat([lat, en], ignore_index=True)
    out["kind"] = MODELED
    return out


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


# ---------------------------------------------------------------------------------------------- workload


def context_options(max_context: int, lo: int = 128) -> list[int]:
    """Powers of two from ``lo`` up to the model's max context (which is appended when not a power of two)."""
    out, x = [], lo
    while x <= max_context:
        out.append(x)
        x *= 2
    if not out or out[-1] != max_context:
        out.append(int(max_context))
    return out


def prediction_metrics(pred, device: Device) -> list[dict]:
    """The headline numbers of a Prediction, each with label, value (SI), unit, kind and source.

    Latencies and rates are None when the configuration does not fit (it is not silently timed)."""
    fits = bool(getattr(pred, "fits", True))
    src = f"roofline.predict ({getattr(pred, 'efficiency_kind', MODELED)} efficiencies, " \
          f"{getattr(pred, 'energy_kind', MODELED)} energy coefficients)"

    def timed(x):
        return finite_or_none(x) if fits else None

    acc = getattr(pred, "accuracy", None)
    acc_src = f"{acc.benchmark} {acc.value_pct:g}% ({acc.source})" if acc is not None else "no published accuracy"
    price_src = _cite(device, "price.cloud_usd_per_h") if device.cloud_usd_per_h else "no public price"
    return [
        {"key": "ttft_s", "label": "TTFT", "value": timed(pred.ttft_s), "unit": "s", "kind": MODELED, "source": src},
        {"key": "tpot_s", "label": "TPOT", "value": timed(pred.tpot_s), "unit": "s", "kind": MODELED, "source": src},
        {"key": "tokens_per_s", "label": "tokens/s", "value": timed(pred.tokens_per_s), "unit": "tok/s",
         "kind": MODELED, "source": src},
        {"key": "memory_bytes", "label": "memory", "value": finite_or_none(pred.memory_bytes), "unit": "B",
         "kind": MODELED, "source": f"weights + KV cache + activations vs {_cite(device, 'memory.capacity_bytes')}"},
        {"key": "j_per_token", "label": "J/token", "value": timed(pred.j_per_token), "unit": "J", "kind": MODELED,
         "source": src},
        {"key": "avg_power_w", "label": "mean power", "value": timed(getattr(pred, "avg_power_w", None)),
         "unit": "W", "kind": MODELED, "source": src},
        {"key": "usd_per_mtok", "label": "$/M tokens", "value": timed(getattr(pred, "usd_per_mtok", None)),
         "unit": "USD", "kind": MODELED, "source": price_src},
        {"key": "ipw", "label": "IPW", "value": timed(getattr(pred, "ipw", None)), "unit": "1/W", "kind": MODELED,
         "source": acc_src},
    ]


def memory_breakdown(pred, device: Device) -> pd.DataFrame:
    """Per-device weights / KV cache / activations (modeled bytes) beside the device's usable and datasheet
    capacity. Columns: part, bytes, kind, source, usable_bytes, capacity_bytes, capacity_source."""
    rows = [{"part": "weights", "bytes": pred.weight_bytes, "kind": MODELED, "source": "roofline.predict"},
            {"part": "KV cache", "bytes": pred.kv_bytes, "kind": MODELED, "source": "roofline.predict"},
            {"part": "activations", "bytes": pred.activation_bytes, "kind": MODELED, "source": "roofline.predict"}]
    df = pd.DataFrame(rows)
    df["usable_bytes"] = getattr(pred, "usable_memory_bytes", 0.0) or device.memory_bytes
    df["capacity_bytes"] = device.memory_bytes
    df["capacity_source"] = _cite(device, "memory.capacity_bytes")
    return df


# ---------------------------------------------------------------------------------------------- selection

RANK_LABELS = {"tokens_per_s": "tokens/s (higher is better)", "tokens_per_s_per_device": "tokens/s per device",
               "ttft_s": "TTFT (lower is better)", "tpot_s": "TPOT (lower is better)",
               "usd_per_mtok": "$/M tokens (lower is better)", "j_per_token": "J/token (lower is better)",
               "ipw": "IPW (higher is better)", "ipj": "IPJ (higher is better)"}
PARETO_AXES = {"usd_per_mtok": ("$/M tokens", False), "tokens_per_s": ("tokens/s", True),
               "j_per_token": ("J/token", False), "ttft_s": ("TTFT (s)", False), "tpot_s": ("TPOT (s)", False),
               "ipw": ("IPW", True)}


def ranking_view(ranked: pd.DataFrame, x: str = "usd_per_mtok", y: str = "tokens_per_s",
                 z: str = "j_per_token") -> pd.DataFrame:
    """select.rank() output made ready to show: device kind renamed ``device_kind``, provenance ``kind``
    (modeled) and ``source``, and the Pareto flag over the three chosen objectives (rows missing one are
    never on the front; a front over objectives nobody has is empty)."""
    from roofline.select import pareto_front

    df = ranked.rename(columns={"kind": "device_kind"}).copy()
    df["kind"] = MODELED
    df["source"] = ("roofline.predict (" + df["efficiency_kind"].fillna("") + " efficiencies, "
                    + df["energy_kind"].fillna("") + " energy)") if "efficiency_kind" in df else "roofline.predict"
    objectives = [c for c in dict.fromkeys((x, y, z)) if c in df.columns]
    lo = [c for c in objectives if not PARETO_AXES.get(c, ("", False))[1]]
    hi = [c for c in objectives if PARETO_AXES.get(c, ("", False))[1]]
    usable = [c for c in objectives if np.isfinite(pd.to_numeric(df[c], errors="coerce")).any()]
    if not usable:
        df["pareto"] = False
        return df
    return pareto_front(df, minimize=[c for c in lo if c in usable], maximize=[c for c in hi if c in usable])


def report_spec(model_id: str, scenario, device_ids: Sequence[str], by: str, slo_ttft_s: float | None,
                slo_tpot_s: float | None, allow_tp: bool, pareto_x: str, pareto_y: str,
                trace_runs: Sequence[str] = ()) -> dict:
    """The report spec (as the parsed TOML dict reports.spec.parse_spec takes) for the dashboard's selection,
    so the download is the same report `roofline report` builds from that spec."""
    from dataclasses import asdict

    sc = asdict(scenario)
    kept = sc.pop("attention_kept", 1.0)
    if sc.get("attention") == "block-sparse":
        sc["attention"] = f"block-sparse:{kept:g}"
    wl = {"name": f"{model_id}, {scenario.label()}", "model": model_id, **sc}
    if slo_ttft_s:
        wl["slo_ttft_s"] = float(slo_ttft_s)
    if slo_tpot_s:
        wl["slo_tpot_s"] = float(slo_tpot_s)
    return {"title": f"Hardware for {model_id}: {scenario.label()}", "workload": [wl],
            "devices": {"ids": list(device_ids)},
            "ranking": {"by": by, "pareto_x": pareto_x, "pareto_y": pareto_y, "allow_tp": bool(allow_tp)},
            "traces": {"runs": list(trace_runs)}}


def spec_toml(spec: dict) -> str:
    """A report spec dict as TOML text (what `roofline report SPEC` reads)."""
    def val(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(val(x) for x in v) + "]"
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

    out = [f"title = {val(spec['title'])}", ""]
    for w in spec["workload"]:
        out.append("[[workload]]")
        out += [f"{k} = {val(v)}" for k, v in w.items()]
        out.append("")
    for table in ("devices", "ranking", "traces"):
        out.append(f"[{table}]")
        out += [f"{k} = {val(v)}" for k, v in spec[table].items()]
        out.append("")
    return "\n".join(out)


def fmt_metric(value: float | None, unit: str) -> str:
    """A headline number for humans: '-' when absent, SI prefixes, $ for USD."""
    from roofline.fmt import si

    if value is None:
        return "—"
    if unit == "USD":
        return f"${value:,.3g}"
    if unit == "1/W":  # accuracy (a fraction) per watt
        return f"{value:.3g} /W"
    return si(value, unit)


def unplotted(table: pd.DataFrame, x: str, y: str) -> list[str]:
    """Devices that fit but lack a positive x or y value (e.g. no public price for $/M tokens)."""
    f = table[table["fits"].astype(bool)]
    xv, yv = pd.to_numeric(f[x], errors="coerce"), pd.to_numeric(f[y], errors="coerce")
    return sorted(f.loc[~((xv > 0) & (yv > 0)), "device_id"].astype(str))


# Measured-run views live in roofline.views_measured; callers keep using `views.X` (resolved lazily, so the
# two modules can share the constants above without an import cycle).
_MEASURED_VIEWS = frozenset({
    "upload_kind", "read_upload", "row_labels", "measured_points", "error_band", "measurement_table",
    "energy_per_call", "energy_coefficients", "default_energy_source", "energy_roofline", "measured_energy_points", "ipw_long",
})


def __getattr__(name: str):
    if name in _MEASURED_VIEWS:
        from roofline import views_measured

        return getattr(views_measured, name)
    raise AttributeError(f"module 'roofline.views' has no attribute {name!r}")
