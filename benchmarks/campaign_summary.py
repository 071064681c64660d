"""summary.md of a GPU campaign (benchmarks/gpu_campaign.py): written from whatever files the stages left in
the scratch folder, any of which may be missing (a stage that ran out of time, a machine that was lost)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from campaign_plan import FIDELITY_TARGETS


def read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


def _pct(x: Any) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * float(x):.1f}%"


def _num(x: Any, fmt: str = ".4g") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return format(x, fmt) if isinstance(x, (int, float)) else str(x)


def _table(rows: list[dict], cols: list[str]) -> list[str]:
    if not rows:
        return ["(none)", ""]
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        out.append("| " + " | ".join(_num(r.get(k)) for k in cols) + " |")
    return out + [""]


def summary_md(scratch: Path, stages: list[dict], exit_code: int | None, interrupted: str = "",
               elapsed: float | None = None) -> str:
    """summary.md from whatever the stages wrote (any of the files may be missing)."""
    spec = read_json(scratch / "spec.json", {})
    dev = read_json(scratch / "device.json", {})
    an = read_json(scratch / "analysis.json", {})
    name = dev.get("device_name") or "unknown device"
    s = [f"# GPU campaign: {name} ({spec.get('device') or dev.get('device_id') or 'unmatched'})"
         f"{' -- SMOKE (CPU, interpreter, tiny shapes)' if spec.get('smoke') else ''}", ""]
    s += [f"Command: `{spec.get('command', '')}`. Budget {spec.get('budget_s', 0):.0f} s of wall clock from process "
          f"start; elapsed {elapsed if elapsed is not None else float('nan'):.0f} s; exit code "
          f"{exit_code if exit_code is not None else '-'}"
          f"{'; interrupted by ' + interrupted if interrupted else ''}. "
          f"Kept {len(spec.get('kept', []))} planned items, dropped {len(spec.get('dropped', []))} (lowest priority "
          "first; spec.json in the archive).", ""]
    s += ["## Stages (real time vs the plan's estimate: retune benchmarks/campaign_plan.py)", ""]
    s += _table(stages, ["stage", "status", "elapsed_s", "estimate_s", "allowance_s", "note"])
    bad = [x for x in stages if x.get("status") not in ("ok", "skipped")]
    for x in bad:
        if x.get("log_tail"):
            s += [f"`{x['stage']}` ({x['status']}), last lines of its log:", "```", *x["log_tail"], "```", ""]
    if dev:
        props = dev.get("properties") or {}
        s += ["## Device", "", f"- driver name {dev.get('device_name')!r}, hwdb id {dev.get('device_id') or '-'} "
              f"({dev.get('match_note', '')}); driver {dev.get('driver') or '-'}; versions {dev.get('versions', {})}",
              f"- properties: {props}", ""]
    shards = [read_json(p, {}) for p in sorted((scratch / "compile").glob("shard-*.json"))]
    pts = [p for sh in shards for p in sh.get("points", [])]
    if shards:
        wall = max((sh.get("elapsed_s", 0.0) for sh in shards), default=0.0)
        s += ["## Compile and correctness", "",
              f"{len(pts)} points over {len(shards)} processes: {wall:.0f} s wall "
              f"(sum {sum(p.get('elapsed_s', 0.0) for p in pts):.0f} s, estimate "
              f"{spec.get('estimates_s', {}).get('compile', 0):.0f} s).", ""]
        checks = [(p, impl, e) for p in pts for impl, e in (p.get("errors") or {}).items()]
        fails = [{"kernel": p["kernel"], "dtype": p["dtype"], "shape": json.dumps(p["shape"]),
                  "impl": impl, "max_err": e["max_err"], "rtol": e["rtol"]} for p, impl, e in checks if not e["ok"]]
        errs = [{"kernel": p["kernel"], "dtype": p["dtype"], "error": p.get("error", "")} for p in pts
                if p.get("status") == "failed"]
        s += [f"Correctness: {len(checks) - len(fails)} of {len(checks)} checked (kernel, shape, dtype, impl) "
              "matched the torch reference."]
        if fails:
            s += ["", "Mismatches:", ""] + _table(fails, ["kernel", "dtype", "shape", "impl", "max_err", "rtol"])
        if errs:
            s += ["", "Points that raised:", ""] + _table(errs, ["kernel", "dtype", "error"])
        s.append("")
    gt = read_json(scratch / "gpu_tests.json")
    if gt:
        s += ["## GPU-only tests (inline-PTX fast paths vs the portable paths, bit for bit)", "",
              f"`{' '.join(gt['files'])}`: {gt['summary']} (exit {gt['exit_code']}, {gt['elapsed_s']:.0f} s)", ""]
        s += [f"- {f}" for f in gt.get("failures", [])] + ([""] if gt.get("failures") else [])
    fam_rows = []
    for m in sorted((scratch / "traces").glob("*/manifest.json")):  # the runs on disk: ground truth
        man = read_json(m, {})
        fam_rows.append({"run_id": man.get("run_id", m.parent.name), "stage": str(man.get("command", ""))
                         .removeprefix("benchmarks/gpu_campaign.py ").strip("()"), "rows": man.get("rows"),
                         "complete": man.get("complete"), "energy": man.get("energy_method", "")})
    if fam_rows:
        s += ["## Trace runs", ""] + _table(fam_rows, ["run_id", "stage", "rows", "complete", "energy"])
    if an.get("targets"):
        s += ["## Peer ratios vs targets (same run; speedup = peer time / ours)", ""]
        s += _table([{**t, "margin": _pct(t.get("margin"))} for t in an["targets"]],
                    ["text", "shape", "value", "threshold", "status", "margin"])
    if an.get("energy_cv"):
        s += ["## Energy repeatability (CV across the windows of each headline point)", ""]
        s += _table(an["energy_cv"], ["kernel", "impl", "dtype", "energy_j", "energy_cv"])
    if an.get("fidelity"):
        fd = an["fidelity"]
        s += [f"## Fidelity (held-out targets: median |err| <= {_pct(FIDELITY_TARGETS['median_abs_err'])}, p90 <= "
              f"{_pct(FIDELITY_TARGETS['p90_abs_err'])}); calibrated on this run vs datasheet defaults", ""]
        sheet = {(r["metric"], r["split"]): r for r in fd.get("datasheet", [])}
        rows = [{"metric": r["metric"], "split": r["split"], "n": r["n"], "median": _pct(r["median_abs_err"]),
                 "p90": _pct(r["p90_abs_err"]),
                 "datasheet median": _pct(sheet.get((r["metric"], r["split"]), {}).get("median_abs_err"))}
                for r in fd.get("calibrated", [])]
        s += _table(rows, ["metric", "split", "n", "median", "p90", "datasheet median"])
        s += [f"Held-out met: {fd.get('held_out_met')}", ""]
    if an.get("calibration"):
        cal = an["calibration"]
        s += ["## Calibration", "", f"Fitted by {cal.get('code')}: {cal.get('n_fit')} rows fit, {cal.get('n_holdout')} "
              f"held out; written to the archive's hwdb_measured/{cal.get('device_id')}.toml.",
              f"Fields: {json.dumps({k: v for k, v in (cal.get('fields') or {}).items() if k != 'note'}, default=str)[:1200]}",
              ""]
    dec = read_json(scratch / "decode.json", {})
    drows = []
    for p in sorted((scratch / "decode_step").glob("*.json")):
        d = read_json(p, {})
        a = d.get("attribution", {})
        step = next((r for r in d.get("predicted_vs_measured", []) if r.get("name") == "step"), {})
        stp, clo = a.get("step") or {}, a.get("closure") or {}
        drows.append({"config": p.stem, "step_ms": (stp.get("time_s") or math.nan) * 1e3,
                      "time_closure": clo.get("time"), "step_J": stp.get("energy_j"),
                      "energy_closure": clo.get("energy"), "closure_ok": d.get("closure_ok"),
                      "predicted_ms": (step.get("predicted_time_s") or math.nan) * 1e3,
                      "time_err": _pct(step.get("time_err"))})
    if dec or drows:
        s += ["## Decode step (Llama-3.1-8B shapes, random weights): closure (sum of ops / whole step) and predicted "
              "vs measured", "", f"Functional check (max |err| / max |ref| of the logits vs fp32): {dec.get('check')}; "
              f"skipped: {dec.get('skipped') or 'none'}.", ""]
        s += _table(drows, ["config", "step_ms", "time_closure", "step_J", "energy_closure", "closure_ok",
                            "predicted_ms", "time_err"])
    if an.get("ipw"):
        s += ["## IPW / IPJ (accuracy cited from each model card; ipw in 1/W, ipj in 1/J)", ""]
        s += _table(an["ipw"], ["model", "source_kind", "benchmark", "accuracy_pct", "avg_power_w",
                                "energy_per_query_j", "ipw", "ipj"])
    for n in an.get("notes", []):
        s.append(f"- analysis: {n}")
    if not an:
        s += ["", "Analysis did not run here: on a CPU, `python benchmarks/gpu_campaign.py --analyze ARCHIVE --out DIR` "
              "runs calibration, fidelity, targets and IPW from the archive."]
    s += ["", "## Commit", "", "`python benchmarks/gpu_campaign.py --analyze ARCHIVE --out DIR --commit` (on the CPU) "
          "copies the merged trace run to traces/, the calibration to hwdb/measured/ and these findings to "
          "traces/<run>/campaign/ (benchmarks/CAMPAIGN.md)."]
    return "\n".join(s) + "\n"
