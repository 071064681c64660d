"""Plotly figure specs of the dashboard: trace modes, one colour per op across figures, one tick format, labels
that do not sit on the bars, missing values never drawn as 'None'."""

from __future__ import annotations

import base64
import json
import math
import re

import numpy as np
import pandas as pd
import pytest

import hwdb
from app import charts
from roofline.analysis.attribution import compare
from roofline.engine.predict import predict
from roofline.engine.scenario import Scenario
from roofline.views import energy, hardware, measured, palette, workload

H100 = hwdb.get("h100-sxm")
BAD_TICK = re.compile(r"e[+-]\d|\^|×10|10<sup>")


@pytest.fixture(scope="module")
def pred():
    return predict("llama-3.1-8b", H100, Scenario(phase="generate", batch=8))


def _plain(x):
    if hasattr(x, "tolist"):
        return x.tolist()
    if isinstance(x, dict) and "bdata" in x and "dtype" in x:  # a typed array, base64-packed
        a = np.frombuffer(base64.b64decode(x["bdata"]), dtype=x["dtype"])
        return (a.reshape([int(n) for n in str(x["shape"]).split(",")]) if "shape" in x else a).tolist()
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


def spec(fig) -> dict:
    """The figure as plain JSON-like data (plotly's own JSON packs arrays as base64 'bdata')."""
    return _plain(fig.to_plotly_json())


def axes(fig) -> list[dict]:
    layout = spec(fig)["layout"]
    return [v for k, v in layout.items() if re.fullmatch(r"[xy]axis\d*", k)]


def assert_si_ticks(fig, *units: str) -> None:
    """Every numeric axis: explicit ticks labelled the one way (no exponents, no plotly SI/power formats)."""
    found = []
    for ax in axes(fig):
        if ax.get("type") in ("log", "linear") or "tickvals" in ax:
            assert ax.get("exponentformat") in (None, "none"), ax
            if "ticktext" in ax:
                assert not any(BAD_TICK.search(t) for t in ax["ticktext"]), ax["ticktext"]
                found += ax["ticktext"]
    for u in units:
        assert any(t.endswith(u) for t in found), (u, found)


def test_band_is_a_filled_line_not_markers(trace_rows):
    pts = measured.measured_points(compare(trace_rows()))
    fig = spec(charts.pred_vs_measured(pts, (0.9, 1.3)))
    filled = [t for t in fig["data"] if t.get("fill")]
    assert len(filled) == 1 and filled[0]["mode"] == "lines" and filled[0]["line"]["width"] == 0
    assert all("markers" not in t.get("mode", "") for t in fig["data"] if t.get("fill") or "measured = " in t["name"])
    assert_si_ticks(charts.pred_vs_measured(pts, (0.9, 1.3)), "s")


def test_one_colour_per_op_across_the_workload_figures(pred):
    pts = workload.op_points(pred.ops, pred.op_phases)
    roof = spec(charts.roofline_figure(hardware.roofline_lines([H100], ["bf16"]), None, pts))
    by_op = spec(charts.stacked_bars(workload.breakdown_long(pred.ops, "op", pred.op_phases)))
    by_kind = spec(charts.stacked_bars(workload.breakdown_long(pred.ops, "op_kind", pred.op_phases)))
    by_layer = spec(charts.stacked_bars(workload.breakdown_long(pred.ops, "layer", pred.op_phases)))
    bar_colour = {t["name"]: t["marker"]["color"] for t in by_op["data"]}
    assert len(set(bar_colour.values())) == len(bar_colour)  # no two ops share a colour
    point_colour = {}
    legend = {t["name"]: t["marker"]["color"] for t in roof["data"] if t.get("name", "").endswith("ops (modeled)")}
    assert legend and all(c == palette.OP_KIND_COLOURS[n.split(" ops")[0]] for n, c in legend.items())
    for t in roof["data"]:
        if t.get("name", "").endswith(" ops") and t.get("customdata"):
            for label, c in zip((cd[0] for cd in t["customdata"]), t["marker"]["color"], strict=True):
                point_colour[label.split(" (")[0]] = c
    assert point_colour and all(point_colour[n] == bar_colour[n] for n in point_colour)
    for fig in (by_kind, by_layer):  # op kinds: the palette's kind colour, in both charts
        for t in fig["data"]:
            assert t["marker"]["color"] == palette.OP_KIND_COLOURS[t["name"]], t["name"]


def test_breakdowns_show_absolute_ms_and_j(pred):
    fig = charts.stacked_bars(workload.breakdown_long(pred.ops, "op_kind", pred.op_phases))
    s = spec(fig)
    lat = [t for t in s["data"] if t.get("xaxis", "x") == "x"]
    en = [t for t in s["data"] if t.get("xaxis") == "x2"]
    assert lat and en and s["layout"]["barmode"] == "stack"
    total_s = sum(sum(t["y"]) for t in lat)
    assert total_s == pytest.approx(sum(e.time_s for e in pred.ops), rel=1e-9)  # seconds, not shares
    assert sum(sum(t["y"]) for t in en) == pytest.approx(sum(e.energy_j for e in pred.ops), rel=1e-9)
    assert all(re.search(r"\d (m|u)?s · \d+%", x) for t in lat for x in t["text"])
    assert all(re.search(r"\d (k|m)?J · \d+%", x) for t in en for x in t["text"])
    assert s["layout"]["xaxis"]["categoryarray"][0] == "prefill"  # prefill before decode
    assert_si_ticks(fig, "s", "J")


def test_roofline_ticks_are_si(pred):
    fig = charts.roofline_figure(hardware.roofline_lines([H100], ["bf16"]), hardware.ridge_points([H100], ["bf16"]),
                                 workload.op_points(pred.ops, pred.op_phases))
    assert_si_ticks(fig, "PFLOP/s", "TFLOP/s")  # the 989 TFLOP/s roof sits under a 1 PFLOP/s tick
    x = spec(fig)["layout"]["xaxis"]
    assert all(t in ("0.01", "0.1", "1", "10", "100", "1 k", "10 k", "100 k") or re.fullmatch(r"[0-9.]+( k)?", t)
               for t in x["ticktext"])


def test_memory_labels_sit_above_the_bar(pred):
    fig = spec(charts.memory_bar(workload.memory_breakdown(pred, H100), pred.fits))
    anns = fig["layout"]["annotations"]
    assert len(anns) == 2 and all(a["yref"] == "paper" and a["y"] >= 1.0 and a["yanchor"] == "bottom" for a in anns)
    assert {a["xanchor"] for a in anns} == {"left", "right"}  # usable leftwards, capacity rightwards
    assert fig["layout"]["xaxis"]["range"][1] >= H100.memory_bytes


def test_energy_bars_are_horizontal_with_readable_labels(trace_rows):
    e = measured.energy_per_call(compare(trace_rows()))
    fig = spec(charts.energy_bars(e))
    assert all(t["orientation"] == "h" for t in fig["data"])
    assert all(len(y) <= 48 for t in fig["data"] for y in t["y"])
    assert fig["layout"]["yaxis"]["automargin"] is True
    assert_si_ticks(charts.energy_bars(e), "J")


def test_ipw_heatmap_values_scale_and_no_none():
    from roofline.engine.catalog import load_models
    from roofline.engine.select import rank

    models = dict(load_models())
    devs = [hwdb.get(i) for i in energy.default_ipw_devices(list(hwdb.load()))]
    assert len(devs) >= 8
    sc = Scenario(phase="generate", batch=1, prompt_tokens=1024, gen_tokens=256)
    ranked = {m: rank(m, sc, devs, by="ipw") for m in ("llama-3.1-8b", "llama-3.2-3b")}
    long = energy.ipw_long(ranked, models)
    fig = spec(charts.ipw_heatmap(long, "ipw"))
    hm = fig["data"][0]
    assert hm["texttemplate"] == "%{text}" and any(t for row in hm["text"] for t in row)
    vals = [v for v in long["ipw"] if v is not None and not math.isnan(v)]
    lo, hi = min(vals), max(vals)
    if hi / lo > 10:  # log colour scale over exactly the values shown
        assert hm["zmin"] == pytest.approx(math.log10(lo)) and hm["zmax"] == pytest.approx(math.log10(hi))
    else:
        assert (hm["zmin"], hm["zmax"]) == pytest.approx((lo, hi))
    assert len(hm["x"]) == len(devs)
    hover = " ".join(h for row in hm["customdata"] for h in row)
    assert not re.search(r"\b(None|nan|NaN)\b", hover)


def test_pareto_marks_slo_misses_and_formats_missing(trace_rows):
    df = pd.DataFrame({"device_id": ["a", "b", "c"], "name": ["A", "B", "C"], "tp": [1, 2, 1], "fits": [True] * 3,
                       "meets_slo": [True, False, True], "usd_per_mtok": [1.0, 2.0, 3.0],
                       "tokens_per_s": [100.0, 300.0, 50.0], "j_per_token": [1.0, float("nan"), 0.5],
                       "pareto": [True, True, False], "source": ["s"] * 3})
    from roofline.views.selection import PARETO_AXES

    fig = spec(charts.pareto_figure(df, "usd_per_mtok", "tokens_per_s", "j_per_token", PARETO_AXES))
    dev = next(t for t in fig["data"] if t["name"] == "devices (modeled)")
    assert dev["text"][1] == "b (misses SLO)" and dev["marker"]["opacity"][1] < 1
    assert not re.search(r"\bNone\b", json.dumps(dev["customdata"])) and "—" in dev["customdata"][1][2]
    assert any(t["name"] == "misses the SLO (faded)" for t in fig["data"])
    assert_si_ticks(charts.pareto_figure(df, "usd_per_mtok", "tokens_per_s", "j_per_token", PARETO_AXES),
                    "tok/s")


def test_styled_tables_never_show_none():
    df = pd.DataFrame({"a": [1.5e-3, None, float("nan")], "b": ["x", None, float("nan")], "c": [1.0, 2.0, None]})
    out = charts.styled(df, {"a": "s"})
    assert out["a"].tolist() == ["1.5 ms", "—", "—"] and out["b"].tolist() == ["x", "—", "—"]
    assert out["c"].tolist() == ["1", "2", "—"]


def test_curves_skip_what_does_not_fit_and_say_so():
    c = workload.batch_curve("llama-3.1-8b", H100, Scenario(phase="generate"), [1, 8, 64, 512])
    fig = spec(charts.curve_figure(c, [("tokens_per_s", "tokens/s")], "tok/s", "batch", "tokens/s", "t"))
    line = fig["data"][0]
    assert line["mode"] == "lines+markers" and list(line["x"]) == [1, 8, 64]
    assert "does not fit at batch 512" in fig["layout"]["title"]["text"]
    assert fig["layout"]["xaxis"]["ticktext"] == ["1", "8", "64", "512"]
    banded = c.assign(tokens_per_s_lo=c["tokens_per_s"] * 0.9, tokens_per_s_hi=c["tokens_per_s"] * 1.1)
    fig = spec(charts.curve_figure(banded, [("tokens_per_s", "tokens/s")], "tok/s", "batch", "tokens/s", "t"))
    band = [t for t in fig["data"] if t.get("fill")]
    assert len(band) == 1 and band[0]["mode"] == "lines"
