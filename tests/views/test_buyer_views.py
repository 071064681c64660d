"""The views behind the buyer-facing screens and reports: one palette, one tick format, what-if devices,
per-layer tables, sweep curves, two-configuration comparison, unmatched-host attribution, verdict and
sensitivity. Hand-checkable numbers throughout."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pandas as pd
import pytest

import hwdb
from roofline.engine.predict import predict
from roofline.engine.scenario import Scenario
from roofline.errors import InputError
from roofline.views import common, hardware, measured, palette, verdict, workload

H100 = hwdb.get("h100-sxm")

# ------------------------------------------------------------------------------------------ palette


def test_op_kinds_have_fixed_distinct_colours():
    kinds = list(palette.OP_KIND_COLOURS)
    assert len(set(palette.OP_KIND_COLOURS.values())) == len(kinds)
    # the same kind gets the same colour whatever else is in the figure, and in any order
    assert palette.op_kind_colours(["mlp", "attention"]) == {k: palette.OP_KIND_COLOURS[k] for k in ("mlp", "attention")}
    assert palette.op_kind_colours(["zeta", "mlp"])["mlp"] == palette.OP_KIND_COLOURS["mlp"]
    extra = palette.op_kind_colours(["zeta", "alpha"])
    assert extra["alpha"] != extra["zeta"] and not set(extra.values()) & set(palette.OP_KIND_COLOURS.values())


def test_single_ops_are_distinct_shades_of_their_kind():
    names = ["qkv_proj", "o_proj", "flash_attention", "gate_up_proj", "down_proj", "mlp_act", "attn_norm", "mlp_norm"]
    kinds = ["attention"] * 3 + ["mlp"] * 3 + ["norm"] * 2
    c = palette.op_colours(names, kinds)
    assert len(set(c.values())) == len(names)  # no two ops share a colour
    import colorsys

    def hue(h):
        return colorsys.rgb_to_hls(*(int(h[i:i + 2], 16) / 255 for i in (1, 3, 5)))[0]

    for n, k in zip(names, kinds, strict=True):
        assert hue(c[n]) == pytest.approx(hue(palette.OP_KIND_COLOURS[k]), abs=0.02), n
    assert palette.op_colours(["x"], ["mlp"]) == {"x": palette.OP_KIND_COLOURS["mlp"]}  # one op: the kind colour


# ------------------------------------------------------------------------------------------ formats


@pytest.mark.parametrize("lo, hi, unit, expect", [
    (1e-2, 1e5, "", ["0.01", "0.1", "1", "10", "100", "1 k", "10 k", "100 k"]),
    (1e10, 2e15, "FLOP/s", ["10 GFLOP/s", "100 GFLOP/s", "1 TFLOP/s", "10 TFLOP/s", "100 TFLOP/s", "1 PFLOP/s"]),
    (3e-5, 2e-3, "s", ["50 us", "100 us", "200 us", "500 us", "1 ms", "2 ms"]),
    (0.3, 3, "USD", ["$0.5", "$1", "$2"]),
    (3e-13, 2e-12, "J", ["500 fJ", "1 pJ", "2 pJ"]),
])
def test_si_ticks_one_format(lo, hi, unit, expect):
    vals, text = common.si_ticks(lo, hi, unit)
    assert text == expect and all(lo / 1.001 <= v <= hi * 1.001 for v in vals)
    assert not any("e+" in t or "e-" in t or "^" in t for t in text)


def test_linear_ticks_and_empty_ranges():
    vals, text = common.si_ticks(0, 92e9, "B", log=False)
    assert vals == [0.0, 2e10, 4e10, 6e10, 8e10] and text == ["0", "20 GB", "40 GB", "60 GB", "80 GB"]
    assert common.si_ticks(float("nan"), 1.0) == ([], []) and common.si_ticks(0.0, 1.0, log=True) == ([], [])


@pytest.mark.parametrize("value, unit, text", [
    (None, "s", "—"), (float("nan"), "J", "—"), (math.inf, "W", "—"), (0.00191, "1/W", "0.00191 /W"),
    (0.00191, "/W", "0.00191 /W"), (5.11, "USD", "$5.11"), (0.64, "%", "64%"), (0.981, "FLOP/B", "0.981 FLOP/B"),
    (2.2e-2, "s", "22 ms"), (9.06e-13, "J", "906 fJ"),
])
def test_fmt_metric_never_says_none(value, unit, text):
    assert common.fmt_metric(value, unit) == text


def test_field_labels_are_human():
    assert common.field_label("memory.bw_bytes_per_s") == "memory bandwidth"
    assert common.field_label("peak.bf16") == "bf16 peak"
    assert common.field_label("cache.L2") == "L2 cache"
    assert common.field_label("price.msrp_usd") == "list price (MSRP)"
    for f in H100.field_sources:
        assert "_" not in common.field_label(f) or f.startswith(("peak.", "cache.")), f


def test_band_reads_ranges_when_present():
    assert common.band({"tokens_per_s_lo": 9.0, "tokens_per_s_hi": 11.0}, "tokens_per_s") == (9.0, 11.0)
    assert common.band(pd.Series({"ttft_s_lo": 2.0, "ttft_s_hi": 1.0}), "ttft_s") == (1.0, 2.0)
    assert common.band(SimpleNamespace(ttft_s_lo=1.0), "ttft_s") is None  # one side only: no range
    assert common.band({"x_lo": float("nan"), "x_hi": 1.0}, "x") is None


# ------------------------------------------------------------------------------------------ what-if device


def test_custom_device_is_labelled_and_never_measured():
    d = hardware.custom_device(H100, {"bf16": 2e15, "fp8": 0}, mem_bw_bytes_per_s=6e12, cloud_usd_per_h=1.5)
    assert d.id == "what-if-h100-sxm" and d.name.endswith("(what-if)") and d.path == "" and d.measured is None
    assert d.peak("bf16") == 2e15 and d.peak("fp8") is None and d.peak("fp16") == H100.peak("fp16")
    assert d.mem_bw_bytes_per_s == 6e12 and d.cloud_usd_per_h == 1.5 and d.memory_bytes == H100.memory_bytes
    assert common.cite(d, "price.cloud_usd_per_h").startswith("user-entered")
    assert common.cite(d, "memory.capacity_bytes").startswith("datasheet")  # untouched fields keep their source
    t = hardware.peaks_table([d]).set_index(["quantity", "dtype"])
    assert t.loc[("peak", "bf16"), "kind"] == hardware.USER_ENTERED and t.loc[("peak", "fp16"), "kind"] == "datasheet"
    roofs = hardware.roofline_lines([d], ["bf16", "fp16"], measured=False)
    assert set(roofs["kind"]) == {hardware.USER_ENTERED}  # every roof uses the edited bandwidth
    assert H100.peak("bf16") == 989.5e12 and H100.measured is not None  # hwdb's device is untouched


@pytest.mark.parametrize("kw", [{"peaks_ops_per_s": {"bf17": 1e15}}, {"peaks_ops_per_s": {"bf16": -1.0}},
                                {"mem_bw_bytes_per_s": 0.0}, {"tdp_w": -5.0},
                                {"peaks_ops_per_s": {dt: 0 for dt in H100.supported_dtypes}}])
def test_custom_device_refuses_bad_numbers(kw):
    with pytest.raises(InputError, match="what-if device"):
        hardware.custom_device(H100, **kw)


def test_more_bandwidth_on_a_what_if_device_is_never_slower():
    sc = Scenario(phase="decode", batch=4)
    base = predict("llama-3.1-8b", hardware.custom_device(H100), sc)
    faster = predict("llama-3.1-8b", hardware.custom_device(H100, mem_bw_bytes_per_s=2 * H100.mem_bw_bytes_per_s), sc)
    assert faster.tpot_s < base.tpot_s


# ------------------------------------------------------------------------------------------ per layer, curves


@pytest.fixture(scope="module")
def pred8b():
    return predict("llama-3.1-8b", H100, Scenario(phase="generate", batch=8))


def test_layer_table_sums_back_to_the_prediction(pred8b):
    t = workload.layer_table(pred8b.ops, pred8b.op_phases)
    assert set(t["layer"]) == {"decoder", "model"} and set(t["phase"]) == {"prefill", "decode"}
    total = (t["time_s"] * t["instances"]).sum()
    assert total == pytest.approx(sum(e.time_s for e in pred8b.ops), rel=1e-9)
    pre = t[(t["phase"] == "prefill") & (t["layer"] == "decoder")].iloc[0]
    assert pre["instances"] == 32  # Llama 3.1 8B: 32 decoder layers, one prefill pass
    assert pre["intensity"] == pytest.approx(pre["flops"] / pre["bytes"])
    assert set(t["bound"]) <= {"compute", "memory", "comm", "overhead"} and t["time_share"].sum() == pytest.approx(1)
    ops = workload.layer_ops(pred8b.ops, pred8b.op_phases)
    assert (ops["time_s"] * ops["count"]).sum() == pytest.approx(total, rel=1e-9)


def test_batch_curve_matches_predict_and_hides_what_does_not_fit():
    sc = Scenario(phase="generate", batch=1, prompt_tokens=1024, gen_tokens=256)
    c = workload.batch_curve("llama-3.1-8b", H100, sc, [1, 8, 64, 512])
    assert list(c["x"]) == [1, 8, 64, 512] and set(c["kind"]) == {"modeled"}
    for b, tps in zip(c["x"], c["tokens_per_s"], strict=True):
        p = predict("llama-3.1-8b", H100, sc.with_(batch=int(b)))
        if p.fits:
            assert tps == pytest.approx(p.tokens_per_s, rel=1e-6), b
        else:
            assert math.isnan(tps) and not c.loc[c["x"] == b, "fits"].iat[0]
    assert not c["fits"].iat[-1] and "needs" in c["fit_reason"].iat[-1]  # 512 x 1280-token KV cache: too big
    assert not any(col.endswith(("_lo", "_hi")) for col in c.columns)  # no bands until the sweep has them


def test_context_curve_ttft_grows_with_the_prompt():
    c = workload.context_curve("llama-3.1-8b", H100, Scenario(phase="generate", batch=1), [128, 1024, 8192])
    assert c["fits"].all() and c["ttft_s"].is_monotonic_increasing and c["tpot_s"].is_monotonic_increasing


def test_compare_configs_directions(pred8b):
    h200 = hwdb.get("h200")
    b = predict("llama-3.1-8b", h200, Scenario(phase="generate", batch=8))
    t = workload.compare_configs(pred8b, H100, b, h200).set_index("key")
    assert t.loc["tokens_per_s", "ratio"] == pytest.approx(b.tokens_per_s / pred8b.tokens_per_s)
    assert t.loc["tokens_per_s", "better"] == ("B" if b.tokens_per_s > pred8b.tokens_per_s else "A")
    assert t.loc["tpot_s", "better"] == ("B" if b.tpot_s < pred8b.tpot_s else "A")  # lower latency is better
    assert t.loc["memory_bytes", "better"] == ""  # neither direction is better
    assert not t["a_text"].str.contains("None|nan").any()


def test_prediction_metrics_bands_and_prefill(pred8b):
    m = {r["key"]: r for r in workload.prediction_metrics(pred8b, H100)}
    # predictions carry their 80% bands now (issue 16): every timed figure has lo <= value <= hi
    for k in ("ttft_s", "tpot_s", "tokens_per_s", "j_per_token"):
        assert m[k]["lo"] <= m[k]["value"] <= m[k]["hi"], k
    assert m["memory_bytes"]["lo"] is None  # memory is not banded

    class Banded:  # a row-like object that carries ranges as <key>_lo / <key>_hi attributes only
        def __getattr__(self, name):
            if name == "bands":
                return {}
            if name == "tokens_per_s_lo":
                return 0.8 * pred8b.tokens_per_s
            if name == "tokens_per_s_hi":
                return 1.2 * pred8b.tokens_per_s
            return getattr(pred8b, name)

    m = {r["key"]: r for r in workload.prediction_metrics(Banded(), H100)}
    assert m["tokens_per_s"]["lo"] == pytest.approx(0.8 * pred8b.tokens_per_s) and m["ttft_s"]["lo"] is None
    pre = predict("llama-3.1-8b", H100, Scenario(phase="prefill", batch=8))
    m = {r["key"]: r for r in workload.prediction_metrics(pre, H100)}
    assert m["tpot_s"]["value"] is None and "prefill" in m["tpot_s"]["source"]


# ------------------------------------------------------------------------------------------ unmatched hosts


def test_unmatched_rows_are_attributed_only_when_asked(trace_rows):
    rows = trace_rows()
    rows.loc[1:, "device_id"] = ""
    rows.loc[1:, "device_name"] = "NVIDIA H100 80GB HBM3"
    known = list(hwdb.load())
    assert measured.unmatched_devices(rows, known) == [""]
    assert measured.guess_device(["Apple M4 Max"], hwdb.load()) == "apple-m4-max"
    assert measured.guess_device(["NVIDIA H100 80GB HBM3"], hwdb.load()) == ""  # SXM or PCIe: the user says
    assert measured.guess_device(["Some Laptop CPU"], hwdb.load()) == ""
    out = measured.assign_device(rows, "h100-sxm", H100.name, known)
    assert (out["device_id"] == "h100-sxm").all() and (rows["device_id"].iloc[1:] == "").all()  # a copy
    assert measured.unmatched_devices(out, known) == []


# ------------------------------------------------------------------------------------------ verdict


def ranking_frame(**over) -> pd.DataFrame:
    """A select.rank-shaped frame of three devices that fit (a, b, c) and one that does not (d)."""
    base = {
        "device_id": ["a", "b", "c", "d"], "name": ["Alpha", "Beta", "Gamma", "Delta"], "tp": [1, 2, 1, 1],
        "fits": [True, True, True, False], "fit_reason": ["", "", "", "needs 200 GB"],
        "tokens_per_s": [1000.0, 800.0, 500.0, math.nan], "ttft_s": [1.0, 0.5, 2.0, math.nan],
        "tpot_s": [0.020, 0.030, 0.045, math.nan], "usd_per_mtok": [2.0, 1.0, 1.5, math.nan],
        "j_per_token": [1.0, 1.5, 0.8, math.nan], "avg_power_w": [700.0, 1200.0, 300.0, math.nan],
        "ipw": [0.001, 0.0006, 0.0024, math.nan], "meets_slo": [True, True, True, False],
        "rank": [1.0, 2.0, 3.0, math.nan], "pareto": [True, True, True, False],
    }
    base.update(over)
    return pd.DataFrame(base)


def test_verdict_names_the_pick_two_reasons_and_when_the_runner_up_wins():
    v = verdict.verdict(ranking_frame(), "tokens_per_s", slo_tpot_s=0.05)
    assert (v.pick, v.runner_up) == ("a", "b") and v.recommendation == "Buy Alpha"
    assert v.reasons[0] == "best tokens/s: 1 ktok/s, 25% more than Beta x2 (800 tok/s)"
    # the second reason: where the pick leads the runner-up most (IPW 1.67x; J/token 1.5x; TPOT 1.5x)
    assert v.reasons[1] == "also better on IPW: 0.001 /W vs 0.0006 /W (67% more)"
    assert any(w == "if you rank by cost per million tokens ($1 vs $2)" for w in v.runner_up_when)
    assert any(w.startswith("if you rank by time to first token") for w in v.runner_up_when)
    assert v.ranges == () and v.caveats == ()  # no bands, no flags: nothing made up


def test_verdict_shows_ranges_and_flags_when_the_frame_has_them():
    df = ranking_frame(tokens_per_s_lo=[850.0, 700.0, 400.0, math.nan], tokens_per_s_hi=[1100.0, 900.0, 600.0, math.nan],
                       unreliable=["", "power is a TPU v4 placeholder", "", ""])
    v = verdict.verdict(df, "tokens_per_s")
    assert v.ranges[0] == "a tokens/s: 850 tok/s – 1.1 ktok/s (model uncertainty)"
    assert any("overlap" in c for c in v.caveats)  # 850-1100 vs 700-900
    assert any(c.startswith("b: power is a TPU v4 placeholder (flagged unreliable") for c in v.caveats)


def test_verdict_says_when_prices_are_on_different_bases():
    df = ranking_frame(rank=[3.0, 1.0, 2.0, math.nan], cost_basis=["cloud", "owned", "cloud", ""])
    v = verdict.verdict(df, "usd_per_mtok")
    assert v.reasons[0].endswith("(owned prices)")
    assert any(c.startswith("b uses the owned cost basis, c the cloud one") for c in v.caveats)
    assert verdict.verdict(ranking_frame(rank=[3.0, 1.0, 2.0, math.nan]), "usd_per_mtok").caveats == ()


def test_verdict_when_nothing_qualifies():
    v = verdict.verdict(ranking_frame(rank=[math.nan] * 4, meets_slo=[False] * 4), "tokens_per_s", slo_tpot_s=0.01)
    assert v.pick == "" and v.headline.startswith("No recommendation: no candidate meets TPOT <= 10 ms")
    assert v.runner_up == "a" and v.runner_up_when == ("if the TPOT SLO is loosened to 20 ms",)
    nofit = ranking_frame(fits=[False] * 4, rank=[math.nan] * 4)
    assert verdict.verdict(nofit, "tokens_per_s").headline.startswith("No recommendation: no candidate device can hold")


def test_price_break_even_for_a_cost_ranking():
    df = ranking_frame(rank=[3.0, 1.0, 2.0, math.nan])  # by $/M tok: b ($1) then c ($1.5) then a ($2)
    v = verdict.verdict(df, "usd_per_mtok")
    assert (v.pick, v.runner_up) == ("b", "c")
    assert "if b's price rises more than 50% (or c's falls more than 33%)" in v.runner_up_when


def test_rescale_price_and_utilization_by_hand():
    devs = {"a": H100, "b": H100, "c": H100}
    df = ranking_frame()
    p = verdict.rescale(df, devs, {"a": 1.3})
    assert p["usd_per_mtok"].tolist()[:3] == pytest.approx([2.6, 1.0, 1.5])
    u = verdict.rescale(df, devs, 1.0, 0.5)
    idle = H100.measured.idle_power_w  # the energy model's idle power (calibrated on the H100)
    # busy half the time: $/M tok doubles; J/token gains the idle half: (1 - u) / u x P_idle x TP / tokens/s
    assert u["usd_per_mtok"].tolist()[:3] == pytest.approx([4.0, 2.0, 3.0])
    assert u["j_per_token"].iat[0] == pytest.approx(1.0 + idle / 1000.0)
    assert u["j_per_token"].iat[1] == pytest.approx(1.5 + 2 * idle / 800.0)  # TP 2: two devices idle
    assert u["ipw"].iat[0] == pytest.approx(0.001 * 700 / (0.5 * 700 + 0.5 * idle))
    with pytest.raises(ValueError):
        verdict.rescale(df, devs, 1.0, 0.0)


def test_sensitivity_rows_and_flips():
    devs = {"a": H100, "b": H100, "c": H100}
    s = verdict.sensitivity(ranking_frame(), "tokens_per_s", devs, slo_tpot_s=0.05)
    assert list(s.columns) == verdict.SENSITIVITY_COLUMNS
    assert set(s["factor"]) == {"price", "utilization", "SLO"}
    assert s[s["factor"] != "SLO"]["holds"].all()  # prices and utilization never change a tokens/s ranking
    tight = s[s["setting"].str.startswith("TPOT SLO x0.5")].iloc[0]  # 25 ms: a (20 ms) still qualifies
    assert tight["winner"] == "a" and tight["holds"]
    s = verdict.sensitivity(ranking_frame(), "tokens_per_s", devs, slo_tpot_s=0.025)
    tight = s[s["setting"].str.startswith("TPOT SLO x0.5")].iloc[0]  # 12.5 ms: nobody
    assert tight["winner"] == "none qualifies" and not tight["holds"]
    c = verdict.sensitivity(ranking_frame(rank=[3.0, 1.0, 2.0, math.nan]), "usd_per_mtok", devs)
    flip = c[c["setting"] == "b price +30%"].iloc[0]  # b $1.30 is still cheaper than c $1.50
    assert flip["winner"] == "b" and flip["holds"] and flip["winner_value"] == "$1.3"
    ru = c[c["setting"] == "c price -30%"].iloc[0]  # c $1.05 vs b $1
    assert ru["winner"] == "b"
    u = c[c["setting"] == "busy 25% of the time"].iloc[0]
    assert u["winner"] == "b" and u["winner_value"] == "$4"


def test_slo_miss_notes():
    df = ranking_frame()
    notes = verdict.slo_marks(df, None, 0.025)
    assert notes == ["", "misses the SLO: TPOT 30 ms > 25 ms", "misses the SLO: TPOT 45 ms > 25 ms", ""]


def test_band_overlap_note_names_a_few_and_counts_the_rest():
    from roofline.views.common import band_overlap_note

    assert band_overlap_note("") == ""
    assert band_overlap_note("h200,b200") == "within band of h200, b200"
    many = ",".join(f"d{i}" for i in range(14))
    assert band_overlap_note(many) == "within band of 14 others (d0, d1, d2, ...)"
