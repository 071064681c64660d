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
from roofline.provenance import DATASHEET, MEASURED, MODELED


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


def ranking_table(data: ReportData, wr: WorkloadResult) -> Table:
    spec = data.spec
    cols = [("rank", "", 0.5), ("device", "", 2.6), ("TP", "", 0.4), ("fits", MODELED, 0.5),
            ("TTFT", MODELED, 0.9), ("TPOT", MODELED, 0.9), ("tokens/s", MODELED, 0.9),
            ("USD/Mtok", MODELED, 0.9), ("J/token", MODELED, 0.9), ("IPW per kW", MODELED, 0.8),
            ("SLO", MODELED, 0.5), ("Pareto", MODELED, 0.6), ("note", "", 2.4)]
    rows, hl = [], []
    for _, r in wr.ranking.iterrows():
        note = "" if bool(r["fits"]) else str(r.get("fit_reason", "") or "does not fit")
        if bool(r["fits"]) and r.get("meets_slo") is not None and not pd.isna(r.get("meets_slo")) \
                and not bool(r["meets_slo"]):
            note = "misses the SLO"
        rank = "-" if pd.isna(r["rank"]) else str(int(r["rank"]))
        rows.append([rank, str(r["name"]), str(int(r["tp"])) if pd.notna(r.get("tp")) else "1", _b(r["fits"]),
                     fnum(r["ttft_s"], "s"), fnum(r["tpot_s"], "s"), _ranged(r, "tokens_per_s", rate),
                     fixed(r["usd_per_mtok"], ".3g"), fixed(r["j_per_token"], ".3g"), fixed(r["ipw"] * 1e3, ".3g"),
                     _b(r.get("meets_slo")), "yes" if r["pareto"] else "",
                     note + (("; " if note else "") + f"within band of {r['within_band_of']}"
                             if r.get("within_band_of") else "")])
        hl.append(rank == "1")
    by = METRICS[spec.rank_by][1]
    acc = getattr(wr.model, "accuracy", ())
    acc_note = (f" IPW uses {acc[0].benchmark} {acc[0].value_pct:.1f}% (cited, see Sources)." if acc
                else " IPW/IPJ need a cited accuracy; this model has none.")
    note = (f"Ranked by {by} among devices that fit and meet the SLOs. Pareto: not beaten on both "
            f"{METRICS[spec.pareto_x][1]} and {METRICS[spec.pareto_y][1]}. All metrics are modeled "
            f"(roofline.engine.predict, runtime profile {spec.runtime}); tokens/s shows its 80% band (held-out "
            f"residuals of the profile on the device's class); 'within band of' names devices whose bands on "
            f"{by} overlap; prices are datasheet.{acc_note}")
    return _t(f"Ranking: {wr.workload.name}", cols, rows, note=note, highlight=hl)


def provenance_table(wr: WorkloadResult) -> Table:
    cols = [("device", "", 1.5), ("efficiency", "", 0.9), ("efficiency source", "", 3.0), ("energy", "", 0.9),
            ("energy source", "", 3.5)]
    rows = [[r["device_id"], r["efficiency_kind"], r["efficiency_source"], r["energy_kind"], r["energy_source"]]
            for _, r in wr.provenance.sort_values("device_id").iterrows()] if not wr.provenance.empty else []
    return _t("Where the modeled numbers come from", cols, rows,
              note="'measured' = calibrated from traces (hwdb measured overlay); 'modeled' = documented defaults.")


def breakdown_table(wr: WorkloadResult) -> Table:
    """One row per (device, phase): modeled totals, then each op kind's share of time and of energy."""
    df = wr.breakdown
    kinds = list(df.groupby("op_kind")["time_s"].sum().sort_values(ascending=False, kind="mergesort").index)
    cols = [("device", "", 1.3), ("phase", "", 1.4), ("time", MODELED, 0.8), ("energy", MODELED, 0.8)]
    cols += [(f"{k} (time / energy)", MODELED, 0.95) for k in kinds]
    rows = []
    order = {d: i for i, d in enumerate(wr.detail_ids)}
    for (dev, ph), g in sorted(df.groupby(["device_id", "phase"]), key=lambda kv: (order.get(kv[0][0], 99),
                                                                                  kv[0][1] != "prefill")):
        by = g.set_index("op_kind")
        row = [dev, PHASE_LABEL.get(ph, ph), fnum(g["time_s"].sum(), "s"), fnum(g["energy_j"].sum(), "J")]
        for k in kinds:
            row.append(f"{pct(by['time_share'][k])} / {pct(by['energy_share'][k])}" if k in by.index else "-")
        rows.append(row)
    return _t("Latency and energy by op kind", cols, rows,
              note="Modeled time and energy of one prefill (the whole prompt, all requests) and of one decode step "
                   "(all requests, at the prompt length), with each op kind's share of the time and of the energy.")


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
    cols = [("workload", "", 2.0), ("rank", "", 0.5), ("device", "", 2.6), ("TP", "", 0.4),
            ("tokens/s", MODELED, 0.9), ("TTFT", MODELED, 0.9), ("TPOT", MODELED, 0.9),
            ("USD/Mtok", MODELED, 0.9), ("J/token", MODELED, 0.9), ("IPW per kW", MODELED, 0.8)]
    rows, hl = [], []
    for wr in data.workloads:
        ranked = wr.ranking[wr.ranking["rank"].notna()].head(data.spec.detail)
        if ranked.empty:
            rows.append([wr.workload.name, "-", "no candidate fits and meets the SLOs", "", "", "", "", "", "", ""])
            hl.append(False)
        for _, r in ranked.iterrows():
            rows.append([wr.workload.name, str(int(r["rank"])), str(r["name"]),
                         str(int(r["tp"])) if pd.notna(r.get("tp")) else "1", rate(r["tokens_per_s"]),
                         fnum(r["ttft_s"], "s"), fnum(r["tpot_s"], "s"), fixed(r["usd_per_mtok"], ".3g"),
                         fixed(r["j_per_token"], ".3g"), fixed(r["ipw"] * 1e3, ".3g")])
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
    return head + f"no candidate meets the SLOs ({slo}); the best that fits is {figures(best)}."
