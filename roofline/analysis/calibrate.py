"""Calibrate a device from measured traces: its ceilings from ceiling kernels, each implementation's own curve.

Efficiency belongs to (device, implementation, op class, size), so the fit has two levels:

- **Device ceilings** from ceiling rows only: the ceiling kernels (``kernels/ceilings.py``: ``copy``, ``matmul``)
  and the largest call of each designated vendor-library peer (``CEILING_PEERS``: cuBLAS through torch's linear
  and ``_int_mm``). A robust log-space fit (``scipy.optimize.least_squares``, soft L1) of
  time = max(t_compute / eff_c[dtype], t_memory / eff_m) + launch gives the compute ceiling per dtype, the memory
  ceiling (only from copies) and the launch overhead; a slow peer never moves them. Energy (idle / static power,
  J per FLOP per dtype, J per byte) is a non-negative least squares on the ceiling rows' measured energy
  (relative residuals); with too few rows only the per-dtype J/FLOP is fitted, idle and J/byte kept from the
  overlay in place.
- **Implementation curves** for every other (kernel, impl): time = max(t_c / (eff_c s / (s + s_half)),
  t_m / eff_m) + floor, s = FLOPs of the call, fitted the same robust way on that implementation's rows with
  weak priors at the device ceilings (``hwdb.schema.ImplCurve``; ``roofline.analysis.attribution.compare`` uses it).

A deterministic fraction of configurations is held out of both fits; fidelity is reported on fit and held-out
rows, overall and by implementation, next to the overlay in place on the same held-out rows. ``write_calibration``
refuses an overlay that predicts the held-out rows worse than the one in place unless forced (and then says so in
the file). The result is written with ``hwdb.write_measured`` (never by hand).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

import hwdb
from hwdb.loader import MEASURED_DIR
from hwdb.schema import Device, ImplCurve, Measured, frozen_map
from roofline.analysis.attribution import compare, fidelity, fidelity_by_impl, holdout_mask
from roofline.engine.efficiency import efficiency_for
from roofline.engine.energy import coefficients_for
from roofline.engine.model import compute_dtype_for
from roofline.errors import InputError, UnsupportedDtypeError
from roofline.measure.traces import check_rows
from roofline.ops import hwdb_dtype

MEASURED_ENERGY = ("nvml-counter", "rapl")  # modeled energies are never fitted
CEILING_KERNELS = ("copy", "matmul")  # kernels/ceilings.py
CEILING_PEERS = ("torch-bf16-linear", "torch-fp16-linear", "torch-int-mm")  # vendor GEMMs: their largest call
ROBUST_SCALE = 0.1  # soft-L1 knee (log time): rows more than ~10% off count linearly
PRIOR_WEIGHT = 0.1  # the priors only decide what the rows leave open (a parameter no row constrains)
DEFAULT_FLOOR_S = 4e-6


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
    curves: dict[str, ImplCurve] = field(default_factory=dict)
    by_impl: tuple[dict, ...] = ()  # attribution.fidelity_by_impl records with the calibrated model
    in_place_held_out: float | None = None  # median held-out |time err| of the overlay in place
    forced: bool = False
    idle_state: str = "fitted static power (time coefficient of the energy fit)"

    @property
    def held_out_median(self) -> float:
        for f in self.fidelity:
            if f["metric"] == "time" and f["split"] == "held-out":
                return float(f["median_abs_err"])
        return math.nan

    @property
    def worse_than_in_place(self) -> bool:
        h, old = self.held_out_median, self.in_place_held_out
        return old is not None and math.isfinite(h) and math.isfinite(old) and h > old

    def fields(self) -> dict:
        """The hwdb measured-overlay fields (only what was fitted; zero coefficients left out)."""
        pos = lambda d: {k: float(v) for k, v in d.items() if v and v > 0}  # noqa: E731
        note = (f"fit on {self.n_fit} rows, {self.n_holdout} held out; held-out median time error "
                f"{self.held_out_median:.1%}" + (f" (overlay it replaced: {self.in_place_held_out:.1%})"
                                                 if self.in_place_held_out is not None else ""))
        if self.forced:
            note += "; WRITTEN WITH --force although it predicts the held-out rows worse than the overlay it replaced"
        f = {"run_id": "+".join(self.run_ids)[:200] or "unknown", "date": date.today().isoformat(),
             "source": f"roofline calibrate on traces {', '.join(self.run_ids)}"[:500],
             "copy_bw_bytes_per_s": self.copy_bw_bytes_per_s, "idle_power_w": self.idle_power_w,
             "idle_state": self.idle_state if self.idle_power_w else None,
             "e_byte_j": self.e_byte_j or None, "memory_eff": self.memory_eff,
             "launch_overhead_s": self.launch_overhead_s, "note": "; ".join([note, *self.notes])}
        for k in ("matmul_ops_per_s", "e_flop_j", "compute_eff"):
            t = pos(getattr(self, k))
            if t:
                f[k] = t
        if self.curves:
            f["impl"] = {k: {"kernel": c.kernel, "impl": c.impl, "compute_eff": c.compute_eff,
                             "memory_eff": c.memory_eff, "floor_s": c.floor_s, "half_flops": c.half_flops,
                             "n_fit": c.n_fit, "held_out_median_err": c.held_out_median_err, "power_w": c.power_w,
                             "note": c.note}
                         for k, c in sorted(self.curves.items())}
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


def _roofs(df: pd.DataFrame, dev: Device) -> pd.DataFrame:
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


def ceiling_mask(r: pd.DataFrame) -> np.ndarray:
    """Ceiling rows: the ceiling kernels, and each designated vendor peer's largest call per dtype."""
    mask = r["kernel"].isin(CEILING_KERNELS).to_numpy().copy()
    peers = r[r["impl"].isin(CEILING_PEERS) & (r["flops"] > 0)]
    for _, g in peers.groupby(["impl", "cdt"]):
        mask[r.index.get_indexer([g["flops"].idxmax()])] = True
    return mask


def _robust_fit(r: pd.DataFrame, model, x0: np.ndarray, sig: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                starts: tuple[np.ndarray, ...] = ()) -> np.ndarray:
    """least_squares on log(time) with soft-L1 loss and Gaussian priors (x0, sig) in log space; from the prior
    and any other ``starts``, the lowest-cost solution (a floor-bound and a memory-bound reading of the same few
    rows fit equally well: the priors decide between them)."""
    meas = np.log(r["median_s"].to_numpy(float))

    def res(x):
        return np.concatenate([np.log(model(x)) - meas, PRIOR_WEIGHT * (x - x0) / sig])

    best = None
    for start in (x0, *starts):
        sol = least_squares(res, np.clip(start, lo + 1e-9, hi - 1e-9), bounds=(lo, hi), loss="soft_l1",
                            f_scale=ROBUST_SCALE)
        if best is None or sol.cost < best.cost:
            best = sol
    return best.x


def _fit_ceilings(c: pd.DataFrame, dev: Device, notes: list[str]) -> tuple[dict, float | None, float | None]:
    """Compute ceiling per dtype, memory ceiling (copies only) and launch overhead from ceiling rows."""
    base = efficiency_for(dev, calibrated=True)
    dts = sorted(c.loc[c["flops"] > 0, "cdt"].unique())
    has_mem = bool((c["kernel"] == "copy").any())
    names = [f"c:{d}" for d in dts] + (["m"] if has_mem else []) + ["floor"]
    x0 = np.array([math.log(base.compute_for(d)) for d in dts] + ([math.log(base.memory)] if has_mem else [])
                  + [math.log(base.launch_overhead_s or DEFAULT_FLOOR_S)])
    sig = np.array([math.log(4)] * len(dts) + ([math.log(2)] if has_mem else []) + [math.log(10)])
    lo = np.array([math.log(1e-3)] * (len(names) - 1) + [math.log(1e-8)])
    hi = np.array([0.0] * (len(names) - 1) + [math.log(1e-2)])
    t_c, t_m = c["t_c"].fillna(0).to_numpy(float), c["t_m"].to_numpy(float)
    didx = np.array([dts.index(d) if d in dts else 0 for d in c["cdt"]])
    copy = (c["kernel"] == "copy").to_numpy()

    def model(x):
        ce = np.exp(x[: len(dts)])[didx] if dts else np.ones(len(c))
        me = math.exp(x[len(dts)]) if has_mem else base.memory
        tc = np.where(t_c > 0, t_c / ce, 0.0)
        tm = np.where(copy, t_m / me, 0.0)  # only copies bound the memory ceiling
        return np.maximum(tc, tm) + math.exp(x[-1])

    x = _robust_fit(c, model, x0, sig, lo, hi)
    comp = {d: float(math.exp(x[i])) for i, d in enumerate(dts)}
    mem = float(math.exp(x[len(dts)])) if has_mem else None
    if not has_mem:
        notes.append("no copy rows: memory ceiling kept from the overlay in place")
    if not dts:
        notes.append("no compute ceiling rows: compute efficiency not fitted")
    return comp, mem, float(math.exp(x[-1]))


def _fit_curve(g: pd.DataFrame, ce0: float, me0: float, floor0: float, e_flop: dict[str, float],
               e_byte: float) -> ImplCurve:
    """One implementation's curve from its fit rows, pulled weakly toward the device ceilings."""
    t_c, t_m = g["t_c"].fillna(0).to_numpy(float), g["t_m"].to_numpy(float)
    s = g["flops"].to_numpy(float)
    x0 = np.array([math.log(ce0), math.log(me0), math.log(floor0), math.log(1e8)])
    sig = np.array([math.log(4), math.log(2), math.log(10), math.log(100)])
    lo = np.array([math.log(1e-4), math.log(1e-4), math.log(1e-8), math.log(1.0)])
    hi = np.array([0.0, 0.0, math.log(1e-1), math.log(1e15)])

    def model(x):
        ce = math.exp(x[0]) * s / (s + math.exp(x[3]))
        tc = np.where(t_c > 0, t_c / np.maximum(ce, 1e-12), 0.0)
        return np.maximum(tc, t_m / math.exp(x[1])) + math.exp(x[2])

    floor_start = x0.copy()
    floor_start[2] = math.log(0.9 * float(g["median_s"].min()))  # the smallest call is mostly latency
    x = _robust_fit(g, model, x0, sig, lo, hi, starts=(floor_start,))
    kernel, impl = str(g["kernel"].iloc[0]), str(g["impl"].iloc[0])
    e = g[g["energy_method"].isin(MEASURED_ENERGY) & (g["energy_j"] > 0)]
    dyn = np.array([e_flop.get(c, 0.0) for c in e["cdt"]]) * e["flops"] + e_byte * e["bytes"]
    power = float(max(np.median((e["energy_j"] - dyn) / e["median_s"]), 0.0)) if len(e) else None
    return ImplCurve(kernel=kernel, impl=impl, compute_eff=float(math.exp(x[0])), memory_eff=float(math.exp(x[1])),
                     floor_s=float(math.exp(x[2])), half_flops=float(math.exp(x[3])), n_fit=len(g), power_w=power,
                     note=f"fitted on {len(g)} rows (dtype {g['cdt'].iloc[0]})"
                          + ("; power = static power while it runs: median of (energy - J/FLOP x FLOPs - J/byte x "
                             "bytes) / time over those rows" if power is not None else ""))


def _fit_energy(r: pd.DataFrame, dev: Device, notes: list[str]) -> tuple[float | None, dict, float | None]:
    """NNLS of energy on [time, flops per dtype, bytes] over ceiling rows (relative residuals)."""
    e = r[r["energy_method"].isin(MEASURED_ENERGY) & (r["energy_j"] > 0)]
    dts = sorted(d for d in e.loc[e["flops"] > 0, "cdt"].unique())
    n_unknown = 2 + len(dts)
    w = 1.0 / e["energy_j"].to_numpy(float)
    if len(e) >= n_unknown + 1:
        cols = [e["median_s"].to_numpy(float)]
        cols += [np.where(e["cdt"] == dt, e["flops"], 0.0).astype(float) for dt in dts]
        cols.append(e["bytes"].to_numpy(float))
        a = np.column_stack(cols) * w[:, None]  # relative residuals
        scale = np.abs(a).max(axis=0)
        scale[scale == 0] = 1.0
        x = nnls(a / scale, np.ones(len(e))) / scale
        return float(x[0]), {dt: float(v) for dt, v in zip(dts, x[1:-1], strict=True)}, float(x[-1])
    old = coefficients_for(dev, calibrated=True)
    if dev.measured is None or dev.measured.idle_power_w is None or not dts:
        notes.append(f"{len(e)} ceiling rows with measured energy (need {n_unknown + 1}): energy not fitted")
        return None, {}, None
    # too few rows for every coefficient: idle and J/byte stay as the overlay in place has them, J/FLOP per dtype
    # from the ceiling rows of that dtype
    rest = e["energy_j"] - old.idle_w * e["median_s"] - old.e_byte_j * e["bytes"]
    e_flop = {dt: float(max(np.median((rest / e["flops"])[e["cdt"] == dt]), 0.0)) for dt in dts}
    notes.append(f"{len(e)} ceiling rows with measured energy: J/FLOP fitted per dtype, idle and J/byte kept from "
                 "the overlay in place")
    return old.idle_w, e_flop, old.e_byte_j


def _measured(cal: Calibration) -> Measured:
    f = cal.fields()
    return Measured(run_id=f["run_id"], date=f["date"], source=f["source"],
                    copy_bw_bytes_per_s=f.get("copy_bw_bytes_per_s"),
                    matmul_ops_per_s=frozen_map(f.get("matmul_ops_per_s", {})), idle_power_w=f.get("idle_power_w"),
                    e_flop_j=frozen_map(f.get("e_flop_j", {})), e_byte_j=f.get("e_byte_j"),
                    compute_eff=frozen_map(f.get("compute_eff", {})), memory_eff=f.get("memory_eff"),
                    launch_overhead_s=f.get("launch_overhead_s"), impl=frozen_map(cal.curves))


def calibrate(df: pd.DataFrame, device_id: str | None = None, holdout_frac: float = 0.25, seed: int = 0) -> Calibration:
    """Fit the device's measured overlay from trace rows (see module doc); nothing is written here."""
    rows, device_id, notes = _rows_for(check_rows(df, "calibrate"), device_id)  # the trace schema: finite times
    rows = rows[rows["kernel"] != "serving"].reset_index(drop=True)  # serving rows calibrate a runtime, not a device
    if rows.empty:
        raise InputError(f"no kernel rows for {device_id} (serving rows calibrate a runtime: --runtime)")
    dev = hwdb.get(device_id)
    hold = holdout_mask(rows, holdout_frac, seed)
    r = _roofs(rows[~hold], dev)
    if r.empty:
        raise InputError(f"no fit rows with a dtype {device_id} has a ceiling for")
    cmask = ceiling_mask(r)
    c = r[cmask]
    if c.empty:
        raise InputError(f"no ceiling rows for {device_id} in the fit rows: run the ceiling kernels (copy, matmul) "
                         f"or a designated vendor peer ({', '.join(CEILING_PEERS)})")
    comp, mem, overhead = _fit_ceilings(c, dev, notes)
    idle, e_flop, e_byte = _fit_energy(c, dev, notes)
    base = efficiency_for(dev, calibrated=True)
    old_e = coefficients_for(dev, calibrated=True)
    ef = {**old_e.e_flop_j, **e_flop}
    eb = e_byte if e_byte is not None else old_e.e_byte_j
    curves = {}
    for (kernel, impl), g in r.groupby(["kernel", "impl"], sort=True):
        if kernel in CEILING_KERNELS:
            continue
        dt = g["cdt"].iloc[0]
        curves[f"{kernel}/{impl}"] = _fit_curve(g, comp.get(dt, base.compute_for(dt)), mem or base.memory,
                                                overhead or base.launch_overhead_s, ef, eb)
    ach = c["flops"] / c["median_s"]
    copy = c[c["kernel"] == "copy"]
    old = dev.measured
    cal = Calibration(
        device_id=device_id, run_ids=tuple(sorted(set(rows["run_id"].astype(str)))), compute_eff=comp, memory_eff=mem,
        launch_overhead_s=overhead,
        copy_bw_bytes_per_s=float((copy["bytes"] / copy["median_s"]).max()) if len(copy) else
        (old.copy_bw_bytes_per_s if old is not None else None),
        matmul_ops_per_s={dt: float(ach[g.index].max()) for dt, g in c[c["flops"] > 0].groupby("cdt")},
        idle_power_w=idle, e_flop_j=e_flop, e_byte_j=e_byte, n_fit=int((~hold).sum()), n_holdout=int(hold.sum()),
        notes=tuple(notes), curves=curves)
    if mem is None and old is not None and old.memory_eff is not None:
        cal = replace(cal, memory_eff=old.memory_eff)
    if any("idle and J/byte kept" in n for n in notes) and old is not None:
        cal = replace(cal, idle_state=f"kept from the overlay in place: {old.idle_state}".rstrip(": "))
    cmp = compare(rows, devices={device_id: replace(dev, measured=_measured(cal))})
    cmp["holdout"] = hold
    # held-out error of each curve, and of the overlay in place on the same held-out rows
    errs = cmp.assign(abs_err=cmp["time_err"].abs())
    for key, cv in list(cal.curves.items()):
        k, i = key.split("/", 1)
        v = errs[(errs["kernel"] == k) & (errs["impl"] == i) & errs["holdout"]]["abs_err"].dropna()
        cal.curves[key] = replace(cv, held_out_median_err=float(v.median()) if len(v) else None)
    in_place = None
    if hold.any():
        before = compare(rows, devices={device_id: dev})["time_err"].abs().to_numpy(float)[hold]
        before = before[np.isfinite(before)]
        in_place = float(np.median(before)) if before.size else None
    return replace(cal, fidelity=tuple(fidelity(cmp).to_dict("records")),
                   by_impl=tuple(fidelity_by_impl(cmp).to_dict("records")), in_place_held_out=in_place)


def write_calibration(cal: Calibration, measured_dir: Path | None = None, force: bool = False) -> Path:
    """Write the overlay hwdb/measured/<id>.toml atomically (validated by hwdb before the rename). Refuses an
    overlay that predicts the held-out rows worse than the one in place unless ``force`` (then it says so)."""
    if cal.worse_than_in_place and not force:
        raise InputError(f"the fitted overlay predicts the held-out rows worse (median {cal.held_out_median:.1%}) "
                         f"than the one in place ({cal.in_place_held_out:.1%}): nothing written (--force writes it "
                         "and says so in the file)")
    if cal.worse_than_in_place:
        cal = replace(cal, forced=True)
    return hwdb.write_measured(cal.device_id, cal.fields(), measured_dir or MEASURED_DIR)
