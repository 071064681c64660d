"""PDF report: the HTML report's content as multi-page A4-landscape matplotlib pages, readable in print.

The flow layout (reports.pdf_layout) places headings, paragraphs, tables and charts top to bottom and keeps
every text inside its box. Deterministic: DejaVu Sans (ships with matplotlib), fixed PDF metadata with no
creation date, a fixed svg hash salt, sorted data. Colours: roofline.views.palette, as in the HTML and the app.
"""

from __future__ import annotations

import math
from dataclasses import replace

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from reports import tables
from reports.content import PHASE_LABEL, ReportData, WorkloadResult
from reports.html import colors_for
from reports.pdf_layout import CONTENT_W, MARGIN, Doc
from reports.spec import METRICS
from reports.tables import Table
from roofline.provenance import MEASURED
from roofline.views.common import si_ticks, tick_label
from roofline.views.palette import MISS_COLOUR, op_kind_colours, series_colours

RC = {"font.family": "DejaVu Sans", "font.size": 9, "svg.hashsalt": "roofline-report", "pdf.fonttype": 42,
      "axes.titlesize": 10, "axes.labelsize": 9, "xtick.labelsize": 8, "ytick.labelsize": 8, "legend.fontsize": 7.5,
      "path.simplify": False, "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False,
      "axes.spines.right": False}
AXIS_UNITS = {"tokens_per_s": "tok/s", "ttft_s": "s", "tpot_s": "s", "usd_per_mtok": "USD", "j_per_token": "J",
              "ipw": "/W", "ipj": "1/J"}


def si_axis(axis, values, unit: str, log: bool) -> None:
    """Ticks at roofline.views.common.si_ticks, labelled by tick_label: the tick format of the HTML report and
    the dashboard too."""
    v = [float(x) for x in values if _finite(x) and (float(x) > 0 or not log)]
    if not v:
        return
    lo, hi = min(v), max(v)
    if not log:
        lo = min(lo, 0.0)
    vals, _ = si_ticks(lo, hi, unit, log=log)
    if log and len(vals) < 2:
        vals, _ = si_ticks(lo / 3, hi * 3, unit, log=True)
    axis.set_major_locator(FixedLocator(vals))
    axis.set_major_formatter(FuncFormatter(lambda x, _pos: tick_label(x, unit)))
    if log:
        axis.set_minor_locator(NullLocator())


# --------------------------------------------------------------------------------------------- charts


def _finite(v) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def draw_roofline(roofs: pd.DataFrame, points: pd.DataFrame | None, colors: dict[str, str], title: str,
                  measured: pd.DataFrame | None = None):
    def draw(fig: Figure, rect: list[float]) -> None:
        ax = fig.add_axes(rect)
        for (dev_id, roof), g in roofs.groupby(["device_id", "roof"], sort=True):
            kind = g["kind"].iloc[0]
            ax.plot(g["x"], g["y"], color=colors[dev_id], lw=1.6, ls="--" if kind == MEASURED else "-",
                    label=f"{dev_id}: {roof} ({kind})")
        ys = list(roofs["y"])
        if points is not None and not points.empty:
            for (dev_id, phase), g in points.groupby(["device_id", "phase"], sort=True):
                ax.scatter(g["x"], g["y"], color=colors[dev_id], marker="s" if phase == "prefill" else "o", s=22,
                           edgecolor="white", lw=0.5, zorder=3, label=f"{dev_id}: {phase} ops (modeled)")
            ys += list(points["y"])
        if measured is not None and not measured.empty:
            m = measured[measured["intensity"].map(_finite) & measured["achieved_flops_per_s"].map(_finite)]
            m = m[(m["intensity"] > 0) & (m["achieved_flops_per_s"] > 0)]
            for dev_id, g in m.groupby("device_id", sort=True):
                ax.scatter(g["intensity"], g["achieved_flops_per_s"], color=colors.get(dev_id, "#444"), marker="x",
                           s=20, zorder=3, label=f"{dev_id}: kernels (measured)")
            ys += list(m["achieved_flops_per_s"])
        ax.set_xscale("log")
        ax.set_yscale("log")
        si_axis(ax.xaxis, roofs["x"], "", log=True)
        si_axis(ax.yaxis, ys, "FLOP/s", log=True)
        ax.set_xlabel("arithmetic intensity (FLOP/byte)")
        ax.set_ylabel("attainable / achieved FLOP/s")
        ax.set_title(title, loc="left")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=7)
    return draw


def _miss(wr: WorkloadResult, r) -> bool:
    return bool(tables.miss_note(r, wr.workload.slo_ttft_s, wr.workload.slo_tpot_s))


def draw_pareto(data: ReportData, wr: WorkloadResult, colors: dict[str, str]):
    xk, yk = data.spec.pareto_x, data.spec.pareto_y
    df = wr.ranking[wr.ranking["fits"].astype(bool)]
    df = df[df[xk].map(_finite) & df[yk].map(_finite)]

    def draw(fig: Figure, rect: list[float]) -> None:
        ax = fig.add_axes(rect)
        front = df[df["pareto"]].sort_values([xk, yk], kind="mergesort")
        if len(front) > 1:
            ax.plot(front[xk], front[yk], color="#999", ls=":", lw=1)
        for _, r in df.iterrows():
            miss = _miss(wr, r)
            c = colors[r["device_id"]]
            ax.scatter([r[xk]], [r[yk]], s=90 if r["pareto"] else 30, marker="*" if r["pareto"] else "o", zorder=3,
                       facecolors="none" if miss else c, edgecolors=c, linewidths=1.2)
            ax.annotate(r["device_id"], (r[xk], r[yk]),
                        textcoords="offset points", xytext=(4, 4), fontsize=7, color=MISS_COLOUR if miss else "#222")
        log_x = not df.empty and (df[xk] > 0).all() and df[xk].max() / max(df[xk].min(), 1e-30) > 20
        log_y = not df.empty and (df[yk] > 0).all() and df[yk].max() / max(df[yk].min(), 1e-30) > 20
        if log_x:
            ax.set_xscale("log")
        if log_y:
            ax.set_yscale("log")
        si_axis(ax.xaxis, df[xk], AXIS_UNITS.get(xk, ""), log=bool(log_x))
        si_axis(ax.yaxis, df[yk], AXIS_UNITS.get(yk, ""), log=bool(log_y))
        ax.margins(x=0.08, y=0.1)
        ax.set_xlabel(f"{METRICS[xk][1]} [modeled]")
        ax.set_ylabel(f"{METRICS[yk][1]} [modeled]")
        ax.set_title("Pareto (stars: not dominated; open: misses the SLO)", loc="left")
    return draw


def draw_ipw(wr: WorkloadResult, colors: dict[str, str]):
    df = wr.ranking[wr.ranking["fits"].astype(bool) & wr.ranking["ipw"].map(_finite)]
    df = df.sort_values(["ipw", "device_id"], ascending=[False, True], kind="mergesort")
    acc = wr.model.accuracy[0] if wr.model.accuracy else None

    def draw(fig: Figure, rect: list[float]) -> None:
        ax = fig.add_axes(rect)
        if df.empty:
            ax.text(0.5, 0.5, "no IPW: the model has no cited accuracy", ha="center", va="center",
                    transform=ax.transAxes, color="#777")
            ax.set_axis_off()
            return
        miss = [_miss(wr, r) for _, r in df.iterrows()]
        for i, (d, v, m) in enumerate(zip(df["device_id"], df["ipw"], miss, strict=True)):
            ax.bar(i, v, color=colors[d], alpha=0.45 if m else 1.0, hatch="//" if m else None, edgecolor=colors[d])
            ax.text(i, v, f"{v:.3g}", ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(df)), [f"{d} (misses SLO)" if m else d for d, m in zip(df["device_id"], miss,
                                                                                      strict=True)],
                      rotation=35, ha="right")
        si_axis(ax.yaxis, list(df["ipw"]) + [0.0], "/W", log=False)
        ax.set_ylim(0, float(df["ipw"].max()) * 1.15)
        ax.set_ylabel("IPW: accuracy per W [modeled]")
        ax.set_title(f"Intelligence per watt ({acc.benchmark} {acc.value_pct:.1f}%, cited)" if acc else "IPW",
                     loc="left")
    return draw


def draw_breakdown(wr: WorkloadResult):
    df = wr.breakdown.copy()
    df["bar"] = df["device_id"] + " · " + df["phase"]
    bars = sorted(df["bar"].unique(), key=lambda b: (wr.detail_ids.index(b.split(" · ")[0]), "prefill" not in b, b))
    kinds = sorted(df["op_kind"].unique())
    colours = op_kind_colours(kinds)

    def draw(fig: Figure, rect: list[float]) -> None:
        x, y, w, h = rect
        gap = 0.09
        for j, (share, value, unit, what) in enumerate((("time_share", "time_s", "s", "latency"),
                                                        ("energy_share", "energy_j", "J", "energy"))):
            ax = fig.add_axes([x + j * (w / 2 + gap / 2) + (0.06 if j else 0), y, w / 2 - gap, h])
            left = np.zeros(len(bars))
            totals = df.groupby("bar")[value].sum()
            for k in kinds:
                g = df[df["op_kind"] == k].set_index("bar")
                vals = np.array([float(g[share].get(b, 0.0)) * 100 for b in bars])
                ax.barh(range(len(bars)), vals, left=left, color=colours[k], label=k)
                left += vals
            labels = [f"{tables.device_mark(wr, b.split(' · ')[0])} · {b.split(' · ')[1]}" for b in bars]
            ax.set_yticks(range(len(bars)), labels if j == 0 else [""] * len(bars))
            for i, b in enumerate(bars):  # the absolute total at the end of each bar
                ax.text(101, i, tables.fnum(totals[b], unit), va="center", ha="left", fontsize=7)
            ax.invert_yaxis()
            ax.set_xlim(0, 100)
            ax.set_xlabel(f"share of modeled {what} (%)")
            ax.set_title(f"Where the {what} goes (total at the end)", loc="left")
            if j == 1:
                ax.legend(loc="upper left", bbox_to_anchor=(1.12, 1.0), frameon=False)
    return draw


def draw_measured(df: pd.DataFrame):
    m = df[df["median_s"].map(_finite) & df["predicted_s"].map(_finite)]
    m = m[(m["median_s"] > 0) & (m["predicted_s"] > 0)]

    def draw(fig: Figure, rect: list[float]) -> None:
        ax = fig.add_axes(rect)
        if m.empty:
            ax.text(0.5, 0.5, "no rows with both a measurement and a prediction", ha="center", transform=ax.transAxes)
            ax.set_axis_off()
            return
        lo = float(min(m["median_s"].min(), m["predicted_s"].min())) / 2
        hi = float(max(m["median_s"].max(), m["predicted_s"].max())) * 2
        ax.plot([lo, hi], [lo, hi], color="#999", ls=":", lw=1, label="measured = modeled")
        groups = list(m.groupby(["kernel", "impl"], sort=True))
        keys = series_colours(f"{k} ({i})" for (k, i), _g in groups)
        for (kernel, impl), g in groups:
            ax.scatter(g["predicted_s"], g["median_s"], s=18, color=keys[f"{kernel} ({impl})"],
                       label=f"{kernel} ({impl})")
        ax.set_xscale("log")
        ax.set_yscale("log")
        si_axis(ax.xaxis, [lo, hi], "s", log=True)
        si_axis(ax.yaxis, [lo, hi], "s", log=True)
        ax.set_xlabel("modeled time per call [modeled]")
        ax.set_ylabel("measured median time per call [measured]")
        ax.set_title("Measured vs modeled latency (above the line: slower than modeled)", loc="left")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return draw


# --------------------------------------------------------------------------------------------- document


def layout_pdf(data: ReportData) -> Doc:
    """The report laid out on pages (not yet rendered): tests read ``Doc.overflows`` and the pages from here."""
    spec = data.spec
    colors = colors_for(spec.devices)
    with matplotlib.rc_context(RC):
        doc = Doc(footer=f"{spec.title} — roofline report from {spec.path}")
        doc.heading(spec.title, level=0, new_page=True)
        meta = f"Hardware-selection report · spec {spec.path}"
        meta += f" · {spec.date}" if spec.date else ""
        meta += f" · {spec.author}" if spec.author else ""
        doc.para(meta, color="#555")
        if spec.description:
            doc.para(spec.description, size=10)
        doc.para("Every number is labelled [datasheet] (a vendor figure, cited under Sources), [modeled] (the "
                 "analytical roofline model), [measured] (a trace run, named by its id) or [static] (read from "
                 "compiled code without running it).", color="#555")
        doc.heading("Summary", level=1)
        for wr in data.workloads:
            doc.para(tables.summary_line(data, wr), size=10)
        doc.table(tables.summary_table(data))
        doc.para("Contents: the verdict and its sensitivity; one section per workload (scenario, ranking, Pareto, "
                 "IPW, latency/energy breakdown, roofline); candidate hardware; measured vs modeled; assumptions; "
                 "sources; reproduction.", color="#555")
        doc.heading("Verdict", level=1, new_page=True)
        for wr in data.workloads:
            doc.need(2.0)  # the line stays with its table
            doc.para(f"{wr.workload.name}: {wr.verdict.recommendation}.", size=11, bold=True)
            doc.table(tables.verdict_table(wr))
            doc.table(tables.sensitivity_table(wr))
        for wr in data.workloads:
            doc.heading(f"Workload: {wr.workload.name}", level=1, new_page=True)
            doc.table(_untitled(tables.scenario_table(wr)))
            doc.table(tables.ranking_table(data, wr))
            h = 3.4
            doc.need(h)
            doc.chart(draw_pareto(data, wr, colors), h, width=CONTENT_W / 2, advance=False)
            doc.chart(draw_ipw(wr, colors), h, width=CONTENT_W / 2, x_in=MARGIN + CONTENT_W / 2)
            if not wr.breakdown.empty:
                bd_h = 1.5 + 0.28 * wr.breakdown[["device_id", "phase"]].drop_duplicates().shape[0]
                doc.heading("Latency and energy breakdown", level=2, keep=bd_h + 0.4)
                doc.para(f"Bars: {', '.join(PHASE_LABEL.values())}, for the best-ranked devices; modeled. Op kind "
                         "colours are the same in every chart of this report, the HTML report and the dashboard.",
                         size=8, color="#555")
                doc.chart(draw_breakdown(wr), bd_h, width=CONTENT_W)
                for t in tables.breakdown_tables(wr):
                    doc.table(t)
            if not wr.roofs.empty:
                doc.heading(tables.roof_title(wr), level=2, keep=4.3)
                doc.chart(draw_roofline(wr.roofs, wr.points, colors, "Modeled ops of the top devices on their "
                                        "roofs (solid datasheet, dashed measured)"), 4.3, width=CONTENT_W)
            doc.table(tables.provenance_table(wr))

        doc.heading("Candidate hardware", level=1, new_page=True)
        doc.table(tables.device_table(data))
        doc.chart(draw_roofline(data.device_roofs, None, colors, "16-bit compute roof and memory roof "
                                "(solid datasheet, dashed measured)"), 4.6, width=CONTENT_W)

        doc.heading("Measured vs modeled", level=1, new_page=True)
        if data.measured is None:
            doc.para("No measured runs included: the spec names no trace runs ([traces] runs = [...]). Every "
                     "performance number in this report is modeled.", size=10)
        else:
            doc.table(tables.runs_table(data))
            doc.table(tables.measured_summary_table(data))
            doc.chart(draw_measured(data.measured), 4.0, width=CONTENT_W)
            mdev = sorted(set(data.measured["device_id"].dropna()) & set(spec.devices))
            roofs = data.device_roofs[data.device_roofs["device_id"].isin(mdev)]
            if not roofs.empty:
                doc.chart(draw_roofline(roofs, None, colors, "Measured kernels on their device's roofline",
                                        measured=data.measured), 4.0, width=CONTENT_W)
            doc.table(tables.measured_table(data))
            if data.static is not None:
                doc.table(tables.static_table(data))

        if data.planning:
            doc.heading("Capacity plan", level=1)
            doc.table(tables.planning_table(data))

        doc.heading("Assumptions", level=1)
        for a in data.assumptions:
            doc.para(f"• {a}", size=8.5)
        doc.heading("Sources", level=1, new_page=True)
        doc.table(_untitled(tables.sources_table(data)), size=6.5)
        doc.heading("Reproduce", level=1)
        doc.para(data.command, mono=True, size=9)
        doc.para("The same spec, hardware database and traces give a byte-identical report.", color="#555", size=8)
        doc.table(tables.files_table(data))
        doc.table(tables.versions_table(data))
        doc.heading(f"Spec ({spec.path})", level=2)
        doc.para(spec.text, mono=True, size=7)
    return doc


def render_pdf(data: ReportData) -> bytes:
    with matplotlib.rc_context(RC):
        return layout_pdf(data).render()


def _untitled(t: Table) -> Table:

    return replace(t, title="")
