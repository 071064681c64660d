"""Plotly figure builders: presentation only. Every number plotted comes from a roofline.views frame;
every hover says the number's kind (datasheet / modeled / measured) and its source.

Colours come from roofline.views.palette (the reports use the same), and every numeric axis gets its ticks
from roofline.views.common.si_ticks, so '1 PFLOP/s' and '20 ms' read the same on every chart."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from roofline.fmt import si
from roofline.views.common import MISSING, finite_or_none, fmt_metric, log_range, si_ticks
from roofline.views.palette import (
    MEASURED_COLOUR,
    MEMORY_COLOURS,
    MISS_COLOUR,
    MODELED_COLOUR,
    op_colours,
    op_kind_colours,
    series_colours,
)

DASH = {"fp64": "dot", "fp32": "dashdot", "tf32": "longdashdot", "bf16": "solid", "fp16": "solid",
        "fp8": "dash", "int8": "longdash", "int4": "dot"}
# Units of the selection metrics on an axis (tick labels); IPW is a small plain number per watt.
AXIS_UNITS = {"usd_per_mtok": "USD", "tokens_per_s": "tok/s", "tokens_per_s_per_device": "tok/s", "j_per_token": "J",
              "ttft_s": "s", "tpot_s": "s", "ipw": "/W", "ipj": "1/J"}
PHASE_SYMBOL = {"prefill": "square", "decode": "circle"}


def colour_map(keys: Sequence[str]) -> dict[str, str]:
    """Series colours (devices, kernels) in the order given."""
    return series_colours(keys)


def _finite(values: Iterable) -> list[float]:
    out = []
    for v in values:
        f = finite_or_none(v)
        if f is not None:
            out.append(f)
    return out


def si_axis(fig: go.Figure, axis: str, values: Iterable, unit: str = "", log: bool = True, row: int | None = None,
            col: int | None = None, pad: float = 1.0, include_zero: bool = False) -> None:
    """Ticks of ``axis`` ('x' or 'y') at si_ticks over the finite ``values`` (log: positive ones), labelled the
    one way (roofline.views.common.tick_label); plotly's own exponent formats are never used."""
    v = [x for x in _finite(values) if (x > 0 or not log)]
    update = fig.update_xaxes if axis == "x" else fig.update_yaxes
    kw = {"row": row, "col": col} if row is not None else {}
    if not v:
        update(type="log" if log else "linear", **kw)
        return
    lo, hi = min(v), max(v)
    if log:
        lo, hi = lo / pad, hi * pad
    elif include_zero:
        lo = min(lo, 0.0)
    vals, text = si_ticks(lo, hi, unit, log=log)
    if log and len(vals) < 2:  # a narrow range: one decade around it
        vals, text = si_ticks(lo / 3, hi * 3, unit, log=True)
    update(type="log" if log else "linear", tickmode="array", tickvals=vals, ticktext=text, **kw)


def _layout(fig: go.Figure, title: str, xtitle: str, ytitle: str, height: int = 520) -> go.Figure:
    fig.update_layout(title=title, height=height, margin=dict(l=70, r=20, t=50, b=50),
                      legend=dict(font=dict(size=11)), hovermode="closest")
    fig.update_xaxes(title=xtitle)
    fig.update_yaxes(title=ytitle)
    return fig


def roofline_figure(lines: pd.DataFrame, ridges: pd.DataFrame | None = None, points: pd.DataFrame | None = None,
                    measured: pd.DataFrame | None = None, title: str = "Roofline") -> go.Figure:
    """Log-log roofline: roofs (lines), ridge points, modeled op points (colour = op, the one op palette;
    square = prefill), measured points with their model twin."""
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
        ocol = op_colours(list(points["name"]), list(points["op_kind"]))
        kcol = op_kind_colours(sorted(set(points["op_kind"])))
        for kind, g in points.groupby("op_kind", sort=True):
            # the legend entry in the kind's own colour; the points in per-op shades of it
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=f"{kind} ops (modeled)",
                                     legendgroup=f"ops-{kind}", marker=dict(size=10, color=kcol[kind])))
            fig.add_trace(go.Scatter(
                x=g["x"], y=g["y"], mode="markers", name=f"{kind} ops", legendgroup=f"ops-{kind}", showlegend=False,
                marker=dict(size=[max(7.0, min(30.0, 7 + 45 * s)) for s in g["time_share"]],
                            color=[ocol[n] for n in g["name"]],
                            symbol=[PHASE_SYMBOL.get(ph, "circle") for ph in g["phase"]],
                            line=dict(width=1, color="white")),
                customdata=g[["label", "bound", "time_s", "time_share", "pct_of_roof", "source"]].to_numpy(),
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
        xr = log_range(focus, pad=4.0)
    elif len(lines):
        xr = (_log(lines["x"].min()), _log(lines["x"].max()))
    else:
        xr = (-2.0, 5.0)
    fig.update_xaxes(range=list(xr))
    si_axis(fig, "x", [10 ** xr[0], 10 ** xr[1]], "")
    ys = list(lines["y"]) if len(lines) else []
    ys += [] if points is None else list(points["y"])
    ys += [] if measured is None else list(measured["y_measured"]) + list(measured["y_modeled"])
    si_axis(fig, "y", ys, "FLOP/s", pad=1.5)  # a tick above the highest roof (989 TFLOP/s -> 1 PFLOP/s)
    return _layout(fig, title, "arithmetic intensity (FLOP / byte)", "attainable / achieved FLOP/s")


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
        marker=dict(symbol="circle-open", size=9, color=MODELED_COLOUR), customdata=cd,
        hovertemplate=("<b>%{customdata[0]}</b> on %{customdata[1]}<br>modeled %{y:.3s}FLOP/s<br>"
                       "kind: modeled<br>source: roofline.engine.model<extra></extra>")))
    fig.add_trace(go.Scatter(
        x=m["x"], y=m["y_measured"], mode="markers", name="measured",
        marker=dict(symbol="x", size=9, color=MEASURED_COLOUR), customdata=cd,
        hovertemplate=("<b>%{customdata[0]}</b> on %{customdata[1]}<br>measured %{y:.3s}FLOP/s, "
                       "median %{customdata[2]:.3s}s<br>%{customdata[3]:.0%} of roof; model error "
                       "%{customdata[4]:+.0%}<br>kind: measured<br>source: %{customdata[5]}<extra></extra>")))


def _log(v: float) -> float:

    return math.log10(v) if v > 0 else 0.0


def part_colours(long: pd.DataFrame) -> dict[str, str]:
    """Colours of a breakdown's stacked parts: op kinds in their kind colour, single ops in shades of it."""
    parts = [str(p) for p in long["part"]]
    kinds = [str(k) for k in long["part_kind"]] if "part_kind" in long else parts
    if parts == kinds:
        return op_kind_colours(parts)
    return op_colours(parts, kinds)


def stacked_bars(long: pd.DataFrame, title: str = "", height: int = 420) -> go.Figure:
    """Absolute latency (s) and energy (J) side by side from a ``workload.breakdown_long`` frame: one bar per
    group (phase, or layer · phase), stacked by part, each segment labelled with its value and share; hover shows
    value, share, kind and source. Colours: roofline.views.palette (one per op kind, shades per op)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("latency (modeled)", "energy (modeled)"),
                        horizontal_spacing=0.12)
    colours = part_colours(long)
    for col, metric, unit in ((1, "latency", "s"), (2, "energy", "J")):
        m = long[long["metric"] == metric]
        for p, g in m.groupby("part", sort=False):
            fig.add_trace(go.Bar(
                x=list(g["group"]), y=list(g["value"]), name=str(p), legendgroup=str(p), showlegend=col == 1,
                marker_color=colours[str(p)],
                text=[f"{si(v, unit)} · {s:.0%}" for v, s in zip(g["value"], g["share"], strict=True)],
                textposition="inside", insidetextanchor="middle", textangle=0, textfont=dict(size=10),
                customdata=list(zip([si(v, unit) for v in g["value"]], g["share"], g["kind"], strict=True)),
                hovertemplate=(f"<b>{html.escape(str(p))}</b><br>%{{x}}: %{{customdata[0]}} "
                               "(%{customdata[1]:.1%} of the total)<br>kind: %{customdata[2]}<br>"
                               "source: roofline.engine.model<extra></extra>")), row=1, col=col)
        totals = m.groupby("group", sort=False)["value"].sum()
        si_axis(fig, "y", list(totals) + [0.0], unit, log=False, row=1, col=col, include_zero=True)
        fig.update_yaxes(title=f"{metric} ({unit})", row=1, col=col)
    groups = sorted(dict.fromkeys(long["group"].astype(str)), key=lambda g: "prefill" not in g)  # prefill first
    fig.update_xaxes(categoryorder="array", categoryarray=groups)
    fig.update_layout(barmode="stack", title=title, height=height, margin=dict(l=70, r=20, t=70, b=40),
                      legend=dict(font=dict(size=11), orientation="h", y=-0.12, yanchor="top"),
                      uniformtext=dict(minsize=9, mode="hide"))
    return fig


def memory_bar(mem: pd.DataFrame, fits: bool) -> go.Figure:
    """One horizontal stacked bar of modeled bytes per device, with the usable and datasheet capacity lines;
    their labels sit above the plot area (never on the bar)."""
    fig = go.Figure()
    for r in mem.itertuples(index=False):
        fig.add_trace(go.Bar(y=["memory"], x=[r.bytes], orientation="h", name=f"{r.part} {si(r.bytes, 'B')}",
                             marker_color=MEMORY_COLOURS.get(r.part, "#999"),
                             hovertemplate=f"{r.part}: {si(r.bytes, 'B')}<br>kind: {r.kind}<br>source: {r.source}"
                                           "<extra></extra>"))
    usable, cap = float(mem["usable_bytes"].iat[0]), float(mem["capacity_bytes"].iat[0])
    total = float(mem["bytes"].sum())
    hi = max(total, cap) * 1.06
    for x, text, colour, dash, anchor in ((usable, f"usable {si(usable, 'B')}", "#d62728" if not fits else "#444",
                                           "dash", "right"),
                                          (cap, f"capacity {si(cap, 'B')} (datasheet)", "#444", "solid", "left")):
        fig.add_shape(type="line", x0=x, x1=x, y0=0, y1=1, yref="paper", line=dict(color=colour, dash=dash))
        fig.add_annotation(x=x, y=1.0, yref="paper", yanchor="bottom", xanchor=anchor, text=text, showarrow=False,
                           font=dict(size=11, color=colour))
    fig.update_layout(barmode="stack", height=200, margin=dict(l=70, r=20, t=60, b=30), showlegend=True,
                      legend=dict(orientation="h", y=-0.45), title=dict(text="memory per device (modeled)",
                                                                       font=dict(size=13), x=0.0, y=0.97))
    fig.update_xaxes(range=[0, hi])
    si_axis(fig, "x", [0.0, hi], "B", log=False, include_zero=True)
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
            if isinstance(v, str):
                text = v or MISSING
            elif c in formats:
                text = fmt_metric(v, formats[c])
            else:
                text = MISSING if finite_or_none(v) is None else str(v)
            tip = tips[c].iat[i] if c in tips else ""
            cells.append(f'<td title="{html.escape(str(tip))}">{html.escape(text)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return ("<style>.rt{border-collapse:collapse;font-size:0.85rem}.rt td,.rt th{border:1px solid #ddd;"
            "padding:3px 8px;text-align:right}.rt td:first-child,.rt th:first-child{text-align:left}"
            ".rt td[title]:hover{background:#eef5ff;cursor:help}</style>"
            f'<table class="rt"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>')


def styled(df: pd.DataFrame, units: dict[str, str]) -> pd.DataFrame:
    """A frame for st.dataframe whose cells read the one way: the ``units`` columns (column -> unit; '%' for
    fractions) as SI text, and '—' for anything missing in any column. (Streamlit draws a null cell as 'None'
    whatever a Styler says, so the shown frame holds text; rows keep the order the view gave them.)"""
    out = df.copy()
    for c in out.columns:
        if c in units:
            out[c] = [fmt_metric(v, units[c]) for v in out[c]]
        elif pd.api.types.is_bool_dtype(out[c]) or not out[c].isna().any():
            continue
        elif pd.api.types.is_float_dtype(out[c]):
            out[c] = [MISSING if finite_or_none(v) is None else f"{v:.4g}" for v in out[c]]
        else:  # text (object or string dtype)
            out[c] = [MISSING if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA else v
                      for v in out[c]]
    return out


def pred_vs_measured(m: pd.DataFrame, band: tuple[float, float] | None, title: str = "") -> go.Figure:
    """Measured vs modeled time per call (log-log), the y = x line, and the band holding most points (an
    outline-free filled polygon: drawn with mode='lines' so its corners are not markers)."""
    fig = go.Figure()
    lo = float(min(m["predicted_s"].min(), m["median_s"].min())) / 2
    hi = float(max(m["predicted_s"].max(), m["median_s"].max())) * 2
    if band is not None:
        blo, bhi = band
        fig.add_trace(go.Scatter(x=[lo, hi, hi, lo, lo], y=[lo * blo, hi * blo, hi * bhi, lo * bhi, lo * blo],
                                 mode="lines", fill="toself", fillcolor="rgba(255,127,14,0.15)", line=dict(width=0),
                                 hoverinfo="skip", name=f"80% of points: measured = modeled x {blo:.2f}..{bhi:.2f}"))
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", line=dict(color="#444", dash="dash"),
                             name="measured = modeled", hoverinfo="skip"))
    colours = colour_map(sorted(set(m["kernel"].astype(str))))
    for k, g in m.groupby("kernel", sort=True):
        fig.add_trace(go.Scatter(
            x=g["predicted_s"], y=g["median_s"], mode="markers", name=str(k), marker=dict(color=colours[str(k)], size=8),
            customdata=g[["label", "device_id", "time_err", "pct_of_roof", "source"]].to_numpy(),
            hovertemplate=("<b>%{customdata[0]}</b> on %{customdata[1]}<br>modeled %{x:.3s}s (kind: modeled, "
                           "source: roofline.engine.model)<br>measured %{y:.3s}s (kind: measured, source: "
                           "%{customdata[4]})<br>error %{customdata[2]:+.0%}, %{customdata[3]:.0%} of roof"
                           "<extra></extra>")))
    si_axis(fig, "x", [lo, hi], "s")
    si_axis(fig, "y", [lo, hi], "s")
    return _layout(fig, title or "Predicted vs measured time per call", "modeled time", "measured time",
                   height=460)


def short_label(s: str, n: int = 48) -> str:
    s = str(s)
    return s if len(s) <= n else s[: n - 1] + "…"


def energy_bars(e: pd.DataFrame, title: str = "Energy per call") -> go.Figure:
    """Measured and modeled energy per call, side by side for each call: horizontal bars (log x), so the call
    labels read on the y axis instead of crowding under the bars; the full label is in the hover."""
    fig = go.Figure()
    labels = [short_label(x) for x in e["label"]]
    if len(set(labels)) < len(labels):  # two calls shortened alike: keep them apart
        labels = [f"{i + 1}. {x}" for i, x in enumerate(labels)]
    for col, name, colour, kind_col in (("energy_j", "measured", MEASURED_COLOUR, True),
                                        ("predicted_energy_j", "modeled", MODELED_COLOUR, False)):
        kinds = e["kind"] if kind_col else pd.Series(["modeled"] * len(e), index=e.index)
        src = e["source"] if kind_col else pd.Series(["roofline.engine.energy"] * len(e), index=e.index)
        fig.add_trace(go.Bar(
            y=labels, x=e[col], name=name, orientation="h", marker_color=colour,
            customdata=list(zip(e["label"], [fmt_metric(v, "J") for v in e[col]], kinds, src, e["energy_method"],
                                strict=True)),
            hovertemplate=("<b>%{customdata[0]}</b><br>%{customdata[1]} per call<br>kind: %{customdata[2]} "
                           "(%{customdata[4]})<br>source: %{customdata[3]}<extra></extra>")))
    fig.update_layout(barmode="group", title=title, height=140 + 46 * len(e), margin=dict(l=20, r=20, t=50, b=50),
                      legend=dict(orientation="h", y=-0.12 - 2.0 / max(len(e), 1) * 0.1))
    si_axis(fig, "x", list(e["energy_j"]) + list(e["predicted_energy_j"]), "J")
    fig.update_xaxes(title="J per call")
    fig.update_yaxes(autorange="reversed", automargin=True, tickfont=dict(size=11))
    return fig


def pareto_figure(df: pd.DataFrame, x: str, y: str, z: str, labels: dict[str, tuple[str, bool]]) -> go.Figure:
    """Devices that fit: x vs y (log-log), colour = z; the Pareto front over (x, y, z) ringed; devices that miss
    the SLO greyed and labelled so."""
    fig = go.Figure()
    d = df[df["fits"].astype(bool)].copy()
    for c in (x, y, z):
        d[c] = pd.to_numeric(d[c], errors="coerce")
    d = d[d[x].notna() & d[y].notna() & (d[x] > 0) & (d[y] > 0)]
    if d.empty:
        return _layout(fig, "Nothing to plot: no device that fits has both numbers", labels[x][0], labels[y][0])
    meets = d["meets_slo"].astype(bool) if "meets_slo" in d else pd.Series(True, index=d.index)
    zc = d[z] if d[z].notna().any() else None
    tp = d["tp"] if "tp" in d else pd.Series(1, index=d.index)
    text = [f"{i}" if ok else f"{i} (misses SLO)" for i, ok in zip(d["device_id"], meets, strict=True)]
    fig.add_trace(go.Scatter(
        x=d[x], y=d[y], mode="markers+text", text=text, textposition="top center",
        textfont=dict(size=10, color=["#222" if ok else MISS_COLOUR for ok in meets]), name="devices (modeled)",
        marker=dict(size=[16 if p else 10 for p in d["pareto"]], color=zc, colorscale="Viridis_r",
                    showscale=zc is not None, colorbar=dict(title=labels[z][0]) if zc is not None else None,
                    opacity=[1.0 if ok else 0.45 for ok in meets],
                    line=dict(width=[2.5 if p else 0.5 for p in d["pareto"]], color="#d62728")),
        customdata=np.column_stack([d["name"], [int(t) if finite_or_none(t) else 1 for t in tp],
                                    [fmt_metric(v, AXIS_UNITS.get(z, "")) for v in d[z]], d["source"],
                                    ["yes" if p else "no" for p in d["pareto"]],
                                    ["meets the SLO" if ok else "misses the SLO" for ok in meets]]),
        hovertemplate=(f"<b>%{{customdata[0]}}</b> x%{{customdata[1]}}<br>{labels[x][0]}: %{{x:.3s}}<br>"
                       f"{labels[y][0]}: %{{y:.3s}}<br>{labels[z][0]}: %{{customdata[2]}}<br>Pareto-optimal: "
                       "%{customdata[4]}; %{customdata[5]}<br>kind: modeled<br>source: %{customdata[3]}"
                       "<extra></extra>")))
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name="Pareto-optimal on all three (ringed)",
                             marker=dict(size=14, color="rgba(0,0,0,0)", line=dict(width=2.5, color="#d62728"))))
    if not meets.all():
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name="misses the SLO (faded)",
                                 marker=dict(size=10, color=MISS_COLOUR, opacity=0.45)))
    fig.update_layout(legend=dict(orientation="h", y=-0.2))
    si_axis(fig, "x", d[x], AXIS_UNITS.get(x, ""), pad=1.3)
    si_axis(fig, "y", d[y], AXIS_UNITS.get(y, ""), pad=1.3)
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
    ys = list(curves["j_per_flop"])
    if points is not None and len(points):
        cd = points[["label", "device_id", "source"]].to_numpy()
        fig.add_trace(go.Scatter(x=points["x"], y=points["y_modeled"], mode="markers", name="modeled (same call)",
                                 marker=dict(symbol="circle-open", size=9, color=MODELED_COLOUR), customdata=cd,
                                 hovertemplate=("<b>%{customdata[0]}</b><br>modeled %{y:.3s}J/FLOP<br>kind: modeled"
                                                "<br>source: roofline.engine.energy<extra></extra>")))
        fig.add_trace(go.Scatter(x=points["x"], y=points["y_measured"], mode="markers", name="measured",
                                 marker=dict(symbol="x", size=9, color=MEASURED_COLOUR), customdata=cd,
                                 hovertemplate=("<b>%{customdata[0]}</b> on %{customdata[1]}<br>measured "
                                                "%{y:.3s}J/FLOP<br>kind: measured<br>source: %{customdata[2]}"
                                                "<extra></extra>")))
        ys += list(points["y_measured"]) + list(points["y_modeled"])
    si_axis(fig, "x", curves["x"], "")
    si_axis(fig, "y", ys, "J")
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
    si_axis(fig, "x", d["e_byte_j"], "J", pad=1.5)
    si_axis(fig, "y", d["e_flop_j"], "J", pad=1.5)
    return _layout(fig, "Energy coefficients", "J / DRAM byte", f"J / FLOP ({dtype})", height=460)


def ipw_heatmap(long: pd.DataFrame, value: str = "ipw") -> go.Figure:
    """Models x devices heatmap of IPW (or IPJ), each cell with its value; empty cells = does not fit or no
    published accuracy. The colour scale is log10 when the values span more than a factor of 10 (labelled in
    real units), spanning exactly the values shown."""
    unit = {"ipw": "/W", "ipj": "/J"}.get(value, "")
    piv = long.pivot_table(index="model_id", columns="device_id", values=value, aggfunc="first", dropna=False)
    meta = long.drop_duplicates("model_id").set_index("model_id")
    z = piv.to_numpy(dtype=float)
    ok = np.isfinite(z) & (z > 0)
    text = [[f"{v:.2g}" if finite_or_none(v) else "" for v in r] for r in z]

    def acc(m: str) -> str:
        b, p, s = meta.loc[m, "benchmark"], finite_or_none(meta.loc[m, "accuracy_pct"]), meta.loc[m, "accuracy_source"]
        return f"{b} {p:g}% ({s})" if p is not None else "no published accuracy"

    hover = [[f"{m} on {d}<br>{value.upper()}: {fmt_metric(piv.loc[m, d], unit) if finite_or_none(piv.loc[m, d]) else 'does not fit'}"
              f"<br>accuracy: {acc(m)}<br>kind: modeled (accuracy: published)" for d in piv.columns] for m in piv.index]
    logscale = bool(ok.any() and z[ok].max() / z[ok].min() > 10)
    zs = np.where(ok, np.log10(np.where(ok, z, 1.0)), np.nan) if logscale else np.where(ok, z, np.nan)
    cb: dict = {"title": f"{value.upper()} ({unit})" if unit else value.upper()}
    if ok.any():
        lo, hi = float(z[ok].min()), float(z[ok].max())
        vals, labels = si_ticks(lo, hi, "", log=logscale)
        if len(vals) < 2:
            vals, labels = [lo, hi], [f"{lo:.3g}", f"{hi:.3g}"]
        cb.update(tickmode="array", tickvals=[math.log10(v) for v in vals] if logscale else vals, ticktext=labels)
        zmin, zmax = (math.log10(lo), math.log10(hi)) if logscale else (lo, hi)
    else:
        zmin, zmax = 0.0, 1.0
    fig = go.Figure(go.Heatmap(z=zs, x=list(piv.columns), y=list(piv.index), colorscale="Viridis", zmin=zmin,
                               zmax=zmax, text=text, texttemplate="%{text}", textfont=dict(size=10),
                               customdata=hover, hovertemplate="%{customdata}<extra></extra>", colorbar=cb,
                               xgap=1, ygap=1))
    fig.update_layout(title=f"{value.upper()} (modeled, {unit}{'; log colour scale' if logscale else ''})",
                      height=max(320, 90 + 42 * len(piv.index)), margin=dict(l=120, r=20, t=50, b=100))
    fig.update_xaxes(tickangle=-35)
    return fig


def curve_figure(df: pd.DataFrame, series: Sequence[tuple[str, str]], unit: str, xtitle: str, ytitle: str,
                 title: str) -> go.Figure:
    """Lines + markers of ``series`` = [(column, name)] against ``x`` (log2 steps, log axes), the uncertainty
    range (``column_lo`` / ``column_hi``) shaded where the frame has one; points that do not fit are left out
    and named in the title."""
    fig = go.Figure()
    colours = colour_map([c for c, _ in series])
    ok = df[df["fits"].astype(bool)]
    for c, name in series:
        if f"{c}_lo" in ok and f"{c}_hi" in ok and ok[f"{c}_lo"].notna().any():
            fig.add_trace(go.Scatter(x=list(ok["x"]) + list(ok["x"])[::-1],
                                     y=list(ok[f"{c}_hi"]) + list(ok[f"{c}_lo"])[::-1], mode="lines", fill="toself",
                                     line=dict(width=0), fillcolor="rgba(120,120,120,0.15)", hoverinfo="skip",
                                     name=f"{name}: uncertainty range"))
        fig.add_trace(go.Scatter(
            x=ok["x"], y=ok[c], mode="lines+markers", name=name, line=dict(color=colours[c]),
            customdata=np.column_stack([[fmt_metric(v, unit) for v in ok[c]], ok["source"]]) if len(ok) else None,
            hovertemplate=f"{xtitle} %{{x}}<br>{name}: %{{customdata[0]}}<br>kind: modeled<br>"
                          "source: %{customdata[1]}<extra></extra>"))
    nofit = df[~df["fits"].astype(bool)]["x"].tolist()
    if nofit:
        title += f" — does not fit at {xtitle} {', '.join(str(int(x)) for x in nofit)}"
    vals = sorted(int(x) for x in df["x"])
    fig.update_xaxes(type="log", tickmode="array", tickvals=vals, ticktext=[si(v, "") for v in vals])
    si_axis(fig, "y", [v for c, _ in series for v in ok[c]], unit, pad=1.3)
    return _layout(fig, title, xtitle, ytitle, height=380)
