"""Capacity planning: the cheapest (or lowest-energy, or fewest-device) fleet that serves ``qps`` requests a
second within p99 TTFT and TPOT objectives, found with the serving simulator.

For every device kind x legal parallel layout (``parallel.legal_layouts``, memory permitting) x batch policy
(scheduler and max concurrent sequences), the number of data-parallel replicas is searched upward from the
throughput estimate until a replica serving its share of the traffic (qps / replicas, Poisson) meets both
p99 objectives in simulation. The fleet's cost is replicas x devices x the device price (``Prediction``'s
price fields: ``cost.hourly_cost`` on the chosen cost basis, with the simulated mean power for owned TCO), its
energy the simulated joules a request. Candidates are
independent tasks: ``distribute.run_tasks`` runs them here or on Ray with identical results.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

import hwdb
from roofline import validate
from roofline.engine.catalog import get_model
from roofline.engine.collectives import default_links
from roofline.engine.cost import DEFAULT_BASIS, hourly_cost
from roofline.engine.distribute import run_tasks
from roofline.engine.parallel import legal_layouts
from roofline.engine.predict import predict
from roofline.engine.scenario import Scenario
from roofline.engine.simulate import SimConfig, simulate
from roofline.engine.workload import make_workload
from roofline.errors import InputError, RooflineError

OBJECTIVES = ("usd", "joules", "devices")
POLICIES = (("vllm", 256), ("sarathi", 256))
PLAN_DEVICES = ("h100-sxm", "h200", "b200", "mi300x")
MAX_REPLICA_DEVICES = 16
MAX_REPLICAS = 64
PLAN_COLUMNS = ["device_id", "layout", "tp", "pp", "ep", "nodes", "scheduler", "max_batch", "replicas", "devices",
                "meets_slo", "ttft_p99_s", "tpot_p99_s", "e2e_p99_s", "j_per_request", "j_per_token", "usd_per_h",
                "usd_per_mtok", "throughput_tokens_per_s", "utilization", "saturated", "price_basis", "note"]


@dataclass(frozen=True)
class PlanRequest:
    model: str
    qps: float
    slo_ttft_p99_s: float
    slo_tpot_p99_s: float
    devices: tuple[str, ...] = PLAN_DEVICES
    objective: str = "usd"
    prompt_dist: str = "chat"
    output_dist: str = "chat"
    duration_s: float = 120.0
    seed: int = 0
    runtime: str | None = "vllm"
    wbits: int | None = None
    max_replica_devices: int = MAX_REPLICA_DEVICES
    cost_basis: str = DEFAULT_BASIS  # cloud | owned


def _candidate(req: PlanRequest, device: str, tp: int, pp: int, ep: int, nodes: int, scheduler: str,
               max_batch: int, start: int) -> dict[str, Any]:
    """Replicas needed for one (device, layout, policy): the smallest count meeting both p99 objectives."""
    m = get_model(req.model)
    sc = Scenario(tp=tp, pp=pp, ep=ep, nodes=nodes, wbits=req.wbits or m.native_wbits, abits=m.native_abits)
    n_dev = tp * pp * ep
    dev = hwdb.get(device)
    basis = hourly_cost(dev, 1, req.cost_basis).label
    row: dict[str, Any] = {"device_id": device, "layout": f"TP{tp}" + (f"xPP{pp}" if pp > 1 else "")
                           + (f"xEP{ep}" if ep > 1 else ""), "tp": tp, "pp": pp, "ep": ep, "nodes": nodes,
                           "scheduler": scheduler, "max_batch": max_batch, "price_basis": basis, "note": ""}
    best: dict[str, Any] | None = None
    r = max(1, start)
    tried = 0
    while r <= MAX_REPLICAS and tried < 8:
        tried += 1
        wl = make_workload(f"poisson:{req.qps / r:.9g}", req.duration_s, req.prompt_dist, req.output_dist, req.seed)
        cfg = SimConfig(model=req.model, device=device, scenario=sc, scheduler=scheduler, max_batch=max_batch,
                        runtime=req.runtime, slo_ttft_s=req.slo_ttft_p99_s, slo_tpot_s=req.slo_tpot_p99_s,
                        seed=req.seed)
        try:
            res = simulate(cfg, wl, req.duration_s)
        except RooflineError as e:
            return {**row, "replicas": 0, "devices": 0, "meets_slo": False, "note": str(e)[:160]}
        s = res.summary
        ok = (not s["saturated"] and s["ttft_s"]["p99"] <= req.slo_ttft_p99_s
              and s["tpot_s"]["p99"] <= req.slo_tpot_p99_s and s["completed"] == s["requests"])
        best = {**row, "replicas": r, "devices": r * n_dev, "meets_slo": bool(ok),
                "ttft_p99_s": s["ttft_s"]["p99"], "tpot_p99_s": s["tpot_s"]["p99"], "e2e_p99_s": s["e2e_s"]["p99"],
                "j_per_request": s["j_per_request"], "j_per_token": s["j_per_token"],
                "usd_per_h": _usd(dev, req.cost_basis, r, n_dev, s),
                "throughput_tokens_per_s": s["throughput_tokens_per_s"] * r, "utilization": s["utilization"],
                "saturated": s["saturated"]}
        best["usd_per_mtok"] = (best["usd_per_h"] / 3600.0 / best["throughput_tokens_per_s"] * 1e6
                                if best["throughput_tokens_per_s"] else math.nan)
        if ok:
            return best
        if s["tpot_s"]["p99"] > req.slo_tpot_p99_s and s["utilization"] < 0.5 and not s["saturated"]:
            best["note"] = "TPOT objective out of reach for this layout even lightly loaded"
            return best  # more replicas cannot shorten a lightly loaded step
        # scale by how far the load is from the knee, at least one more replica
        r = max(r + 1, int(math.ceil(r * max(1.25, s["utilization"] * 1.1 if s["saturated"] else 1.25))))
    return best or {**row, "replicas": 0, "devices": 0, "meets_slo": False, "note": "no replica count tried"}


_UNITS = {"usd_per_h": ("USD/h", "costs"), "j_per_request": ("J a request", "spends"), "devices": ("devices", "needs")}


def _lost(best: pd.Series, other: pd.Series, key: str) -> str:
    """Why ``other`` ranks below ``best``: the objective, else the tie-breaks (energy, devices), in words."""
    for k in dict.fromkeys((key, "j_per_request", "devices")):
        a, b = float(best[k]), float(other[k])
        if math.isfinite(a) and math.isfinite(b) and not math.isclose(a, b, rel_tol=1e-6):
            unit, verb = _UNITS[k]
            tie = "" if k == key else f"ties on {_UNITS[key][0]} and "
            return f"{tie}{verb} {b - a:,.3g} {unit} more ({b:,.4g} vs {a:,.4g})"
    return "ties on every criterion (listed second)"


def _usd(dev, basis: str, replicas: int, n_dev: int, s: dict[str, Any]) -> float:
    """USD an hour of the whole fleet: replicas x devices on the basis, owned TCO at the simulated mean power."""
    c = hourly_cost(dev, replicas * n_dev, basis, s["avg_power_w"] * replicas, s["idle_w_per_device"])
    return c.usd_per_h if c.usd_per_h is not None else math.nan


def candidates(req: PlanRequest) -> list[tuple]:
    """The (device, layout, policy) tasks of a plan, each with its starting replica count."""
    m = get_model(req.model)
    out = []
    for dev_id in req.devices:
        dev = hwdb.get(dev_id)
        links = default_links(dev)
        sc = Scenario(wbits=req.wbits or m.native_wbits, abits=m.native_abits)
        for lay in legal_layouts(m, sc, links, req.max_replica_devices):
            p = predict(m, dev, lay.apply(sc.with_(phase="decode", batch=64, prompt_tokens=1024)),
                        runtime=req.runtime)
            if not p.fits and not predict(m, dev, lay.apply(sc.with_(phase="decode", batch=1, prompt_tokens=1024)),
                                          runtime=req.runtime).fits:
                continue
            if lay.pp > 1 and lay.tp < min(links.domain, 8):  # PP only once TP fills the scale-up domain
                continue
            # a first guess of the replicas: the qps a replica serves near batch 64 of chat requests (~320 tokens out)
            per_rep_qps = max(p.tokens_per_s / 320.0, 1e-6)
            start = max(1, int(req.qps / per_rep_qps * 0.8))
            for sched, mb in POLICIES:
                out.append((req, dev_id, lay.tp, lay.pp, lay.ep, lay.nodes, sched, mb, start))
    return out


def plan(req: PlanRequest, ray_address: str | None = None) -> dict[str, Any]:
    """Search the fleet; returns {"table": DataFrame (PLAN_COLUMNS, best first), "best", "runner_up", "why"}.
    InputError when nothing meets the objectives (the message gives the best achievable)."""
    validate.positive("--qps", req.qps)
    validate.positive("--slo-ttft-p99", req.slo_ttft_p99_s)
    validate.positive("--slo-tpot-p99", req.slo_tpot_p99_s)
    validate.choice("--objective", req.objective, OBJECTIVES)
    tasks = candidates(req)
    if not tasks:
        raise InputError(f"{req.model} fits no legal layout of up to {req.max_replica_devices} devices of "
                         f"{', '.join(req.devices)}")
    rows = run_tasks(_candidate, tasks, ray_address)
    df = pd.DataFrame(rows).reindex(columns=PLAN_COLUMNS)
    key = {"usd": "usd_per_h", "joules": "j_per_request", "devices": "devices"}[req.objective]
    ok = df[df["meets_slo"].astype(bool)].copy()
    if ok.empty:
        tried = df[df["replicas"] > 0]
        near = tried.assign(miss=tried["ttft_p99_s"] / req.slo_ttft_p99_s + tried["tpot_p99_s"] / req.slo_tpot_p99_s)
        b = near.sort_values("miss").iloc[0] if len(near) else None
        best_txt = (f"; best achievable: p99 TTFT {b.ttft_p99_s:.3g} s, p99 TPOT {b.tpot_p99_s * 1e3:.3g} ms on "
                    f"{int(b.replicas)} x {b.layout} {b.device_id} ({b.scheduler})") if b is not None else ""
        raise InputError(f"no configuration meets p99 TTFT <= {req.slo_ttft_p99_s:g} s and p99 TPOT <= "
                         f"{req.slo_tpot_p99_s * 1e3:g} ms at {req.qps:g} requests/s{best_txt}")
    ok = ok.sort_values([key, "devices", "j_per_request"], kind="stable")
    # the runner-up: the best of another device kind (else another layout)
    best = ok.iloc[0]
    others = ok[(ok["device_id"] != best["device_id"]) & ok[key].notna()]
    runner = others.iloc[0] if len(others) else (ok.iloc[1] if len(ok) > 1 else None)
    why = ""
    if runner is not None:
        why = f"{int(runner.replicas)} x {runner.layout} {runner.device_id} ({runner.scheduler}) also meets the " \
              "objectives but " + _lost(best, runner, key)
    if req.objective == "usd" and ok[key].isna().any():
        why += ("; " if why else "") + ("devices without a price in hwdb ("
                                        + ", ".join(sorted(set(ok.loc[ok[key].isna(), "device_id"])))
                                        + ") are planned but not ranked on cost")
    rest = df.drop(ok.index)
    table = pd.concat([ok, rest]).reset_index(drop=True)
    return {"table": table, "best": best.to_dict(), "runner_up": None if runner is None else runner.to_dict(),
            "why": why, "objective": req.objective}
