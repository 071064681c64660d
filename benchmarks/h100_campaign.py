"""The H100 campaign (issue 8) in one command: profile, calibrate, fidelity, decode-step attribution, IPW.

    PYTHONPATH=. python benchmarks/h100_campaign.py --out $OUT        # on the lent H100, from the repo root
    PYTHONPATH=. python benchmarks/h100_campaign.py --plan            # anywhere: the plan and its time estimate

Stages, in order, everything under --out: (a) the kernel suite (ceilings, every kernel vs its peers on the
target shapes, then a calibration spread) through roofline.measure.profile's Python API, plus Nsight Compute on a
few representative rows when ncu is on PATH -> traces/<run>/; (b) roofline.analysis.calibrate with a held-out split
-> hwdb_measured/<device>.toml; (c) fidelity of the calibrated model (held-out separately) and the peer
ratios vs TARGETS -> fidelity.json, fidelity_rows.csv, peer_targets.csv; (d) a Llama-3.1-8B decoder stack
(random weights, bf16 and W4A16) attributed per op and per layer at batch 1 and 32, prefill of CTX tokens
and a decode step at CTX, with closure and predicted vs measured -> decode_step/; (e) IPW / IPJ -> ipw.csv.
summary.md is rewritten after every stage, so a run cut short still leaves its findings.

Time: every measured point has an estimated cost; the plan keeps points in priority order until
--budget-s is spent (the lowest priorities go first), and a stage that overruns is cut at its own deadline
so later stages keep their share. A failing stage is recorded in errors.log and the next one runs.
The targets table, the plan, its estimates and the budget trimming are in benchmarks/campaign_plan.py.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import traceback
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling campaign_plan, also when run as a script

from campaign_plan import (  # noqa: E402  (targets, plan and budget: the pure parts)
    CLOSURE_TOL,
    CPU_TAIL_S,
    FIDELITY_TARGETS,
    FIRST_USE_S,
    GEN_TOKENS,
    MODEL_ID,
    NCU_ROW_S,
    SETUP_S,
    TARGET_COLUMNS,
    TARGETS,
    PlanItem,
    build_plan,
    evaluate_targets,
    plan_cost_s,
    profile_points,
    shape_matches,
    suite_toml,
    trim_plan,
)

__all__ = ["TARGET_COLUMNS", "TARGETS", "Campaign", "functional_check", "main", "parse_args", "profile_points",
           "shape_matches", "write_summary"]


# ---- stages ---------------------------------------------------------------------------------------------

class Campaign:
    def __init__(self, args: argparse.Namespace, kept: list[PlanItem], dropped: list[PlanItem]):
        self.args, self.kept, self.dropped = args, kept, dropped
        self.out = Path(args.out)
        self.t0 = time.monotonic()
        self.deadline = self.t0 + args.budget_s
        self.state: dict[str, Any] = {"stages": {}, "errors": [], "notes": []}
        self.cal_dev = None
        self.attrs: list[Any] = []

    def left_s(self) -> float:
        return self.deadline - time.monotonic()

    def reserve_after(self, stage_names: tuple[str, ...]) -> float:
        return plan_cost_s([i for i in self.kept if i.stage in stage_names]) + CPU_TAIL_S

    def log(self, msg: str) -> None:
        print(f"[{time.monotonic() - self.t0:6.1f}s] {msg}", flush=True)

    def stage(self, name: str, fn) -> None:
        t = time.monotonic()
        self.log(f"stage {name}")
        try:
            info = fn() or {}
            status = "ok"
        except Exception as e:  # one failing stage must not lose the others
            info, status = {"error": f"{type(e).__name__}: {e}"}, "failed"
            self.state["errors"].append(f"{name}: {type(e).__name__}: {e}")
            with open(self.out / "errors.log", "a") as f:
                f.write(f"--- {name}\n{traceback.format_exc()}\n")
            self.log(f"stage {name} failed: {type(e).__name__}: {str(e)[:300]}")
        self.state["stages"][name] = {"status": status, "elapsed_s": time.monotonic() - t, **info}
        self.summarize()

    def summarize(self) -> None:
        try:
            write_summary(self)
        except Exception as e:  # the summary must never stop the measurements
            self.log(f"summary.md not written: {type(e).__name__}: {e}")

    # (a)
    def profile(self) -> dict:
        from roofline.measure.profile import ProfileConfig, run_profile

        a = self.args
        items = [i for i in self.kept if i.stage == "profile"]
        suite = self.out / "campaign_suite.toml"
        suite.write_text(suite_toml(items, a.target_s, a.window_s, a.trials))
        stop_at = self.deadline - self.reserve_after(("ncu", "decode_step"))
        stopped = []

        def progress(done: int, total: int, label: str) -> None:
            if done < total and time.monotonic() > stop_at:
                stopped.append(f"stopped at the profile deadline after {done}/{total} points")
                raise KeyboardInterrupt  # run_profile keeps the completed rows and closes the run
            self.log(f"profile {done}/{total} {label[:100]}")

        cfg = ProfileConfig(suite=str(suite), device=a.device, out=str(self.out / "traces"), energy="auto",
                            window_s=a.window_s, trials=a.trials, target_s=a.target_s,
                            command="benchmarks/h100_campaign.py " + " ".join(sys.argv[1:]))
        res = run_profile(cfg, progress, lambda m: self.log(f"warning: {m}"))
        self.profile_result = res
        return {"run_id": res.run_id, "path": str(res.path), "rows": len(res.rows), "points": len(items),
                "device_id": res.device_id, "energy_method": res.energy_method, "warnings": len(res.warnings),
                "interrupted": res.interrupted, "note": stopped[0] if stopped else ""}

    def ncu(self) -> dict:
        from roofline.measure import traces
        from roofline.measure.ncu import NcuError, find_ncu, profile_rows

        items = [i for i in self.kept if i.stage == "ncu"]
        res = getattr(self, "profile_result", None)
        if not items or res is None or res.path is None:
            return {"note": "no ncu rows planned or no profile run"}
        try:
            find_ncu()
        except NcuError as e:
            return {"note": f"skipped: {e}"}
        df = res.rows.copy()
        done, warns = 0, []
        for it in items:
            if self.left_s() < NCU_ROW_S + self.reserve_after(("decode_step",)):
                warns.append("ncu stopped at its deadline")
                break
            s = it.spec
            m = df[(df["kernel"] == s["kernel"]) & (df["dtype"] == s["dtype"]) & (df["impl"] == s["impl"])
                   & (df["shape"] == json.dumps(s["shape"], sort_keys=True, default=str))]
            if m.empty:
                warns.append(f"ncu: no measured row for {it.label}")
                continue
            row = df.loc[m.index[0]].to_dict()
            profile_rows([row], None, "cuda", warns.append)
            for c in ("ncu_dram_bytes", "ncu_l2_bytes", "ncu_flops"):
                df.loc[m.index[0], c] = row[c]
            done += 1
            self.log(f"ncu {it.label}: dram {row['ncu_dram_bytes']:.3g} B vs declared {row['bytes']:.3g} B")
        traces.write_rows(res.path, df)
        man = traces.read_manifest(res.path)
        man.setdefault("notes", []).append(f"ncu counters added to {done} rows by benchmarks/h100_campaign.py")
        traces.write_manifest(res.path, man)
        self.profile_result.rows = df
        return {"rows": done, "warnings": warns}

    def _traces(self) -> pd.DataFrame:
        from roofline.measure.traces import load_any

        return load_any(self.out / "traces")

    # (b)
    def calibrate(self) -> dict:
        from hwdb.loader import DEVICES_DIR, load_dir
        from roofline.analysis.calibrate import calibrate, write_calibration

        cal = calibrate(self._traces(), self.args.device, self.args.holdout, self.args.seed)
        mdir = self.out / "hwdb_measured"
        path = write_calibration(cal, mdir)
        self.cal_dev = load_dir(DEVICES_DIR, mdir)[cal.device_id]
        (self.out / "calibration.json").write_text(json.dumps(
            {"device_id": cal.device_id, "fields": cal.fields(), "fidelity": list(cal.fidelity),
             "notes": list(cal.notes), "n_fit": cal.n_fit, "n_holdout": cal.n_holdout}, indent=2, default=str))
        return {"device_id": cal.device_id, "written": str(path), "n_fit": cal.n_fit, "n_holdout": cal.n_holdout,
                "fields": {k: v for k, v in cal.fields().items() if k not in ("note", "source")},
                "notes": list(cal.notes)}

    group = 128  # W4A16 group size of the decode-step stack

    def dims(self, layers: int | None = None):
        """The decode-step stack's shapes: MODEL_ID's (a smoke test on a CPU may override this)."""
        from roofline.measure.decode_stack import StackDims

        return StackDims.from_model(MODEL_ID, layers)

    def device(self):
        import hwdb

        if self.cal_dev is not None:
            return self.cal_dev
        res = getattr(self, "profile_result", None)
        return hwdb.get(self.args.device or (res.device_id if res and res.device_id else "h100-sxm"))

    # (c)
    def fidelity(self) -> dict:
        from roofline.analysis.attribution import compare, fidelity, holdout_mask

        df = self._traces()
        dev = self.device()
        cmp = compare(df, devices={dev.id: dev})
        cmp["holdout"] = holdout_mask(cmp, self.args.holdout, self.args.seed)
        fid = fidelity(cmp)
        sheet = fidelity(compare(df, calibrated=False).assign(holdout=cmp["holdout"].values))
        cols = ["run_id", "kernel", "impl", "shape", "dtype", "median_s", "predicted_s", "time_err", "energy_j",
                "predicted_energy_j", "energy_err", "energy_method", "pct_of_roof", "bound", "holdout",
                "ncu_dram_bytes", "bytes"]
        cmp[cols].to_csv(self.out / "fidelity_rows.csv", index=False)
        held = fid[fid["split"] == "held-out"].set_index("metric")
        met = {m: bool(held.loc[m, "median_abs_err"] <= FIDELITY_TARGETS["median_abs_err"]
                       and held.loc[m, "p90_abs_err"] <= FIDELITY_TARGETS["p90_abs_err"])
               for m in held.index if held.loc[m, "n"] > 0}
        tg = evaluate_targets(df)
        tg.to_csv(self.out / "peer_targets.csv", index=False)
        doc = {"targets": FIDELITY_TARGETS, "calibrated": fid.to_dict("records"),
               "datasheet": sheet.to_dict("records"), "held_out_met": met, "device_id": dev.id,
               "efficiency_kind": str(cmp["efficiency_kind"].iloc[0]) if len(cmp) else ""}
        (self.out / "fidelity.json").write_text(json.dumps(doc, indent=2, default=str))
        self.fid, self.sheet, self.targets = fid, sheet, tg
        return {"held_out_met": met, "targets_met": int(tg["met"].sum()), "targets": len(tg)}

    # (d)
    def decode_step(self) -> dict:
        import torch

        from roofline.analysis.decode_step import attribute_step, compare_step, predicted_step, scenario_for
        from roofline.measure.decode_stack import DecoderStack
        from roofline.measure.meters import pick_meter
        from roofline.measure.timers import time_cpu, time_cuda

        a = self.args
        on_gpu = torch.cuda.is_available()
        dtype = torch.bfloat16 if on_gpu else torch.float32
        ddir = self.out / "decode_step"
        ddir.mkdir(exist_ok=True)
        items = [i for i in self.kept if i.stage == "decode_step"]
        dev = self.device()
        info: dict[str, Any] = {"configs": [], "skipped": []}
        if any(i.spec.get("check") for i in items):
            info["check"] = functional_check(a.ctx, self.dims(2), self.group)
            self.log(f"decode-step functional check: {info['check']}")
        meter = pick_meter("gpu" if on_gpu else "cpu", dev, "auto", a.window_s, 1)
        idle = meter.idle_power_w(2.0, "after the kernel suite (the card stays warm)")
        info["idle_power_w"], info["energy_method"] = idle, meter.method

        def timer(fn):
            if on_gpu:
                return time_cuda(fn, target_s=a.target_s, warmup=2, min_reps=5)
            return time_cpu(fn, target_s=a.target_s, warmup=1, min_reps=3)

        dims = self.dims()
        L = dims.layers
        stacks: dict[str, Any] = {}
        for it in items:
            s = it.spec
            if s.get("check"):
                continue
            build = 0.0 if s["variant"] in stacks else FIRST_USE_S[f"stack-{s['variant']}"]
            if self.left_s() < it.est_s + build + CPU_TAIL_S:
                info["skipped"].append(f"{it.label} (deadline)")
                continue
            if s["variant"] not in stacks:
                stacks[s["variant"]] = DecoderStack(dims, s["variant"], "cuda" if on_gpu else "cpu", dtype,
                                                    group=self.group)
            t = time.monotonic()
            attr = attribute_step(stacks[s["variant"]], s["phase"], s["batch"], s["ctx"], timer, meter,
                                  layer_sample=(0, L // 3, 2 * L // 3, L - 1))
            pred = predicted_step(dims, dev, scenario_for(s["variant"], s["phase"], s["batch"], s["ctx"], self.group))
            cmp = compare_step(attr, pred)
            name = f"{s['variant']}-{s['phase']}-b{s['batch']}"
            (ddir / f"{name}.json").write_text(json.dumps(
                {"attribution": attr.to_dict(), "predicted_vs_measured": cmp.to_dict("records"),
                 "predicted_kind": pred.attrs, "device_id": dev.id}, indent=2, default=str))
            attr.ops_frame().to_csv(ddir / f"{name}-ops.csv", index=False)
            self.attrs.append((attr, cmp))
            info["configs"].append(name)
            self.log(f"decode step {name}: {attr.step_time_s * 1e3:.2f} ms, {attr.step_energy_j:.3f} J, closure "
                     f"time {attr.time_closure:.3f} energy {attr.energy_closure:.3f} ({time.monotonic() - t:.0f} s, "
                     f"est {it.est_s:.0f} s)")
            self.summarize()
            if on_gpu:
                torch.cuda.empty_cache()
        meter.close()
        return info

    # (e)
    def ipw(self) -> dict:
        from roofline.engine.catalog import get_model, load_models
        from roofline.engine.predict import predict
        from roofline.engine.scenario import Scenario

        dev = self.device()
        rows = []
        for m in load_models().values():
            acc = m.accuracy_for()
            if acc is None:
                continue
            sc = Scenario(phase="generate", batch=1, prompt_tokens=self.args.ctx, gen_tokens=GEN_TOKENS,
                          wbits=min(16, m.native_wbits), abits=min(16, m.native_abits))
            try:
                p = predict(m, dev, sc)
            except Exception as e:  # a model the device cannot price is reported, not fatal
                rows.append({"model": m.id, "source_kind": "modeled", "note": str(e)[:120]})
                continue
            rows.append({"model": m.id, "source_kind": f"modeled ({p.efficiency_kind} efficiency, {p.energy_kind} energy)",
                         "benchmark": acc.benchmark, "accuracy_pct": acc.value_pct, "accuracy_source": acc.source,
                         "scenario": sc.label(), "fits": p.fits, "avg_power_w": p.avg_power_w,
                         "energy_per_query_j": p.energy_j / sc.batch, "ipw": p.ipw, "ipj": p.ipj, "note": ""})
        acc = get_model(MODEL_ID).accuracy_for()
        steps = {(a.variant, a.phase, a.batch): a for a, _ in self.attrs}
        for (variant, phase, batch), a in steps.items():
            if phase != "decode" or acc is None or not a.step_energy_j > 0:
                continue
            pre = steps.get((variant, "prefill", batch))
            e_q = t_q = math.nan
            if pre is not None and pre.step_energy_j > 0:  # prompt + (G - 1) decode steps priced at ctx
                e_q = (pre.step_energy_j + (GEN_TOKENS - 1) * a.step_energy_j) / batch
                t_q = pre.step_time_s + (GEN_TOKENS - 1) * a.step_time_s
            power = a.step_power_w if math.isnan(t_q) else e_q * batch / t_q
            rows.append({"model": MODEL_ID, "source_kind": f"measured ({a.energy_method}); decode steps at ctx {a.ctx}",
                         "benchmark": acc.benchmark, "accuracy_pct": acc.value_pct, "accuracy_source": acc.source,
                         "scenario": f"{variant} B={batch} P={a.ctx} G={GEN_TOKENS} (random weights, cited accuracy)",
                         "fits": True, "avg_power_w": power, "energy_per_query_j": e_q,
                         "ipw": acc.fraction / power, "ipj": acc.fraction / e_q if e_q > 0 else math.nan,
                         "note": "" if pre is not None else "no prefill measured at this batch: IPJ not computed"})
        self.ipw_rows = pd.DataFrame(rows)
        self.ipw_rows.to_csv(self.out / "ipw.csv", index=False)
        return {"rows": len(rows)}


def functional_check(ctx: int, dims, group: int = 128) -> dict[str, float]:
    """A 2-layer stack of the campaign's shapes per variant (CUDA: the project's kernels in bf16), prefill
    of ctx tokens then one decode step, vs the fp32 reference forward of the same weights: max |err| /
    max |ref| of the logits (bf16 activations: expect ~1e-2)."""
    import torch

    from roofline.measure.decode_stack import DecoderStack, reference_logits

    out = {}
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    for variant in ("bf16", "w4a16"):
        st = DecoderStack(dims, variant, dev, None, group=group, seed=1)
        toks = torch.randint(0, dims.vocab, (1, ctx + 1), device=dev)
        st.allocate_cache(1, ctx + 1)
        with torch.inference_mode():
            got = torch.stack([st.prefill(toks[:, :ctx]), st.decode(toks[:, ctx:], ctx)], dim=1).float()
            ref = reference_logits(st, toks)[:, ctx - 1:]
        out[variant] = float((got - ref).abs().max() / ref.abs().max())
        del st
        if dev == "cuda":
            torch.cuda.empty_cache()
    return out


# ---- summary --------------------------------------------------------------------------------------------

def _pct(x: float) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}%"


def _md(df: pd.DataFrame) -> str:
    if df is None or df.empty:
        return "(none)\n"
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in df.itertuples(index=False):
        lines.append("| " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in r) + " |")
    return "\n".join(lines) + "\n"


def write_summary(c: Campaign) -> None:
    a, st = c.args, c.state
    s = [f"# H100 campaign ({time.strftime('%Y-%m-%d %H:%M')})", "",
         f"Command: `PYTHONPATH=. python benchmarks/h100_campaign.py {' '.join(sys.argv[1:])}`; budget {a.budget_s:.0f} s, "
         f"elapsed {time.monotonic() - c.t0:.0f} s. Kept {len(c.kept)} planned items "
         f"(estimate {plan_cost_s(c.kept):.0f} s), dropped {len(c.dropped)} (lowest priority first; see plan.json).", ""]
    s += ["## Stages", "", "| stage | status | elapsed | details |", "|---|---|---|---|"]
    for name, info in st["stages"].items():
        det = {k: v for k, v in info.items() if k not in ("status", "elapsed_s", "fields")}
        s.append(f"| {name} | {info['status']} | {info['elapsed_s']:.0f} s | {json.dumps(det, default=str)[:400]} |")
    if hasattr(c, "fid"):
        s += ["", f"## Fidelity (calibrated on {c.device().id}; targets on held-out: median |err| ≤ "
              f"{_pct(FIDELITY_TARGETS['median_abs_err'])}, p90 ≤ {_pct(FIDELITY_TARGETS['p90_abs_err'])})", ""]
        f = c.fid.copy()
        f["median_abs_err"], f["p90_abs_err"] = f["median_abs_err"].map(_pct), f["p90_abs_err"].map(_pct)
        sh = c.sheet.set_index(["metric", "split"])
        f["datasheet median / p90"] = [f"{_pct(sh.loc[(m, sp), 'median_abs_err'])} / {_pct(sh.loc[(m, sp), 'p90_abs_err'])}"
                                       for m, sp in zip(c.fid["metric"], c.fid["split"], strict=True)]
        s.append(_md(f))
        t = c.targets[["target", "text", "shape", "value", "threshold", "status", "margin"]].copy()
        t["margin"] = t["margin"].map(_pct)
        s += ["## Peer ratios vs targets (same run; speedup = peer time / ours)", "", _md(t)]
    if c.attrs:
        rows = []
        for attr, cmp in c.attrs:
            step = cmp[cmp["name"] == "step"].iloc[0]
            rows.append({"config": f"{attr.variant} {attr.phase} B={attr.batch} ctx={attr.ctx}",
                         "step ms": attr.step_time_s * 1e3, "Σop/step time": attr.time_closure,
                         "step J": attr.step_energy_j, "Σop/step energy": attr.energy_closure,
                         "closure ≤10%": closure_flag(attr), "predicted ms": step["predicted_time_s"] * 1e3,
                         "time err": _pct(step["time_err"]), "energy err": _pct(step["energy_err"])})
        s += ["## Decode step (Llama-3.1-8B shapes, random weights): closure and predicted vs measured", "",
              _md(pd.DataFrame(rows)), "Per-op rows: decode_step/*.json and *-ops.csv.", ""]
    if hasattr(c, "ipw_rows") and not c.ipw_rows.empty:
        cols = [x for x in ("model", "source_kind", "benchmark", "accuracy_pct", "fits", "avg_power_w",
                            "energy_per_query_j", "ipw", "ipj") if x in c.ipw_rows.columns]
        s += ["## IPW / IPJ (accuracy cited from each model card; ipw in 1/W, ipj in 1/J)", "", _md(c.ipw_rows[cols])]
    if st["errors"]:
        s += ["## Errors (tracebacks in errors.log)", ""] + [f"- {e}" for e in st["errors"]] + [""]
    (c.out / "summary.md").write_text("\n".join(s) + "\n")


def closure_flag(attr) -> str:
    from roofline.analysis.decode_step import closure_ok

    return "yes" if closure_ok(attr, CLOSURE_TOL) else ("time only" if closure_ok(attr, CLOSURE_TOL, False) else "no")


# ---- main -----------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=os.environ.get("OUT") or "out", help="output folder (default $OUT or ./out)")
    p.add_argument("--budget-s", type=float, default=540.0, help="wall-clock budget of the whole campaign, s")
    p.add_argument("--window-s", type=float, default=1.0, help="energy window per point (>= 1 s for NVML)")
    p.add_argument("--trials", type=int, default=1, help="energy windows per kernel point")
    p.add_argument("--target-s", type=float, default=0.25, help="timed repetitions fill about this long, s")
    p.add_argument("--ctx", type=int, default=1024, help="decode-step context / prefill length")
    p.add_argument("--device", default=None, help="hwdb id of the GPU (default: matched by name and memory)")
    p.add_argument("--holdout", type=float, default=0.25, help="fraction of configurations held out of the fit")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-ncu", action="store_true", help="skip Nsight Compute even when ncu is on PATH")
    p.add_argument("--plan", action="store_true", help="print the plan and its time estimate, run nothing")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    items = build_plan(a.window_s, a.trials, a.target_s, a.ctx, ncu=not a.no_ncu)
    kept, dropped = trim_plan(items, a.budget_s - SETUP_S - CPU_TAIL_S)
    plan_doc = {"budget_s": a.budget_s, "estimate_s": plan_cost_s(kept) + SETUP_S + CPU_TAIL_S,
                "kept": [asdict(i) for i in kept], "dropped": [asdict(i) for i in dropped]}
    if a.plan:
        for i in kept:
            print(f"P{i.priority} {i.stage:12s} {i.est_s:6.1f} s  {i.label}")
        print(f"kept {len(kept)} items, estimate {plan_doc['estimate_s']:.0f} s of {a.budget_s:.0f} s; "
              f"dropped {len(dropped)}: " + "; ".join(i.label for i in dropped[:12]))
        return 0
    import torch

    if not torch.cuda.is_available():
        print("h100_campaign: needs a CUDA GPU (use --plan to see the plan anywhere)", file=sys.stderr)
        return 2
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "plan.json").write_text(json.dumps(plan_doc, indent=2, default=str))
    c = Campaign(a, kept, dropped)
    c.log(f"plan: {len(kept)} items kept (estimate {plan_doc['estimate_s']:.0f} s), {len(dropped)} dropped")
    c.stage("profile", c.profile)
    c.stage("ncu", c.ncu)
    c.stage("calibrate", c.calibrate)
    c.stage("fidelity", c.fidelity)
    c.stage("decode_step", c.decode_step)
    c.stage("ipw", c.ipw)
    print("\nfiles produced:")
    for p in sorted(out.rglob("*")):
        if p.is_file():
            print(f"  {p}")
    return 1 if c.state["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
