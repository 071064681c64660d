"""Device selection: rank devices for a workload, SLO filters, Pareto front, and the parallel layout (TP x PP x
EP, ``roofline.engine.parallel``) with the fewest devices that holds the model when one device does not."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

import hwdb
from hwdb.schema import Device
from roofline.engine.catalog import ModelSpec, get_model
from roofline.engine.collectives import default_links
from roofline.engine.cost import DEFAULT_BASIS, Tco
from roofline.engine.parallel import MAX_AUTO_DEVICES, legal_layouts
from roofline.engine.predict import Prediction, predict
from roofline.engine.runtime import RuntimeProfile, get_profile
from roofline.engine.scenario import Scenario
from roofline.errors import InputError, UnsupportedDtypeError

# rank key -> True when larger is better
RANK_KEYS: dict[str, bool] = {
    "tokens_per_s": True, "tokens_per_s_per_device": True, "ttft_s": False, "tpot_s": False,
    "usd_per_mtok": False, "j_per_token": False, "ipw": True, "ipj": True,
}
TP_DEGREES = (1, 2, 4, 8, 16)
BAND_KEYS = ("ttft_s", "tpot_s", "tokens_per_s", "tokens_per_s_per_device", "usd_per_mtok", "j_per_token", "ipw", "ipj")
COLUMNS = ["device_id", "name", "kind", "vendor", "tp", "fits", "fit_reason", "ttft_s", "tpot_s", "tokens_per_s",
           "tokens_per_s_per_device", "usd_per_mtok", "usd_per_h", "usd_per_h_per_device", "cost_basis",
           "price_source", "j_per_token", "avg_power_w", "ipw", "ipj", "memory_bytes",
           "bound", "efficiency_kind", "energy_kind", "meets_slo", "unreliable", "unreliable_figures", "rank",
           *[f"{k}_{s}" for k in BAND_KEYS for s in ("lo", "hi")], "runtime", "band_class", "within_band_of",
           "pp", "ep", "nodes", "devices", "system"]


# the performance figures a row that does not fit leaves blank: it shows only why it does not fit
PERF_COLUMNS = ("ttft_s", "tpot_s", "tokens_per_s", "tokens_per_s_per_device", "usd_per_mtok", "usd_per_h",
                "usd_per_h_per_device", "j_per_token", "avg_power_w", "ipw", "ipj")


def _candidate(m: ModelSpec, d: Device, sc: Scenario, allow_tp: bool,
               runtime: RuntimeProfile | str | None = None, by: str = "tokens_per_s",
               allow_pcie_tp: bool = False, cost_basis: str = DEFAULT_BASIS,
               tco: Tco | None = None) -> tuple[Prediction | None, str]:
    """The prediction at the scenario's layout, or, when it does not fit and parallelism is allowed, the best
    (by ``by``) of the legal layouts with the fewest devices that fit (``parallel.legal_layouts``)."""
    try:
        p = predict(m, d, sc, runtime=runtime, allow_pcie_tp=allow_pcie_tp, cost_basis=cost_basis, tco=tco)
    except UnsupportedDtypeError as e:  # before InputError, its base: no dtype path at any layout
        return None, str(e)
    except InputError as e:
        p, why = None, str(e)
    else:
        if p.fits or not allow_tp:
            return p, ""
        why = ""
    if not allow_tp:
        return p, why
    links = default_links(d)
    layouts = [x for x in legal_layouts(m, sc, links, MAX_AUTO_DEVICES, allow_pcie_tp) if x.devices > sc.devices]
    best: Prediction | None = None
    for n_dev in sorted({x.devices for x in layouts}):
        fitting = []
        for lay in (x for x in layouts if x.devices == n_dev):
            q = predict(m, d, lay.apply(sc), runtime=runtime, allow_pcie_tp=allow_pcie_tp, cost_basis=cost_basis,
                        tco=tco)
            if q.fits:
                fitting.append(q)
        if fitting:
            key = RANK_KEYS.get(by, True)
            best = sorted(fitting, key=lambda q: (getattr(q, by) is None,
                                                  -(getattr(q, by) or 0.0) if key else (getattr(q, by) or 0.0)))[0]
            return best, ""
    return p, why or (p.fit_reason if p else "no legal parallel layout fits")


def rank(model: ModelSpec | str, scenario: Scenario, devices: Sequence[Device | str] | None = None,
         by: str = "tokens_per_s", slo_ttft_s: float | None = None, slo_tpot_s: float | None = None,
         allow_tp: bool = True, runtime: RuntimeProfile | str | None = None, cost_basis: str = DEFAULT_BASIS,
         tco: Tco | None = None, include_unreliable: bool = False) -> pd.DataFrame:
    """Rank devices for ``model`` under ``scenario``: rows that fit and meet the SLOs get rank 1, 2, ...
    by ``by``; the others follow with rank NaN. With allow_tp, a device that cannot hold the model alone
    is tried at every legal TP x PP x EP layout of its hwdb system and reported at the fewest devices that fit
    (the best of those layouts by ``by``).
    Every figure carries its band (``*_lo`` / ``*_hi``); ``within_band_of`` lists the ranked devices whose band
    on ``by`` overlaps this one's (the ranking between them is within the model's uncertainty).

    Dollar figures are on ``cost_basis`` (cloud on-demand, or owned: ``cost.Tco``), never mixed. A row whose
    ``by`` figure rests on a field hwdb marks unreliable (a placeholder) is left unranked, its reason in
    ``unreliable``, unless ``include_unreliable``. Rows that do not fit keep only why (their figures blank)."""

    if by not in RANK_KEYS:
        raise InputError(f"cannot rank by {by!r} (use {', '.join(RANK_KEYS)})")
    for name, v in (("slo_ttft_s", slo_ttft_s), ("slo_tpot_s", slo_tpot_s)):
        if v is not None and not v > 0:
            raise InputError(f"{name} must be > 0, got {v!r}")
    m = get_model(model)
    scenario.validate(m)
    devs = list(hwdb.load().values()) if devices is None else [hwdb.get(d) if isinstance(d, str) else d for d in devices]
    rt = get_profile(runtime)
    rows = []
    for d in devs:
        p, why = _candidate(m, d, scenario, allow_tp, rt, by, cost_basis=cost_basis, tco=tco)
        base = {"device_id": d.id, "name": d.name, "kind": d.kind, "vendor": d.vendor}
        if p is None:
            rows.append({**base, "tp": scenario.tp, "fits": False, "fit_reason": why, "meets_slo": False})
            continue
        meets = p.fits and (slo_ttft_s is None or p.ttft_s <= slo_ttft_s) and (slo_tpot_s is None or p.tpot_s <= slo_tpot_s)
        rows.append({**base, "tp": p.tp, "fits": p.fits, "fit_reason": p.fit_reason or why, "ttft_s": p.ttft_s,
                     "tpot_s": p.tpot_s, "tokens_per_s": p.tokens_per_s,
                     "tokens_per_s_per_device": p.tokens_per_s_per_device, "usd_per_mtok": p.usd_per_mtok,
                     "usd_per_h": p.usd_per_h, "usd_per_h_per_device": None if p.usd_per_h is None else p.usd_per_h / p.devices,
                     "cost_basis": p.cost_basis, "price_source": p.price_source,
                     "unreliable": p.unreliable.get(by, ""), "unreliable_figures": ",".join(sorted(p.unreliable)),
                     "j_per_token": p.j_per_token, "avg_power_w": p.avg_power_w, "ipw": p.ipw, "ipj": p.ipj,
                     "memory_bytes": p.memory_bytes, "bound": p.bound, "efficiency_kind": p.efficiency_kind,
                     "energy_kind": p.energy_kind, "meets_slo": bool(meets), "runtime": p.runtime,
                     "band_class": p.band.device_class if p.band else "", "pp": p.pp, "ep": p.ep,
                     "nodes": p.nodes, "devices": p.devices, "system": p.system_id,
                     **{f"{k}_{side}": p.bands[k][i] for k in BAND_KEYS if k in p.bands
                        for i, side in enumerate(("lo", "hi"))}})
    df = pd.DataFrame(rows, columns=COLUMNS)
    for c in (*PERF_COLUMNS, "memory_bytes", *[f"{k}_{s}" for k in BAND_KEYS for s in ("lo", "hi")]):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    no_fit = ~df["fits"].fillna(False).astype(bool)
    df.loc[no_fit, [*PERF_COLUMNS, *[f"{k}_{s}" for k in BAND_KEYS for s in ("lo", "hi")]]] = math.nan
    df["cost_basis"] = df["cost_basis"].fillna(cost_basis)
    df["price_source"] = df["price_source"].fillna("")
    df["unreliable"] = df["unreliable"].fillna("")
    df["unreliable_figures"] = df["unreliable_figures"].fillna("")
    df["runtime"] = df["runtime"].fillna(rt.name)
    df["band_class"] = df["band_class"].fillna("")
    df["fits"] = df["fits"].astype(bool)
    df["meets_slo"] = df["meets_slo"].astype(bool)
    df["fit_reason"] = df["fit_reason"].fillna("")
    ok = df["meets_slo"] & df[by].notna() & (include_unreliable | (df["unreliable"] == ""))
    order = df.loc[ok, by].sort_values(ascending=not RANK_KEYS[by], kind="stable").index
    df["rank"] = math.nan
    df.loc[order, "rank"] = np.arange(1, len(order) + 1, dtype=float)
    rest = df.index.difference(order)
    df["within_band_of"] = ""
    if f"{by}_lo" in df.columns:
        lo, hi = df[f"{by}_lo"], df[f"{by}_hi"]
        for i in order:
            near = [str(df.at[j, "device_id"]) for j in order if j != i and pd.notna(lo[i]) and pd.notna(lo[j])
                    and max(lo[i], lo[j]) <= min(hi[i], hi[j])]
            df.at[i, "within_band_of"] = ",".join(near)
    return df.loc[list(order) + list(rest)].reset_index(drop=True)


def pareto_front(df: pd.DataFrame, minimize: Sequence[str] = ("j_per_token",),
                 maximize: Sequence[str] = ("tokens_per_s",), include_unreliable: bool = False) -> pd.DataFrame:
    """A copy of ``df`` with bool column ``pareto``: no other row (that fits, when a ``fits`` column exists)
    is at least as good on every objective and better on one. Rows with a missing objective are never on it,
    nor (unless ``include_unreliable``) rows whose objective rests on a placeholder (``unreliable_figures``)."""
    cols = list(minimize) + list(maximize)
    for c in cols:
        if c not in df.columns:
            raise InputError(f"no column {c!r} to optimize (have: {', '.join(map(str, df.columns))})")
    out = df.copy()
    # orient every objective as "smaller is better"
    vals = np.column_stack([df[c].astype(float).to_numpy() for c in minimize]
                           + [-df[c].astype(float).to_numpy() for c in maximize]) if cols else np.zeros((len(df), 0))
    valid = ~np.isnan(vals).any(axis=1)
    if "fits" in df.columns:
        valid &= df["fits"].astype(bool).to_numpy()
    if "unreliable_figures" in df.columns and not include_unreliable:
        flagged = df["unreliable_figures"].fillna("").astype(str).str.split(",")
        valid &= ~flagged.map(lambda fs: bool(set(fs) & set(cols))).to_numpy(dtype=bool)
    pareto = valid.copy()
    idx = np.nonzero(valid)[0]
    v = vals[idx]
    for k, i in enumerate(idx):
        dominated = (np.all(v <= v[k], axis=1) & np.any(v < v[k], axis=1)).any()
        pareto[i] = not dominated
    out["pareto"] = pareto
    return out
