"""sweep(): the vectorized grid equals predict() point by point."""

import numpy as np
import pytest

import hwdb
from roofline.engine.predict import predict
from roofline.engine.scenario import Scenario
from roofline.engine.sweep import SCENARIO_COLUMNS, sweep

QUANT = [dict(), dict(wbits=4, group_size=128), dict(wbits=8, abits=8, kvbits=8), dict(wbits=4, abits=4, kvbits=4)]
EXTRA = [dict(weight_sparsity="2:4", attention="naive"), dict(attention="block-sparse", attention_kept=0.3,
                                                               mlp_active=0.6, head_active=0.8)]
COMPARE = ("time_s", "ttft_s", "tpot_s", "tokens_per_s", "energy_j", "j_per_token", "memory_bytes", "kv_bytes",
           "activation_bytes", "weight_bytes", "ipw", "ipj", "usd_per_mtok", "avg_power_w")


def _grid():
    return [Scenario(phase=ph, batch=b, prompt_tokens=p, gen_tokens=g, **q)
            for ph in ("prefill", "decode", "generate") for b in (1, 13) for p in (100, 3000) for g in (1, 2, 77)
            for q in QUANT + EXTRA]


def test_sweep_shape_and_columns():
    scs = _grid()
    df = sweep(["h100-sxm"], ["llama-3.2-1b", "qwen3-30b-a3b"], scs)
    assert len(df) == 2 * len(scs)
    for c in ("device_id", "model_id", *SCENARIO_COLUMNS, *COMPARE, "fits", "fit_reason", "bound", "kind"):
        assert c in df.columns
    assert (df["kind"] == "modeled").all()


def test_sweep_equals_predict_on_sampled_points():
    devs = list(hwdb.load())
    models = ["llama-3.1-8b", "mixtral-8x7b", "gemma-2-9b", "bitnet-b1.58-2b"]
    df = sweep(devs, models, _grid())
    rng = np.random.default_rng(7)
    rows = df.iloc[rng.choice(len(df), size=min(150, len(df)), replace=False)]
    checked = 0
    for _, r in rows.iterrows():
        sc = Scenario(**{k: (r[k].item() if hasattr(r[k], "item") else r[k]) for k in SCENARIO_COLUMNS})
        try:
            p = predict(r.model_id, r.device_id, sc)
        except Exception:  # a device without a needed ceiling: the sweep marks it instead of raising
            assert not r.fits and np.isnan(r.time_s)
            continue
        for k in COMPARE:
            expect = getattr(p, k)
            assert r[k] == pytest.approx(np.nan if expect is None else expect, rel=1e-9, nan_ok=True), (k, sc)
        assert bool(r.fits) == p.fits and r.bound == p.bound
        checked += 1
    assert checked > 100


def test_sweep_tensor_parallel_matches_predict():
    scs = [Scenario(phase="generate", batch=b, prompt_tokens=512, gen_tokens=64, tp=4) for b in (1, 32)]
    df = sweep(["h100-sxm"], ["llama-3.1-70b"], scs)
    for _, r in df.iterrows():
        p = predict("llama-3.1-70b", "h100-sxm", Scenario(phase="generate", batch=int(r.batch), prompt_tokens=512,
                                                          gen_tokens=64, tp=4))
        assert r.time_s == pytest.approx(p.time_s, rel=1e-9) and r.fits == p.fits


def test_pipelines_and_serving_features_go_through_predict():
    # the grid vectorizes one TP group; pipelines, EP, speculation, prefix caching and offload are priced point by
    # point with predict() and land in the same columns
    from roofline.engine.predict import predict
    from roofline.engine.scenario import Scenario as Sc
    from roofline.engine.sweep import sweep as sw

    scs = [Sc(phase="generate", batch=8, prompt_tokens=512, gen_tokens=32, tp=4, pp=2),
           Sc(phase="generate", batch=8, prompt_tokens=512, gen_tokens=32, prefix_hit=0.5)]
    df = sw(["h100-sxm"], ["llama-3.1-70b"], scs)
    for s, (_, r) in zip(scs, df.iterrows(), strict=True):
        p = predict("llama-3.1-70b", "h100-sxm", s)
        assert r["time_s"] == pytest.approx(p.time_s) and r["tokens_per_s_per_device"] == pytest.approx(
            p.tokens_per_s_per_device)
