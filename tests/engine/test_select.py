"""Device selection: ranking, SLOs, TP fallback, Pareto front (with whatever hwdb.load() holds)."""

import pandas as pd
import pytest

import hwdb
from roofline.engine.scenario import Scenario
from roofline.engine.select import RANK_KEYS, pareto_front, rank
from roofline.errors import InputError

SC = Scenario(phase="generate", batch=4, prompt_tokens=512, gen_tokens=64)


def test_rank_orders_by_key_and_covers_every_device():
    df = rank("llama-3.1-8b", SC)
    assert set(df["device_id"]) == set(hwdb.load())
    ranked = df[df["rank"].notna()]
    assert list(ranked["rank"]) == list(range(1, len(ranked) + 1))
    assert ranked["tokens_per_s"].is_monotonic_decreasing
    assert ranked["fits"].all()


@pytest.mark.parametrize("by", sorted(RANK_KEYS))
def test_every_rank_key(by):
    df = rank("llama-3.2-1b", SC, devices=["h100-sxm"], by=by)
    assert len(df) == 1


def test_slo_excludes_slow_devices():
    df = rank("llama-3.1-8b", SC, slo_tpot_s=1e-9)
    assert df["rank"].isna().all() and not df["meets_slo"].any()


def test_tp_when_one_device_does_not_fit():
    df = rank("llama-3.1-405b", Scenario(batch=1), devices=["h100-sxm"])
    r = df.iloc[0]
    assert r.tp > 1 and r.fits
    df1 = rank("llama-3.1-405b", Scenario(batch=1), devices=["h100-sxm"], allow_tp=False)
    assert not df1.iloc[0].fits and "needs" in df1.iloc[0].fit_reason


def test_bad_rank_key():
    with pytest.raises(InputError):
        rank("llama-3.1-8b", SC, by="speed")


def test_pareto_front_on_known_points():
    df = pd.DataFrame({"tokens_per_s": [10, 20, 15, 5, 30], "j_per_token": [1.0, 2.0, 1.0, 0.5, 3.0],
                       "fits": [True, True, True, True, False]})
    out = pareto_front(df, minimize=["j_per_token"], maximize=["tokens_per_s"])
    # row 0 is dominated by row 2 (same J, more tokens/s); row 4 does not fit
    assert list(out["pareto"]) == [False, True, True, True, False]
