"""Everything a report shows, gathered once from hwdb, the engine and the traces.

``gather(spec)`` returns a ``ReportData``; the HTML and PDF renderers only lay it out, so both formats
carry the same numbers. Every frame is sorted and every float is formatted at the edge with fixed
precision, so the same inputs give the same bytes.
"""

from __future__ import annotations

import hashlib
import math
import platform
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

import hwdb
from hwdb.schema import Device
from reports.spec import METRICS, ReportSpec, Workload, display_path
from roofline.engine.catalog import get_model
from roofline.engine.model import compute_dtype_for
from roofline.engine.plan import PlanRequest, plan
from roofline.engine.predict import predict
from roofline.engine.scenario import Scenario, parse_attention, parse_sparsity
from roofline.engine.select import pareto_front, rank
from roofline.errors import InputError, RooflineError
from roofline.fmt import si
from roofline.provenance import DATASHEET, MEASURED
from roofline.views import measured
from roofline.views import planning as planning_views
from roofline.views import verdict as views_verdict
from roofline.views.common import field_label
from roofline.views.hardware import model_provenance, roofline_lines
from roofline.views.workload import breakdown, op_points

PHASE_LABEL = {"prefill": "prefill (whole prompt)", "decode": "decode (one step)"}
PACKAGES = ("roofline-workbench", "numpy", "pandas", "pyarrow", "matplotlib", "plotly", "jinja2")


@dataclass(frozen=True)
class WorkloadResult:
    """One workload ranked over the candidate devices, with breakdowns for the best few."""

    workload: Workload
    model: Any  # roofline.engine.catalog.ModelSpec
    scenario: Any  # roofline.engine.scenario.Scenario
    ranking: pd.DataFrame  # roofline.engine.select.rank columns + pareto, sorted by rank then device_id
    detail_ids: tuple[str, ...]  # best-ranked devices that fit, in rank order
    breakdown: pd.DataFrame  # device_id, device, phase, op_kind, time_s, energy_j, time_share, energy_share
    points: pd.DataFrame  # modeled ops on the roofline: device_id, phase, name, op_kind, dtype, x, y, bound
    roofs: pd.DataFrame  # roofline_lines of the detail devices at the workload's compute dtype
    compute_dtype: str
    provenance: pd.DataFrame  # device_id, efficiency_kind, efficiency_source, energy_kind, energy_source
    verdict: Any = None  # roofline.views.verdict.Verdict
    sensitivity: pd.DataFrame | None = None  # roofline.views.verdict.sensitivity rows

    @property
    def top(self) -> pd.Series | None:
        ranked = self.ranking[self.ranking["rank"].notna()]
        return None if ranked.empty else ranked.iloc[0]


@dataclass(frozen=True)
class ReportData:
    spec: ReportSpec
    devices: tuple[Device, ...]
    device_table: pd.DataFrame  # one row per device: datasheet numbers, each with its source key
    device_roofs: pd.DataFrame  # roofline_lines of every candidate (16-bit roof + measured)
    workloads: tuple[WorkloadResult, ...]
    measured: pd.DataFrame | None  # attribution.compare rows, sorted; None when the spec names no runs
    measured_summary: pd.DataFrame | None
    runs: pd.DataFrame  # run_id, device, host, start, rows, command
    static: pd.DataFrame | None  # our measured calls beside their static (SASS) prediction; None when none has both
    sources: pd.DataFrame  # kind, used_for, title, url, note
    assumptions: tuple[str, ...]
    versions: tuple[tuple[str, str], ...]
    files: tuple[tuple[str, str], ...]  # (input file, sha256[:16])
    command: str
    planning: dict | None = None  # {"table": views.planning.plan_table, "verdict": plan_verdict} or None


# --------------------------------------------------------------------------------------------- helpers


def fnum(x: Any, unit: str = "", digits: int = 3) -> str:
    """A number for a table cell: SI prefix, fixed significant digits, '-' for missing."""
    if x is None or isinstance(x, str):
        return x or "-"
    try:
        xf = float(x)
    except (TypeError, ValueError):
        return "-"
    if math.isnan(xf):
        return "-"
    return si(xf, unit, digits)


def fixed(x: Any, fmt: str = ".3g") -> str:
    try:
        xf = float(x)
    except (TypeError, ValueError):
        return "-"
    return "-" if math.isnan(xf) or math.isinf(xf) else format(xf, fmt)


def pct(x: Any, digits: int = 0) -> str:
    try:
        xf = float(x)
    except (TypeError, ValueError):
        return "-"
    return "-" if math.isnan(xf) or math.isinf(xf) else f"{100 * xf:.{digits}f}%"


def _finite(x: Any) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _sha(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def versions() -> tuple[tuple[str, str], ...]:
    out = [("python", platform.python_version())]
    for pkg in PACKAGES:
        try:
            out.append((pkg, metadata.version(pkg)))
        except metadata.PackageNotFoundError:
            out.append((pkg, "not installed"))
    return tuple(out)


# --------------------------------------------------------------------------------------------- devices


def device_table(devices: list[Device]) -> pd.DataFrame:
    """Datasheet numbers of the candidates (the ones the ranking uses), each with its source key."""
    rows = []
    for d in devices:
        best16 = d.peak("bf16") or d.peak("fp16")
        rows.append({
            "device_id": d.id, "name": d.name, "kind": d.kind, "vendor": d.vendor, "year": d.release_year,
            "memory_bytes": d.memory_bytes, "memory_type": d.memory_type, "mem_bw_bytes_per_s": d.mem_bw_bytes_per_s,
            "peak16_ops_per_s": best16, "peak_int8_ops_per_s": d.peak("int8"), "peak_fp8_ops_per_s": d.peak("fp8"),
            "tdp_w": d.tdp_w, "msrp_usd": d.msrp_usd, "cloud_usd_per_h": d.cloud_usd_per_h,
            "price_date": d.price_date, "measured": d.measured.run_id if d.measured else "",
            "src_memory": d.field_sources.get("memory.bw_bytes_per_s", ""),
            "src_peak": d.field_sources.get("peak.bf16", d.field_sources.get("peak.fp16", "")),
            "src_power": d.field_sources.get("power.tdp_w", ""),
            "src_price": d.field_sources.get("price.msrp_usd", d.field_sources.get("price.cloud_usd_per_h", "")),
        })
    return pd.DataFrame(rows)


def _sixteen_bit(d: Device) -> str:
    for dt in ("bf16", "fp16", "fp32"):
        if d.peak(dt) is not None:
            return dt
    return d.supported_dtypes[0]


def device_roofs(devices: list[Device]) -> pd.DataFrame:

    frames = [roofline_lines([d], dtypes=[_sixteen_bit(d)], caches=False, measured=True) for d in devices]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


# --------------------------------------------------------------------------------------------- workloads


def make_scenario(w: Workload):
    """The engine's Scenario for a workload; a bad combination is an InputError naming the workload."""

    kw = dict(w.scenario)
    try:
        if "attention" in kw:
            kw["attention"], kw["attention_kept"] = parse_attention(kw["attention"])
        if "weight_sparsity" in kw:
            kw["weight_sparsity"] = parse_sparsity(kw["weight_sparsity"])
        return Scenario(**kw)
    except RooflineError as e:
        raise InputError(f"workload {w.name!r}: {e}") from None
    except (TypeError, ValueError) as e:
        raise InputError(f"workload {w.name!r}: bad scenario: {e}") from None


def _phases(scenario) -> tuple[str, ...]:
    return ("prefill", "decode") if scenario.phase == "generate" else (scenario.phase,)


def _sort_ranking(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["_r"] = df["rank"].fillna(math.inf)
    return df.sort_values(["_r", "device_id"], kind="mergesort").drop(columns="_r").reset_index(drop=True)


def rank_workload(spec: ReportSpec, w: Workload, devices: dict[str, Device]) -> WorkloadResult:

    model = get_model(w.model)
    scen = make_scenario(w)
    try:
        scen.validate(model)
    except RooflineError as e:
        raise InputError(f"workload {w.name!r}: {e}") from None
    cands = [devices[i] for i in spec.devices]
    df = rank(model, scen, devices=cands, by=spec.rank_by, slo_ttft_s=w.slo_ttft_s, slo_tpot_s=w.slo_tpot_s,
              allow_tp=spec.allow_tp, runtime=spec.runtime, cost_basis=spec.cost_basis)
    mins = [m for m in (spec.pareto_x, spec.pareto_y) if METRICS[m][0] == "min"]
    maxs = [m for m in (spec.pareto_x, spec.pareto_y) if METRICS[m][0] == "max"]
    df = pareto_front(df, minimize=mins, maximize=maxs)  # only devices that fit can be on the front
    df = _sort_ranking(df)

    # breakdowns for the best-ranked devices; where none meets the SLOs, the best of those that fit
    fit = df[df["fits"].astype(bool) & df[spec.rank_by].map(_finite)]
    asc = METRICS[spec.rank_by][0] == "min"
    detail = pd.concat([fit[fit["rank"].notna()],
                        fit[fit["rank"].isna()].sort_values([spec.rank_by, "device_id"], ascending=[asc, True],
                                                           kind="mergesort")]).head(spec.detail)
    bd, pts, prov = [], [], []
    for _, row in detail.iterrows():
        d = devices[row["device_id"]]
        tp = int(row["tp"]) if "tp" in row and pd.notna(row["tp"]) else 1
        for ph in _phases(scen):
            p = predict(model, d, replace(scen, phase=ph, tp=tp), runtime=spec.runtime)
            b = breakdown(list(p.ops), by="op_kind").rename(columns={"part": "op_kind"})
            bd.append(b.drop(columns=["group"]).assign(device_id=d.id, device=d.name, phase=ph))
            pts.append(op_points(list(p.ops)).assign(device_id=d.id, device=d.name, phase=ph))
        prov.append({"device_id": d.id, **model_provenance(d)})
    breakdown_df = pd.concat(bd, ignore_index=True) if bd else pd.DataFrame(
        columns=["device_id", "device", "phase", "op_kind", "time_s", "energy_j", "time_share", "energy_share"])
    points = pd.concat(pts, ignore_index=True) if pts else pd.DataFrame(
        columns=["device_id", "device", "phase", "name", "op_kind", "dtype", "x", "y", "bound", "flops"])
    if not points.empty:
        # the ceiling the bulk of the FLOPs runs at
        by_dtype = points.groupby("dtype")["flops"].sum().sort_index()
        main_dtype = str(by_dtype.idxmax())
        points = points.sort_values(["device_id", "phase", "name"], kind="mergesort").reset_index(drop=True)
    else:
        main_dtype = "bf16"

    roofs = []
    for i in detail["device_id"]:
        d = devices[i]
        roofs.append(roofline_lines([d], dtypes=[compute_dtype_for(d, main_dtype)], caches=False, measured=True))
    roofs_df = pd.concat(roofs, ignore_index=True) if roofs else pd.DataFrame(
        columns=["device_id", "device", "roof", "dtype", "memory", "x", "y", "kind", "source"])
    return WorkloadResult(workload=w, model=model, scenario=scen, ranking=df, detail_ids=tuple(detail["device_id"]),
                          breakdown=breakdown_df, points=points, roofs=roofs_df, compute_dtype=main_dtype,
                          provenance=pd.DataFrame(prov),
                          verdict=views_verdict.verdict(df, spec.rank_by, w.slo_ttft_s, w.slo_tpot_s, scen.phase),
                          sensitivity=views_verdict.sensitivity(df, spec.rank_by, devices, w.slo_ttft_s, w.slo_tpot_s,
                                                                scen.phase))


# --------------------------------------------------------------------------------------------- measured


MEASURED_COLS = ["run_id", "kernel", "impl", "shape", "dtype", "device_id", "median_s", "predicted_s", "time_err",
                 "pct_of_roof", "bound", "energy_j", "predicted_energy_j", "energy_err", "energy_method", "intensity",
                 "achieved_flops_per_s", "attainable_flops_per_s"]


def static_section(spec: ReportSpec) -> pd.DataFrame | None:
    """Our measured calls beside the static prediction of the same call (``roofline kernels inspect --save``),
    only when both exist."""
    if not spec.trace_runs:
        return None
    both = measured.static_beside_measured(measured.compared_runs(spec.trace_runs, strict=True),
                                           measured.static_rows())
    return None if both.empty else both.sort_values(["kernel", "dtype", "shape"], kind="mergesort").reset_index(drop=True)


def measured_section(spec: ReportSpec) -> tuple[pd.DataFrame | None, pd.DataFrame | None, pd.DataFrame]:
    runs_cols = ["run_id", "device", "host", "start", "rows", "command"]
    if not spec.trace_runs:
        return None, None, pd.DataFrame(columns=runs_cols)
    infos = measured.run_manifests()
    df = measured.compared_runs(spec.trace_runs, strict=True)
    for c in MEASURED_COLS:
        if c not in df.columns:
            df[c] = float("nan")
    df = df[MEASURED_COLS].sort_values(["run_id", "kernel", "impl", "dtype", "shape"], kind="mergesort")
    df = df.reset_index(drop=True)
    g = df.groupby(["kernel", "impl"], sort=True)
    summary = pd.DataFrame({
        "rows": g.size(),
        "median_time_err": g["time_err"].median(),
        "median_pct_of_roof": g["pct_of_roof"].median(),
        "median_energy_err": g["energy_err"].median(),
    }).reset_index()
    runs = []
    for r in spec.trace_runs:
        m = infos.get(r, {})
        runs.append({"run_id": r, "device": m.get("device_name") or m.get("device_id", ""), "host": m.get("host", ""),
                     "start": m.get("start", ""), "rows": m.get("rows", ""), "command": m.get("command", "")})
    return df, summary, pd.DataFrame(runs, columns=runs_cols)


# --------------------------------------------------------------------------------------------- sources


def sources_table(devices: list[Device], results: list[WorkloadResult], runs: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for d in devices:
        used: dict[str, list[str]] = {}
        for f, key in sorted(d.field_sources.items()):
            used.setdefault(key, []).append(field_label(f))  # 'bf16 peak', not 'peak: bf16'
        for key in sorted(d.sources):  # every source the device file cites, used by a field or not
            s = d.sources[key]
            fields = ", ".join(used.get(key, [])) or "context (device notes)"
            note = "; ".join(x for x in (s.note, f"quoted {s.date}" if s.date else "") if x)
            rows.append({"kind": DATASHEET, "item": d.id, "used_for": fields, "title": s.title,
                         "url": s.url, "note": note})
        if d.measured is not None:
            m = d.measured
            rows.append({"kind": MEASURED, "item": d.id, "used_for": "calibrated efficiency and energy coefficients",
                         "title": f"measured overlay {m.run_id} ({m.date})", "url": "", "note": m.source})
    seen = set()
    for r in results:
        m = r.model
        if m.id in seen:
            continue
        seen.add(m.id)
        rows.append({"kind": "model config", "item": m.id, "used_for": "architecture (layers, hidden, heads, ...)",
                     "title": m.name, "url": m.source, "note": ""})
        for a in sorted(m.accuracy, key=lambda a: a.benchmark):
            rows.append({"kind": "accuracy", "item": m.id, "used_for": f"IPW/IPJ ({a.benchmark})",
                         "title": f"{a.benchmark}: {a.value_pct:.1f}%", "url": a.source, "note": a.note})
    for _, r in runs.iterrows():
        rows.append({"kind": MEASURED, "item": r["run_id"], "used_for": "measured vs modeled",
                     "title": f"trace run {r['run_id']}", "url": "", "note": f"{r['device']} on {r['host']}".strip()})
    return pd.DataFrame(rows, columns=["kind", "item", "used_for", "title", "url", "note"])


def default_assumptions(spec: ReportSpec, results: list[WorkloadResult]) -> tuple[str, ...]:
    a = [
        "Modeled numbers come from the analytical roofline model (roofline.engine.predict): each op takes "
        "max(FLOPs / (peak x compute efficiency), bytes / (bandwidth x memory efficiency)) plus a launch overhead.",
        "Efficiencies and energy coefficients are calibrated from measured traces where the device has a measured "
        "overlay in hwdb, and documented defaults otherwise (see the provenance table of each workload).",
        "Peaks are dense (no sparsity) datasheet figures; a dtype the device lacks runs at the nearest wider ceiling.",
        "A configuration whose weights, KV cache and activations do not fit in device memory is reported as not "
        "fitting and is not ranked" + (" (tensor parallelism over identical devices is tried first)."
                                       if spec.allow_tp else "."),
        "USD per million tokens uses the datasheet price (cloud USD/h, else MSRP amortization as the engine "
        "defines it) at the modeled throughput; it excludes host, networking and utilization losses.",
        "IPW = accuracy / modeled mean power and IPJ = accuracy / modeled energy per query; accuracy is the cited "
        "benchmark figure of the unquantized model (quantization loss is not modeled).",
    ]
    return tuple(a) + spec.assumptions


def command_for(spec: ReportSpec, fmt: str) -> str:
    return f"roofline report {spec.path or 'SPEC.toml'} --format {fmt} --out OUT"


def gather(spec: ReportSpec, fmt: str = "html") -> ReportData:
    """Rank every workload, build breakdowns, load measured runs and list every input."""
    devices_all = hwdb.load()
    devices = [devices_all[i] for i in spec.devices]
    results = [rank_workload(spec, w, devices_all) for w in spec.workloads]
    measured, summary, runs = measured_section(spec)
    static = static_section(spec)
    planning_out = planning_section(spec)
    files = [(f"spec {spec.path}", spec.sha256[:16])] if spec.sha256 else []
    for d in sorted(devices, key=lambda d: d.id):
        if d.path:
            files.append((display_path(Path(d.path)), _sha(d.path)))
    mdir = Path(hwdb.loader.MEASURED_DIR)
    for d in sorted(devices, key=lambda d: d.id):
        p = mdir / f"{d.id}.toml"
        if d.measured is not None and p.is_file():
            files.append((display_path(Path(p)), _sha(p)))
    return ReportData(
        spec=spec, devices=tuple(devices), device_table=device_table(devices), device_roofs=device_roofs(devices),
        workloads=tuple(results), measured=measured, measured_summary=summary, runs=runs, static=static,
        sources=sources_table(devices, results, runs), assumptions=default_assumptions(spec, results),
        versions=versions(), files=tuple(files), command=command_for(spec, fmt), planning=planning_out,
    )


def planning_section(spec: ReportSpec) -> dict | None:
    """The spec's [planning]: the cheapest fleet for the first workload's model (modeled, simulated)."""
    if not spec.planning:
        return None
    pl = spec.planning
    req = PlanRequest(model=spec.workloads[0].model, qps=pl["qps"], slo_ttft_p99_s=pl["slo_ttft_p99_s"],
                      slo_tpot_p99_s=pl["slo_tpot_p99_s"], devices=pl["devices"], objective=pl["objective"],
                      duration_s=pl["duration_s"], runtime=spec.runtime if spec.runtime != "ideal" else "vllm")
    out = plan(req)
    return {"table": planning_views.plan_table(out, top=12),
            "verdict": planning_views.plan_verdict(out, pl["qps"], pl["slo_ttft_p99_s"], pl["slo_tpot_p99_s"]),
            "request": req}
