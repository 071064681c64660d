"""Attribution: measured trace rows joined with the roofline model's estimate of the same work.

``compare(df)`` rebuilds one Op per row from its declared flops, bytes and dtype, prices it with
``roofline.engine.model.estimate`` on the row's device and adds predicted time and energy, the errors, the
bound and % of roof. ``fidelity(df)`` summarizes how well the model predicts the measurements, split
into the rows a calibration was fitted on and the held-out rows.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pandas as pd

import hwdb
from roofline.engine.efficiency import Efficiency, curve_time_s, efficiency_for
from roofline.engine.energy import coefficients_for
from roofline.engine.model import compute_dtype_for, estimate
from roofline.errors import InputError, UnsupportedDtypeError
from roofline.ops import Op, hwdb_dtype

# column -> meaning; added by compare() to the trace columns.
COMPARE_COLUMNS: dict[str, str] = {
    "predicted_s": "modeled time of one call (s)",
    "predicted_energy_j": "modeled energy of one call (J, counting idle)",
    "time_err": "median_s / predicted_s - 1",
    "energy_err": "energy_j / predicted_energy_j - 1",
    "pct_of_roof": "achieved / attainable (efficiency-scaled roofline at the row's intensity), 0..1",
    "pct_of_peak": "achieved / datasheet roofline (no efficiency factors), 0..1",
    "bound": "compute | memory | overhead (modeled)",
    "intensity": "FLOP per DRAM byte (declared cost)",
    "attainable_flops_per_s": "roofline at the row's intensity (efficiency-scaled)",
    "achieved_flops_per_s": "flops / median_s",
    "achieved_bytes_per_s": "bytes / median_s",
    "compute_dtype": "the device ceiling the row was priced on",
    "efficiency_kind": "modeled | measured (calibrated)",
    "energy_kind": "modeled | measured (calibrated)",
    "curve": "the implementation curve the time came from (kernel/impl), '' for the device-level model",
}

def _nan_pred() -> dict:
    return {c: (float("nan") if c not in ("bound", "compute_dtype", "efficiency_kind", "energy_kind", "curve") else "")
            for c in COMPARE_COLUMNS}


def compare(df: pd.DataFrame, calibrated: bool = True, devices: dict | None = None) -> pd.DataFrame:
    """Each trace row with the model's prediction (COMPARE_COLUMNS added); NaN where the row's device is
    not in hwdb or its dtype has no ceiling there. ``devices`` overrides hwdb entries (id -> Device)."""

    devices = {**hwdb.load(), **(devices or {})}
    cache: dict[str, tuple] = {}
    preds = []
    for row in df.itertuples(index=False):
        p = _nan_pred()
        dev_id = str(getattr(row, "device_id", "") or "")
        flops = float(getattr(row, "flops", float("nan")))
        nbytes = float(getattr(row, "bytes", float("nan")))
        med = float(getattr(row, "median_s", float("nan")))
        p["intensity"] = flops / nbytes if nbytes and nbytes > 0 else float("nan")
        if med > 0:
            p["achieved_flops_per_s"] = flops / med
            p["achieved_bytes_per_s"] = nbytes / med
        dt = hwdb_dtype(getattr(row, "dtype", ""))
        if dev_id in devices and dt and math.isfinite(flops) and math.isfinite(nbytes) and flops >= 0 and nbytes >= 0:
            dev = devices[dev_id]
            if dev_id not in cache:
                ideal = Efficiency(compute_default=1.0, memory=1.0, launch_overhead_s=0.0)
                cache[dev_id] = (efficiency_for(dev, calibrated), coefficients_for(dev, calibrated), ideal)
            eff, coef, ideal = cache[dev_id]
            try:
                cdt = compute_dtype_for(dev, dt)
                op = Op(name=str(row.kernel), kind="kernel", flops=flops, bytes_read=nbytes, bytes_written=0.0,
                        dtype=dt)
                est = estimate(op, dev, eff, coef)
                peak_est = estimate(op, dev, ideal, coef)
            except (UnsupportedDtypeError, ValueError):
                preds.append(p)
                continue
            roof_s = max(est.compute_time_s, est.memory_time_s)
            peak_s = max(peak_est.compute_time_s, peak_est.memory_time_s)
            time_s, energy_j, bound = est.time_s, est.energy_j, est.bound
            curve = dev.measured.curve_for(str(row.kernel), str(getattr(row, "impl", ""))) \
                if calibrated and dev.measured is not None else None
            if curve is not None:  # the implementation's own fitted curve, not the device-level roof
                time_s, bound = curve_time_s(curve, flops / dev.peak(cdt), nbytes / dev.mem_bw_bytes_per_s, flops)
                energy_j = (curve.power_w * time_s + coef.dynamic_energy_j(flops, nbytes, cdt)
                            if curve.power_w is not None else coef.energy_j(time_s, flops, nbytes, cdt))
                p["curve"] = curve.key
            p.update(predicted_s=time_s, predicted_energy_j=energy_j, bound=bound,
                     attainable_flops_per_s=est.attainable_flops_per_s, compute_dtype=cdt,
                     efficiency_kind=eff.kind, energy_kind=coef.kind)
            if med > 0:
                p["time_err"] = med / time_s - 1 if time_s > 0 else float("nan")
                p["pct_of_roof"] = roof_s / med
                p["pct_of_peak"] = peak_s / med
            e = float(getattr(row, "energy_j", float("nan")))
            if math.isfinite(e) and energy_j > 0:
                p["energy_err"] = e / energy_j - 1
        preds.append(p)
    out = df.reset_index(drop=True).copy()
    pred = pd.DataFrame(preds, columns=list(COMPARE_COLUMNS)) if preds else pd.DataFrame(columns=list(COMPARE_COLUMNS))
    for c in COMPARE_COLUMNS:
        out[c] = pred[c].values if len(pred) else pd.Series(dtype=float)
    return out


def row_key(row) -> str:
    """Stable identity of a measured configuration (for the fit / held-out split)."""
    return "|".join(str(getattr(row, c, "")) for c in ("kernel", "impl", "shape", "dtype", "device_id"))


def holdout_mask(df: pd.DataFrame, holdout_frac: float = 0.25, seed: int = 0) -> np.ndarray:
    """True for held-out rows: a deterministic hash of each configuration (same rows every call)."""
    if not 0 <= holdout_frac < 1:
        raise InputError(f"holdout fraction must be in [0, 1), got {holdout_frac}")
    out = np.zeros(len(df), dtype=bool)
    for i, row in enumerate(df.itertuples(index=False)):
        h = hashlib.sha256(f"{seed}:{row_key(row)}".encode()).digest()
        out[i] = int.from_bytes(h[:8], "big") / 2**64 < holdout_frac
    return out


def fidelity_by_impl(df: pd.DataFrame) -> pd.DataFrame:
    """|time_err| by implementation (kernel/impl) and split: kernel, impl, split, n, median_abs_err, max_abs_err.
    ``df`` is compare()'s output with a boolean ``holdout`` column."""
    hold = df["holdout"].to_numpy(bool) if "holdout" in df.columns else np.zeros(len(df), bool)
    recs = []
    err = df["time_err"].abs().to_numpy(float)
    for (kernel, impl), idx in df.groupby(["kernel", "impl"], sort=True).groups.items():
        pos = df.index.get_indexer(idx)
        for split, mask in (("fit", ~hold[pos]), ("held-out", hold[pos])):
            v = err[pos][mask]
            v = v[np.isfinite(v)]
            recs.append({"kernel": kernel, "impl": impl, "split": split, "n": int(v.size),
                         "median_abs_err": float(np.median(v)) if v.size else float("nan"),
                         "max_abs_err": float(v.max()) if v.size else float("nan")})
    return pd.DataFrame(recs, columns=["kernel", "impl", "split", "n", "median_abs_err", "max_abs_err"])


def fidelity(df: pd.DataFrame, holdout_frac: float = 0.25, seed: int = 0) -> pd.DataFrame:
    """Summary of |time_err| and |energy_err| (median and p90) for all, in-fit and held-out rows.

    ``df`` is compare()'s output; a boolean column ``holdout`` says the split, else holdout_mask() (the
    split calibrate() uses with the same fraction and seed). Columns: metric, split, n,
    median_abs_err, p90_abs_err.
    """
    if "time_err" not in df.columns:
        df = compare(df)
    hold = df["holdout"].to_numpy(bool) if "holdout" in df.columns else holdout_mask(df, holdout_frac, seed)
    recs = []
    for metric in ("time_err", "energy_err"):
        err = df[metric].abs().to_numpy(float)
        for split, mask in (("all", np.ones(len(df), bool)), ("fit", ~hold), ("held-out", hold)):
            v = err[mask & np.isfinite(err)]
            recs.append({"metric": metric.replace("_err", ""), "split": split, "n": int(v.size),
                         "median_abs_err": float(np.median(v)) if v.size else float("nan"),
                         "p90_abs_err": float(np.percentile(v, 90)) if v.size else float("nan")})
    return pd.DataFrame(recs, columns=["metric", "split", "n", "median_abs_err", "p90_abs_err"])
