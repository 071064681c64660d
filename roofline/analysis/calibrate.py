"""Calibrate a device from measured traces: efficiencies, launch overhead and energy coefficients.

- launch overhead: tiny kernels (roof time < 5% of measured) -> median of measured - modeled roof time;
- compute efficiency per dtype: the compute-bound points (intensity above the dtype's ridge) -> the best
  achieved FLOP/s (overhead removed) / datasheet peak;
- memory efficiency: the memory-bound points -> best achieved bytes/s / datasheet bandwidth;
- energy: non-negative least squares of energy_j on [time_s, flops of each dtype, bytes], relative
  (each row weighted by 1/energy_j) -> idle/static power (W), J/FLOP per dtype, J/byte.
A deterministic fraction of configurations is held out of the fit; fidelity is reported on both.
The result is written with ``hwdb.write_measured`` (never by hand).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

import hwdb
from hwdb.loader import MEASURED_DIR
from hwdb.schema import Measured, frozen_map
from roofline.analysis.attribution import compare, fidelity, holdout_mask
from roofline.engine.model import compute_dtype_for
from roofline.errors import InputError, UnsupportedDtypeError
from roofline.measure.traces import check_rows
from roofline.ops import hwdb_dtype

TINY_ROOF_FRACTION = 0.05  # a kernel whose roof time is < 5% of its measured time is launch-bound
MEASURED_ENERGY = ("nvml-counter", "rapl")  # modeled energies are never fitted


@dataclass(frozen=True)
class Calibration:
    """Fitted measured overlay of one device. Units: SI (s, W, J/FLOP, J/byte, byte/s, op/s)."""

    device_id: str
    run_ids: tuple[str, ...]
    compute_eff: dict[str, float] = field(default_factory=dict)
    memory_eff: float | None = None
    launch_overhead_s: float | None = None
    copy_bw_bytes_per_s: float | None = None
    matmul_ops_per_s: dict[str, float] = field(default_factory=dict)
    idle_power_w: float | None = None
    e_flop_j: dict[str, float] = field(default_factory=dict)
    e_byte_j: float | None = None
    n_fit: int = 0
    n_holdout: int = 0
    fidelity: tuple[dict, ...] = ()  # attribution.fidelity records with the calibrated model
    notes: tuple[str, ...] = ()

    def fields(self) -> dict:
        """The hwdb measured-overlay fields (only what was fitted; zero coefficients left out)."""
        pos = lambda d: {k: float(v) for k, v in d.items() if v and v > 0}  # noqa: E731
        f = {"run_id": "+".join(self.run_ids)[:200] or "unknown", "date": date.today().isoformat(),
             "source": f"roofline calibrate on traces {', '.join(self.run_ids)}"[:500],
             "copy_bw_bytes_per_s": self.copy_bw_bytes_per_s, "idle_power_w": self.idle_power_w,
             "idle_state": "fitted static power (time coefficient of the energy fit)" if self.idle_power_w else None,
             "e_byte_j": self.e_byte_j or None, "memory_eff": self.memory_eff,
             "launch_overhead_s": self.launch_overhead_s,
             "note": f"fit on {self.n_fit} rows, {self.n_holdout} held out; " + "; ".join(self.notes)}
        for k in ("matmul_ops_per_s", "e_flop_j", "compute_eff"):
            t = pos(getattr(self, k))
            if t:
                f[k] = t
        return {k: v for k, v in f.items() if v is not None}


def nnls(a: np.ndarray, b: np.ndarray, max_iter: int | None = None) -> np.ndarray:
    """min ||a x - b|| subject to x >= 0 (Lawson-Hanson active set)."""
    m, n = a.shape
    x = np.zeros(n)
    passive = np.zeros(n, dtype=bool)
    tol = 10 * np.finfo(float).eps * np.abs(a).sum(axis=0).max(initial=0.0) * max(m, n)
    w = a.T @ (b - a @ x)
    max_iter = max_iter or 3 * n + 30
    for _ in range(max_iter):
        if passive.all() or np.max(np.where(passive, -np.inf, w)) <= tol:
            break
        passive[int(np.argmax(np.where(passive, -np.inf, w)))] = True
        for _ in range(max_iter):
            s = np.zeros(n)
            s[passive] = np.linalg.lstsq(a[:, passive], b, rcond=None)[0]
            if s[passive].min() > 0:
                break
            neg = passive & (s <= 0)
            alpha = np.min(x[neg] / (x[neg] - s[neg]))
            x = x + alpha * (s - x)
            passive &= x > tol
        x = s
        w = a.T @ (b - a @ x)
    return x


def _rows_for(df: pd.DataFrame, device_id: str | None) -> tuple[pd.DataFrame, str, list[str]]:
    notes: list[str] = []
    forced = df["device_forced"].astype(str) != ""  # profile --force-device: not measured on that device
    if len(df) and forced.all():
        raise InputError("every row was profiled with --force-device (the host was not the device it is "
                         "labelled with): nothing to calibrate")
    if forced.any():
        notes.append(f"{int(forced.sum())} rows profiled with --force-device left out")
        df = df[~forced]
    ids = sorted({d for d in df["device_id"].astype(str) if d})
    if device_id is None:
        if len(ids) != 1:
            raise InputError("the traces match no hwdb device; pass --device ID" if not ids else
                             f"the traces hold several devices ({', '.join(ids)}); pass --device ID")
        device_id = ids[0]
    sel = df[df["device_id"] == device_id]
    if sel.empty:
        sel = df[df["device_id"] == ""]
        if sel.empty:
            raise InputError(f"no trace rows for device {device_id!r} (rows are for: {', '.join(ids) or 'none'})")
        notes.append(f"unmatched-device rows ({sel['device_name'].iloc[0]!r}) taken as {device_id}")
    sel = sel[(sel["median_s"] > 0) & np.isfinite(sel["flops"]) & np.isfinite(sel["bytes"])]
    if sel.empty:
        raise InputError(f"no usable rows for {device_id} (need median_s > 0 and declared flops/bytes)")
    return sel.reset_index(drop=True), device_id, notes


def _roofs(df: pd.DataFrame, dev) -> pd.DataFrame:
    """Per row: compute dtype, datasheet compute and memory times (no efficiency), ridge."""

    cdt = []
    for d in df["dtype"]:
        try:
            cdt.append(compute_dtype_for(dev, hwdb_dtype(d) or ""))
        except UnsupportedDtypeError:
            cdt.append("")
    out = df.copy()
    out["cdt"] = cdt
    peak = np.array([dev.peak(c) or np.nan for c in cdt])
    out["t_c"] = out["flops"] / peak
    out["t_m"] = out["bytes"] / dev.mem_bw_bytes_per_s
    out["ridge"] = peak / dev.mem_bw_bytes_per_s
    out["intensity"] = out["flops"] / out["bytes"].where(out["bytes"] > 0)
    return out[out["cdt"] != ""]


def _fit_time(r: pd.DataFrame, dev, notes: list[str]) -> tuple[dict, float | None, float | None]:
    def effs(overhead: float) -> tuple[dict, float | None]:
        t = (r["median_s"] - overhead).clip(lower=1e-12)
        comp = {}
        cb = r[(r["flops"] > 0) & (r["intensity"] >= r["ridge"])]
        for dt, g in cb.groupby("cdt"):
            comp[dt] = float(min((g["t_c"] / t[g.index]).max(), 1.0))
        mb = r[(r["bytes"] > 0) & ~(r["intensity"] >= r["ridge"]) & (r["t_m"] >= TINY_ROOF_FRACTION * r["median_s"])]
        mem = float(min((mb["t_m"] / t[mb.index]).max(), 1.0)) if len(mb) else None
        return comp, mem

    roof = np.maximum(r["t_c"].fillna(0), r["t_m"])
    tiny = r[roof < TINY_ROOF_FRACTION * r["median_s"]]
    overhead = float(np.median(tiny["median_s"] - roof[tiny.index])) if len(tiny) else None
    comp, mem = effs(overhead or 0.0)
    if len(tiny):  # second pass: remove the efficiency-scaled roof, not the datasheet one
        ec = np.array([comp.get(c, 1.0) for c in tiny["cdt"]])
        scaled = np.maximum(tiny["t_c"].fillna(0) / ec, tiny["t_m"] / (mem or 1.0))
        overhead = max(float(np.median(tiny["median_s"] - scaled)), 0.0)
        comp, mem = effs(overhead)
    else:
        notes.append("no tiny kernels: launch overhead not fitted")
    if not comp:
        notes.append("no compute-bound points: compute efficiency not fitted")
    if mem is None:
        notes.append("no memory-bound points: memory efficiency not fitted")
    return comp, mem, overhead


def _fit_energy(r: pd.DataFrame, notes: list[str]) -> tuple[float | None, dict, float | None]:
    e = r[r["energy_method"].isin(MEASURED_ENERGY) & (r["energy_j"] > 0)]
    dts = sorted(d for d in e.loc[e["flops"] > 0, "cdt"].unique())
    n_unknown = 2 + len(dts)
    if len(e) < n_unknown + 1:
        notes.append(f"{len(e)} rows with measured energy (need {n_unknown + 1}): energy not fitted")
        return None, {}, None
    cols = [e["median_s"].to_numpy(float)]
    cols += [np.where(e["cdt"] == dt, e["flops"], 0.0).astype(float) for dt in dts]
    cols.append(e["bytes"].to_numpy(float))
    a = np.column_stack(cols) / e["energy_j"].to_numpy(float)[:, None]  # relative residuals
    scale = np.abs(a).max(axis=0)
    scale[scale == 0] = 1.0
    x = nnls(a / scale, np.ones(len(e))) / scale
    return float(x[0]), {dt: float(v) for dt, v in zip(dts, x[1:-1], strict=True)}, float(x[-1])


def calibrate(df: pd.DataFrame, device_id: str | None = None, holdout_frac: float = 0.25, seed: int = 0) -> Calibration:
    """Fit the device's measured overlay from trace rows (see module doc); nothing is written here."""

    rows, device_id, notes = _rows_for(check_rows(df, "calibrate"), device_id)  # the trace schema: finite times
    dev = hwdb.get(device_id)
    hold = holdout_mask(rows, holdout_frac, seed)
    r = _roofs(rows[~hold], dev)
    if r.empty:
        raise InputError(f"no fit rows with a dtype {device_id} has a ceiling for")
    comp, mem, overhead = _fit_time(r, dev, notes)
    idle, e_flop, e_byte = _fit_energy(r, notes)
    ach = r["flops"] / r["median_s"]
    copy = r[r["kernel"] == "copy"]
    mm = r[(r["kernel"] == "matmul") & (r["flops"] > 0)]
    cal = Calibration(
        device_id=device_id, run_ids=tuple(sorted(set(rows["run_id"].astype(str)))), compute_eff=comp, memory_eff=mem,
        launch_overhead_s=overhead,
        copy_bw_bytes_per_s=float((copy["bytes"] / copy["median_s"]).max()) if len(copy) else None,
        matmul_ops_per_s={dt: float(ach[g.index].max()) for dt, g in mm.groupby("cdt")},
        idle_power_w=idle, e_flop_j=e_flop, e_byte_j=e_byte, n_fit=int((~hold).sum()), n_holdout=int(hold.sum()),
        notes=tuple(notes))
    fields = cal.fields()
    measured = Measured(run_id=fields["run_id"], date=fields["date"], source=fields["source"],
                        copy_bw_bytes_per_s=fields.get("copy_bw_bytes_per_s"),
                        matmul_ops_per_s=frozen_map(fields.get("matmul_ops_per_s", {})),
                        idle_power_w=fields.get("idle_power_w"), e_flop_j=frozen_map(fields.get("e_flop_j", {})),
                        e_byte_j=fields.get("e_byte_j"), compute_eff=frozen_map(fields.get("compute_eff", {})),
                        memory_eff=fields.get("memory_eff"), launch_overhead_s=fields.get("launch_overhead_s"))
    cmp = compare(rows, devices={device_id: replace(dev, measured=measured)})
    cmp["holdout"] = hold
    fid = fidelity(cmp)
    return replace(cal, fidelity=tuple(fid.to_dict("records")))


def write_calibration(cal: Calibration, measured_dir: Path | None = None) -> Path:
    """Write the overlay hwdb/measured/<id>.toml atomically (validated by hwdb before the rename)."""

    return hwdb.write_measured(cal.device_id, cal.fields(), measured_dir or MEASURED_DIR)
