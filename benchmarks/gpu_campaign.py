"""The GPU campaign in one command: device, compile, correctness, every kernel family vs its peers with
energy, the decode-step attribution, calibration, fidelity, targets, IPW -- packed into one archive.

    timeout -s INT 540 python3 benchmarks/gpu_campaign.py --out $OUT     # on the GPU, from the repo root
    python benchmarks/gpu_campaign.py --plan                             # anywhere: the plan and its estimate
    python benchmarks/gpu_campaign.py --smoke --out /tmp/smoke           # CPU: the whole machinery, tiny shapes
    python benchmarks/gpu_campaign.py --analyze ARCHIVE --out DIR [--commit]   # CPU: analysis + commit

Built so that one shot cannot lose its results: everything is written to a scratch folder, and a
``finally`` path (also reached from SIGINT / SIGTERM and the campaign's own hard deadline, --budget-s of
wall clock from process start) always writes ``summary.md`` and ONE archive into --out. Each stage runs in
its own process (``benchmarks/campaign_worker.py``) with its own deadline, so a crash, a hang or an
illegal-address fault in one kernel family is recorded and the others still run; stages write as they go.
The plan, the targets and the estimates are in ``benchmarks/campaign_plan.py``; benchmarks/CAMPAIGN.md says
what comes back and how to commit it.
"""

from __future__ import annotations

import time

T0 = time.monotonic()  # the budget counts from process start, before any import
T0_WALL = time.time()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tarfile  # noqa: E402
import tempfile  # noqa: E402
from dataclasses import asdict, replace  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

from campaign_plan import (  # noqa: E402  (the pure parts: plan, estimates, targets)
    CPU_TAIL_S,
    DEFAULT_BUDGET_S,
    FAMILIES,
    FIRST_USE_S,
    GPU_TESTS_S,
    PACK_S,
    PROCESS_S,
    SETUP_S,
    SMOKE_FIRST_USE_S,
    SMOKE_PROCESS_S,
    assign_shards,
    build_plan,
    compile_points,
    family_cost_s,
    family_groups,
    family_of,
    fit_plan,
    plan_cost_s,
    smoke_plan,
)
from campaign_summary import read_json, summary_md  # noqa: E402  (summary.md from the stages' files)

WORKER = HERE / "campaign_worker.py"
EXIT_DEADLINE = 3  # campaign_worker's "stopped at its deadline"
GRACE_S = 5.0  # SIGINT -> SIGKILL


class Interrupted(BaseException):
    """SIGINT or SIGTERM reached the campaign: stop the stage in flight, pack what exists."""


def elapsed_s() -> float:
    return time.monotonic() - T0


# ---- the plan ---------------------------------------------------------------------------------------------

def make_spec(a: argparse.Namespace) -> dict[str, Any]:
    """Everything the stages need, trimmed to the budget: kept / dropped items, compile shards, family runs,
    decode configs, and each stage's estimate."""
    first_use = SMOKE_FIRST_USE_S if a.smoke else FIRST_USE_S
    items = smoke_plan(a.target_s) if a.smoke else build_plan(a.window_s, a.trials, a.target_s, a.ctx, ncu=False)
    if a.only:  # a subset of the families (and the decode step), e.g. to rerun what a first shot missed
        items = [i for i in items if (i.stage == "decode_step" and "decode" in a.only)
                 or (i.stage == "profile" and family_of(i.spec["kernel"]) in a.only)]
    # the measuring machine has 16 cores: 12 compile processes leave room for the orchestrator and the GPU's
    # own driver threads; a smaller host (or --workers) gets fewer
    workers = a.workers or (2 if a.smoke else min(12, max(2, (os.cpu_count() or 16) - 2)) if not a.plan else 12)
    n_stages = 3 + len({family_of(i.spec["kernel"]) for i in items if i.stage == "profile"})
    proc_s = SMOKE_PROCESS_S if a.smoke else PROCESS_S
    fixed = (8.0 if a.smoke else SETUP_S + GPU_TESTS_S) + PACK_S + (8.0 if a.smoke else CPU_TAIL_S) + proc_s * n_stages

    def cost(kept: list) -> float:  # timed stages + the parallel compile of what they launch
        return plan_cost_s(kept, first_use) + assign_shards(compile_points(kept, a.ctx, a.smoke), workers)

    kept, dropped = fit_plan(items, a.budget_s - fixed, cost)
    cpoints = compile_points(kept, a.ctx, a.smoke)
    compile_est = assign_shards(cpoints, workers)
    # What the budget dropped runs last, if time is left (timed only, the lowest priorities last); its compiles
    # queue behind the kept ones in each shard, so a compile deadline cuts them first.
    bonus_items = [i for i in dropped if i.stage == "profile"]
    bonus_points = [p for p in compile_points(bonus_items, a.ctx, a.smoke) if p not in cpoints]
    for k, p in enumerate(bonus_points):
        p["shard"], p["bonus"] = k % workers, True
    fams = family_groups(kept, a.trials)
    bonus = family_groups([replace(i, spec={**i.spec, "energy": False}) for i in bonus_items], a.trials)
    decode = [{**i.spec, "est_s": i.est_s, "label": i.label} for i in kept if i.stage == "decode_step"
              and "variant" in i.spec]
    est = {"device": SETUP_S if not a.smoke else 8.0, "compile": compile_est + proc_s,
           **({} if a.smoke else {"gpu_tests": GPU_TESTS_S}),
           **{f"family:{f}": family_cost_s(kept, f) + proc_s for f in fams},
           "decode": plan_cost_s([i for i in kept if i.stage == "decode_step"], first_use) + proc_s,
           "analysis": CPU_TAIL_S if not a.smoke else 8.0}
    return {"smoke": a.smoke, "device": a.device or "", "budget_s": a.budget_s, "window_s": a.window_s,
            "trials": a.trials, "target_s": a.target_s, "ctx": 16 if a.smoke else a.ctx, "holdout": a.holdout,
            "workers": workers, "compile_points": cpoints + bonus_points, "families": fams, "bonus": bonus,
            "decode_configs": decode,
            "estimates_s": est, "kept": [asdict(i) for i in kept], "dropped": [asdict(i) for i in dropped],
            "command": "python3 benchmarks/gpu_campaign.py " + " ".join(sys.argv[1:])}


# ---- running stages ---------------------------------------------------------------------------------------

class Campaign:
    def __init__(self, a: argparse.Namespace, spec: dict[str, Any], scratch: Path):
        self.a, self.spec, self.scratch = a, spec, scratch
        self.deadline = T0 + a.budget_s - PACK_S  # the campaign's own hard deadline: packing always fits
        self.stages: list[dict[str, Any]] = []
        self.children: list[subprocess.Popen] = []
        self.interrupted = ""
        self.current: dict[str, Any] | None = None  # the stage in flight (recorded even when interrupted)
        (scratch / "logs").mkdir(parents=True, exist_ok=True)

    def left_s(self) -> float:
        return self.deadline - time.monotonic()

    def log(self, msg: str) -> None:
        print(f"[{elapsed_s():6.1f}s] {msg}", flush=True)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        env["PYTHONUNBUFFERED"] = "1"
        if self.spec["smoke"]:
            env["TRITON_INTERPRET"] = "1"
        return env

    def reserve_after(self, name: str) -> float:
        """Seconds kept back for the stages after ``name``: each gets at least a start and a little work."""
        order = ["device", "compile", *([] if self.spec["smoke"] else ["gpu_tests"]),
                 *(f"family:{f}" for f in self.spec["families"]), "decode",
                 *(f"spread:{f}" for f in self.spec.get("bonus", {})), "analysis"]
        later = order[order.index(name) + 1:] if name in order else []
        proc_s = SMOKE_PROCESS_S if self.spec["smoke"] else PROCESS_S
        floor = {"analysis": 8.0 if self.spec["smoke"] else 15.0, "decode": proc_s + (5.0 if self.spec["smoke"] else 25.0)}
        return sum(floor.get(s, proc_s + (3.0 if self.spec["smoke"] else 8.0)) for s in later
                   if not s.startswith("spread:") and (s != "decode" or self.spec["decode_configs"]))

    def allowance(self, name: str, slack: float = 1.5) -> float:
        est = self.spec["estimates_s"].get(name, 30.0)
        reserve = 0.0 if name == "device" else self.reserve_after(name)  # nothing runs without the device stage
        return max(0.0, min(est * slack + 10.0, self.left_s() - reserve))

    def _spawn(self, stage: str, extra: list[str], log: Path, deadline_wall: float) -> subprocess.Popen:
        cmd = [sys.executable, str(WORKER), stage, "--scratch", str(self.scratch), "--deadline", f"{deadline_wall:.3f}",
               "--spec", str(self.scratch / "spec.json"), *extra]
        f = open(log, "ab")  # noqa: SIM115  (closed when the process is reaped)
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT, env=self.env(), start_new_session=True)
        p._log_file = f  # type: ignore[attr-defined]
        self.children.append(p)
        return p

    def _reap(self, p: subprocess.Popen, until: float) -> tuple[int | None, bool]:
        """Wait for ``p`` until ``until`` (monotonic); then SIGINT its group, then SIGKILL. (code, timed_out)."""
        timed_out = False
        try:
            code = p.wait(timeout=max(0.0, until - time.monotonic()))
        except subprocess.TimeoutExpired:
            timed_out = True
            code = self._stop(p)
        p._log_file.close()  # type: ignore[attr-defined]
        self.children = [c for c in self.children if c is not p]
        return code, timed_out

    def _stop(self, p: subprocess.Popen) -> int | None:
        for sig, wait in ((signal.SIGINT, GRACE_S), (signal.SIGKILL, GRACE_S)):
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                break
            try:
                return p.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
        return p.poll()

    def stop_all(self) -> None:
        for p in list(self.children):
            self._stop(p)

    def run(self, name: str, stage: str, extra: list[str] | None = None, shards: int = 1) -> dict[str, Any]:
        """Run a stage (``shards`` processes in parallel) under its allowance; record how it ended."""
        allow = self.allowance(name)
        rec: dict[str, Any] = {"stage": name, "estimate_s": round(self.spec["estimates_s"].get(name, 0.0), 1),
                               "allowance_s": round(allow, 1), "start_s": round(elapsed_s(), 1)}
        if allow < (SMOKE_PROCESS_S if self.spec["smoke"] else PROCESS_S):
            rec.update(status="skipped", note="no time left in the budget", elapsed_s=0.0)
            self.stages.append(rec)
            self.log(f"stage {name}: skipped (no time left)")
            return rec
        self.log(f"stage {name} ({shards} process{'es' if shards > 1 else ''}, allowance {allow:.0f} s, "
                 f"estimate {rec['estimate_s']:.0f} s)")
        t = time.monotonic()
        until = t + allow
        self.current = {**rec, "t": t}
        log = self.scratch / "logs" / f"{name.replace(':', '-')}.log"
        procs = [self._spawn(stage, [*(extra or []), "--shard", f"{i}/{shards}"], log, time.time() + allow - 3.0)
                 for i in range(shards)]
        codes = [self._reap(p, until) for p in procs]
        self.current = None
        rec["elapsed_s"] = round(time.monotonic() - t, 1)
        rec["exit_codes"] = [c for c, _ in codes]
        if any(to for _, to in codes):
            rec["status"] = "timeout"
        elif all(c == 0 for c, _ in codes):
            rec["status"] = "ok"
        elif all(c in (0, EXIT_DEADLINE) for c, _ in codes):
            rec["status"] = "deadline"
        else:
            rec["status"] = "crashed" if any(c is not None and c < 0 or c in (134, 139) for c, _ in codes) else "failed"
        if rec["status"] != "ok":
            rec["note"] = f"exit codes {rec['exit_codes']}" + ("; killed at its allowance" if rec["status"] == "timeout" else "")
            rec["log_tail"] = tail(log, 12)
        self.stages.append(rec)
        self.log(f"stage {name}: {rec['status']} in {rec['elapsed_s']:.0f} s")
        write_json(self.scratch / "stages.json", self.stages)
        return rec


def tail(path: Path, n: int) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()[-n:]
    except OSError:
        return []


def write_json(path: Path, doc: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=str))
    os.replace(tmp, path)


def campaign(c: Campaign) -> int:
    """The stages in order; returns the exit code (0 all ok, 1 a stage failed, 2 no GPU)."""
    spec = c.spec
    c.run("device", "device")
    dev = read_json(c.scratch / "device.json", {})
    if not spec["smoke"] and dev.get("torch_device") != "cuda":
        c.log("no CUDA GPU: nothing to measure (--smoke runs the machinery on a CPU)")
        c.stages.append({"stage": "gpu", "status": "failed", "note": "no CUDA GPU found", "elapsed_s": 0.0})
        return 2
    spec["device"] = spec["device"] or dev.get("device_id", "")
    write_json(c.scratch / "spec.json", spec)
    c.run("compile", "compile", shards=spec["workers"])
    if not spec["smoke"]:  # inline PTX: nothing to run under the interpreter
        c.run("gpu_tests", "gpu_tests")
    for fam in spec["families"]:
        c.run(f"family:{fam}", "family", ["--family", fam])
    if spec["decode_configs"]:
        c.run("decode", "decode")
    for fam in spec.get("bonus", {}):  # the calibration spread the budget dropped, while time is left
        if c.left_s() - c.reserve_after(f"spread:{fam}") < PROCESS_S + 10.0:
            c.stages.append({"stage": f"spread:{fam}", "status": "skipped", "note": "no time left", "elapsed_s": 0.0})
            continue
        spec["estimates_s"][f"spread:{fam}"] = c.left_s()
        c.run(f"spread:{fam}", "family", ["--family", fam, "--bonus"])
    c.run("analysis", "analysis")
    return 0 if all(s["status"] == "ok" or s["stage"].startswith("spread:") for s in c.stages) else 1


# ---- summary ----------------------------------------------------------------------------------------------

def pack(scratch: Path, out: Path, summary: str, label: str) -> Path:
    """summary.md and one .tar.gz of the whole scratch folder into ``out``, each written atomically."""
    out.mkdir(parents=True, exist_ok=True)
    (scratch / "summary.md").write_text(summary)
    tmp = out / f".{label}.tar.gz.tmp"
    with tarfile.open(tmp, "w:gz") as tar:
        tar.add(scratch, arcname="campaign")
    final = out / f"{label}.tar.gz"
    os.replace(tmp, final)
    stmp = out / ".summary.md.tmp"
    stmp.write_text(summary)
    os.replace(stmp, out / "summary.md")
    return final


# ---- analyze + commit (CPU) -------------------------------------------------------------------------------

def unpack(src: Path, into: Path) -> Path:
    """A campaign archive (or an unpacked scratch folder) as a folder holding spec.json."""
    if src.is_dir():
        return src
    if not tarfile.is_tarfile(src):
        raise SystemExit(f"gpu_campaign: {src} is neither a campaign archive nor a folder")
    with tarfile.open(src) as tar:
        tar.extractall(into, filter="data")
    return into / "campaign"


def merged_run(scratch: Path) -> tuple[str, Any, dict]:
    """All of the campaign's trace runs as one run: (run id, rows, manifest)."""
    from roofline.measure import traces

    runs = traces.list_runs(scratch / "traces")
    if not runs:
        raise SystemExit("gpu_campaign: the campaign holds no trace rows")
    man = dict(runs[0].manifest)
    day = str(man.get("start", ""))[:10].replace("-", "") or time.strftime("%Y%m%d")
    rid = f"{man.get('device_id') or 'gpu'}-campaign-{day}"
    rows = [traces.load_run(r.path) for r in runs]
    import pandas as pd  # the analysis side only

    df = pd.concat(rows, ignore_index=True)
    df["run_id"] = rid
    man.update(run_id=rid, suite="gpu_campaign", parts=[r.run_id for r in runs],
               complete=all(r.manifest.get("complete") for r in runs), rows=len(df),
               notes=[*man.get("notes", []), f"merged by benchmarks/gpu_campaign.py --commit from {len(runs)} runs"])
    return rid, df, man


def analyze(a: argparse.Namespace) -> int:
    out = Path(a.out)
    work = Path(tempfile.mkdtemp(prefix="campaign-analyze-"))
    scratch = unpack(Path(a.analyze), work)
    spec = read_json(scratch / "spec.json", {})
    c = Campaign(argparse.Namespace(budget_s=900.0), spec, scratch)
    c.deadline = time.monotonic() + 600.0
    spec["estimates_s"]["analysis"] = 300.0
    c.run("analysis", "analysis")
    stages = read_json(scratch / "stages.json", []) + c.stages
    summary = summary_md(scratch, stages, None, elapsed=None)
    label = f"campaign-{spec.get('device') or 'gpu'}-analyzed"
    pack(scratch, out, summary, label)
    print(f"wrote {out / 'summary.md'} and {out / (label + '.tar.gz')}")
    if a.commit:
        from roofline.measure import traces

        repo = Path(a.repo)
        rid, df, man = merged_run(scratch)
        path = traces.write_run(repo / "traces", man, df)
        dest = path / "campaign"
        dest.mkdir(exist_ok=True)
        for name in ("summary.md", "spec.json", "stages.json", "device.json", "analysis.json", "decode.json",
                     "peer_targets.csv", "fidelity_rows.csv", "ipw.csv"):
            if (scratch / name).exists():
                shutil.copy2(scratch / name, dest / name)
        for sub in ("decode_step", "compile"):
            if (scratch / sub).is_dir():
                shutil.copytree(scratch / sub, dest / sub, dirs_exist_ok=True)
        cal = (read_json(scratch / "analysis.json", {}) or {}).get("calibration") or {}
        for m in (scratch / "hwdb_measured").glob("*.toml"):
            if cal.get("worse_than_in_place") and not a.force:
                print(f"not copied: hwdb/measured/{m.name} predicts the held-out rows worse than the overlay in "
                      "place (--force copies it)")
                continue
            (repo / "hwdb" / "measured").mkdir(parents=True, exist_ok=True)
            shutil.copy2(m, repo / "hwdb" / "measured" / m.name)
            print(f"wrote hwdb/measured/{m.name}")
        print(f"wrote traces/{rid}/ (rows + manifest + campaign/)")
    return 0


# ---- main -------------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=os.environ.get("OUT") or "out", help="folder for summary.md and the archive")
    p.add_argument("--budget-s", type=float, default=None, help=f"wall clock from process start (default "
                   f"{DEFAULT_BUDGET_S:.0f}; smoke 240)")
    p.add_argument("--device", default=None, help="hwdb id (default: matched by driver name and memory)")
    p.add_argument("--window-s", type=float, default=1.0, help="NVML energy window per point (>= 1 s)")
    p.add_argument("--trials", type=int, default=1, help="energy windows per point (headline points: at least 2)")
    p.add_argument("--target-s", type=float, default=None, help="timed repetitions fill about this long (0.2; smoke 0.01)")
    p.add_argument("--ctx", type=int, default=1024, help="decode-step context / prefill length")
    p.add_argument("--holdout", type=float, default=0.25, help="fraction of configurations held out of the fit")
    p.add_argument("--workers", type=int, default=0, help="compile processes (default: CPU cores - 2, at most 12; "
                   "--plan assumes the measuring machine's 12)")
    p.add_argument("--scratch", default=None, help="working folder (default: a fresh temporary folder)")
    p.add_argument("--smoke", action="store_true", help="CPU: tiny shapes under the Triton interpreter")
    p.add_argument("--only", default="", help=f"comma list of stages to run: {', '.join(FAMILIES)}, decode "
                   "(default: all)")
    p.add_argument("--plan", action="store_true", help="print the plan and its time estimate, run nothing")
    p.add_argument("--analyze", default=None, metavar="ARCHIVE", help="CPU: analyze a campaign archive or folder")
    p.add_argument("--commit", action="store_true", help="with --analyze: copy the results into the repository")
    p.add_argument("--force", action="store_true", help="with --commit: copy the calibration even when it is worse")
    p.add_argument("--repo", default=str(ROOT), help="with --commit: the repository to copy into (default: this one)")
    a = p.parse_args(argv)
    a.budget_s = a.budget_s or (240.0 if a.smoke else DEFAULT_BUDGET_S)
    a.only = {x.strip() for x in a.only.split(",") if x.strip()}
    unknown = a.only - {*FAMILIES, "decode"}
    if unknown:
        p.error(f"--only: unknown {', '.join(sorted(unknown))} (choose from {', '.join(FAMILIES)}, decode)")
    a.target_s = a.target_s or (0.01 if a.smoke else 0.2)
    if a.budget_s <= PACK_S + PROCESS_S or a.window_s <= 0 or a.trials < 1 or a.target_s <= 0 or a.ctx < 1:
        p.error("--budget-s must leave room to pack; --window-s, --trials, --target-s and --ctx must be positive")
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if a.analyze:
        return analyze(a)
    spec = make_spec(a)
    if a.plan:
        for i in spec["kept"]:
            print(f"P{i['priority']} {i['stage']:12s} {i['est_s']:6.1f} s  {i['label']}")
        est = spec["estimates_s"]
        print(f"compile: {len(spec['compile_points'])} points on {spec['workers']} processes, ~{est['compile']:.0f} s; "
              + "; ".join(f"{k} ~{v:.0f} s" for k, v in est.items() if k != "compile"))
        print(f"kept {len(spec['kept'])} items, estimate {sum(est.values()) + PACK_S:.0f} s of {a.budget_s:.0f} s; "
              f"dropped {len(spec['dropped'])}: " + "; ".join(i["label"] for i in spec["dropped"][:12]))
        return 0
    scratch = Path(a.scratch or tempfile.mkdtemp(prefix="gpu-campaign-"))
    scratch.mkdir(parents=True, exist_ok=True)
    write_json(scratch / "spec.json", spec)
    c = Campaign(a, spec, scratch)

    def on_signal(signum, frame):
        c.interrupted = signal.Signals(signum).name
        raise Interrupted(c.interrupted)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    code: int | None = None
    try:
        code = campaign(c)
    except Interrupted:
        c.log(f"interrupted ({c.interrupted}): stopping the stage in flight, packing what exists")
        code = 130
    except Exception as e:  # the orchestrator itself failed: still pack everything the stages wrote
        c.log(f"campaign failed: {type(e).__name__}: {e}")
        c.stages.append({"stage": "orchestrator", "status": "failed", "note": f"{type(e).__name__}: {e}"[:300],
                         "elapsed_s": 0.0})
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # packing must not be interrupted
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        c.stop_all()
        if c.current is not None:  # the stage the signal cut short: its processes kept what they wrote
            t = c.current.pop("t")
            c.stages.append({**c.current, "status": "interrupted", "elapsed_s": round(time.monotonic() - t, 1),
                             "note": f"stopped by {c.interrupted or 'an error'}; rows written so far are kept"})
        dev = read_json(scratch / "device.json", {})
        label = f"campaign-{spec['device'] or dev.get('device_id') or 'host'}-{time.strftime('%Y%m%d-%H%M%S')}"
        summary = summary_md(scratch, c.stages, code, c.interrupted, elapsed_s())
        archive = pack(scratch, Path(a.out), summary, label)
        c.log(f"wrote {Path(a.out) / 'summary.md'} and {archive} ({archive.stat().st_size / 1e6:.2f} MB)")
    return code


if __name__ == "__main__":
    sys.exit(main())
