"""HTML report: one self-contained file (plotly.js inlined once, jinja2 template, interactive figures).

Deterministic: every figure gets a fixed div id (``fig-<n>``), frames are sorted before plotting, and
nothing time- or host-dependent enters the page.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import jinja2
import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from reports import tables
from reports.content import PHASE_LABEL, ReportData, WorkloadResult
from reports.spec import METRICS
from roofline.provenance import DATASHEET, MEASURED, MODELED
from roofline.views.common import si_ticks
from roofline.views.palette import MISS_COLOUR, op_kind_colours, series_colours

TEMPLATES = Path(__file__).parent / "templates"
KIND_DASH = {DATASHEET: "solid", MEASURED: "dash", MODELED: "dot"}
# the unit of each rankable metric on an axis (tick labels: roofline.views.common.tick_label)
AXIS_UNITS = {"tokens_per_s": "tok/s", "ttft_s": "s", "tpot_s": "s", "usd_per_mtok": "USD", "j_per_token": "J",
              "ipw": "/W", "ipj": "1/J"}
FONT = "DejaVu Sans, Arial, sans-serif"
_PLOTLY_CONFIG = {"displaylogo": False, "responsive": True,
                  "toImageButtonOptions": {"format": "svg"}}


def colors_for(ids) -> dict[str, str]:
    """A fixed color per device id (sorted ids, palette order), shared by every figure of a report."""
    return series_colours(sorted(set(ids)))


def si_axis(fig: go.Figure, axis: str, values, unit: str, log: bool) -> None:
    """Ticks at roofline.views.common.si_ticks over the finite values: one tick format in every report figure
    (and the dashboard), never plotly's exponent formats."""
    v = [float(x) for x in values if _finite(x) and (float(x) > 0 or not log)]
    update = fig.update_xaxes if axis == "x" else fig.update_yaxes
    if not v:
        update(type="log" if log else "linear")
        return
    lo, hi = min(v), max(v)
    if not log:
        lo = min(lo, 0.0)
    vals, text = si_ticks(lo, hi, unit, log=log)
    if log and len(vals) < 2:
        vals, text = si_ticks(lo / 3, hi * 3, unit, log=True)
    update(type="log" if log else "linear", tickmode="array", tickvals=vals, ticktext=text)


def _layout(fig: go.Figure, title: str, height: int = 460, **kw) -> go.Figure:
    fig.update_layout(title={"text": title, "x": 0.0, "font": {"size": 15}}, template="plotly_white", height=height,
                      font={"family": FONT, "size": 12}, margin={"l": 70, "r": 20, "t": 60, "b": 60},
                      legend={"font": {"size": 11}}, **kw)
    return fig


def _finite(v) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


# --------------------------------------------------------------------------------------------- figures


def roofline_figure(roofs: pd.DataFrame, points: pd.DataFrame | None, colors: dict[str, str], title: str,
                    measured: pd.DataFrame | None = None) -> go.Figure:
    """Log-log roofline: each device's roofs as lines (solid datasheet, dashed measured) and ops as markers."""
    fig = go.Figure()
    for (dev_id, roof), g in roofs.groupby(["device_id", "roof"], sort=True):
        kind = g["kind"].iloc[0]
        fig.add_trace(go.Scatter(
            x=g["x"].tolist(), y=g["y"].tolist(), mode="lines", name=f"{dev_id}: {roof} ({kind})",
            legendgroup=dev_id, line={"color": colors[dev_id], "dash": KIND_DASH.get(kind, "solid"), "width": 2},
            hovertemplate=f"{dev_id} {roof} [{kind}]<br>%{{x:.3g}} FLOP/B → %{{y:.3s}}FLOP/s<br>"
                          f"{g['source'].iloc[0]}<extra></extra>"))
    symbols = {"prefill": "square", "decode": "circle"}
    if points is not None and not points.empty:
        for (dev_id, phase), g in points.groupby(["device_id", "phase"], sort=True):
            fig.add_trace(go.Scatter(
                x=g["x"].tolist(), y=g["y"].tolist(), mode="markers", name=f"{dev_id}: {phase} ops (modeled)",
                legendgroup=dev_id, marker={"color": colors[dev_id], "symbol": symbols.get(phase, "diamond"),
                                            "size": 9, "line": {"width": 1, "color": "white"}},
                text=[f"{n} ({k}, {dt}, {b}-bound)" for n, k, dt, b in zip(g["name"], g["op_kind"], g["dtype"],
                                                                            g["bound"], strict=True)],
                hovertemplate="%{text}<br>%{x:.3g} FLOP/B, %{y:.3s}FLOP/s [modeled]<extra></extra>"))
    if measured is not None and not measured.empty:
        m = measured[measured["intensity"].map(_finite) & measured["achieved_flops_per_s"].map(_finite)]
        m = m[(m["intensity"] > 0) & (m["achieved_flops_per_s"] > 0)]
        for dev_id, g in m.groupby("device_id", sort=True):
            fig.add_trace(go.Scatter(
                x=g["intensity"].tolist(), y=g["achieved_flops_per_s"].tolist(), mode="markers",
                name=f"{dev_id}: kernels (measured)", legendgroup=str(dev_id),
                marker={"color": colors.get(dev_id, "#444"), "symbol": "x", "size": 8},
                text=[f"{k} {i} {s} [{r}]" for k, i, s, r in zip(g["kernel"], g["impl"], g["shape"], g["run_id"],
                                                                  strict=True)],
                hovertemplate="%{text}<br>%{x:.3g} FLOP/B, %{y:.3s}FLOP/s [measured]<extra></extra>"))
    ys = list(roofs["y"]) + ([] if points is None or points.empty else list(points["y"]))
    if measured is not None and not measured.empty:
        ys += list(measured["achieved_flops_per_s"])
    si_axis(fig, "x", roofs["x"], "", log=True)
    si_axis(fig, "y", ys, "FLOP/s", log=True)
    fig.update_xaxes(title="arithmetic intensity (FLOP/byte)")
    fig.update_yaxes(title="attainable / achieved FLOP/s")
    return _layout(fig, title, height=520)


def _misses(wr: WorkloadResult, r) -> bool:
    return bool(tables.miss_note(r, wr.workload.slo_ttft_s, wr.workload.slo_tpot_s))


def pareto_figure(data: ReportData, wr: WorkloadResult, colors: dict[str, str]) -> go.Figure:
    xk, yk = data.spec.pareto_x, data.spec.pareto_y
    df = wr.ranking[wr.ranking["fits"].astype(bool)]
    df = df[df[xk].map(_finite) & df[yk].map(_finite)]
    fig = go.Figure()
    front = df[df["pareto"]].sort_values([xk, yk], kind="mergesort")
    if len(front) > 1:
        fig.add_trace(go.Scatter(x=front[xk].tolist(), y=front[yk].tolist(), mode="lines", name="Pareto front",
                                 line={"color": "#999", "dash": "dot"}, hoverinfo="skip"))
    for _, r in df.iterrows():
        miss = _misses(wr, r)
        fig.add_trace(go.Scatter(
            x=[r[xk]], y=[r[yk]], mode="markers+text", name=str(r["name"]),
            text=[r["device_id"]], textposition="top center",
            textfont={"color": MISS_COLOUR if miss else "#222"},
            marker={"color": colors[r["device_id"]], "size": 13 if r["pareto"] else 9,
                    "symbol": ("star" if r["pareto"] else "circle") + ("-open" if miss else ""),
                    "line": {"width": 2, "color": colors[r["device_id"]]}},
            hovertemplate=f"{r['name']} (TP {int(r['tp']) if pd.notna(r['tp']) else 1})"
                          f"{'<br>' + tables.miss_note(r, wr.workload.slo_ttft_s, wr.workload.slo_tpot_s) if miss else ''}"
                          f"<br>{METRICS[xk][1]}: %{{x:.3g}}<br>{METRICS[yk][1]}: %{{y:.3g}}<extra>modeled</extra>"))
    log_x = not df.empty and (df[xk] > 0).all() and df[xk].max() / max(df[xk].min(), 1e-30) > 20
    log_y = not df.empty and (df[yk] > 0).all() and df[yk].max() / max(df[yk].min(), 1e-30) > 20
    si_axis(fig, "x", df[xk], AXIS_UNITS.get(xk, ""), log=bool(log_x))
    si_axis(fig, "y", df[yk], AXIS_UNITS.get(yk, ""), log=bool(log_y))
    fig.update_xaxes(title=f"{METRICS[xk][1]} [modeled]")
    fig.update_yaxes(title=f"{METRICS[yk][1]} [modeled]")
    return _layout(fig, f"Pareto: {METRICS[xk][1]} vs {METRICS[yk][1]} (stars: not dominated; open: misses the SLO)",
                   showlegend=False)


def ipw_figure(wr: WorkloadResult, colors: dict[str, str]) -> go.Figure | None:
    df = wr.ranking[wr.ranking["fits"].astype(bool) & wr.ranking["ipw"].map(_finite)]
    if df.empty:
        return None
    df = df.sort_values(["ipw", "device_id"], ascending=[False, True], kind="mergesort")
    acc = wr.model.accuracy[0] if wr.model.accuracy else None
    miss = [_misses(wr, r) for _, r in df.iterrows()]
    fig = go.Figure(go.Bar(x=[f"{d} (misses SLO)" if m else d for d, m in zip(df["device_id"], miss, strict=True)],
                           y=df["ipw"].tolist(),
                           marker={"color": [colors[d] for d in df["device_id"]],
                                   "pattern": {"shape": ["/" if m else "" for m in miss]},
                                   "opacity": [0.5 if m else 1.0 for m in miss]},
                           text=[f"{v:.3g}" for v in df["ipw"]], textposition="outside",
                           hovertemplate="%{x}: %{y:.3g} accuracy per W [modeled power]<extra></extra>"))
    sub = f"{acc.benchmark} {acc.value_pct:.1f}% (cited) / modeled mean power" if acc else ""
    si_axis(fig, "y", list(df["ipw"]) + [0.0], "/W", log=False)
    fig.update_yaxes(title="IPW: accuracy per W [modeled]")
    return _layout(fig, f"Intelligence per watt: {sub}" + (" (hatched: misses the SLO)" if any(miss) else ""),
                   height=400)


def breakdown_figure(wr: WorkloadResult, metric: str) -> go.Figure | None:
    """Stacked bars: share of modeled time (or energy) by op kind, one bar per (device, phase) labelled with its
    absolute total; op kind colours from roofline.views.palette (the same in every figure, the PDF and the app)."""
    if wr.breakdown.empty:
        return None
    share = "time_share" if metric == "time" else "energy_share"
    value = "time_s" if metric == "time" else "energy_j"
    unit = "s" if metric == "time" else "J"
    df = wr.breakdown.copy()
    df["bar"] = df["device_id"] + " · " + df["phase"]
    bars = sorted(df["bar"].unique(), key=lambda b: (wr.detail_ids.index(b.split(" · ")[0]), "prefill" not in b, b))
    totals = df.groupby("bar")[value].sum()
    label = {b: f"{tables.device_mark(wr, b.split(' · ')[0])} · {b.split(' · ')[1]} ({tables.fnum(totals[b], unit)})"
             for b in bars}
    kinds = sorted(df["op_kind"].unique())
    colours = op_kind_colours(kinds)
    fig = go.Figure()
    for k in kinds:
        g = df[df["op_kind"] == k].set_index("bar")
        fig.add_trace(go.Bar(
            y=[label[b] for b in bars], x=[float(g[share].get(b, 0.0)) * 100 for b in bars], name=k,
            orientation="h", marker={"color": colours[k]},
            customdata=[tables.fnum(float(g[value].get(b, 0.0)), unit) for b in bars],
            hovertemplate=f"%{{y}} {k}: %{{x:.1f}}%% (%{{customdata}}) [modeled]<extra></extra>"))
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title=f"share of modeled {metric} (%); bar labels: the total", range=[0, 100])
    fig.update_yaxes(autorange="reversed", automargin=True)
    what = "latency" if metric == "time" else "energy"
    return _layout(fig, f"Where the {what} goes ({', '.join(PHASE_LABEL.values())})",
                   height=160 + 40 * len(bars))


def measured_figure(df: pd.DataFrame, colors: dict[str, str]) -> go.Figure | None:
    m = df[df["median_s"].map(_finite) & df["predicted_s"].map(_finite)]
    m = m[(m["median_s"] > 0) & (m["predicted_s"] > 0)]
    if m.empty:
        return None
    fig = go.Figure()
    lo = float(min(m["median_s"].min(), m["predicted_s"].min())) / 2
    hi = float(max(m["median_s"].max(), m["predicted_s"].max())) * 2
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="measured = modeled",
                             line={"color": "#999", "dash": "dot"}, hoverinfo="skip"))
    keys = series_colours(f"{k} ({i})" for (k, i), _g in m.groupby(["kernel", "impl"], sort=True))
    for (kernel, impl), g in m.groupby(["kernel", "impl"], sort=True):
        fig.add_trace(go.Scatter(
            x=g["predicted_s"].tolist(), y=g["median_s"].tolist(), mode="markers", name=f"{kernel} ({impl})",
            marker={"color": keys[f"{kernel} ({impl})"]},
            text=[f"{s} {d} [{r}]" for s, d, r in zip(g["shape"], g["dtype"], g["run_id"], strict=True)],
            hovertemplate="%{text}<br>modeled %{x:.3s}s, measured %{y:.3s}s<extra></extra>"))
    si_axis(fig, "x", [lo, hi], "s", log=True)
    si_axis(fig, "y", [lo, hi], "s", log=True)
    fig.update_xaxes(title="modeled time per call")
    fig.update_yaxes(title="measured median time per call")
    return _layout(fig, "Measured vs modeled latency (points above the line are slower than modeled)", height=480)


# --------------------------------------------------------------------------------------------- page


class _Figs:
    """Numbers figures in page order so div ids are stable."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, fig: go.Figure | None) -> str:
        if fig is None:
            return ""
        self.n += 1
        return fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"fig-{self.n}", config=_PLOTLY_CONFIG)


def render_html(data: ReportData) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=jinja2.select_autoescape(["html", "j2"]),
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    colors = colors_for(data.spec.devices)
    fig = _Figs()
    workloads = []
    for wr in data.workloads:
        workloads.append({
            "wr": wr, "anchor": f"w{len(workloads) + 1}",
            "scenario": replace(tables.scenario_table(wr), title=""), "ranking": tables.ranking_table(data, wr),
            "pareto": fig(pareto_figure(data, wr, colors)), "ipw": fig(ipw_figure(wr, colors)),
            "bd_time": fig(breakdown_figure(wr, "time")), "bd_energy": fig(breakdown_figure(wr, "energy")),
            "breakdown": tables.breakdown_tables(wr) if not wr.breakdown.empty else (),
            "provenance": tables.provenance_table(wr),
            "roof_title": tables.roof_title(wr),
            "roofline": fig(roofline_figure(wr.roofs, wr.points, colors,
                                            f"{tables.roof_title(wr)}: modeled ops of the top devices")
                            if not wr.roofs.empty else None),
            "verdict": tables.verdict_table(wr), "sensitivity": tables.sensitivity_table(wr),
        })
    hw_roof = fig(roofline_figure(data.device_roofs, None, colors,
                                  "Candidate devices: 16-bit compute roof and memory roof (solid datasheet, "
                                  "dashed measured)"))
    meas_fig = ""
    meas_roof = ""
    if data.measured is not None:
        meas_fig = fig(measured_figure(data.measured, colors))
        mdev = sorted(set(data.measured["device_id"].dropna()) & set(data.spec.devices))
        roofs = data.device_roofs[data.device_roofs["device_id"].isin(mdev)]
        if not roofs.empty:
            meas_roof = fig(roofline_figure(roofs, None, colors, "Measured kernels on their device's roofline",
                                            measured=data.measured))
    tpl = env.get_template("report.html.j2")
    return tpl.render(
        data=data, spec=data.spec, workloads=workloads, summary=tables.summary_table(data),
        summary_lines=[tables.summary_line(data, wr) for wr in data.workloads], devices=tables.device_table(data), hw_roof=hw_roof,
        measured_summary=tables.measured_summary_table(data), measured_rows=tables.measured_table(data),
        static_rows=tables.static_table(data), planning_rows=tables.planning_table(data),
        runs=tables.runs_table(data), meas_fig=meas_fig, meas_roof=meas_roof, sources=tables.sources_table(data),
        versions=tables.versions_table(data), files=tables.files_table(data), plotly_js=get_plotlyjs(),
        metrics=METRICS,
    )
