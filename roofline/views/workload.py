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
from roofline.engine.sweep import sweep
from roofline.errors import InputError
from roofline.provenance import MODELED
from roofline.views.common import X_MAX, X_MIN, band, cite, finite_or_none, fmt_metric


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
    kind, part_kind. ``group`` is the phase (by op / op_kind) or 'layer · phase' (by layer); ``part`` is what is
    stacked and ``part_kind`` its op kind (the part itself when stacking op kinds), which picks its colour."""
    if by not in _BY:
        raise InputError(f"cannot break down by {by!r} (use op, layer or op_kind)")
    part, grp = _BY[by]
    df = estimates_frame(estimates, phases)
    if grp is None:
        df["group"] = np.where(df["phase"] != "", df["phase"], "step")
    else:
        df["group"] = np.where(df["phase"] != "", df[grp] + " · " + df["phase"], df[grp])
    df["part"] = df[part]
    g = df.groupby(["group", "part"], sort=False).agg(
        time_s=("time_s", "sum"), energy_j=("energy_j", "sum"), flops=("flops", "sum"), bytes=("bytes", "sum"),
        part_kind=("op_kind", "first")).reset_index()
    tt, te = g["time_s"].sum(), g["energy_j"].sum()
    g["time_share"] = g["time_s"] / tt if tt > 0 else 0.0
    g["energy_share"] = g["energy_j"] / te if te > 0 else 0.0
    g["kind"] = MODELED
    order = g.groupby("part")["time_s"].sum().sort_values(ascending=False).index
    g["part"] = pd.Categorical(g["part"], categories=list(order), ordered=True)
    return g.sort_values(["part", "group"]).reset_index(drop=True).assign(part=lambda x: x["part"].astype(str))


def breakdown_long(estimates: Sequence[Estimate], by: str = "op", phases: Sequence[str] | None = None) -> pd.DataFrame:
    """``breakdown`` reshaped for a stacked bar: one row per (metric in {latency, energy}, group, part) with the
    value (s or J) and its share of the metric's total. Columns: metric, group, part, part_kind, value, unit, share,
    kind."""
    b = breakdown(estimates, by, phases)
    lat = pd.DataFrame({"metric": "latency", "group": b["group"], "part": b["part"], "part_kind": b["part_kind"],
                        "value": b["time_s"], "unit": "s", "share": b["time_share"]})
    en = pd.DataFrame({"metric": "energy", "group": b["group"], "part": b["part"], "part_kind": b["part_kind"],
                       "value": b["energy_j"], "unit": "J", "share": b["energy_share"]})
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
    prefill_only = getattr(getattr(pred, "scenario", None), "phase", "") == "prefill"
    rows = [
        {"key": "ttft_s", "label": "TTFT", "value": timed(pred.ttft_s), "unit": "s", "kind": MODELED, "source": src},
        {"key": "tpot_s", "label": "TPOT", "value": None if prefill_only else timed(pred.tpot_s), "unit": "s",
         "kind": MODELED, "source": "no decode step in a prefill-only workload" if prefill_only else src},
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
    for r in rows:  # the uncertainty range, where the prediction carries one (``<key>_lo`` / ``<key>_hi``)
        rng = band(pred, r["key"]) if (fits or r["key"] == "memory_bytes") else None
        r["lo"], r["hi"] = rng if rng else (None, None)
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


# ------------------------------------------------------------------------------------------ per layer


def layer_ops(estimates: Sequence[Estimate], phases: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per (phase, layer, op), per instance (one layer of one pass or decode step): count (instances in
    the phase), time_s, flops, bytes, intensity, bound, and total_time_s / time_share over all instances.
    Columns: phase, layer, op, op_kind, count, time_s, total_time_s, flops, bytes, intensity, bound, time_share,
    kind, source."""
    df = estimates_frame(estimates, phases)
    n = df["count"].clip(lower=1)
    out = pd.DataFrame({"phase": df["phase"], "layer": df["layer"], "op": df["name"], "op_kind": df["op_kind"],
                        "count": df["count"], "time_s": df["time_s"] / n, "total_time_s": df["time_s"],
                        "flops": df["flops"] / n, "bytes": df["bytes"] / n, "intensity": df["intensity"],
                        "bound": df["bound"], "time_share": df["time_share"], "kind": MODELED, "source": df["source"]})
    return out.reset_index(drop=True)


def layer_table(estimates: Sequence[Estimate], phases: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per (phase, layer): instances, time / FLOPs / bytes of one instance (one layer of one pass or
    decode step), intensity = FLOPs / bytes, the bound that holds most of its time, and its share of all time.
    Columns: phase, layer, instances, time_s, flops, bytes, intensity, bound, time_share, kind, source."""
    ops = layer_ops(estimates, phases)
    cols = ["phase", "layer", "instances", "time_s", "flops", "bytes", "intensity", "bound", "time_share", "kind",
            "source"]
    if ops.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for (ph, layer), g in ops.groupby(["phase", "layer"], sort=False):
        inst = int(g["count"].max())
        total_t = float(g["total_time_s"].sum())
        flops = float((g["flops"] * g["count"]).sum()) / inst
        nbytes = float((g["bytes"] * g["count"]).sum()) / inst
        by_bound = g.groupby("bound")["total_time_s"].sum()
        rows.append({"phase": ph, "layer": layer, "instances": inst, "time_s": total_t / inst, "flops": flops,
                     "bytes": nbytes, "intensity": flops / nbytes if nbytes > 0 else float("nan"),
                     "bound": str(by_bound.idxmax()) if len(by_bound) else "", "time_share": float(g["time_share"].sum()),
                     "kind": MODELED, "source": g["source"].iat[0]})
    return pd.DataFrame(rows, columns=cols)


# ------------------------------------------------------------------------------------------ curves


CURVE_COLUMNS = ["x", "tokens_per_s", "ttft_s", "tpot_s", "j_per_token", "memory_bytes", "fits", "fit_reason"]


def _curve(model, device: Device, scenarios: list, xs: Sequence[int], calibrated: bool) -> pd.DataFrame:
    df = sweep([device], [model], scenarios, calibrated=calibrated).reset_index(drop=True)
    out = pd.DataFrame({"x": list(xs)})
    for c in CURVE_COLUMNS[1:]:
        out[c] = df[c].to_numpy() if c in df.columns else np.nan
    out["fits"] = out["fits"].fillna(False).astype(bool)
    band_cols = [c for c in df.columns if c.endswith(("_lo", "_hi"))
                 and c.rsplit("_", 1)[0] in ("tokens_per_s", "ttft_s", "tpot_s", "j_per_token")]
    for c in band_cols:  # uncertainty ranges, once the sweep carries them
        out[c] = df[c].to_numpy()
    timed = [c for c in out.columns if c not in ("x", "fits", "fit_reason", "memory_bytes")]
    out.loc[~out["fits"], timed] = np.nan  # a configuration that does not fit is never timed
    out["kind"] = MODELED
    out["source"] = f"roofline.engine.sweep on {device.id}"
    return out


def batch_curve(model, device: Device, scenario, batches: Sequence[int], calibrated: bool = True) -> pd.DataFrame:
    """Tokens/s, TTFT, TPOT and J/token of ``scenario`` at each batch size (x = batch), from the vectorized sweep.
    Rows that do not fit keep fits=False and no timings. Columns: CURVE_COLUMNS (+ ``*_lo``/``*_hi``), kind,
    source."""
    bs = sorted({int(b) for b in batches if b >= 1})
    return _curve(model, device, [scenario.with_(batch=b) for b in bs], bs, calibrated)


def context_curve(model, device: Device, scenario, contexts: Sequence[int], calibrated: bool = True) -> pd.DataFrame:
    """The same numbers at each prompt length (x = prompt tokens = the context a decode step attends to)."""
    cs = sorted({int(c) for c in contexts if c >= 1})
    return _curve(model, device, [scenario.with_(prompt_tokens=c) for c in cs], cs, calibrated)


# ------------------------------------------------------------------------------------------ two configurations

# key -> True when larger is better, None when neither is (memory)
COMPARE_DIRECTION = {"ttft_s": False, "tpot_s": False, "tokens_per_s": True, "memory_bytes": None,
                     "j_per_token": False, "avg_power_w": False, "usd_per_mtok": False, "ipw": True}


def compare_configs(pred_a, dev_a: Device, pred_b, dev_b: Device) -> pd.DataFrame:
    """The headline metrics of two configurations side by side: label, unit, a, b, ratio (b / a), better
    ('A', 'B', 'same' within 1%, or '' when a side has no number or neither direction is better), a_text, b_text,
    kind, source_a, source_b. A side that does not fit has no timings (as prediction_metrics says)."""
    ma = {m["key"]: m for m in prediction_metrics(pred_a, dev_a)}
    mb = {m["key"]: m for m in prediction_metrics(pred_b, dev_b)}
    rows = []
    for key, m in ma.items():
        a, b = m["value"], mb[key]["value"]
        ratio = b / a if a not in (None, 0) and b is not None else None
        better = ""
        direction = COMPARE_DIRECTION.get(key)
        if ratio is not None and direction is not None:
            better = "same" if abs(ratio - 1) < 0.01 else ("B" if (ratio > 1) == direction else "A")
        rows.append({"key": key, "label": m["label"], "unit": m["unit"], "a": a, "b": b, "ratio": ratio,
                     "better": better, "a_text": fmt_metric(a, m["unit"]), "b_text": fmt_metric(b, m["unit"]),
                     "kind": MODELED, "source_a": m["source"], "source_b": mb[key]["source"]})
    return pd.DataFrame(rows)
