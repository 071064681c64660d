"""Runtime profiles: loading (every number cited), what each parameter does to a prediction, bands, chunked
prefill and the dequantization paths."""

import dataclasses
import math
from pathlib import Path
from types import MappingProxyType

import pytest

import hwdb
from roofline.engine import transformer as tf
from roofline.engine.catalog import get_model
from roofline.engine.predict import predict
from roofline.engine.runtime import (
    DEFAULT_RUNTIME,
    Band,
    Param,
    RuntimeProfile,
    device_class,
    get_profile,
    load_profile_file,
    runtime_names,
)
from roofline.engine.scenario import Scenario
from roofline.errors import DataFileError, UnknownNameError

H100 = "h100-sxm"


def profile(**values) -> RuntimeProfile:
    """A test profile: the ideal one with some parameters set (no chunking unless asked)."""
    base = {"max_batched_tokens": 0.0}
    base.update(values)
    params = {k: Param(k, float(v), "assumed", ("test",)) for k, v in base.items()}
    return RuntimeProfile(name="test", title="test", description="", params=MappingProxyType(params))


def test_shipped_profiles_load_and_cite_every_number():
    names = runtime_names()
    assert DEFAULT_RUNTIME in names and {"ideal", "trtllm", "vllm", "sglang", "llamacpp", "ours"} <= set(names)
    for n in names:
        p = get_profile(n)
        assert p.params, n
        for par in p.params.values():
            assert par.sources and all(par.sources), (n, par.name)
            assert par.basis in ("fitted", "documented", "assumed"), (n, par.name)
            if par.basis == "fitted":
                assert par.held_out_median_err is not None, (n, par.name)
        assert "*" in p.bands, n  # every profile has a band for device classes it was not measured on


def test_unknown_runtime_suggests_names():
    with pytest.raises(UnknownNameError, match="unknown runtime 'vlm'.*vllm"):
        get_profile("vlm")


@pytest.mark.parametrize(("text", "match"), [
    ('name = "x"\ntitle = "x"\n[param.step_s]\nvalue = 1e-3\nbasis = "assumed"\n', r"param\.step_s\.sources: has no sources"),
    ('name = "x"\ntitle = "x"\n[param.step_s]\nvalue = 1e-3\nbasis = "assumed"\nsources = []\n',
     r"param\.step_s\.sources: has no sources"),
    ('name = "x"\ntitle = "x"\n', r"param: missing table"),
    ('name = "x"\ntitle = "x"\n[param.warp_s]\nvalue = 1\nbasis = "assumed"\nsources = ["a"]\n', r"param\.warp_s: unknown parameter"),
    ('name = "x"\ntitle = "x"\n[param.step_s]\nvalue = 1\nbasis = "guessed"\nsources = ["a"]\n', r"param\.step_s\.basis"),
    ('name = "x"\ntitle = "x"\n[param.step_s]\nvalue = 1\nbasis = "fitted"\nsources = ["a"]\n', r"document: a fitted profile"),
])
def test_a_profile_file_without_sources_is_refused(tmp_path: Path, text, match):
    f = tmp_path / "x.toml"
    f.write_text(text)
    with pytest.raises(DataFileError, match=match):
        load_profile_file(f)


def test_the_default_runtime_is_stated_and_keeps_the_ideal_roofline():
    p = predict("llama-3.1-8b", H100, Scenario(phase="decode", batch=4))
    doc = p.to_dict()
    assert p.runtime == DEFAULT_RUNTIME == "ideal" and doc["runtime"]["is_default"] and doc["runtime"]["name"] == "ideal"
    assert not any(e.op.kind == "overhead" for e in p.ops)  # no scheduler or request costs under ideal


def test_runtime_efficiencies_and_costs_move_the_right_figures():
    sc = Scenario(phase="generate", batch=1, prompt_tokens=4096, gen_tokens=65)
    base = predict("llama-3.1-8b", H100, sc, runtime=profile())
    slow_gemm = predict("llama-3.1-8b", H100, sc, runtime=profile(gemm_eff_bf16=0.5))
    assert 1.6 < slow_gemm.ttft_s / base.ttft_s < 2.0  # a compute-bound prefill: mostly GEMMs at half the rate
    assert slow_gemm.tpot_s == pytest.approx(base.tpot_s, rel=0.02)  # batch-1 decode is memory-bound
    slow_mem = predict("llama-3.1-8b", H100, sc, runtime=profile(mem_eff=0.5))
    assert 1.7 < slow_mem.tpot_s / base.tpot_s < 2.05
    costs = predict("llama-3.1-8b", H100, sc, runtime=profile(step_s=1e-3, request_s=20e-3))
    assert costs.ttft_s == pytest.approx(base.ttft_s + 1e-3 + 20e-3, rel=1e-9)
    assert costs.tpot_s == pytest.approx(base.tpot_s + 1e-3, rel=1e-9)
    assert {"runtime_step", "runtime_request"} <= {e.op.name for e in costs.ops}
    graphs = predict("llama-3.1-8b", H100, sc, runtime=profile(launch_s=1e-6))
    assert graphs.tpot_s < base.tpot_s  # fewer microseconds a launch
    amd = profile(vendor_eff_amd=0.5)
    assert predict("llama-3.1-8b", H100, sc, runtime=amd).tpot_s == pytest.approx(base.tpot_s)
    assert predict("llama-3.1-8b", "mi300x", sc, runtime=amd).tpot_s > 1.6 * predict(
        "llama-3.1-8b", "mi300x", sc, runtime=profile()).tpot_s


def test_usable_memory_fraction_comes_from_the_runtime():
    sc = Scenario(phase="decode", batch=1)
    dev = hwdb.get(H100)
    assert predict("llama-3.1-8b", H100, sc, runtime=profile(usable_memory_fraction=0.5)).usable_memory_bytes == \
        pytest.approx(0.5 * dev.memory_bytes)


def test_chunked_prefill_bounds_activations_and_barely_moves_ttft():
    # Llama-3.1-8B prefill of 256 x 2048 tokens in one pass holds 524,288 tokens of activations:
    # 524288 * 2 B * (2*4096 + max(6144, 2*14336)) = 38.7e9 B; in 8192-token chunks 64x less (+ the logits)
    m = get_model("llama-3.1-8b")
    sc = Scenario(phase="prefill", batch=256, prompt_tokens=2048)
    one = predict(m, H100, sc, runtime=profile())
    chunked = predict(m, H100, sc, runtime=profile(max_batched_tokens=8192))
    assert one.activation_bytes == pytest.approx(524288 * 2 * (2 * 4096 + 28672) + 256 * 128256 * 2, rel=1e-9)
    assert one.activation_bytes == pytest.approx(38.7e9, rel=0.01)
    assert chunked.prefill_chunks == 64 and chunked.activation_bytes < one.activation_bytes / 50  # + the logits
    assert 1.0 <= chunked.ttft_s / one.ttft_s < 1.03  # compute-bound: the extra weight reads hide under the math
    # 160 x 2048 on an H100 (76.97e9 B usable): weights 16.1e9 + KV 42.9e9 + one-pass activations 24.2e9 do not
    # fit; with 8192-token chunks (0.67e9 of activations) they do
    sc160 = sc.with_(batch=160)
    assert not predict(m, H100, sc160, runtime=profile()).fits
    assert predict(m, H100, sc160, runtime=profile(max_batched_tokens=8192)).fits
    # tiny chunks re-read the weights every pass: llama.cpp's micro-batch sweep (PR #15802) at 1 token a pass
    ub1 = predict(m, "rtx-3090", Scenario(phase="prefill", batch=1, prompt_tokens=512, wbits=4, abits=8, group_size=32),
                  runtime=profile(max_batched_tokens=1))
    ub512 = predict(m, "rtx-3090", Scenario(phase="prefill", batch=1, prompt_tokens=512, wbits=4, abits=8, group_size=32),
                    runtime=profile(max_batched_tokens=512))
    assert ub1.prefill_chunks == 512 and ub1.ttft_s > 10 * ub512.ttft_s


def test_chunk_terms_read_weights_every_chunk_and_split_the_rest():
    m = get_model("llama-3.1-8b")
    sc = Scenario(phase="prefill", batch=4, prompt_tokens=1000)
    one = {t.name: t for t in tf.prefill_terms(m, sc)}
    four = {t.name: t for t in tf.prefill_terms(m, sc, chunks=4)}
    q1, q4 = one["qkv_proj"], four["qkv_proj"]
    assert q4.count == 4 * q1.count and q4.weight_bytes == q1.weight_bytes
    assert q4.flops * 4 == pytest.approx(q1.flops)
    assert (q4.bytes_read - q4.weight_bytes) * 4 == pytest.approx(q1.bytes_read - q1.weight_bytes)
    assert four["flash_attention"].flops * 4 == pytest.approx(one["flash_attention"].flops)
    assert four["lm_head"].count == 1 and four["lm_head"].flops == one["lm_head"].flops


def test_dequant_is_fused_when_hidden_and_a_separate_pass_when_the_vector_units_are_slow():
    m = get_model("llama-3.1-8b")
    w4 = dict(wbits=4, group_size=128)
    dev = hwdb.get(H100)
    dec = predict(m, dev, Scenario(phase="decode", batch=1, **w4)).ops_frame().set_index("name")
    assert dec.loc["dequant", "time_s"] == 0.0  # batch-1 decode: the vector work hides under the 4-bit weight reads
    slow = dataclasses.replace(dev, vector_ops_per_s=MappingProxyType({"fp32": 0.2e12}))
    pre = predict(m, slow, Scenario(phase="prefill", batch=1, prompt_tokens=4096, **w4)).ops_frame().set_index("name")
    assert pre.loc["dequant", "bytes"] > 0  # dequantize to 16 bits, then a dense GEMM: bytes counted
    # the faster path: a dequantize kernel (one pass over the weights on the slow vector units) beats dequantizing
    # again in every 128-token tile of the fused kernel (32 tiles of 4096 tokens)
    elems = m.layers * (m.attn_params_per_layer + m.mlp_params_per_layer())
    fused_alone = tf.DEQUANT_FLOPS_PER_WEIGHT * elems * 32 / (0.2e12 * 0.75)
    one_pass = tf.DEQUANT_FLOPS_PER_WEIGHT * elems / (0.2e12 * 0.75)
    assert one_pass < pre.loc["dequant", "time_s"] < 0.1 * fused_alone
    g2 = predict(m, "gaudi2", Scenario(phase="prefill", batch=1, prompt_tokens=512, **w4))
    assert any("no vector-unit" in n for n in g2.notes)  # unknown, said, not priced on the matrix peak
    g3 = predict(m, "gaudi3", Scenario(phase="prefill", batch=1, prompt_tokens=512, **w4))
    assert not any("vector" in n for n in g3.notes)


def test_float_formats_run_on_the_fp8_and_fp4_roofs():
    m = get_model("llama-3.1-8b")
    sc = Scenario(phase="prefill", batch=1, prompt_tokens=2048, wbits=8, abits=8, kvbits=8, number_format="float")
    assert {t.name: t for t in tf.prefill_terms(m, sc)}["qkv_proj"].dtype == "fp8"
    fp4 = sc.with_(wbits=4, abits=4, group_size=32)
    assert {t.name: t for t in tf.prefill_terms(m, fp4)}["qkv_proj"].dtype == "fp4"
    assert predict(m, "b200", fp4).ttft_s < predict(m, "b200", sc).ttft_s
    assert "float" in sc.label()


def test_bands_scale_times_up_and_rates_down_and_split_energy():
    band = Band("nvidia-gpu", lo=math.log(0.9), hi=math.log(1.5), n=10, coverage=0.8, basis="test")
    rt = dataclasses.replace(profile(), bands=MappingProxyType({"nvidia-gpu": band}))
    p = predict("llama-3.1-8b", H100, Scenario(phase="generate", batch=8), runtime=rt)
    assert p.bands["ttft_s"] == pytest.approx((0.9 * p.ttft_s, 1.5 * p.ttft_s))
    assert p.bands["tokens_per_s"] == pytest.approx((p.tokens_per_s / 1.5, p.tokens_per_s / 0.9))
    e_lo, e_hi = p.bands["energy_j"]
    assert e_lo < p.energy_j < e_hi < 1.5 * p.energy_j  # only the idle share scales with time
    assert p.bands["ipw"][0] < p.ipw < p.bands["ipw"][1]
    t = p.to_dict()["totals"]
    assert t["ttft_s_lo"] == pytest.approx(0.9 * p.ttft_s) and t["tokens_per_s_hi"] == pytest.approx(p.tokens_per_s / 0.9)
    assert p.to_dict()["band"]["device_class"] == "nvidia-gpu"
    # a device class the profile has no band for gets none here (shipped profiles always carry "*")
    assert predict("llama-3.1-8b", "mi300x", Scenario(), runtime=rt).bands == {}
    assert device_class(hwdb.get("mi300x")) == "amd-gpu" and device_class(hwdb.get("apple-m2-ultra")) == "apple-soc"


def test_published_matmul_ceilings_replace_the_kind_default():
    """hwdb ``achievable_ops_per_s`` (ml-engineering's MAMF table) is the device's own compute efficiency; a
    device without one keeps the per-kind default, and the measured overlay still wins where there is one."""
    from roofline.engine.efficiency import default_efficiency

    mi = hwdb.get("mi300x")
    e = default_efficiency(mi)
    assert e.compute_for("bf16") == pytest.approx(668.4e12 / mi.peak("bf16"))
    assert e.compute_for("fp16") == pytest.approx(e.compute_for("bf16"))  # same tensor path and peak
    assert "published matmul ceilings" in e.source and "MAMF" in e.source
    h = default_efficiency(hwdb.get("h100-sxm"))
    assert h.compute_for("fp8") == pytest.approx(1402.6e12 / 1979e12, rel=1e-3)
    assert h.compute_for("bf16") == pytest.approx(794.5e12 / 989e12, rel=1e-3)
    # an accelerator without a published ceiling: the kind default, and no claim of a measured source
    bare = dataclasses.replace(mi, achievable_ops_per_s=MappingProxyType({}))
    assert "published" not in default_efficiency(bare).source
    assert default_efficiency(bare).compute_for("bf16") != pytest.approx(e.compute_for("bf16"))


def test_fp16_accumulate_rate_only_for_a_runtime_that_asks_for_it():
    """llama.cpp's cuBLAS path accumulates fp16 GEMMs in fp16 (gemm_acc16 = 1): on a GeForce part that runs at
    the published fp16-accumulate rate (RTX 4090: 330.3 TF, twice the fp32-accumulate peak); vLLM, attention and
    parts without such a rate stay on the dtype's peak."""
    g = hwdb.get("rtx-4090")
    assert g.peak_acc16("fp16") == pytest.approx(330.3e12) and g.peak("fp16") == pytest.approx(165.2e12, rel=1e-3)
    lc, vl = get_profile("llamacpp"), get_profile("vllm")
    assert lc.peak_for(g, "fp16", "gemm") == pytest.approx(330.3e12)
    assert lc.peak_for(g, "fp16", "attention") == g.peak("fp16")
    assert vl.peak_for(g, "fp16", "gemm") == g.peak("fp16")
    h = hwdb.get("h100-sxm")
    assert h.peak_acc16("fp16") is None and lc.peak_for(h, "bf16", "gemm") == h.peak("bf16")
    # the faster roof shows in a prediction: llama.cpp's f16 prompt processing on the 4090 is faster than with
    # the flag cleared
    sc = Scenario(phase="prefill", batch=1, prompt_tokens=512)
    off = dataclasses.replace(lc, params={**lc.params, "gemm_acc16": dataclasses.replace(lc.params["gemm_acc16"],
                                                                                       value=0.0)})
    fast, slow = predict("llama-2-7b", "rtx-4090", sc, runtime=lc), predict("llama-2-7b", "rtx-4090", sc, runtime=off)
    assert fast.ttft_s < slow.ttft_s


def test_device_file_refuses_impossible_ceilings(tmp_path):
    src = (hwdb.loader.DEVICES_DIR / "rtx-4090.toml").read_text()

    def load(text: str):
        (tmp_path / "dev.toml").write_text(text)
        return hwdb.load_dir(tmp_path, measured_dir=None)["rtx-4090"]

    assert load(src).acc16_ops_per_s["fp8"] == pytest.approx(660.6e12)
    above = src + '\n[achievable_ops_per_s]\nbf16 = { value = 999e12, source = "whitepaper" }\n'
    with pytest.raises(hwdb.HwdbError, match="cannot exceed"):
        load(above)
    below = src.replace("fp16 = { value = 330.3e12", "fp16 = { value = 100e12")
    with pytest.raises(hwdb.HwdbError, match="never below"):
        load(below)
