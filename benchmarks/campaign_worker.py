"""One stage of the GPU campaign, run in its own process by ``benchmarks/gpu_campaign.py``.

    python benchmarks/campaign_worker.py STAGE --scratch DIR --deadline EPOCH_S [--spec FILE] [--shard I/N]

Stages: ``device`` (query and match the GPU), ``compile`` (one shard of the cold compiles, plus the
correctness checks of the odd shapes: ours vs the torch reference in bf16 and fp16), ``family`` (time
one kernel family's points against their peers, NVML energy, one trace run per trials setting),
``decode`` (the Llama-3.1-8B decode-step attribution with closure), ``analysis`` (calibrate, fidelity,
peer targets, IPW; CPU work, also run by ``gpu_campaign.py --analyze``).

Each stage writes its results as JSON / CSV / trace runs under DIR as it goes, checks the wall-clock
deadline between units of work, and exits 0 when it finished, 3 when it stopped at the deadline. A stage
killed by a fault leaves what it wrote; the orchestrator records the exit and moves on. Only the standard
library, torch, triton, pandas, pyarrow and pynvml are needed on the measuring machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]  # the repo and the sibling campaign_plan

import pandas as pd  # noqa: E402
from campaign_plan import (  # noqa: E402  (the pure parts: targets, plan, estimates)
    CLOSURE_TOL,
    FIDELITY_TARGETS,
    GEN_TOKENS,
    MODEL_ID,
    PlanItem,
    evaluate_targets,
    suite_toml,
)

EXIT_DEADLINE = 3
FAULT_ENV = "ROOFLINE_CAMPAIGN_FAULT"  # test hook: "STAGE[:FAMILY]" crashes that stage, "hang:STAGE[:FAMILY]" hangs it


class Deadline(Exception):
    """The stage's wall-clock deadline passed: stop cleanly, keep what is written."""


class Stage:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.scratch = Path(args.scratch)
        self.deadline = float(args.deadline)
        self.spec: dict[str, Any] = json.loads(Path(args.spec).read_text()) if args.spec else {}
        self.smoke = bool(self.spec.get("smoke"))

    def left_s(self) -> float:
        return self.deadline - time.time()

    def check(self, need_s: float = 0.0) -> None:
        if self.left_s() < need_s:
            raise Deadline(f"deadline: {self.left_s():.0f} s left, {need_s:.0f} s needed")

    def log(self, msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    def write(self, name: str, doc: Any) -> None:
        p = self.scratch / name
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(p.suffix + ".tmp")
        tmp.write_text(json.dumps(doc, indent=2, default=str))
        os.replace(tmp, p)

    def fault(self, where: str) -> None:
        f = os.environ.get(FAULT_ENV)
        if f == where:
            os._exit(134)  # as an illegal-address fault ends a CUDA process: no cleanup, no Python exit
        if f == f"hang:{where}":
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})  # a hung kernel ignores Ctrl-C too
            time.sleep(1e6)


def _cuda() -> bool:
    import torch  # lazy: the analysis stage runs on CPU-only hosts too

    return torch.cuda.is_available()


# ---- device ---------------------------------------------------------------------------------------------

def stage_device(st: Stage) -> None:
    from roofline.measure.device_query import query_local

    st.fault("device")
    dev = query_local(st.spec.get("device") or None, use_gpu=not st.smoke)
    st.write("device.json", {"device_id": dev.device_id, "device_name": dev.device_name, "kind": dev.kind,
                             "torch_device": dev.torch_device, "memory_bytes": dev.memory_bytes,
                             "driver": dev.driver, "versions": dev.versions, "match_note": dev.match_note,
                             "properties": dev.properties})
    st.log(f"device: {dev.device_name} -> {dev.device_id or '(unmatched)'}: {dev.match_note}")


# ---- compile + correctness --------------------------------------------------------------------------------

def _device_str(st: Stage) -> str:
    return "cpu" if st.smoke else "cuda"


def stage_compile(st: Stage) -> None:
    """One shard: for each unit, build the inputs and run every implementation once (the launchers compile
    and autotune on their first call; the cubins land in Triton's disk cache, shared with the later stages).
    Correctness units also compare every checked impl with the torch reference, per shape."""
    from kernels.registry import load_all, max_rel_error

    reg = load_all()
    i = int(st.args.shard.split("/")[0])
    units = [u for u in st.spec["compile_points"] if u.get("shard", 0) == i]
    dev = _device_str(st)
    results: list[dict] = []
    t_shard = time.monotonic()
    try:
        for u in units:
            entry = reg[u["kernel"]]
            shapes = entry.quick_shapes if u["shapes"] == "quick" else [
                s for x in u["shapes"] for s in (entry.quick_shapes if x == "quick" else [x])]
            for shape in shapes:
                st.check(2.0)
                st.fault(f"compile:{u['kernel']}")
                results.append(_compile_one(entry, dict(shape), u["dtype"], dev, bool(u.get("check")), st.smoke,
                                            max_rel_error))
                if dev == "cuda":
                    import torch  # lazy: only the GPU frees device memory

                    torch.cuda.empty_cache()
    finally:
        st.write(f"compile/shard-{i}.json", {"shard": i, "elapsed_s": time.monotonic() - t_shard,
                                             "units": len(units), "points": results})


def _compile_one(entry, shape: dict, dtype: str, dev: str, check: bool, smoke: bool, max_rel_error) -> dict:
    t = time.monotonic()
    rec: dict[str, Any] = {"kernel": entry.name, "dtype": dtype, "shape": shape, "check": check}
    try:
        bench = entry.prepare(dict(shape), dtype, dev)
        ref = bench.reference() if check else None
        errs = {}
        for impl, fn in bench.impls.items():
            if dev == "cpu" and impl in bench.gpu_only:
                continue
            out = fn()
            if ref is not None and impl in bench.checked:
                err = max_rel_error(out, ref)
                errs[impl] = {"max_err": err, "rtol": bench.rtol, "ok": bool(err <= bench.rtol)}
        rec.update(status="ok", errors=errs)
        del bench
    except Exception as e:  # one point's failure is recorded, not fatal to the shard
        rec.update(status="failed", error=f"{type(e).__name__}: {str(e)[:300]}")
    rec["elapsed_s"] = time.monotonic() - t
    return rec


# ---- GPU tests --------------------------------------------------------------------------------------------

GPU_TESTS = ("tests/kernels/test_quant_dequant.py", "tests/kernels/test_sparse_planes.py")


def stage_gpu_tests(st: Stage) -> None:
    """The tests that only a GPU can run: the inline-PTX fast paths against the portable paths, bit for bit
    (TRITON_INTERPRET=0, so nothing is interpreted); the pytest summary and any failures are recorded."""
    import subprocess

    st.fault("gpu_tests")
    env = {**os.environ, "TRITON_INTERPRET": "0"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfs", *GPU_TESTS]
    t = time.monotonic()
    try:
        p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=max(5.0, st.left_s() - 3))
        out, code = p.stdout + p.stderr, p.returncode
    except subprocess.TimeoutExpired as e:
        out, code = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or ""), -1
    lines = out.strip().splitlines()
    st.write("gpu_tests.json", {"files": list(GPU_TESTS), "exit_code": code, "elapsed_s": time.monotonic() - t,
                                "summary": lines[-1] if lines else "", "failures": [ln for ln in lines
                                                                                   if ln.startswith("FAILED")][:40]})
    print(out[-4000:])
    if code not in (0, 5):  # 5: nothing collected
        raise RuntimeError(f"GPU tests failed (pytest exit {code}): {lines[-1] if lines else ''}")


# ---- family -----------------------------------------------------------------------------------------------

def stage_family(st: Stage) -> None:
    """Time one family's kept points with roofline.measure.profile (checked against the reference first,
    one timing method for ours and the peers); headline points with two energy windows (CV across trials)."""
    from roofline.measure.profile import ProfileConfig, run_profile

    fam = st.args.family
    st.fault(f"family:{fam}")
    groups = st.spec["bonus" if st.args.bonus else "families"][fam]  # [{"trials", "energy", "items"}, ...]
    runs = []
    for g in groups:
        if not g["items"]:
            continue
        st.check(5.0)
        tag = f"{fam}{'-spread' if st.args.bonus else ''}-t{g['trials']}{'' if g.get('energy', True) else '-time'}"
        suite = st.scratch / "suites" / f"{tag}.toml"
        suite.parent.mkdir(parents=True, exist_ok=True)
        items = [PlanItem(**d) for d in g["items"]]
        suite.write_text(suite_toml(items, st.spec["target_s"], st.spec["window_s"], g["trials"]))
        stopped: list[str] = []

        def progress(done: int, total: int, label: str, stopped=stopped) -> None:
            if done < total and time.time() > st.deadline - 2.0:
                stopped.append(f"stopped at the deadline after {done}/{total} points")
                raise KeyboardInterrupt  # run_profile keeps the completed rows and closes the run
            st.log(f"{fam} {done}/{total} {label[:110]}")

        cfg = ProfileConfig(suite=str(suite), device=st.spec.get("device") or None, out=str(st.scratch / "traces"),
                            energy="none" if st.smoke or not g.get("energy", True) else "auto",
                            window_s=st.spec["window_s"],
                            trials=g["trials"], target_s=st.spec["target_s"], use_gpu=not st.smoke,
                            command=f"benchmarks/gpu_campaign.py ({tag})")
        res = run_profile(cfg, progress, lambda m: st.log(f"warning: {m}"))
        runs.append({"run_id": res.run_id, "path": str(res.path) if res.path else "", "rows": len(res.rows),
                     "points": len(g["items"]), "trials": g["trials"] if g.get("energy", True) else 0,
                     "interrupted": res.interrupted,
                     "energy_method": res.energy_method, "warnings": res.warnings,
                     "note": stopped[0] if stopped else ""})
        st.write(f"{'spread' if st.args.bonus else 'family'}-{fam}.json", {"family": fam, "runs": runs})
        if stopped:
            raise Deadline(stopped[0])
    st.write(f"{'spread' if st.args.bonus else 'family'}-{fam}.json", {"family": fam, "runs": runs})


# ---- decode step ------------------------------------------------------------------------------------------

def functional_check(ctx: int, dims, device: str, group: int = 128) -> dict[str, float]:
    """A 2-layer stack of the campaign's shapes per variant (on CUDA: the project's kernels in bf16), prefill
    of ctx tokens then one decode step, vs the fp32 reference forward of the same weights: max |err| / max
    |ref| of the logits (bf16 activations: expect ~1e-2)."""
    import torch  # lazy: the decode stage only

    from roofline.measure.decode_stack import DecoderStack, reference_logits

    out = {}
    for variant in ("bf16", "w4a16"):
        st = DecoderStack(dims, variant, device, None, group=group, seed=1)
        toks = torch.randint(0, dims.vocab, (1, ctx + 1), device=device)
        st.allocate_cache(1, ctx + 1)
        with torch.inference_mode():
            got = torch.stack([st.prefill(toks[:, :ctx]), st.decode(toks[:, ctx:], ctx)], dim=1).float()
            ref = reference_logits(st, toks)[:, ctx - 1:]
        out[variant] = float((got - ref).abs().max() / ref.abs().max())
        del st
        if device == "cuda":
            torch.cuda.empty_cache()
    return out


def stage_decode(st: Stage) -> None:
    import torch  # lazy: the decode stage only

    import hwdb
    from roofline.analysis.decode_step import (
        attribute_step,
        closure_ok,
        compare_step,
        predicted_step,
        scenario_for,
    )
    from roofline.measure.decode_stack import TINY, DecoderStack, StackDims
    from roofline.measure.meters import pick_meter
    from roofline.measure.timers import time_cpu, time_cuda

    st.fault("decode")
    sp = st.spec
    on_gpu = not st.smoke and torch.cuda.is_available()
    device = "cuda" if on_gpu else "cpu"
    dtype = torch.bfloat16 if on_gpu else torch.float32
    dims = TINY if st.smoke else StackDims.from_model(MODEL_ID)
    ctx, group = (sp["ctx"], 128) if not st.smoke else (16, 32)
    dev_id = sp.get("device") or ""
    hw = hwdb.get(dev_id) if dev_id in hwdb.load() else None  # none on an unmatched host: no prediction beside
    info: dict[str, Any] = {"configs": [], "skipped": [], "dims": dims.name, "ctx": ctx, "device_id": dev_id}
    ddir = st.scratch / "decode_step"
    ddir.mkdir(exist_ok=True)
    try:
        st.check(10.0)
        check_dims = TINY if st.smoke else StackDims.from_model(MODEL_ID, 2)
        info["check"] = functional_check(ctx, check_dims, device, group)
        st.log(f"decode-step functional check: {info['check']}")
        meter = pick_meter("gpu" if on_gpu else "cpu", hw, "auto" if on_gpu else "none", sp["window_s"], 1)
        if meter is not None:
            info["idle_power_w"] = meter.idle_power_w(2.0, "after the kernel suite (the card stays warm)")
            info["energy_method"] = meter.method

        def timer(fn):
            if on_gpu:
                return time_cuda(fn, target_s=sp["target_s"], warmup=2, min_reps=5)
            return time_cpu(fn, target_s=sp["target_s"], warmup=1, min_reps=3)

        L = dims.layers
        stacks: dict[str, Any] = {}
        for c in sp["decode_configs"]:
            if st.left_s() < c["est_s"] + 5.0:
                info["skipped"].append(f"{c['variant']} {c['phase']} B={c['batch']} (deadline)")
                continue
            if c["variant"] not in stacks:
                stacks[c["variant"]] = DecoderStack(dims, c["variant"], device, dtype, group=group)
            t = time.monotonic()
            attr = attribute_step(stacks[c["variant"]], c["phase"], c["batch"], ctx, timer, meter,
                                  layer_sample=tuple(sorted({0, L // 3, 2 * L // 3, L - 1})))
            name = f"{c['variant']}-{c['phase']}-b{c['batch']}"
            doc: dict[str, Any] = {"attribution": attr.to_dict(), "device_id": dev_id, "est_s": c["est_s"],
                                   "elapsed_s": time.monotonic() - t,
                                   "closure_ok": closure_ok(attr, CLOSURE_TOL, meter is not None)}
            if hw is not None:
                pred = predicted_step(dims, hw, scenario_for(c["variant"], c["phase"], c["batch"], ctx, group))
                doc["predicted_vs_measured"] = compare_step(attr, pred).to_dict("records")
            st.write(f"decode_step/{name}.json", doc)
            attr.ops_frame().to_csv(ddir / f"{name}-ops.csv", index=False)
            info["configs"].append(name)
            st.log(f"decode step {name}: {attr.step_time_s * 1e3:.2f} ms, closure time {attr.time_closure:.3f} "
                   f"energy {attr.energy_closure:.3f} ({time.monotonic() - t:.0f} s, est {c['est_s']:.0f} s)")
            st.write("decode.json", info)
            if on_gpu:
                torch.cuda.empty_cache()
        if meter is not None:
            meter.close()
    finally:
        st.write("decode.json", info)


# ---- analysis (CPU) ---------------------------------------------------------------------------------------

def _pct(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def stage_analysis(st: Stage) -> None:
    """Calibrate from the campaign's rows (held out by configuration), fidelity of the calibrated model vs
    datasheet defaults, the peer-ratio targets, IPW / IPJ (modeled and from the measured decode steps)."""
    import hwdb
    from hwdb.loader import DEVICES_DIR, load_dir
    from roofline.analysis.attribution import compare, fidelity, holdout_mask
    from roofline.measure.traces import load_any

    st.fault("analysis")
    out: dict[str, Any] = {"notes": []}
    tdir = st.scratch / "traces"
    if not tdir.is_dir() or not any(tdir.iterdir()):
        out["notes"].append("no trace rows: nothing to analyze")
        st.write("analysis.json", out)
        return
    df = load_any(tdir)
    tg = evaluate_targets(df)
    tg.to_csv(st.scratch / "peer_targets.csv", index=False)
    out["targets"] = tg.to_dict("records")
    energy = df[df["energy_cv"].notna() & (df["energy_cv"] > 0)]
    out["energy_cv"] = energy[["kernel", "impl", "shape", "dtype", "energy_j", "energy_cv"]].to_dict("records")
    dev_id = st.spec.get("device") or (str(df["device_id"].iloc[0]) if len(df) else "")
    if not dev_id or dev_id not in hwdb.load():
        out["notes"].append(f"device {dev_id!r} is not an hwdb id: no calibration, fidelity or IPW")
        st.write("analysis.json", out)
        return
    try:
        from roofline.analysis.calibrate import calibrate, write_calibration

        cal = calibrate(df, dev_id, st.spec.get("holdout", 0.25), 0)
        mdir = st.scratch / "hwdb_measured"
        written = write_calibration(cal, mdir, force=True)  # the archive keeps every fit; --commit decides
        dev = load_dir(DEVICES_DIR, mdir)[cal.device_id]
        out["calibration"] = {"device_id": cal.device_id, "written": str(written), "fields": cal.fields(),
                              "notes": list(cal.notes), "n_fit": cal.n_fit, "n_holdout": cal.n_holdout,
                              "worse_than_in_place": bool(getattr(cal, "worse_than_in_place", False)),
                              "code": "roofline.analysis.calibrate.calibrate (see its docstring)"}
    except Exception as e:  # too few ceiling rows, a fit that fails: fidelity still runs on the overlay in place
        out["notes"].append(f"calibration failed: {type(e).__name__}: {str(e)[:300]}")
        dev = hwdb.get(dev_id)
    cmp = compare(df, devices={dev.id: dev})
    cmp["holdout"] = holdout_mask(cmp, st.spec.get("holdout", 0.25), 0)
    fid = fidelity(cmp)
    sheet = fidelity(compare(df, calibrated=False).assign(holdout=cmp["holdout"].values))
    cmp.to_csv(st.scratch / "fidelity_rows.csv", index=False)
    held = fid[fid["split"] == "held-out"].set_index("metric")
    out["fidelity"] = {"targets": FIDELITY_TARGETS, "calibrated": fid.to_dict("records"),
                       "datasheet": sheet.to_dict("records"),
                       "held_out_met": {m: bool(held.loc[m, "median_abs_err"] <= FIDELITY_TARGETS["median_abs_err"]
                                                and held.loc[m, "p90_abs_err"] <= FIDELITY_TARGETS["p90_abs_err"])
                                        for m in held.index if held.loc[m, "n"] > 0}}
    out["ipw"] = ipw_rows(dev, st.scratch, st.spec.get("ctx", 1024))
    pd.DataFrame(out["ipw"]).to_csv(st.scratch / "ipw.csv", index=False)
    st.write("analysis.json", out)


def ipw_rows(dev, scratch: Path, ctx: int) -> list[dict]:
    """IPW / IPJ: every catalog model with a cited accuracy (modeled on ``dev``), and the measured decode
    steps (measured power and energy of the random-weight stack, the model's cited accuracy)."""
    from roofline.engine.catalog import get_model, load_models
    from roofline.engine.predict import predict
    from roofline.engine.scenario import Scenario

    rows = []
    for m in load_models().values():
        acc = m.accuracy_for()
        if acc is None:
            continue
        sc = Scenario(phase="generate", batch=1, prompt_tokens=ctx, gen_tokens=GEN_TOKENS,
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
    steps = {}
    for f in sorted((scratch / "decode_step").glob("*.json")):
        a = json.loads(f.read_text())["attribution"]
        steps[(a["variant"], a["phase"], a["batch"])] = {**a, "e": (a.get("step") or {}).get("energy_j") or 0.0,
                                                         "t": (a.get("step") or {}).get("time_s") or math.nan}
    for (variant, phase, batch), a in steps.items():
        if phase != "decode" or acc is None or not a["e"] > 0:
            continue
        pre = steps.get((variant, "prefill", batch))
        e_q = t_q = math.nan
        if pre is not None and pre["e"] > 0:  # prompt + (G - 1) decode steps at ctx
            e_q = (pre["e"] + (GEN_TOKENS - 1) * a["e"]) / batch
            t_q = pre["t"] + (GEN_TOKENS - 1) * a["t"]
        power = a["e"] / a["t"] if math.isnan(t_q) else e_q * batch / t_q
        rows.append({"model": MODEL_ID, "source_kind": f"measured ({a.get('energy_method', '')}); decode steps",
                     "benchmark": acc.benchmark, "accuracy_pct": acc.value_pct, "accuracy_source": acc.source,
                     "scenario": f"{variant} B={batch} (random weights, cited accuracy)", "fits": True,
                     "avg_power_w": power, "energy_per_query_j": e_q, "ipw": acc.fraction / power,
                     "ipj": acc.fraction / e_q if e_q > 0 else math.nan,
                     "note": "" if pre is not None else "no prefill measured at this batch: IPJ not computed"})
    return rows


STAGES = {"device": stage_device, "compile": stage_compile, "gpu_tests": stage_gpu_tests, "family": stage_family,
          "decode": stage_decode, "analysis": stage_analysis}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("stage", choices=sorted(STAGES))
    p.add_argument("--scratch", required=True)
    p.add_argument("--deadline", type=float, required=True, help="wall-clock deadline, seconds since the epoch")
    p.add_argument("--spec", default="", help="the campaign spec (JSON) the orchestrator wrote")
    p.add_argument("--shard", default="0/1", help="compile stage: this shard I of N")
    p.add_argument("--family", default="", help="family stage: which family")
    p.add_argument("--bonus", action="store_true", help="family stage: the spread the budget dropped")
    a = p.parse_args(argv)
    st = Stage(a)
    try:
        STAGES[a.stage](st)
    except Deadline as e:
        st.log(str(e))
        return EXIT_DEADLINE
    except KeyboardInterrupt:
        st.log("interrupted: what was written is kept")
        return 130
    except Exception:
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
