"""Invariants of the engine (hypothesis): more bandwidth or peak is never slower; more batch never lowers
tokens/s where decode is memory-bound; generate time = prefill + sum of the decode steps."""

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hwdb
from roofline.engine.predict import predict
from roofline.engine.pricing import sum_max_affine
from roofline.engine.scenario import Scenario

MODELS = ["llama-3.2-1b", "llama-3.1-8b", "qwen3-30b-a3b", "gemma-2-9b", "phi-3-mini"]
# uncalibrated device: scaling its datasheet roofs must scale the attainable roofs
BASE = dataclasses.replace(hwdb.get("h100-sxm"), measured=None)
scenarios = st.builds(
    Scenario, phase=st.sampled_from(["prefill", "decode", "generate"]), batch=st.integers(1, 64),
    prompt_tokens=st.integers(1, 4096), gen_tokens=st.integers(1, 64), wbits=st.sampled_from([4, 8, 16]),
    kvbits=st.sampled_from([8, 16]), attention=st.sampled_from(["naive", "flash"]))
FAST = settings(max_examples=40, deadline=None)


@FAST
@given(sc=scenarios, model=st.sampled_from(MODELS), k=st.floats(1.0, 8.0))
def test_more_bandwidth_is_never_slower(sc, model, k):
    fast = dataclasses.replace(BASE, mem_bw_bytes_per_s=BASE.mem_bw_bytes_per_s * k)
    assert predict(model, fast, sc).time_s <= predict(model, BASE, sc).time_s * (1 + 1e-12)


@FAST
@given(sc=scenarios, model=st.sampled_from(MODELS), k=st.floats(1.0, 8.0))
def test_more_peak_is_never_slower(sc, model, k):
    fast = dataclasses.replace(BASE, peak_ops_per_s={d: v * k for d, v in BASE.peak_ops_per_s.items()})
    assert predict(model, fast, sc).time_s <= predict(model, BASE, sc).time_s * (1 + 1e-12)


@FAST
@given(b=st.integers(1, 120), model=st.sampled_from(MODELS), ctx=st.integers(1, 8192), wbits=st.sampled_from([4, 16]))
def test_more_batch_never_lowers_decode_tokens_per_s(b, model, ctx, wbits):
    sc = Scenario(phase="decode", batch=b, prompt_tokens=ctx, wbits=wbits)
    p1 = predict(model, "h100-sxm", sc)
    p2 = predict(model, "h100-sxm", sc.with_(batch=b + 1))
    if p1.bound == "memory":
        assert p2.tokens_per_s >= p1.tokens_per_s * (1 - 1e-12)


@settings(max_examples=15, deadline=None)
@given(sc=scenarios, model=st.sampled_from(MODELS))
def test_generate_equals_prefill_plus_sum_of_decode_steps(sc, model):
    sc = sc.with_(phase="generate", gen_tokens=min(sc.gen_tokens, 24))
    g = predict(model, "h100-sxm", sc)
    pre = predict(model, "h100-sxm", sc.with_(phase="prefill"))
    steps = sum(predict(model, "h100-sxm", sc.with_(phase="decode", prompt_tokens=sc.prompt_tokens + j)).time_s
                for j in range(sc.gen_tokens - 1))
    assert g.time_s == pytest.approx(pre.time_s + steps, rel=1e-9)


@settings(max_examples=200, deadline=None)
@given(f=st.lists(st.tuples(st.floats(0, 1e3), st.floats(0, 1e3)), min_size=1, max_size=3), n=st.integers(0, 50))
def test_sum_max_affine_equals_the_loop(f, n):
    firsts = [a for a, _ in f]
    lasts = [b for _, b in f]
    brute = sum(max(a + (b - a) * j / max(n - 1, 1) for a, b in f) for j in range(n))
    assert float(sum_max_affine(firsts, lasts, n)) == pytest.approx(brute, rel=1e-9, abs=1e-9)
