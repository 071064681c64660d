"""The report's tables as formatted strings, shared by the HTML and PDF renderers.

Each column carries the kind of its numbers (datasheet / modeled / measured, or "" for names), so both
formats label every number the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from reports.content import (
    PHASE_LABEL,
    ReportData,
    WorkloadResult,
    fixed,
    fnum,
    pct,
)
from reports.spec import METRICS
from roofline.provenance import DATASHEET, MEASURED, MODELED, STATIC
from roofline.views.common import band_overlap_note, layout_cell
from roofline.views.verdict import miss_note


@dataclass(frozen=True)
class Table:
    title: str
    headers: tuple[str, ...]
    kinds: tuple[str, ...]  # one per column
    rows: tuple[tuple[str, ...], ...]
    note: str = ""
    widths: tuple[float, ...] = field(default=())  # relative column widths for the PDF
    highlight: tuple[bool, ...] = field(default=())  # rows to emphasize (the top pick, Pareto devices)


def _t(title: str, cols: list[tuple[str, str, float]], rows: list[list[str]], note: str = "",
       highlight: list[bool] | None = None) -> Table:
    return Table(title=title, headers=tuple(c[0] for c in cols), kinds=tuple(c[1] for c in cols),
                 rows=tuple(tuple(r) for r in rows), note=note, widths=tuple(c[2] for c in cols),
                 highlight=tuple(highlight or ()))


def rate(x) -> str:
    """tokens/s: whole numbers from 100 up, three significant digits below (0.97, not 1)."""
    try:
        xf = float(x)
    except (TypeError, ValueError):
        return "-"
    return fixed(xf, ",.0f") if abs(xf) >= 100 else fixed(xf, ".3g")


def _b(x) -> str:
    if x is None or (isinstance(x, float) and pd.isna(x)):
        return "-"
    return "yes" if bool(x) else "no"


def _ranged(r, key: str, f) -> str:
    """``x (lo-hi)`` where the row carries the figure's band."""
    lo, hi = r.get(f"{key}_lo"), r.get(f"{key}_hi")
    if lo is None or hi is None or pd.isna(lo) or pd.isna(hi) or pd.isna(r.get(key)):
        return f(r.get(key))
    return f"{f(r[key])} ({f(lo)}-{f(hi)})"


def scenario_table(wr: WorkloadResult) -> Table:
    """The workload as priced, two fields a row: value and where it came from (spec, default, model config)."""
    w, s, m = wr.workload, wr.scenario, wr.model
    items = [("model", f"{m.name} ({m.id})", "model config"),
             ("parameters", f"{m.params / 1e9:.1f} B total, {m.active_params / 1e9:.1f} B active", "model config")]
    for k in ("phase", "batch", "prompt_tokens", "gen_tokens", "wbits", "abits", "kvbits", "group_size",
              "weight_sparsity", "attention", "tp"):
        if hasattr(s, k):
            v = getattr(s, k)
            if k == "attention" and v == "block-sparse":
                v = f"block-sparse, keeps {s.attention_kept:g}"
            items.append((k, str(v), "spec" if k in w.scenario else "default"))
    if w.slo_ttft_s is not None:
        items.append(("SLO: time to first token", f"<= {fnum(w.slo_ttft_s, 's')}", "spec"))
    if w.slo_tpot_s is not None:
        items.append(("SLO: time per output token", f"<= {fnum(w.slo_tpot_s, 's')}", "spec"))
    half = (len(items) + 1) // 2
    rows = []
    for i in range(half):
        a = items[i]
        b = items[half + i] if half + i < len(items) else ("", "", "")
        rows.append([a[0], a[1], a[2], b[0], b[1], b[2]])
    cols = [("field", "", 1.5), ("value", "", 2.4), ("from", "", 0.9), ("field", "", 1.5), ("value", "", 2.4),
            ("from", "", 0.9)]
    return _t(f"Workload: {w.name}", cols, rows, note=w.note)


def prefill_only(wr: WorkloadResult) -> bool:
    """A prefill-only workload has no decode step: no TPOT anywhere it is shown."""
    return getattr(wr.scenario, "phase", "") == "prefill"


def slo_cell(r, wr: WorkloadResult) -> str:
    """'yes', 'misses' (fits, misses an SLO), 'no SLO' or '-' (does not fit)."""
    if not bool(r["fits"]):
        return "-"
    if wr.workload.slo_ttft_s is None and wr.workload.slo_tpot_s is None:
        return "no SLO"
    return "misses" if miss_note(r, wr.workload.slo_ttft_s, wr.workload.slo_tpot_s) else "yes"


def device_mark(wr: WorkloadResult, device_id: str) -> str:
    """A device as the breakdowns and charts label it: the id, with '(misses SLO)' when it misses one."""
    r = wr.ranking[wr.ranking["device_id"] == device_id]
    if not r.empty and miss_note(r.iloc[0], wr.workload.slo_ttft_s, wr.workload.slo_tpot_s):
        return f"{device_id} (misses SLO)"
    return device_id


def ranking_table(data: ReportData, wr: WorkloadResult) -> Table:
    spec = data.spec
    no_tpot = prefill_only(wr)
    cols = [("rank", "", 0.5), ("device", "", 2.2), ("layout", "", 0.8), ("fits", MODELED, 0.5),
            ("TTFT", MODELED, 0.9)] + ([] if no_tpot else [("TPOT", MODELED, 0.9)]) + [
            ("tokens/s", MODELED, 0.9), (f"USD/Mtok ({data.spec.cost_basis})", MODELED, 0.9), ("J/token", MODELED, 0.9),
            ("IPW (/W)", MODELED, 0.8), ("SLO", MODELED, 0.6), ("Pareto", MODELED, 0.6), ("note", "", 2.6)]
    rows, hl = [], []
    for _, r in wr.ranking.iterrows():
        note = "" if bool(r["fits"]) else str(r.get("fit_reason", "") or "does not fit")
        if bool(r["fits"]):
            note = miss_note(r, wr.workload.slo_ttft_s, wr.workload.slo_tpot_s) or note
            if str(r.get("unreliable", "") or ""):
                note = (note + "; " if note else "") + f"not ranked: {r['unreliable']}"
            if pd.isna(r.get("usd_per_mtok")):
                note = (note + "; " if note else "") + f"no public {spec.cost_basis} price"
        rank = "-" if pd.isna(r["rank"]) else str(int(r["rank"]))
        rows.append([rank, str(r["name"]), layout_cell(r), _b(r["fits"]),
                     fnum(r["ttft_s"], "s")] + ([] if no_tpot else [fnum(r["tpot_s"], "s")]) + [
                     _ranged(r, "tokens_per_s", rate), fixed(r["usd_per_mtok"], ".3g"), fixed(r["j_per_token"], ".3g"),
                     fixed(r["ipw"], ".3g"), slo_cell(r, wr), "yes" if r["pareto"] else "",
                     note + (("; " if note else "") + band_overlap_note(r["within_band_of"])
                             if r.get("within_band_of") else "")])
        hl.append(rank == "1")
    by = METRICS[spec.rank_by][1]
    acc = getattr(wr.model, "accuracy", ())
    acc_note = (f" IPW uses {acc[0].benchmark} {acc[0].value_pct:.1f}% (cited, see Sources)." if acc
                else " IPW/IPJ need a cited accuracy; this model has none.")
    note = (f"Ranked by {by} among devices that fit and meet the SLOs; rank '-' = does not fit or misses an SLO "
            f"(SLO 'misses', and the note says which and by how much). Pareto: not beaten on both "
            f"{METRICS[spec.pareto_x][1]} and {METRICS[spec.pareto_y][1]}. All metrics are modeled "
            f"(roofline.engine.predict, runtime profile {spec.runtime}); tokens/s shows its 80% band (held-out "
            f"residuals of the profile on the device's class); 'within band of' names devices whose bands on "
            f"{by} overlap; prices are datasheet.{acc_note}"
            + (" No TPOT: a prefill-only workload has no decode step." if no_tpot else ""))
    return _t(f"Ranking: {wr.workload.name}", cols, rows, note=note, highlight=hl)


def provenance_table(wr: WorkloadResult) -> Table:
    cols = [("device", "", 1.5), ("efficiency", "", 0.9), ("efficiency source", "", 3.0), ("energy", "", 0.9),
            ("energy source", "", 3.5)]
    rows = [[r["device_id"], r["efficiency_kind"], r["efficiency_source"], r["energy_kind"], r["energy_source"]]
            for _, r in wr.provenance.sort_values("device_id").iterrows()] if not wr.provenance.empty else []
    return _t("Where the modeled numbers come from", cols, rows,
              note="'measured' = calibrated from traces (hwdb measured overlay); 'modeled' = documented defaults.")


def breakdown_tables(wr: WorkloadResult) -> tuple[Table, Table]:
    """Latency and energy by op kind, one row per (device, phase): the total, then each op kind's modeled time
    (or energy) with its share, e.g. '8.96 s (64%)'. Devices that miss an SLO are marked."""
    df = wr.breakdown
    kinds = list(df.groupby("op_kind")["time_s"].sum().sort_values(ascending=False, kind="mergesort").index)
    order = {d: i for i, d in enumerate(wr.detail_ids)}
    groups = sorted(df.groupby(["device_id", "phase"]), key=lambda kv: (order.get(kv[0][0], 99), kv[0][1] != "prefill"))
    out = []
    for what, value, share, unit in (("Latency", "time_s", "time_share", "s"), ("Energy", "energy_j", "energy_share",
                                                                                "J")):
        cols = [("device", "", 1.5), ("phase", "", 1.3), ("total", MODELED, 0.8)]
        cols += [(k, MODELED, 1.0) for k in kinds]
        rows = []
        for (dev, ph), g in groups:
            by = g.set_index("op_kind")
            row = [device_mark(wr, dev), PHASE_LABEL.get(ph, ph), fnum(g[value].sum(), unit)]
            row += [f"{fnum(by[value][k], unit)} ({pct(by[share][k])})" if k in by.index else "-" for k in kinds]
            rows.append(row)
        out.append(_t(f"{what} by op kind", cols, rows,
                      note=f"Modeled {what.lower()} of one prefill (the whole prompt, all requests) and of one decode "
                           "step (all requests, at the prompt length), with each op kind's share in brackets."))
    return out[0], out[1]


def roof_title(wr: WorkloadResult) -> str:
    """'Roofline at bf16', or the roofs actually drawn when a device runs the ops at another dtype (an Apple
    GPU without a bf16 rate draws its fp32 roof): 'Roofline: bf16 ops on bf16 roofs (fp32 on apple-m4-max)'."""
    if wr.roofs.empty:
        return f"Roofline at {wr.compute_dtype}"
    ds = wr.roofs[wr.roofs["kind"] != MEASURED].groupby("device_id")["dtype"].first().to_dict()
    others = {d: dt for d, dt in ds.items() if dt != wr.compute_dtype}
    if not others:
        return f"Roofline at {wr.compute_dtype}"
    by_dt: dict[str, list[str]] = {}
    for d, dt in sorted(others.items()):
        by_dt.setdefault(dt, []).append(d)
    alt = "; ".join(f"{dt} on {', '.join(ds_)}" for dt, ds_ in sorted(by_dt.items()))
    same = [d for d in ds if d not in others]
    return (f"Roofline: {wr.compute_dtype} ops on each device's roof ({alt}, no {wr.compute_dtype} rate"
            + (f"; {wr.compute_dtype} on {', '.join(sorted(same))}" if same else "") + ")")


def verdict_table(wr: WorkloadResult) -> Table:
    """The verdict as label / text rows: the pick, the two reasons, the runner-up and when it wins, ranges and
    caveats (rows only where there is something to say)."""
    v = wr.verdict
    rows = [["recommendation", v.recommendation]]
    for i, r in enumerate(v.reasons, 1):
        rows.append([f"reason {i}", r])
    if v.runner_up:
        rows.append(["runner-up" if v.pick else "closest", f"{v.runner_up_name} ({v.runner_up})"])
        for w in v.runner_up_when:
            rows.append(["it would win", w])
    for r in v.ranges:
        rows.append(["uncertainty", r])
    for c in v.caveats:
        rows.append(["caveat", c])
    return _t("", [("", "", 1.2), ("", "", 8.0)], rows,
              note="Modeled (roofline.engine.predict); the same numbers as the ranking. Uncertainty ranges appear "
                   "once the predictions carry them.", highlight=[i == 0 for i in range(len(rows))])


def sensitivity_table(wr: WorkloadResult) -> Table:
    by = METRICS.get(wr.verdict.by, ("", wr.verdict.by))[1]
    cols = [("factor", "", 0.9), ("setting", "", 2.4), ("first by " + by, MODELED, 1.6),
            ("its " + by, MODELED, 1.6), (f"{wr.verdict.pick or 'the pick'} (the pick)", MODELED, 2.0), ("verdict holds", MODELED, 0.9)]
    df = wr.sensitivity if wr.sensitivity is not None else pd.DataFrame()
    rows = [[r["factor"], r["setting"], r["winner"], r["winner_value"], r["pick_value"], "yes" if r["holds"] else "NO"]
            for _, r in df.iterrows()]
    return _t("Sensitivity: what would change the answer", cols, rows, highlight=[not r["holds"] for _, r in df.iterrows()],
              note="Price scales each device's $/h; at utilization u a device is paid for all the time and idles the "
                   "rest (cost per token / u, idle energy added per token, IPW at the mean power); an SLO change "
                   "re-filters the same modeled numbers. Rows where the first device changes are highlighted.")


def device_table(data: ReportData) -> Table:
    cols = [("device", "", 2.4), ("kind", "", 0.6), ("memory", DATASHEET, 1.1), ("bandwidth", DATASHEET, 1.0),
            ("16-bit peak", DATASHEET, 1.0), ("int8 peak", DATASHEET, 1.0), ("fp8 peak", DATASHEET, 1.0),
            ("TDP", DATASHEET, 0.7), ("price", DATASHEET, 1.4), ("measured overlay", MEASURED, 1.8)]
    rows = []
    for _, r in data.device_table.sort_values("device_id").iterrows():
        price = (f"${r['msrp_usd']:,.0f}" if pd.notna(r["msrp_usd"]) and r["msrp_usd"] else
                 f"${r['cloud_usd_per_h']:.2f}/h" if pd.notna(r["cloud_usd_per_h"]) and r["cloud_usd_per_h"] else "-")
        if price != "-" and r["price_date"]:
            price += f" ({r['price_date']})"
        rows.append([f"{r['name']} ({r['device_id']})", r["kind"],
                     f"{fnum(r['memory_bytes'], 'B')} {r['memory_type']}".strip(),
                     fnum(r["mem_bw_bytes_per_s"], "B/s"), fnum(r["peak16_ops_per_s"], "F/s"),
                     fnum(r["peak_int8_ops_per_s"], "op/s"), fnum(r["peak_fp8_ops_per_s"], "F/s"),
                     f"{r['tdp_w']:.0f} W", price, r["measured"] or "-"])
    return _t("Candidate devices", cols, rows,
              note="Dense datasheet peaks ('-' = not supported). Every figure's source is in the Sources section.")


def measured_summary_table(data: ReportData) -> Table | None:
    if data.measured_summary is None:
        return None
    cols = [("kernel", "", 2.0), ("impl", "", 1.2), ("rows", MEASURED, 0.6),
            ("median time error", MEASURED, 1.3), ("median % of roof", MEASURED, 1.3),
            ("median energy error", MEASURED, 1.3)]
    rows = [[r["kernel"], r["impl"], str(int(r["rows"])), pct(r["median_time_err"], 1),
             pct(r["median_pct_of_roof"], 0), pct(r["median_energy_err"], 1)]
            for _, r in data.measured_summary.iterrows()]
    return _t("Measured vs modeled, per kernel", cols, rows,
              note="time error = measured / modeled - 1 (positive: slower than the model); % of roof = achieved "
                   "FLOP/s over the modeled attainable FLOP/s.")


def measured_table(data: ReportData) -> Table | None:
    if data.measured is None:
        return None
    cols = [("run", "", 1.6), ("kernel", "", 1.3), ("impl", "", 0.8), ("shape", "", 2.2), ("dtype", "", 0.6),
            ("measured", MEASURED, 0.8), ("modeled", MODELED, 0.8), ("error", MEASURED, 0.7),
            ("% roof", MEASURED, 0.6), ("bound", MODELED, 0.7), ("energy", MEASURED, 0.8),
            ("modeled energy", MODELED, 0.8), ("energy method", "", 1.0)]
    rows = [[r["run_id"], r["kernel"], r["impl"], str(r["shape"]), r["dtype"], fnum(r["median_s"], "s"),
             fnum(r["predicted_s"], "s"), pct(r["time_err"], 1), pct(r["pct_of_roof"], 0), str(r["bound"]),
             fnum(r["energy_j"], "J"), fnum(r["predicted_energy_j"], "J"), str(r["energy_method"])]
            for _, r in data.measured.iterrows()]
    return _t("Measured rows", cols, rows, note="measured = median latency of the trace row (its run id names the "
                                                "source); modeled = roofline.analysis.attribution.compare.")


def static_table(data: ReportData) -> Table | None:
    """Our measured calls beside the static (SASS) prediction of the same call: kind static."""
    if data.static is None:
        return None
    cols = [("kernel", "", 1.3), ("shape", "", 2.2), ("dtype", "", 0.6), ("measured", MEASURED, 0.8),
            ("static floor", STATIC, 0.8), ("measured / static", MEASURED, 0.9), ("bound", STATIC, 0.7),
            ("MMA", STATIC, 0.7), ("regs", STATIC, 0.5), ("spill B", STATIC, 0.6), ("run", "", 1.6)]
    rows = [[r["kernel"], str(r["shape"]), r["dtype"], fnum(r["median_s"], "s"), fnum(r["static_predicted_s"], "s"),
             fixed(r["measured_over_static"], ".2f"), str(r["predicted_bound"]), str(r["mma"]), str(int(r["regs"])),
             str(int(r["spill_bytes"])), r["run_id"]] for _, r in data.static.iterrows()]
    return _t("Measured beside the static (SASS) prediction", cols, rows,
              note="static floor = the largest of the issue floor (SASS instructions / the SMs' issue rate), the "
                   "memory floor and the compute floor of the call, from `roofline kernels inspect` (compiled code "
                   "read on a CPU, nothing run); measured / static > 1: slower than the compiled code predicts.")


def planning_table(data: ReportData) -> Table | None:
    """The capacity plan's candidates (modeled by the serving simulator), meeting the objectives first."""
    if not data.planning:
        return None
    df = data.planning["table"]
    cols = [("device", "", 1.0), ("layout", MODELED, 0.9), ("scheduler", "", 0.7), ("replicas", MODELED, 0.6),
            ("devices", MODELED, 0.6), ("meets", MODELED, 0.5), ("p99 TTFT", MODELED, 0.7),
            ("p99 TPOT", MODELED, 0.7), ("$/h", MODELED, 0.7), ("J / request", MODELED, 0.8)]
    rows = [[r["device_id"], r["layout"], r["scheduler"], str(int(r["replicas"] or 0)), str(int(r["devices"] or 0)),
             "yes" if r["meets_slo"] else "no", fnum(r["ttft_p99_s"], "s"), fnum(r["tpot_p99_s"], "s"),
             "-" if r["usd_per_h"] != r["usd_per_h"] else f"{r['usd_per_h']:,.2f}", fnum(r["j_per_request"], "J")]
            for _, r in df.iterrows()]
    v = data.planning["verdict"]
    return _t("Capacity plan", cols, rows, note=f"{v['headline']}: {v['reason']}. Runner-up: {v['runner_up']}.")


def runs_table(data: ReportData) -> Table:
    cols = [("run id", "", 2.0), ("device", "", 2.0), ("host", "", 1.0), ("start", "", 1.5), ("rows", "", 0.5),
            ("command", "", 3.0)]
    rows = [[str(r[c]) for c in ("run_id", "device", "host", "start", "rows", "command")]
            for _, r in data.runs.iterrows()]
    return _t("Trace runs included", cols, rows)


def sources_table(data: ReportData) -> Table:
    cols = [("kind", "", 0.9), ("item", "", 1.2), ("used for", "", 2.2), ("title", "", 2.8), ("url", "", 3.2),
            ("note", "", 3.0)]
    df = data.sources
    rows = [[r["kind"], r["item"], r["used_for"], r["title"], r["url"], r["note"]] for _, r in df.iterrows()]
    return _t("Sources", cols, rows)


def versions_table(data: ReportData) -> Table:
    return _t("Software versions", [("package", "", 1.5), ("version", "", 1.5)], [list(v) for v in data.versions])


def files_table(data: ReportData) -> Table:
    return _t("Input files (sha256, first 16 hex digits)", [("file", "", 3.0), ("sha256", "", 1.6)],
              [list(f) for f in data.files])


def summary_table(data: ReportData) -> Table:
    """The top-ranked devices of every workload (the report's answer, on its first page)."""
    cols = [("workload", "", 2.0), ("rank", "", 0.5), ("device", "", 2.2), ("layout", "", 0.8),
            ("tokens/s", MODELED, 0.9), ("TTFT", MODELED, 0.9), ("TPOT", MODELED, 0.9),
            ("USD/Mtok", MODELED, 0.9), ("J/token", MODELED, 0.9), ("IPW (/W)", MODELED, 0.8)]
    rows, hl = [], []
    for wr in data.workloads:
        ranked = wr.ranking[wr.ranking["rank"].notna()].head(data.spec.detail)
        if ranked.empty:
            rows.append([wr.workload.name, "-", "no candidate fits and meets the SLOs", "", "", "", "", "", "", ""])
            hl.append(False)
        for _, r in ranked.iterrows():
            rows.append([wr.workload.name, str(int(r["rank"])), str(r["name"]),
                         layout_cell(r), rate(r["tokens_per_s"]),
                         fnum(r["ttft_s"], "s"), "n/a (prefill)" if prefill_only(wr) else fnum(r["tpot_s"], "s"),
                         fixed(r["usd_per_mtok"], ".3g"), fixed(r["j_per_token"], ".3g"), fixed(r["ipw"], ".3g")])
            hl.append(int(r["rank"]) == 1)
    by = METRICS[data.spec.rank_by][1]
    return _t("Top picks", cols, rows, highlight=hl,
              note=f"Best {data.spec.detail} devices per workload by {by} among those that fit and meet the SLOs; "
                   "full rankings, with the devices that miss, in each workload's section.")


def summary_line(data: ReportData, wr: WorkloadResult) -> str:
    """The one-sentence answer for a workload (same words in HTML and PDF)."""
    spec, w = data.spec, wr.workload
    head = f"{w.name} ({wr.model.name}, {wr.scenario.label()}): "
    slo = ", ".join(x for x in (f"TTFT <= {fnum(w.slo_ttft_s, 's')}" if w.slo_ttft_s else "",
                                f"TPOT <= {fnum(w.slo_tpot_s, 's')}" if w.slo_tpot_s else "") if x)

    def figures(r) -> str:
        tp = f" x {int(r['tp'])} (tensor parallel)" if pd.notna(r["tp"]) and r["tp"] > 1 else ""
        tpot = "" if wr.scenario.phase == "prefill" else f"TPOT {fnum(r['tpot_s'], 's')}, "
        return (f"{r['name']}{tp}: {rate(r['tokens_per_s'])} tokens/s, TTFT {fnum(r['ttft_s'], 's')}, "
                f"{tpot}{fixed(r['j_per_token'], '.3g')} J/token [modeled]")

    top = wr.top
    if top is not None:
        return head + f"best by {METRICS[spec.rank_by][1]}{' within ' + slo if slo else ''}: {figures(top)}."
    fit = wr.ranking[wr.ranking["fits"].astype(bool) & wr.ranking[spec.rank_by].notna()]
    if fit.empty:
        return head + "no candidate device can hold this workload."
    asc = METRICS[spec.rank_by][0] == "min"
    best = fit.sort_values([spec.rank_by, "device_id"], ascending=[asc, True], kind="mergesort").iloc[0]
    miss = miss_note(best, w.slo_ttft_s, w.slo_tpot_s)
    return head + f"no candidate meets the SLOs ({slo}); the best that fits is {figures(best)}, and it {miss}."
