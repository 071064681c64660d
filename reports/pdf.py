"""PDF report: the HTML report's content as multi-page A4-landscape matplotlib pages, readable in print.

A small flow layout places headings, paragraphs, tables (split across pages, header repeated) and
charts top to bottom. Deterministic: DejaVu Sans (ships with matplotlib), fixed PDF metadata with no
creation date, a fixed svg hash salt, sorted data.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import replace
from functools import lru_cache

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import TextToPath
from matplotlib.ticker import FuncFormatter

from reports import tables
from reports.content import PHASE_LABEL, ReportData, WorkloadResult
from reports.html import PALETTE, colors_for
from reports.spec import METRICS
from reports.tables import Table
from roofline.fmt import si
from roofline.provenance import DATASHEET, MEASURED, MODELED

PAGE_W, PAGE_H = 11.69, 8.27  # inches, A4 landscape
MARGIN = 0.5
CONTENT_W = PAGE_W - 2 * MARGIN
KIND_COLOR = {DATASHEET: "#1f4f8b", MODELED: "#5b2d86", MEASURED: "#1d6b1d"}
_TTP = TextToPath()
RC = {"font.family": "DejaVu Sans", "font.size": 9, "svg.hashsalt": "roofline-report", "pdf.fonttype": 42,
      "axes.titlesize": 10, "axes.labelsize": 9, "xtick.labelsize": 8, "ytick.labelsize": 8, "legend.fontsize": 7.5,
      "path.simplify": False, "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False,
      "axes.spines.right": False}


def _line_h(size_pt: float) -> float:
    return 1.3 * size_pt / 72.0


@lru_cache(maxsize=4096)
def _char_w(ch: str, size_pt: float, bold: bool, mono: bool) -> float:
    prop = FontProperties(family="DejaVu Sans Mono" if mono else "DejaVu Sans", size=size_pt,
                          weight="bold" if bold else "normal")
    return _TTP.get_text_width_height_descent(f"|{ch}|", prop, ismath=False)[0] / 72.0 - 2 * _bar_w(size_pt, bold,
                                                                                                   mono)


@lru_cache(maxsize=64)
def _bar_w(size_pt: float, bold: bool, mono: bool) -> float:
    prop = FontProperties(family="DejaVu Sans Mono" if mono else "DejaVu Sans", size=size_pt,
                          weight="bold" if bold else "normal")
    return _TTP.get_text_width_height_descent("||", prop, ismath=False)[0] / 72.0 / 2


def _text_w(s: str, size_pt: float, bold: bool = False, mono: bool = False) -> float:
    """Width of ``s`` in inches as matplotlib draws it (DejaVu Sans / Sans Mono): the sum of the glyph
    advances, each measured once (kerning ignored, which only ever makes DejaVu text narrower)."""
    return sum(_char_w(ch, size_pt, bold, mono) for ch in s)


def _split_long(word: str, width_in: float, size_pt: float, bold: bool, mono: bool) -> list[str]:
    out, cur = [], ""
    for ch in word:
        if cur and _text_w(cur + ch, size_pt, bold, mono) > width_in:
            out.append(cur)
            cur = ""
        cur += ch
    return out + [cur]


def _wrap(text: str, width_in: float, size_pt: float, bold: bool = False, mono: bool = False) -> list[str]:
    """Greedy word wrap by measured width; words longer than a line (URLs) are split."""
    out: list[str] = []
    for para in str(text).split("\n"):
        if mono:  # keep the spec's layout: split only what overflows
            out += _split_long(para, width_in, size_pt, bold, mono) if para else [""]
            continue
        line = ""
        for word in para.split():
            cand = f"{line} {word}" if line else word
            if _text_w(cand, size_pt, bold, mono) <= width_in:
                line = cand
                continue
            if line:
                out.append(line)
            if _text_w(word, size_pt, bold, mono) > width_in:
                *full, line = _split_long(word, width_in, size_pt, bold, mono)
                out += full
            else:
                line = word
        out.append(line)
    return out


def _si_axis(unit: str) -> FuncFormatter:

    return FuncFormatter(lambda v, _pos: si(v, unit, 3) if v > 0 else "0")


def _col_widths(t: Table, size: float, pad: float) -> list[float]:
    """Column widths (inches) filling the page in proportion to ``t.widths``, each at least as wide as its
    kind tag and its longest header word, and numeric columns as wide as their widest value."""
    total = sum(t.widths) or 1.0
    mins = []
    for j, (h, k) in enumerate(zip(t.headers, t.kinds, strict=True)):
        m = max([_text_w(w, size, True) for w in h.split()] + ([_text_w(f"[{k}]", size, True)] if k else []))
        if k:  # numbers should not wrap
            m = max([m] + [_text_w(r[j], size, True) for r in t.rows])
        mins.append(m + 2 * pad + 0.02)
    widths = [CONTENT_W * w / total for w in t.widths]
    for _ in range(len(widths)):  # raise the narrow ones, take the space from the rest in proportion
        short = [j for j, w in enumerate(widths) if w < mins[j] - 1e-9]
        if not short:
            break
        need = sum(mins[j] - widths[j] for j in short)
        for j in short:
            widths[j] = mins[j]
        rest = [j for j in range(len(widths)) if j not in short]
        spare = sum(widths[j] - mins[j] for j in rest if widths[j] > mins[j])
        if spare <= 0:
            break
        for j in rest:
            if widths[j] > mins[j]:
                widths[j] -= need * (widths[j] - mins[j]) / spare
    return widths


class Doc:
    """Pages of a PDF built top-down; ``y`` is the cursor, inches from the page top."""

    def __init__(self, footer: str) -> None:
        self.pages: list[Figure] = []
        self.footer = footer
        self.fig: Figure | None = None
        self.y = 0.0
        self.section = ""

    def new_page(self) -> None:
        self.fig = Figure(figsize=(PAGE_W, PAGE_H))
        self.pages.append(self.fig)
        self.y = MARGIN
        n = len(self.pages)
        self.fig.text(MARGIN / PAGE_W, 0.3 / PAGE_H, self.footer, fontsize=7, color="#777")
        self.fig.text(1 - MARGIN / PAGE_W, 0.3 / PAGE_H, f"page {n}", fontsize=7, color="#777", ha="right")
        if self.section and n > 1:
            self.fig.text(1 - MARGIN / PAGE_W, 1 - 0.3 / PAGE_H, self.section, fontsize=7, color="#777", ha="right")

    def room(self) -> float:
        return PAGE_H - MARGIN - 0.15 - self.y

    def need(self, h: float) -> None:
        if self.fig is None or h > self.room():
            self.new_page()

    def _text(self, x_in: float, y_in: float, s: str, **kw) -> None:
        self.fig.text(x_in / PAGE_W, 1 - y_in / PAGE_H, s, va="top", **kw)

    # -------------------------------------------------------------------------------------- flow items

    def heading(self, text: str, level: int = 1, new_page: bool = False, keep: float = 1.2) -> None:
        """A heading; ``keep`` inches of what follows must fit on the same page."""
        size = {0: 20, 1: 15, 2: 11.5}[level]
        if level <= 1:
            self.section = text
        if new_page or self.fig is None:
            self.new_page()
        else:
            self.need(_line_h(size) + 0.2 + keep)
        self.y += 0.08 if level else 0
        self._text(MARGIN, self.y, text, fontsize=size, fontweight="bold")
        self.y += _line_h(size) + (0.08 if level <= 1 else 0.03)
        if level == 1:
            self.fig.add_artist(matplotlib.lines.Line2D([MARGIN / PAGE_W, 1 - MARGIN / PAGE_W],
                                                        [1 - (self.y - 0.04) / PAGE_H] * 2, color="#ccc", lw=1))
            self.y += 0.06

    def para(self, text: str, size: float = 9, color: str = "#222", indent: float = 0.0, mono: bool = False,
             style: str = "normal") -> None:
        lines = _wrap(text, CONTENT_W - indent, size, mono=mono)
        lh = _line_h(size)
        i = 0
        while i < len(lines):
            self.need(lh)
            take = max(1, min(len(lines) - i, int(self.room() / lh)))
            self._text(MARGIN + indent, self.y, "\n".join(lines[i:i + take]), fontsize=size, color=color,
                       family="DejaVu Sans Mono" if mono else "DejaVu Sans", linespacing=1.3 * 0.87, style=style)
            self.y += lh * take
            i += take
        self.y += 0.06

    def table(self, t: Table, size: float = 7.5) -> None:
        """A table; a short one stays on one page, a long one splits with its header repeated."""
        pad = 0.04
        widths = _col_widths(t, size, pad)
        xs = np.cumsum([MARGIN] + widths[:-1])
        lh = _line_h(size)
        title_h = _line_h(10) + 0.02 if t.title else 0.0
        head = [_wrap(h, w - 2 * pad, size, True) + ([f"[{k}]"] if k else [])
                for h, k, w in zip(t.headers, t.kinds, widths, strict=True)]
        head_h = max(len(c) for c in head) * lh + 2 * pad
        note_h = (len(_wrap(t.note, CONTENT_W, 7.5)) * _line_h(7.5) + 0.1) if t.note else 0.0
        body = [[_wrap(c, w - 2 * pad, size, bool(t.highlight and t.highlight[i]))
                 for c, w in zip(row, widths, strict=True)] for i, row in enumerate(t.rows)]
        heights = [max(len(x) for x in c) * lh + 2 * pad for c in body]
        whole = title_h + head_h + (sum(heights) if heights else lh + 2 * pad) + note_h
        if whole <= PAGE_H / 2:
            self.need(whole)  # short tables never split
        else:
            self.need(title_h + head_h + (heights[0] if heights else 0) + lh)
        if t.title:
            self._text(MARGIN, self.y, t.title, fontsize=10, fontweight="bold")
            self.y += title_h

        def draw_head() -> None:
            self.fig.add_artist(matplotlib.patches.Rectangle(
                (MARGIN / PAGE_W, 1 - (self.y + head_h) / PAGE_H), CONTENT_W / PAGE_W, head_h / PAGE_H,
                color="#eeeeee", lw=0, transform=self.fig.transFigure))
            for x, c, k in zip(xs, head, t.kinds, strict=True):
                self._text(x + pad, self.y + pad, "\n".join(c), fontsize=size, fontweight="bold",
                           color=KIND_COLOR.get(k, "#222"), linespacing=1.3 * 0.87)
            self.y += head_h

        if not t.rows:
            draw_head()
            self._text(MARGIN + pad, self.y + pad, "(none)", fontsize=size, color="#777")
            self.y += lh + 2 * pad
        else:
            draw_head()
            for i, (c, h) in enumerate(zip(body, heights, strict=True)):
                hl = bool(t.highlight and t.highlight[i])
                last = i == len(t.rows) - 1
                if h > self.room() or (last and i > 0 and h + note_h > self.room()):  # keep the note with a row
                    self.new_page()
                    self._text(MARGIN, self.y, f"{t.title or 'table'} (continued)", fontsize=8, color="#555")
                    self.y += _line_h(8)
                    draw_head()
                if hl:
                    self.fig.add_artist(matplotlib.patches.Rectangle(
                        (MARGIN / PAGE_W, 1 - (self.y + h) / PAGE_H), CONTENT_W / PAGE_W, h / PAGE_H,
                        color="#fff3c4", lw=0, transform=self.fig.transFigure))
                for x, cell in zip(xs, c, strict=True):
                    self._text(x + pad, self.y + pad, "\n".join(cell), fontsize=size, linespacing=1.3 * 0.87,
                               fontweight="bold" if hl else "normal")
                self.y += h
                self.fig.add_artist(matplotlib.lines.Line2D([MARGIN / PAGE_W, 1 - MARGIN / PAGE_W],
                                                            [1 - self.y / PAGE_H] * 2, color="#dddddd", lw=0.5))
        self.y += 0.05
        if t.note:
            self.para(t.note, size=7.5, color="#555")
        self.y += 0.08

    def chart(self, draw: Callable[[Figure, list[float]], None], height: float, width: float = CONTENT_W,
              x_in: float = MARGIN, advance: bool = True) -> None:
        """Axes of ``width`` x ``height`` inches at the cursor; ``draw(fig, rect)`` adds them (rect in figure
        fractions, room for tick labels included)."""
        self.need(height)
        left, bottom = x_in + 0.75, self.y + height - 0.5
        rect = [left / PAGE_W, 1 - bottom / PAGE_H, (width - 1.0) / PAGE_W, (height - 0.85) / PAGE_H]
        draw(self.fig, rect)
        if advance:
            self.y += height + 0.1

    def render(self) -> bytes:
        buf = io.BytesIO()
        meta = {"Title": self.footer, "Creator": "roofline-workbench reports", "Producer": "roofline-workbench",
                "CreationDate": None}
        with PdfPages(buf, metadata=meta) as pdf:
            for f in self.pages:
                pdf.savefig(f)
        return buf.getvalue()


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
        if points is not None and not points.empty:
            for (dev_id, phase), g in points.groupby(["device_id", "phase"], sort=True):
                ax.scatter(g["x"], g["y"], color=colors[dev_id], marker="s" if phase == "prefill" else "o", s=22,
                           edgecolor="white", lw=0.5, zorder=3, label=f"{dev_id}: {phase} ops (modeled)")
        if measured is not None and not measured.empty:
            m = measured[measured["intensity"].map(_finite) & measured["achieved_flops_per_s"].map(_finite)]
            m = m[(m["intensity"] > 0) & (m["achieved_flops_per_s"] > 0)]
            for dev_id, g in m.groupby("device_id", sort=True):
                ax.scatter(g["intensity"], g["achieved_flops_per_s"], color=colors.get(dev_id, "#444"), marker="x",
                           s=20, zorder=3, label=f"{dev_id}: kernels (measured)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("arithmetic intensity (FLOP/byte)")
        ax.set_ylabel("attainable / achieved FLOP/s")
        ax.yaxis.set_major_formatter(_si_axis("FLOP/s"))
        ax.set_title(title, loc="left")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=7)
    return draw


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
            ax.scatter([r[xk]], [r[yk]], color=colors[r["device_id"]], s=90 if r["pareto"] else 30,
                       marker="*" if r["pareto"] else "o", zorder=3)
            ax.annotate(r["device_id"], (r[xk], r[yk]), textcoords="offset points", xytext=(4, 4), fontsize=7)
        if not df.empty and (df[xk] > 0).all() and df[xk].max() / max(df[xk].min(), 1e-30) > 20:
            ax.set_xscale("log")
        if not df.empty and (df[yk] > 0).all() and df[yk].max() / max(df[yk].min(), 1e-30) > 20:
            ax.set_yscale("log")
        ax.set_xlabel(f"{METRICS[xk][1]} [modeled]")
        ax.set_ylabel(f"{METRICS[yk][1]} [modeled]")
        ax.set_title("Pareto (stars: not dominated)", loc="left")
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
        ipw_kw = df["ipw"] * 1e3  # accuracy (fraction) per kW reads better than per W
        ax.bar(range(len(df)), ipw_kw, color=[colors[d] for d in df["device_id"]])
        ax.set_xticks(range(len(df)), df["device_id"], rotation=35, ha="right")
        for i, v in enumerate(ipw_kw):
            ax.text(i, v, f"{v:.3g}", ha="center", va="bottom", fontsize=7)
        ax.set_ylabel("IPW: accuracy per kW [modeled]")
        ax.set_title(f"Intelligence per watt ({acc.benchmark} {acc.value_pct:.1f}%, cited)" if acc else "IPW",
                     loc="left")
    return draw


def draw_breakdown(wr: WorkloadResult):
    df = wr.breakdown.copy()
    df["bar"] = df["device_id"] + " · " + df["phase"]
    bars = sorted(df["bar"].unique(), key=lambda b: (wr.detail_ids.index(b.split(" · ")[0]), b))
    kinds = sorted(df["op_kind"].unique())

    def draw(fig: Figure, rect: list[float]) -> None:
        x, y, w, h = rect
        gap = 0.09
        for j, (share, what) in enumerate((("time_share", "latency"), ("energy_share", "energy"))):
            ax = fig.add_axes([x + j * (w / 2 + gap / 2) + (0.06 if j else 0), y, w / 2 - gap, h])
            left = np.zeros(len(bars))
            for i, k in enumerate(kinds):
                g = df[df["op_kind"] == k].set_index("bar")
                vals = np.array([float(g[share].get(b, 0.0)) * 100 for b in bars])
                ax.barh(range(len(bars)), vals, left=left, color=PALETTE[i % len(PALETTE)], label=k)
                left += vals
            ax.set_yticks(range(len(bars)), bars if j == 0 else [""] * len(bars))
            ax.invert_yaxis()
            ax.set_xlim(0, 100)
            ax.set_xlabel(f"share of modeled {what} (%)")
            ax.set_title(f"Where the {what} goes", loc="left")
            if j == 1:
                ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
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
        for i, ((kernel, impl), g) in enumerate(m.groupby(["kernel", "impl"], sort=True)):
            ax.scatter(g["predicted_s"], g["median_s"], s=18, color=PALETTE[i % len(PALETTE)],
                       label=f"{kernel} ({impl})")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_major_formatter(_si_axis("s"))
        ax.yaxis.set_major_formatter(_si_axis("s"))
        ax.set_xlabel("modeled time per call [modeled]")
        ax.set_ylabel("measured median time per call [measured]")
        ax.set_title("Measured vs modeled latency (above the line: slower than modeled)", loc="left")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return draw


# --------------------------------------------------------------------------------------------- document


def render_pdf(data: ReportData) -> bytes:
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
                 "analytical roofline model) or [measured] (a trace run, named by its id).", color="#555")
        doc.heading("Summary", level=1)
        for wr in data.workloads:
            doc.para(tables.summary_line(data, wr), size=10)
        doc.table(tables.summary_table(data))
        doc.para("Contents: one section per workload (scenario, ranking, Pareto, IPW, latency/energy breakdown, "
                 "roofline), candidate hardware, measured vs modeled, assumptions, sources, reproduction.",
                 color="#555")
        for wr in data.workloads:
            doc.heading(f"Workload: {wr.workload.name}", level=1, new_page=True)
            doc.table(_untitled(tables.scenario_table(wr)))
            doc.table(tables.ranking_table(data, wr))
            h = 3.3
            doc.need(h)
            doc.chart(draw_pareto(data, wr, colors), h, width=CONTENT_W / 2, advance=False)
            doc.chart(draw_ipw(wr, colors), h, width=CONTENT_W / 2, x_in=MARGIN + CONTENT_W / 2)
            if not wr.breakdown.empty:
                doc.heading("Latency and energy breakdown", level=2, keep=2.5)
                doc.para(f"Bars: {', '.join(PHASE_LABEL.values())}, for the best-ranked devices; modeled.",
                         size=8, color="#555")
                doc.chart(draw_breakdown(wr), 1.3 + 0.28 * wr.breakdown[["device_id", "phase"]].drop_duplicates()
                          .shape[0], width=CONTENT_W - 1.6)
                doc.table(tables.breakdown_table(wr))
            if not wr.roofs.empty:
                doc.heading(f"Roofline at {wr.compute_dtype}", level=2, keep=4.3)
                doc.chart(draw_roofline(wr.roofs, wr.points, colors, "Modeled ops of the top devices on their "
                                        "roofs (solid datasheet, dashed measured)"), 4.3, width=CONTENT_W - 2.6)
            doc.table(tables.provenance_table(wr))

        doc.heading("Candidate hardware", level=1, new_page=True)
        doc.table(tables.device_table(data))
        doc.chart(draw_roofline(data.device_roofs, None, colors, "16-bit compute roof and memory roof "
                                "(solid datasheet, dashed measured)"), 4.6, width=CONTENT_W - 2.6)

        doc.heading("Measured vs modeled", level=1, new_page=True)
        if data.measured is None:
            doc.para("No measured runs included: the spec names no trace runs ([traces] runs = [...]). Every "
                     "performance number in this report is modeled.", size=10)
        else:
            doc.table(tables.runs_table(data))
            doc.table(tables.measured_summary_table(data))
            doc.chart(draw_measured(data.measured), 4.0, width=CONTENT_W - 2.6)
            mdev = sorted(set(data.measured["device_id"].dropna()) & set(spec.devices))
            roofs = data.device_roofs[data.device_roofs["device_id"].isin(mdev)]
            if not roofs.empty:
                doc.chart(draw_roofline(roofs, None, colors, "Measured kernels on their device's roofline",
                                        measured=data.measured), 4.0, width=CONTENT_W - 2.6)
            doc.table(tables.measured_table(data))

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
        return doc.render()


def _untitled(t: Table) -> Table:

    return replace(t, title="")
