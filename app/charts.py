"""Plotly figure builders: presentation only. Every number plotted comes from a roofline.views frame;
every hover says the number's kind (datasheet / modeled / measured) and its source."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from roofline.fmt import si
from roofline.views.common import log_range

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22")
DASH = {"fp64": "dot", "fp32": "dashdot", "tf32": "longdashdot", "bf16": "solid", "fp16": "solid",
        "fp8": "dash", "int8": "longdash", "int4": "dot"}
BOUND_COLOUR = {"compute": "#d62728", "memory": "#1f77b4", "comm": "#9467bd", "overhead": "#7f7f7f"}


def colour_map(keys: Sequence[str]) -> dict[str, str]:
    return {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(dict.fromkeys(keys))}


def _layout(fig: go.Figure, title: str, xtitle: str, ytitle: str, log: bool = True, height: int = 520) -> go.Figure:
    fig.update_layout(title=title, height=height, margin=dict(l=60, r=20, t=50, b=50),
                      legend=dict(font=dict(size=11)), hovermode="closest")
    fig.update_xaxes(title=xtitle, type="log" if log else "linear", exponentformat="SI")
    fig.update_yaxes(title=ytitle, type="log" if log else "linear", exponentformat="SI")
    return fig


def roofline_figure(lines: pd.DataFrame, ridges: pd.DataFrame | None = None, points: pd.DataFrame | None = None,
                    measured: pd.DataFrame | None = None, title: str = "Roofline") -> go.Figure:
    """Log-log roofline: roofs (lines), ridge points, modeled op points, measured points with their model twin."""
    fig = go.Figure()
    colours = colour_map(list(lines["device_id"]) if len(lines) else [])
    for (dev_id, roof), g in lines.groupby(["device_id", "roof"], sort=False):
        kind = g["kind"].iat[0]
        dtype = g["dtype"].iat[0]
        cache_roof = dtype == ""
        fig.add_trace(go.Scatter(
            x=g["x"], y=g["y"], mode="lines", name=f"{dev_id} · {roof}", legendgroup=dev_id,
            line=dict(color=colours[dev_id], dash="dot" if cache_roof else DASH.get(dtype, "solid"),
                      width=1.5 if kind == "measured" or cache_roof else 2.5),
            opacity=0.6 if kind == "measured" else 1.0,
            customdata=g[["source"]].to_numpy(),
            hovertemplate=(f"<b>{html.escape(g['device'].iat[0])}</b> · {html.escape(roof)}<br>"
                           "intensity %{x:.3g} FLOP/B<br>attainable %{y:.3s}op/s<br>"
                           f"kind: {kind}<br>source: %{{customdata[0]}}<extra></extra>")))
    if ridges is not None and len(ridges):
        fig.add_trace(go.Scatter(
            x=ridges["x"], y=ridges["y"], mode="markers", name="ridge points",
            marker=dict(symbol="diamond-open", size=9, color=[colours.get(d, "#444") for d in ridges["device_id"]]),
            customdata=ridges[["device", "dtype", "source"]].to_numpy(),
            hovertemplate=("<b>%{customdata[0]}</b> %{customdata[1]} ridge<br>%{x:.3g} FLOP/B at %{y:.3s}op/s<br>"
                           "kind: datasheet<br>source: %{customdata[2]}<extra></extra>")))
    if points is not None and len(points):
        fig.add_trace(go.Scatter(
            x=points["x"], y=points["y"], mode="markers", name="ops (modeled)",
            marker=dict(size=[max(7.0, min(30.0, 7 + 45 * s)) for s in points["time_share"]],
                        color=[BOUND_COLOUR.get(b, "#7f7f7f") for b in points["bound"]],
                        symbol=["circle" if ph != "prefill" else "square" for ph in points["phase"]],
                        line=dict(width=1, color="white")),
            customdata=points[["label", "bound", "time_s", "time_share", "pct_of_roof", "source"]].to_numpy(),
            hovertemplate=("<b>%{customdata[0]}</b> (%{customdata[1]}-bound)<br>intensity %{x:.3g} FLOP/B<br>"
                           "achieved %{y:.3s}FLOP/s (%{customdata[4]:.0%} of roof)<br>time %{customdata[2]:.3s}s "
                           "(%{customdata[3]:.1%} of the total)<br>kind: modeled<br>source: %{customdata[5]}"
                           "<extra></extra>")))
    if measured is not None and len(measured):
        _add_measured(fig, measured)
    focus = [] if points is None else list(points["x"])
    focus += [] if measured is None else list(measured["x"])
    if focus and ridges is not None:
        focus += list(ridges["x"])
    if focus:  # zoom on the points (and the ridges), not the whole axis
        fig.update_xaxes(range=list(log_range(focus, pad=4.0)))
    elif len(lines):
        fig.update_xaxes(range=[_log(lines["x"].min()), _log(lines["x"].max())])
    return _layout(fig, title, "arithmetic intensity (FLOP / byte)", "attainable / achieved op/s")


def _add_measured(fig: go.Figure, m: pd.DataFrame) -> None:
    """Measured points (x) with the modeled point of the same call beside each (o), joined by a thin line."""
    seg_x, seg_y = [], []
    for x, ym, yp in zip(m["x"], m["y_measured"], m["y_modeled"], strict=True):
        seg_x += [x, x, None]
        seg_y += [ym, yp, None]
    fig.add_trace(go.Scatter(x=seg_x, y=seg_y, mode="lines", line=dict(color="#999", width=1),
                             showlegend=False, hoverinfo="skip"))
    cd = m[["label", "device_id", "median_s", "pct_of_roof", "time_err", "source"]].to_numpy()
    fig.add_trace(go.Scatter(
        x=m["x"], y=m["y_modeled"], mode="markers", name="modeled (same call)",
        marker=dict(symbol="circle-open", size=9, color="#ff7f0e"), customdata=cd,
        hovertemplate=("<b>%{customdata[0]}</b> on %{customdata[1]}<br>modeled %{y:.3s}FLOP/s<br>"
                       "kind: modeled<br>source: roofline.engine.model<extra></extra>")))
    fig.add_trace(go.Scatter(
        x=m["x"], y=m["y_measured"], mode="markers", name="measured",
        marker=dict(symbol="x", size=9, color="#2ca02c"), customdata=cd,
        hovertemplate=("<b>%{customdata[0]}</b> on %{customdata[1]}<br>measured %{y:.3s}FLOP/s, "
                       "median %{customdata[2]:.3s}s<br>%{customdata[3]:.0%} of roof; model error "
                       "%{customdata[4]:+.0%}<br>kind: measured<br>source: %{customdata[5]}<extra></extra>")))


def _log(v: float) -> float:

    return math.log10(v) if v > 0 else 0.0


def stacked_bars(long: pd.DataFrame, title: str = "", height: int = 400) -> go.Figure:
    """Stacked shares from a ``workload.breakdown_long`` frame: x = (metric, group), stacked by part; hover shows
    the value with its unit, its share, its kind and source."""
    fig = go.Figure()
    colours = colour_map(list(long["part"]))
    for p, g in long.groupby("part", sort=False):
        fig.add_trace(go.Bar(
            x=[list(g["metric"]), list(g["group"])], y=g["share"], name=str(p), marker_color=colours[p],
            customdata=list(zip(g["value"], g["unit"], g["kind"], strict=True)),
            hovertemplate=(f"<b>{html.escape(str(p))}</b><br>%{{x}}: %{{customdata[0]:.3s}}%{{customdata[1]}} "
                           "(%{y:.1%} of the total)<br>kind: %{customdata[2]}<br>source: roofline.engine.model"
                           "<extra></extra>")))
    fig.update_layout(barmode="stack", title=title, height=height, margin=dict(l=50, r=20, t=40, b=40),
                      legend=dict(font=dict(size=11)))
    fig.update_yaxes(title="share of the total", tickformat=".0%")
    return fig


def memory_bar(mem: pd.DataFrame, fits: bool) -> go.Figure:
    """One horizontal stacked bar of modeled bytes per device, with the usable and datasheet capacity lines."""
    fig = go.Figure()
    colours = {"weights": "#1f77b4", "KV cache": "#ff7f0e", "activations": "#2ca02c"}
    for r in mem.itertuples(index=False):
        fig.add_trace(go.Bar(y=["memory"], x=[r.bytes], orientation="h", name=r.part,
                             marker_color=colours.get(r.part, "#999"),
                             hovertemplate=f"{r.part}: {si(r.bytes, 'B')}<br>kind: {r.kind}<br>source: {r.source}"
                                           "<extra></extra>"))
    usable, cap = float(mem["usable_bytes"].iat[0]), float(mem["capacity_bytes"].iat[0])
    fig.add_vline(x=usable, line=dict(color="#d62728" if not fits else "#444", dash="dash"),
                  annotation_text=f"usable {si(usable, 'B')}", annotation_position="top left")
    fig.add_vline(x=cap, line=dict(color="#444"), annotation_text=f"capacity {si(cap, 'B')} (datasheet)",
                  annotation_position="top right")
    fig.update_layout(barmode="stack", height=190, margin=dict(l=60, r=20, t=40, b=30), showlegend=True,
                      legend=dict(orientation="h", y=-0.35), title=dict(text="memory per device (modeled)",
                                                                       font=dict(size=13), x=0.0, y=0.97))
    fig.update_xaxes(exponentformat="SI", ticksuffix="B")
    return fig


def html_table(values: pd.DataFrame, tips: pd.DataFrame, formats: dict[str, str],
               headers: dict[str, str] | None = None) -> str:
    """An HTML table whose cells show a tooltip (the citation) on hover. ``formats`` maps column -> unit."""
    headers = headers or {}
    head = "".join(f"<th>{html.escape(headers.get(c, c))}</th>" for c in values.columns)
    body = []
    for i in range(len(values)):
        cells = []
        for c in values.columns:
            v = values[c].iat[i]
            text = si(v, formats[c]) if c in formats and v is not None and not pd.isna(v) else (
                "—" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v))
            tip = tips[c].iat[i] if c in tips else ""
            cells.append(f'<td title="{html.escape(str(tip))}">{html.escape(text)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return ("<style>.rt{border-collapse:collapse;font-size:0.85rem}.rt td,.rt th{border:1px solid #ddd;"
            "padding:3px 8px;text-align:right}.rt td:first-child,.rt th:first-child{text-align:left}"
            ".rt td[title]:hover{background:#eef5ff;cursor:help}</style>"
            f'<table class="rt"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>')


def pred_vs_measured(m: pd.DataFrame, band: tuple[float, float] | None, title: str = "") -> go.Figure:
    """Measured vs modeled time per call (log-log), the y = x line, and the band holding most points."""
    fig = go.Figure()
    lo = float(min(m["predicted_s"].min(), m["median_s"].min())) / 2
    hi = float(max(m["predicted_s"].max(), m["median_s"].max())) * 2
    if band is not None:
        blo, bhi = band
        fig.add_trace(go.Scatter(x=[lo, hi, hi, lo], y=[lo * blo, hi * blo, hi * bhi, lo * bhi], fill="toself",
                                 fillcolor="rgba(255,127,14,0.15)", line=dict(width=0), hoverinfo="skip",
                                 name=f"80% of points: measured = modeled x {blo:.2f}..{bhi:.2f}"))
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", line=dict(color="#444", dash="dash"),
                             name="measured = modeled", hoverinfo="skip"))
    colours = colour_map(list(m["kernel"]))
    for k, g in m.groupby("kernel", sort=False):
        fig.add_trace(go.Scatter(
            x=g["predicted_s"], y=g["median_s"], mode="markers", name=str(k), marker=dict(color=colours[k], size=8),
            customdata=g[["label", "device_id", "time_err", "pct_of_roof", "source"]].to_numpy(),
            hovertemplate=("<b>%{customdata[0]}</b> on %{customdata[1]}<br>modeled %{x:.3s}s (kind: modeled, "
                           "source: roofline.engine.model)<br>measured %{y:.3s}s (kind: measured, source: "
                           "%{customdata[4]})<br>error %{customdata[2]:+.0%}, %{customdata[3]:.0%} of roof"
                           "<extra></extra>")))
    return _layout(fig, title or "Predicted vs measured time per call", "modeled time (s)", "measured time (s)",
                   height=460)


def energy_bars(e: pd.DataFrame, title: str = "Energy per call") -> go.Figure:
    """Measured and modeled energy per call, side by side for each call (log y)."""
    fig = go.Figure()
    for col, name, colour, kind_col in (("energy_j", "measured", "#2ca02c", True),
                                        ("predicted_energy_j", "modeled", "#ff7f0e", False)):
        kinds = e["kind"] if kind_col else pd.Series(["modeled"] * len(e), index=e.index)
        src = e["source"] if kind_col else pd.Series(["roofline.engine.energy"] * len(e), index=e.index)
        fig.add_trace(go.Bar(
            x=e["label"], y=e[col], name=name, marker_color=colour,
            customdata=list(zip(kinds, src, e["energy_method"], strict=True)),
            hovertemplate=("<b>%{x}</b><br>%{y:.3s}J per call<br>kind: %{customdata[0]} (%{customdata[2]})<br>"
                           "source: %{customdata[1]}<extra></extra>")))
    fig.update_layout(barmode="group", title=title, height=420, margin=dict(l=50, r=20, t=40, b=120))
    fig.update_yaxes(type="log", title="J per call", exponentformat="SI")
    fig.update_xaxes(tickangle=-20, tickfont=dict(size=10))
    return fig


def pareto_figure(df: pd.DataFrame, x: str, y: str, z: str, labels: dict[str, tuple[str, bool]]) -> go.Figure:
    """Devices that fit: x vs y (log-log), colour = z; the Pareto front over (x, y, z) ringed."""
    fig = go.Figure()
    d = df[df["fits"].astype(bool)].copy()
    for c in (x, y, z):
        d[c] = pd.to_numeric(d[c], errors="coerce")
    d = d[d[x].notna() & d[y].notna() & (d[x] > 0) & (d[y] > 0)]
    if d.empty:
        return _layout(fig, "Nothing to plot: no device that fits has both numbers", labels[x][0], labels[y][0])
    zc = d[z] if d[z].notna().any() else None
    fig.add_trace(go.Scatter(
        x=d[x], y=d[y], mode="markers+text", text=d["device_id"], textposition="top center",
        textfont=dict(size=10), name="devices (modeled)",
        marker=dict(size=[16 if p else 10 for p in d["pareto"]], color=zc, colorscale="Viridis_r",
                    showscale=zc is not None, colorbar=dict(title=labels[z][0]) if zc is not None else None,
                    line=dict(width=[2.5 if p else 0.5 for p in d["pareto"]], color="#d62728")),
        customdata=d[["name", "tp", z, "source", "pareto"]].to_numpy(),
        hovertemplate=(f"<b>%{{customdata[0]}}</b> x%{{customdata[1]}}<br>{labels[x][0]}: %{{x:.3s}}<br>"
                       f"{labels[y][0]}: %{{y:.3s}}<br>{labels[z][0]}: %{{customdata[2]:.3s}}<br>Pareto-optimal: "
                       "%{customdata[4]}<br>kind: modeled<br>source: %{customdata[3]}<extra></extra>")))
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name="Pareto-optimal on all three (ringed)",
                             marker=dict(size=14, color="rgba(0,0,0,0)", line=dict(width=2.5, color="#d62728"))))
    fig.update_layout(legend=dict(orientation="h", y=-0.2))
    return _layout(fig, f"{labels[y][0]} vs {labels[x][0]}, colour = {labels[z][0]} (ringed: Pareto-optimal)",
                   labels[x][0], labels[y][0], height=540)


def energy_roofline_figure(curves: pd.DataFrame, points: pd.DataFrame | None = None) -> go.Figure:
    """J/FLOP vs intensity for a kernel at the attainable rate (lines), measured calls (x) beside their model (o)."""
    fig = go.Figure()
    colours = colour_map(list(curves["device_id"]))
    for (dev, dt), g in curves.groupby(["device_id", "dtype"], sort=False):
        kind = g["kind"].iat[0]
        fig.add_trace(go.Scatter(
            x=g["x"], y=g["j_per_flop"], mode="lines", name=f"{dev} · {dt} ({kind})", legendgroup=dev,
            line=dict(color=colours[dev], dash=DASH.get(dt, "solid")), customdata=g[["source"]].to_numpy(),
            hovertemplate=(f"<b>{html.escape(dev)}</b> {dt}<br>intensity %{{x:.3g}} FLOP/B<br>%{{y:.3s}}J/FLOP"
                           f"<br>kind: {kind}<br>source: %{{customdata[0]}}<extra></extra>")))
    if points is not None and len(points):
        cd = points[["label", "device_id", "source"]].to_numpy()
        fig.add_trace(go.Scatter(x=points["x"], y=points["y_modeled"], mode="markers", name="modeled (same call)",
                                 marker=dict(symbol="circle-open", size=9, color="#ff7f0e"), customdata=cd,
                                 hovertemplate=("<b>%{customdata[0]}</b><br>modeled %{y:.3s}J/FLOP<br>kind: modeled"
                                                "<br>source: roofline.engine.energy<extra></extra>")))
        fig.add_trace(go.Scatter(x=points["x"], y=points["y_measured"], mode="markers", name="measured",
                                 marker=dict(symbol="x", size=9, color="#2ca02c"), customdata=cd,
                                 hovertemplate=("<b>%{customdata[0]}</b> on %{customdata[1]}<br>measured "
                                                "%{y:.3s}J/FLOP<br>kind: measured<br>source: %{customdata[2]}"
                                                "<extra></extra>")))
    return _layout(fig, "Energy roofline: J per FLOP at the attainable rate (idle power included)",
                   "arithmetic intensity (FLOP / byte)", "J / FLOP", height=500)


def coefficient_map(coef: pd.DataFrame, dtype: str) -> go.Figure:
    """Each device's dynamic J/byte (x) vs J/FLOP for one dtype (y); symbol says measured or modeled."""
    d = coef[(coef["dtype"] == dtype) & coef["e_flop_j"].notna()]
    fig = go.Figure()
    for kind, g in d.groupby("kind", sort=False):
        fig.add_trace(go.Scatter(
            x=g["e_byte_j"], y=g["e_flop_j"], mode="markers+text", text=g["device_id"], textposition="top center",
            textfont=dict(size=10), name=kind, marker=dict(size=11, symbol="x" if kind == "measured" else "circle"),
            customdata=g[["device", "idle_w", "byte_kind", "source"]].to_numpy(),
            hovertemplate=(f"<b>%{{customdata[0]}}</b><br>{dtype}: %{{y:.3s}}J/FLOP (kind: {kind})<br>"
                           "%{x:.3s}J/byte (kind: %{customdata[2]})<br>idle %{customdata[1]:.0f} W<br>"
                           "source: %{customdata[3]}<extra></extra>")))
    return _layout(fig, "Energy coefficients",
                   "J / DRAM byte", f"J / FLOP ({dtype})", height=460)


def ipw_heatmap(long: pd.DataFrame, value: str = "ipw") -> go.Figure:
    """Models x devices heatmap of IPW (or IPJ); empty cells = does not fit or no published accuracy."""
    piv = long.pivot_table(index="model_id", columns="device_id", values=value, aggfunc="first", dropna=False)
    meta = long.drop_duplicates("model_id").set_index("model_id")
    hover = [[f"{m} on {d}<br>{value.upper()}: " + ("—" if pd.isna(piv.loc[m, d]) else f"{piv.loc[m, d]:.3g}")
              + f"<br>accuracy: {meta.loc[m, 'benchmark']} {meta.loc[m, 'accuracy_pct']}% "
              f"({meta.loc[m, 'accuracy_source']})<br>kind: modeled (accuracy: published)" for d in piv.columns]
             for m in piv.index]
    fig = go.Figure(go.Heatmap(z=piv.to_numpy(dtype=float), x=list(piv.columns), y=list(piv.index),
                               colorscale="Viridis", text=hover, hoverinfo="text",
                               colorbar=dict(title=value.upper())))
    fig.update_layout(title=f"{value.upper()} (modeled)", height=max(300, 60 + 40 * len(piv.index)),
                      margin=dict(l=120, r=20, t=50, b=80))
    return fig
