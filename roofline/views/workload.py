"""The workload screen: per-op estimates as points on a roofline, time and energy breakdowns, headline metrics.

Pure functions to DataFrames; every frame carries ``kind`` (datasheet | modeled | measured) and ``source``.
No Streamlit or plotly here; units are SI (FLOP/s, bytes/s, s, J, W).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from hwdb.schema import Device
from roofline.engine.model import Estimate
from roofline.errors import InputError
from roofline.provenance import MODELED
from roofline.views.common import X_MAX, X_MIN, cite, finite_or_none


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
                     "source": f"roofline.engine.model on {e.device_id}"})
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
    """The headline numbers of a Prediction, each with label, value (SI), unit, kind, source and its 80% band
    (``lo`` / ``hi``, None where the figure carries none).

    Latencies and rates are None when the configuration does not fit (it is not silently timed)."""
    fits = bool(getattr(pred, "fits", True))
    src = f"roofline.engine.predict ({getattr(pred, 'efficiency_kind', MODELED)} efficiencies, " \
          f"{getattr(pred, 'energy_kind', MODELED)} energy coefficients)"

    def timed(x):
        return finite_or_none(x) if fits else None

    acc = getattr(pred, "accuracy", None)
    acc_src = f"{acc.benchmark} {acc.value_pct:g}% ({acc.source})" if acc is not None else "no published accuracy"
    price_src = cite(device, "price.cloud_usd_per_h") if device.cloud_usd_per_h else "no public price"
    rows = [
        {"key": "ttft_s", "label": "TTFT", "value": timed(pred.ttft_s), "unit": "s", "kind": MODELED, "source": src},
        {"key": "tpot_s", "label": "TPOT", "value": timed(pred.tpot_s), "unit": "s", "kind": MODELED, "source": src},
        {"key": "tokens_per_s", "label": "tokens/s", "value": timed(pred.tokens_per_s), "unit": "tok/s",
         "kind": MODELED, "source": src},
        {"key": "memory_bytes", "label": "memory", "value": finite_or_none(pred.memory_bytes), "unit": "B",
         "kind": MODELED, "source": f"weights + KV cache + activations vs {cite(device, 'memory.capacity_bytes')}"},
        {"key": "j_per_token", "label": "J/token", "value": timed(pred.j_per_token), "unit": "J", "kind": MODELED,
         "source": src},
        {"key": "avg_power_w", "label": "mean power", "value": timed(getattr(pred, "avg_power_w", None)),
         "unit": "W", "kind": MODELED, "source": src},
        {"key": "usd_per_mtok", "label": "$/M tokens", "value": timed(getattr(pred, "usd_per_mtok", None)),
         "unit": "USD", "kind": MODELED, "source": price_src},
        {"key": "ipw", "label": "IPW", "value": timed(getattr(pred, "ipw", None)), "unit": "1/W", "kind": MODELED,
         "source": acc_src},
    ]
    bands = getattr(pred, "bands", {}) or {}
    band = getattr(pred, "band", None)
    for r in rows:
        lo, hi = bands.get(r["key"], (None, None))
        r["lo"], r["hi"] = (timed(lo), timed(hi)) if r["value"] is not None else (None, None)
        r["band_source"] = (f"80% band of runtime {getattr(pred, 'runtime', '')} on {band.device_class}: {band.basis}"
                            if band is not None and r["lo"] is not None else "")
    return rows


def memory_breakdown(pred, device: Device) -> pd.DataFrame:
    """Per-device weights / KV cache / activations (modeled bytes) beside the device's usable and datasheet
    capacity. Columns: part, bytes, kind, source, usable_bytes, capacity_bytes, capacity_source."""
    rows = [{"part": "weights", "bytes": pred.weight_bytes, "kind": MODELED, "source": "roofline.engine.predict"},
            {"part": "KV cache", "bytes": pred.kv_bytes, "kind": MODELED, "source": "roofline.engine.predict"},
            {"part": "activations", "bytes": pred.activation_bytes, "kind": MODELED, "source": "roofline.engine.predict"}]
    df = pd.DataFrame(rows)
    df["usable_bytes"] = getattr(pred, "usable_memory_bytes", 0.0) or device.memory_bytes
    df["capacity_bytes"] = device.memory_bytes
    df["capacity_source"] = cite(device, "memory.capacity_bytes")
    return df
