"""The one set of colours the dashboard and both report formats draw with (hex strings; no plotting here).

Op kinds keep one colour everywhere (a stacked bar, a roofline point, a table swatch), so "attention" is the
same orange in the app, the HTML report and the PDF. Single ops take shades of their kind's colour, distinct
within a figure. Devices, bounds, memory parts and provenance kinds have their own fixed sets.
"""

from __future__ import annotations

import colorsys
from collections.abc import Iterable, Sequence

# Op kinds of roofline.engine.transformer (Okabe-Ito colours: distinguishable with colour-vision deficiency).
OP_KIND_COLOURS: dict[str, str] = {
    "mlp": "#0072B2",  # blue
    "attention": "#E69F00",  # orange
    "dequant": "#CC79A7",  # reddish purple
    "norm": "#56B4E9",  # sky blue
    "comm": "#D55E00",  # vermillion
    "embedding": "#009E73",  # bluish green
    "lm_head": "#8C6D31",  # brown
    "overhead": "#999999",  # grey: runtime time the device waits through (per step / per request)
}
# Kinds the model does not produce today get these, in order of their sorted names (never a kind colour).
EXTRA_COLOURS = ("#7F7F7F", "#BCBD22", "#393B79", "#843C39", "#637939", "#7B4173")

# Devices (and other series without a fixed meaning): tab10 and tab20's darker half.
SERIES_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
                  "#7f7f7f", "#bcbd22", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd")

BOUND_COLOURS = {"compute": "#d62728", "memory": "#1f77b4", "comm": "#9467bd", "overhead": "#7f7f7f"}
MEMORY_COLOURS = {"weights": "#4C72B0", "KV cache": "#DD8452", "activations": "#55A868"}
# A measured number and the modeled number of the same call, wherever the two sit side by side.
MEASURED_COLOUR, MODELED_COLOUR = "#2ca02c", "#ff7f0e"
# Provenance tags (text on white): datasheet / modeled / measured.
KIND_TEXT_COLOURS = {"datasheet": "#1f4f8b", "modeled": "#5b2d86", "measured": "#1d6b1d"}
MISS_COLOUR = "#9e9e9e"  # a device that misses the SLO, drawn beside the ones that meet it


def op_kind_colour(kind: str, others: Sequence[str] = ()) -> str:
    """The colour of an op kind; an unknown kind gets an extra colour by its place among ``others`` (sorted)."""
    if kind in OP_KIND_COLOURS:
        return OP_KIND_COLOURS[kind]
    unknown = sorted({k for k in (*others, kind) if k not in OP_KIND_COLOURS})
    return EXTRA_COLOURS[unknown.index(kind) % len(EXTRA_COLOURS)]


def op_kind_colours(kinds: Iterable[str]) -> dict[str, str]:
    ks = list(dict.fromkeys(str(k) for k in kinds))
    return {k: op_kind_colour(k, ks) for k in ks}


def shade(hex_colour: str, i: int, n: int) -> str:
    """The ``i``-th of ``n`` shades of a colour (same hue, lightness spread 0.30..0.64, dark to light, so the
    lightest still reads on white; n == 1: the colour itself)."""
    if n <= 1:
        return hex_colour
    r, g, b = (int(hex_colour[k:k + 2], 16) / 255 for k in (1, 3, 5))
    h, _, s = colorsys.rgb_to_hls(r, g, b)
    light = 0.30 + 0.34 * i / (n - 1)
    r, g, b = colorsys.hls_to_rgb(h, light, max(s, 0.35))
    return "#{:02X}{:02X}{:02X}".format(*(round(255 * c) for c in (r, g, b)))


def op_colours(names: Sequence[str], kinds: Sequence[str]) -> dict[str, str]:
    """A colour per op name: its kind's hue, one shade per op of that kind (names sorted within a kind), so no
    two ops of one figure share a colour and an op's kind reads from its colour."""
    by_kind: dict[str, set[str]] = {}
    for name, kind in zip(names, kinds, strict=True):
        by_kind.setdefault(str(kind), set()).add(str(name))
    base = op_kind_colours(by_kind)
    out: dict[str, str] = {}
    for kind, ops in by_kind.items():
        ordered = sorted(ops)
        for i, name in enumerate(ordered):
            out.setdefault(name, shade(base[kind], i, len(ordered)))
    return out


def series_colours(keys: Iterable[str]) -> dict[str, str]:
    """A colour per key in the order given (callers that need the same colours in several figures pass the
    same ordered keys, e.g. a report's sorted device ids)."""
    ks = list(dict.fromkeys(str(k) for k in keys))
    return {k: SERIES_COLOURS[i % len(SERIES_COLOURS)] for i, k in enumerate(ks)}
