"""Cost bases: every dollar figure on one stated basis (cloud on-demand, or owned: TCO), the reference quote of
a device, the placeholders hwdb flags, and what select does with them."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

import hwdb
from hwdb.schema import Price, quote_month, reference_price
from roofline.engine.cost import HOURS_PER_YEAR, Tco, hourly_cost
from roofline.engine.predict import predict
from roofline.engine.scenario import Scenario
from roofline.engine.select import pareto_front, rank
from roofline.errors import InputError, UnknownNameError


def q(usd, date, basis="cloud", provider="p", ref=False):
    return Price(basis, usd, provider, date, "s", "", ref)


def test_reference_is_the_current_market_median():
    quotes = [q(2.99, "2025-06"), q(3.99, "2026-09"), q(2.69, "2026-09"), q(6.88, "2026-11"), q(9.0, "undated")]
    # the 2025-06 quote is more than 12 months older than the newest (2026-11); undated ones are context only
    assert reference_price(quotes, "cloud").usd == 3.99  # median of 2.69, 3.99, 6.88
    assert reference_price([*quotes, q(1.0, "2026-10")], "cloud").usd == 2.69  # even count: the lower middle
    assert reference_price([*quotes, q(5.0, "2020", ref=True)], "cloud").usd == 5.0  # marked wins
    assert reference_price([q(9.0, "undated"), q(8.0, "n.d.")], "cloud").usd == 8.0  # nothing dated: all
    assert reference_price(quotes, "owned") is None
    assert quote_month("2024") == 2024 * 12 and quote_month("2026-09-20") == 2026 * 12 + 8
    assert quote_month("undated") is None and quote_month("n.d.") is None


def test_every_accelerator_has_a_dated_public_price():
    for d in hwdb.load().values():
        if d.kind in ("gpu", "accelerator"):
            assert any(quote_month(x.date) for x in d.prices), d.id
            for x in d.prices:
                assert d.sources[x.source].url.startswith("http") and x.provider, (d.id, x)


def test_owned_tco_by_hand():
    d = hwdb.get("h100-sxm")
    ref = d.reference_price("owned")
    t = Tco(years=3, utilization=0.5, usd_per_kwh=0.10, pue=1.3, host_share=0.30)
    c = hourly_cost(d, 2, "owned", avg_power_w=1200.0, idle_w=100.0, tco=t)
    capex = ref.usd * 2 * 1.3 / (3 * HOURS_PER_YEAR * 0.5)
    energy = (1200.0 + 200.0 * 0.5 / 0.5) * 1.3 * 0.10 / 1000  # serving power + the idle half, per serving hour
    assert c.capex_usd_per_h == pytest.approx(capex) and c.energy_usd_per_h == pytest.approx(energy)
    assert c.usd_per_h == pytest.approx(capex + energy) and c.basis == "owned" and "3 y at 50% use" in c.label
    cloud = hourly_cost(d, 2, "cloud")
    assert cloud.usd_per_h == pytest.approx(2 * d.reference_price("cloud").usd) and d.reference_price("cloud").provider in cloud.label
    with pytest.raises(InputError, match="--utilization"):
        hourly_cost(d, 1, "owned", tco=Tco(utilization=0.0))
    with pytest.raises(UnknownNameError, match="--cost-basis"):
        hourly_cost(d, 1, "leased")


def test_bases_are_never_mixed():
    sc = Scenario(phase="decode", batch=8)
    p = predict("llama-3.1-8b", "rtx-5090", sc)  # a list price, no cloud quote
    assert p.cost_basis == "cloud" and p.usd_per_mtok is None and "no public cloud price" in p.price_basis
    o = predict("llama-3.1-8b", "rtx-5090", sc, cost_basis="owned")
    assert o.usd_per_mtok > 0 and o.cost_basis == "owned" and o.to_dict()["price"]["cost_basis"] == "owned"
    assert o.to_dict()["price"]["source"]  # the quote: provider, date, url


def test_placeholder_power_flags_energy_and_is_left_out_of_energy_rankings():
    sc = Scenario(phase="generate", batch=32, prompt_tokens=4096, gen_tokens=256, wbits=4)
    p = predict("llama-3.1-70b", "tpu-v6e", sc)
    assert "power.tdp_w" in p.unreliable["j_per_token"] and "usd_per_mtok" not in p.unreliable  # cloud: not power
    assert predict("llama-3.1-70b", "tpu-v6e", sc, cost_basis="owned").usd_per_mtok is None  # rented only
    devs = ["tpu-v6e", "h100-sxm", "b200"]
    df = rank("llama-3.1-70b", sc, devs, by="j_per_token")
    tpu = df[df["device_id"] == "tpu-v6e"].iloc[0]
    assert math.isnan(tpu["rank"]) and "192 W" in tpu["unreliable"]
    assert df["rank"].notna().sum() == 2
    both = rank("llama-3.1-70b", sc, devs, by="j_per_token", include_unreliable=True)
    assert both["rank"].notna().sum() == 3
    assert not pareto_front(df, ["j_per_token"], ["tokens_per_s"]).set_index("device_id").at["tpu-v6e", "pareto"]
    tok = rank("llama-3.1-70b", sc, devs, by="tokens_per_s")  # tokens/s does not rest on power: ranked
    assert tok["rank"].notna().sum() == 3


def test_rows_that_do_not_fit_keep_only_why():
    sc = Scenario(phase="decode", batch=32, prompt_tokens=4096, wbits=4)
    df = rank("llama-3.1-70b", sc, ["orange-pi-5", "h200"], allow_tp=False)
    pi = df[df["device_id"] == "orange-pi-5"].iloc[0]
    assert not pi["fits"] and "needs" in pi["fit_reason"]
    for c in ("ttft_s", "tokens_per_s", "j_per_token", "ipw", "usd_per_mtok"):
        assert math.isnan(pi[c]), c
    h = df[df["device_id"] == "h200"].iloc[0]
    assert h["fits"] and h["tokens_per_s"] > 0 and h["usd_per_h_per_device"] == pytest.approx(h["usd_per_h"] / h["tp"])


def test_device_file_prices_and_flags_are_checked(tmp_path):
    src = (hwdb.loader.DEVICES_DIR / "h100-sxm.toml").read_text()

    def load(extra: str):
        (tmp_path / "dev.toml").write_text(src + extra)
        return hwdb.load_dir(tmp_path, measured_dir=None)["h100-sxm"]

    ok = load('\n[unreliable]\n"power.tdp_w" = { reason = "a test placeholder" }\n')
    assert ok.unreliable == {"power.tdp_w": "a test placeholder"}
    for extra, match in [
        ('\n[[prices]]\nbasis = "lease"\nusd = 1.0\nprovider = "x"\ndate = "2026"\nsource = "lambda"\n', "basis"),
        ('\n[[prices]]\nbasis = "cloud"\nusd = 1.0\nprovider = "x"\nsource = "lambda"\n', "needs the date"),
        ('\n[[prices]]\nbasis = "cloud"\nusd = -1.0\nprovider = "x"\ndate = "2026"\nsource = "lambda"\n', "must be > 0"),
        ('\n[[prices]]\nbasis = "cloud"\nusd = 1.0\nprovider = "x"\ndate = "2026"\nsource = "nowhere"\n', "not in"),
        ('\n[unreliable]\n"power.tdp" = { reason = "x" }\n', "names no field"),
        ('\n[unreliable]\n"power.tdp_w" = "x"\n', "reason"),
        ('\n[[prices]]\nbasis = "owned"\nusd = 1.0\nprovider = "x"\ndate = "2026"\nsource = "lambda"\nreference = true\n'
         '\n[[prices]]\nbasis = "owned"\nusd = 2.0\nprovider = "y"\ndate = "2026"\nsource = "lambda"\nreference = true\n',
         "more than one"),
    ]:
        with pytest.raises(hwdb.HwdbError, match=match):
            load(extra)
    assert replace(ok, unreliable={}).unreliable_reason("power.") == ""
