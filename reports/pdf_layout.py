"""The PDF's flow layout: headings, paragraphs, tables (split across pages, header repeated) and charts placed
top to bottom on A4-landscape matplotlib pages.

Text is measured with matplotlib's own glyph advances (DejaVu Sans), words wrap at spaces and, when a word is
wider than its column, after '_', '-', '/' and the like (never in the middle of 'decode_attention' when it
fits on a line). Every piece of text is recorded with the box it must stay inside (a table cell, the content
column, a chart's area) and every chart's axes are shrunk until their decorations (tick labels, titles,
legends, point labels) fit the chart's area, so nothing is clipped or spills into a neighbour; tests check
both with the renderer's extents (``Doc.overflows``).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from functools import lru_cache

import matplotlib
import matplotlib.lines
import matplotlib.patches
import numpy as np
from matplotlib.backends.backend_pdf import PdfFile, PdfPages, RendererPdf
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.text import Text
from matplotlib.textpath import TextToPath
from matplotlib.transforms import Bbox

from reports.tables import Table
from roofline.views.palette import KIND_TEXT_COLOURS

PAGE_W, PAGE_H = 11.69, 8.27  # inches, A4 landscape
MARGIN = 0.5
CONTENT_W = PAGE_W - 2 * MARGIN
_TTP = TextToPath()
_BREAK = re.compile(r"[^_\-/.,:;=&?]+[_\-/.,:;=&?]*|[_\-/.,:;=&?]+")  # a word's pieces, each ending at a break
WORD_WHOLE_IN = 1.6  # a word up to this wide keeps its column that wide rather than break


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


def text_w(s: str, size_pt: float, bold: bool = False, mono: bool = False) -> float:
    """Width of ``s`` in inches as matplotlib draws it (DejaVu Sans / Sans Mono): the sum of the glyph
    advances, each measured once (kerning ignored, which only ever makes DejaVu text narrower)."""
    return sum(_char_w(ch, size_pt, bold, mono) for ch in s)


def _split_chars(word: str, width_in: float, size_pt: float, bold: bool, mono: bool) -> list[str]:
    out, cur = [], ""
    for ch in word:
        if cur and text_w(cur + ch, size_pt, bold, mono) > width_in:
            out.append(cur)
            cur = ""
        cur += ch
    return out + [cur]


def _break_word(word: str, width_in: float, size_pt: float, bold: bool, mono: bool) -> list[str]:
    """A word wider than the line, in lines: after '_', '-', '/', '.' ... where possible, characters otherwise."""
    out, cur = [], ""
    for piece in _BREAK.findall(word):
        if text_w(cur + piece, size_pt, bold, mono) <= width_in:
            cur += piece
            continue
        if cur:
            out.append(cur)
            cur = ""
        if text_w(piece, size_pt, bold, mono) <= width_in:
            cur = piece
        else:
            *full, cur = _split_chars(piece, width_in, size_pt, bold, mono)
            out += full
    return out + ([cur] if cur else [])


def wrap(text: str, width_in: float, size_pt: float, bold: bool = False, mono: bool = False) -> list[str]:
    """Greedy word wrap by measured width; words longer than a line (URLs, identifiers) break at their
    punctuation (``_break_word``)."""
    out: list[str] = []
    for para in str(text).split("\n"):
        if mono:  # keep the spec's layout: split only what overflows
            out += _split_chars(para, width_in, size_pt, bold, mono) if para else [""]
            continue
        line = ""
        for word in para.split():
            cand = f"{line} {word}" if line else word
            if text_w(cand, size_pt, bold, mono) <= width_in:
                line = cand
                continue
            if line:
                out.append(line)
            if text_w(word, size_pt, bold, mono) > width_in:
                *full, line = _break_word(word, width_in, size_pt, bold, mono)
                out += full
            else:
                line = word
        out.append(line)
    return out


def _word_min(word: str, size: float, bold: bool, whole: bool) -> float:
    """The narrowest a column may be for ``word``: the whole word when ``whole`` and it is not too wide, else
    its widest unbreakable piece."""
    w = text_w(word, size, bold)
    if whole and w <= WORD_WHOLE_IN:
        return w
    return max(text_w(p, size, bold) for p in _BREAK.findall(word)) if word else 0.0


def col_widths(t: Table, size: float, pad: float) -> list[float]:
    """Column widths (inches) filling the page in proportion to ``t.widths``, each at least as wide as its
    kind tag and its longest header word, numeric columns as wide as their widest value, and text columns as
    wide as their longest word (up to WORD_WHOLE_IN, so identifiers do not break) when the page has room."""
    total = sum(t.widths) or 1.0

    def minimums(whole: bool) -> list[float]:
        mins = []
        for j, (h, k) in enumerate(zip(t.headers, t.kinds, strict=True)):
            m = max([_word_min(w, size, True, whole) for w in h.split()] + ([text_w(f"[{k}]", size, True)] if k
                                                                            else []) + [0.0])
            cells = [r[j] for r in t.rows]
            if k:  # numbers should not wrap
                m = max([m] + [text_w(c, size, True) for c in cells])
            else:
                m = max([m] + [_word_min(w, size, True, whole) for c in cells for w in str(c).split()])
            mins.append(m + 2 * pad + 0.02)
        return mins

    mins = minimums(True)
    if sum(mins) > CONTENT_W:
        mins = minimums(False)
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


def fit_axes(fig: Figure, axes: list, box: Bbox, renderer, rounds: int = 4) -> None:
    """Move and shrink ``axes`` (together) until the union of their tight bounding boxes -- tick labels, titles,
    legends, annotations included -- lies inside ``box`` (figure fractions), as ``renderer`` measures them."""
    if not axes:
        return
    r = renderer
    inv = fig.transFigure.inverted()
    for _ in range(rounds):
        pos = [a.get_position() for a in axes]
        p = Bbox.union(pos)
        tight = Bbox.union([a.get_tightbbox(r) for a in axes]).transformed(inv)
        if (tight.x0 >= box.x0 - 1e-4 and tight.x1 <= box.x1 + 1e-4 and tight.y0 >= box.y0 - 1e-4
                and tight.y1 <= box.y1 + 1e-4):
            return
        x0 = box.x0 + (p.x0 - tight.x0)
        x1 = box.x1 - (tight.x1 - p.x1)
        y0 = box.y0 + (p.y0 - tight.y0)
        y1 = box.y1 - (tight.y1 - p.y1)
        x1 = max(x1, x0 + 0.1 * box.width)
        y1 = max(y1, y0 + 0.1 * box.height)
        sx, sy = (x1 - x0) / p.width, (y1 - y0) / p.height
        for a, q in zip(axes, pos, strict=True):
            a.set_position([x0 + (q.x0 - p.x0) * sx, y0 + (q.y0 - p.y0) * sy, q.width * sx, q.height * sy])


class Doc:
    """Pages of a PDF built top-down; ``y`` is the cursor, inches from the page top. ``boxes`` holds every
    text and chart with the box (figure fractions) it must stay inside."""

    def __init__(self, footer: str) -> None:
        self.pages: list[Figure] = []
        self.footer = footer
        self.fig: Figure | None = None
        self.y = 0.0
        self.section = ""
        self.boxes: list[tuple[int, object, Bbox]] = []  # (page index, Text or [Axes], box)
        self._measure = PdfFile(io.BytesIO())  # text is measured as the PDF backend draws it (no hinting)

    def renderer(self) -> RendererPdf:
        """A PDF renderer at 72 dpi: the extents of text and axes exactly as the written PDF has them."""
        return RendererPdf(self._measure, 72, PAGE_H * 72, PAGE_W * 72)

    def new_page(self) -> None:
        self.fig = Figure(figsize=(PAGE_W, PAGE_H), dpi=72)
        self.pages.append(self.fig)
        self.y = MARGIN
        n = len(self.pages)
        page = self._box(0.2, 0.1, PAGE_W - 0.2, PAGE_H - 0.1)
        self._keep(self.fig.text(MARGIN / PAGE_W, 0.3 / PAGE_H, self.footer, fontsize=7, color="#777"), page)
        self._keep(self.fig.text(1 - MARGIN / PAGE_W, 0.3 / PAGE_H, f"page {n}", fontsize=7, color="#777",
                                 ha="right"), page)
        if self.section and n > 1:
            self._keep(self.fig.text(1 - MARGIN / PAGE_W, 1 - 0.3 / PAGE_H, self.section, fontsize=7, color="#777",
                                     ha="right"), page)

    @staticmethod
    def _box(x0_in: float, y0_in: float, x1_in: float, y1_in: float) -> Bbox:
        """A box given in inches from the page's top-left, as figure fractions."""
        return Bbox([[x0_in / PAGE_W, 1 - y1_in / PAGE_H], [x1_in / PAGE_W, 1 - y0_in / PAGE_H]])

    def _keep(self, artist, box: Bbox):
        self.boxes.append((len(self.pages) - 1, artist, box))
        return artist

    def room(self) -> float:
        return PAGE_H - MARGIN - 0.15 - self.y

    def need(self, h: float) -> None:
        if self.fig is None or h > self.room():
            self.new_page()

    def _text(self, x_in: float, y_in: float, s: str, box: tuple[float, float, float, float] | None = None,
              **kw) -> Text:
        """Text with its top-left at (x, y) inches; ``box`` (x0, y0, x1, y1 inches) is where it must stay
        (default: the content column, from y down to the bottom margin)."""
        # prose, never mathtext: two prices on a line ("$1.09 ... $2.36") would otherwise parse as math
        kw.setdefault("parse_math", False)
        t = self.fig.text(x_in / PAGE_W, 1 - y_in / PAGE_H, s, va="top", **kw)
        b = box or (MARGIN, y_in - 0.02, PAGE_W - MARGIN, PAGE_H - MARGIN + 0.1)
        return self._keep(t, self._box(*b))

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
        lines = wrap(text, CONTENT_W, size, bold=True)
        self._text(MARGIN, self.y, "\n".join(lines), fontsize=size, fontweight="bold", linespacing=1.3 * 0.87)
        self.y += _line_h(size) * len(lines) + (0.08 if level <= 1 else 0.03)
        if level == 1:
            self.fig.add_artist(matplotlib.lines.Line2D([MARGIN / PAGE_W, 1 - MARGIN / PAGE_W],
                                                        [1 - (self.y - 0.04) / PAGE_H] * 2, color="#ccc", lw=1))
            self.y += 0.06

    def para(self, text: str, size: float = 9, color: str = "#222", indent: float = 0.0, mono: bool = False,
             style: str = "normal", bold: bool = False) -> None:
        lines = wrap(text, CONTENT_W - indent, size, bold=bold, mono=mono)
        lh = _line_h(size)
        i = 0
        while i < len(lines):
            self.need(lh)
            take = max(1, min(len(lines) - i, int(self.room() / lh)))
            self._text(MARGIN + indent, self.y, "\n".join(lines[i:i + take]), fontsize=size, color=color,
                       family="DejaVu Sans Mono" if mono else "DejaVu Sans", linespacing=1.3 * 0.87, style=style,
                       fontweight="bold" if bold else "normal")
            self.y += lh * take
            i += take
        self.y += 0.06

    def table(self, t: Table, size: float = 7.5) -> None:
        """A table; a short one stays on one page, a long one splits with its header repeated. A table too wide
        for the page at ``size`` is set smaller (down to 6 pt) rather than overflow."""
        pad = 0.04
        widths = col_widths(t, size, pad)
        while sum(widths) > CONTENT_W + 1e-6 and size > 6.0:
            size -= 0.5
            widths = col_widths(t, size, pad)
        xs = np.cumsum([MARGIN] + widths[:-1])
        lh = _line_h(size)
        title_h = _line_h(10) + 0.02 if t.title else 0.0
        head = [wrap(h, w - 2 * pad, size, True) + ([f"[{k}]"] if k else [])
                for h, k, w in zip(t.headers, t.kinds, widths, strict=True)]
        headless = not any(h.strip() for h in t.headers) and not any(t.kinds)  # a label / text list
        head_h = 0.0 if headless else max(len(c) for c in head) * lh + 2 * pad
        note_h = (len(wrap(t.note, CONTENT_W, 7.5)) * _line_h(7.5) + 0.1) if t.note else 0.0
        body = [[wrap(c, w - 2 * pad, size, bool(t.highlight and t.highlight[i]))
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

        def cell(x: float, w: float, h: float, text: str, **kw) -> None:
            self._text(x + pad, self.y + pad, text, box=(x, self.y, x + w, self.y + h), fontsize=size,
                       linespacing=1.3 * 0.87, **kw)

        def draw_head() -> None:
            if headless:
                return
            self.fig.add_artist(matplotlib.patches.Rectangle(
                (MARGIN / PAGE_W, 1 - (self.y + head_h) / PAGE_H), CONTENT_W / PAGE_W, head_h / PAGE_H,
                color="#eeeeee", lw=0, transform=self.fig.transFigure))
            for x, w, c, k in zip(xs, widths, head, t.kinds, strict=True):
                cell(x, w, head_h, "\n".join(c), fontweight="bold", color=KIND_TEXT_COLOURS.get(k, "#222"))
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
                for x, w, lines in zip(xs, widths, c, strict=True):
                    cell(x, w, h, "\n".join(lines), fontweight="bold" if hl else "normal")
                self.y += h
                self.fig.add_artist(matplotlib.lines.Line2D([MARGIN / PAGE_W, 1 - MARGIN / PAGE_W],
                                                            [1 - self.y / PAGE_H] * 2, color="#dddddd", lw=0.5))
        self.y += 0.05
        if t.note:
            self.para(t.note, size=7.5, color="#555")
        self.y += 0.08

    def chart(self, draw: Callable[[Figure, list[float]], None], height: float, width: float = CONTENT_W,
              x_in: float = MARGIN, advance: bool = True) -> None:
        """A chart in the ``width`` x ``height`` inch area at the cursor: ``draw(fig, rect)`` adds its axes at
        ``rect`` (figure fractions), then they are fitted so everything they draw stays inside the area."""
        self.need(height)
        left, bottom = x_in + 0.75, self.y + height - 0.5
        rect = [left / PAGE_W, 1 - bottom / PAGE_H, (width - 1.0) / PAGE_W, (height - 0.85) / PAGE_H]
        before = set(self.fig.axes)
        draw(self.fig, rect)
        new = [a for a in self.fig.axes if a not in before]
        box = self._box(x_in + 0.02, self.y + 0.02, x_in + width - 0.04, self.y + height - 0.02)
        fit_axes(self.fig, new, box, self.renderer())
        self._keep(new, box)
        if advance:
            self.y += height + 0.1

    def overflows(self, tol_px: float = 1.0) -> list[str]:
        """Every recorded text or chart whose rendered extent leaves its box (empty when the layout is clean)."""
        out = []
        r = self.renderer()
        for i, artist, box in self.boxes:
            fig = self.pages[i]
            inv = fig.transFigure.inverted()
            if isinstance(artist, list):
                ext = Bbox.union([a.get_tightbbox(r) for a in artist]).transformed(inv)
                what = f"chart ({artist[0].get_title(loc='left') or artist[0].get_title()})"
            else:
                if not artist.get_text().strip():
                    continue
                ext = artist.get_window_extent(r).transformed(inv)
                what = f"text {artist.get_text()[:40]!r}"
            tw, th = tol_px / fig.bbox.width, tol_px / fig.bbox.height
            if ext.x0 < box.x0 - tw or ext.x1 > box.x1 + tw or ext.y0 < box.y0 - th or ext.y1 > box.y1 + th:
                out.append(f"page {i + 1}: {what} leaves its box")
        return out

    def render(self) -> bytes:
        buf = io.BytesIO()
        meta = {"Title": self.footer, "Creator": "roofline-workbench reports", "Producer": "roofline-workbench",
                "CreationDate": None}
        with PdfPages(buf, metadata=meta) as pdf:
            for f in self.pages:
                pdf.savefig(f)
        return buf.getvalue()
