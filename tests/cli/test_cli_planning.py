"""`roofline simulate`, `plan`, `sweep`, `predict --pp/--ep/--parallel`: output and the bad-input promise."""

from __future__ import annotations

import json

import pytest


def test_predict_layout_flags(cli):
    code, out, err = cli(["predict", "-m", "llama-3.1-405b", "-d", "h100-sxm", "--tp", "8", "--pp", "2", "--json"])
    assert code == 0, err
    doc = json.loads(out)
    assert doc["parallel"] == {"tp": 8, "pp": 2, "ep": 1, "nodes": 2, "devices": 16, "system": "dgx-h100",
                               "tokens_per_step": 1.0}
    code, out, err = cli(["predict", "-m", "llama-3.1-405b", "-d", "h100-sxm", "--parallel", "auto", "--devices", "16"])
    assert code == 0 and "16 devices on 2 node(s)" in out


def test_simulate_prints_percentiles_and_json(cli):
    code, out, err = cli(["simulate", "-m", "llama-3.1-8b", "-d", "h100-sxm", "--arrivals", "poisson:4",
                          "--duration", "30", "--slo-ttft", "2", "--slo-tpot", "0.05"])
    assert code == 0, err
    assert "TTFT  p50" in out and "Little's law" in out and "goodput" in out
    code, out, err = cli(["simulate", "-m", "llama-3.1-8b", "-d", "h100-sxm", "--arrivals", "poisson:4",
                          "--duration", "30", "--json"])
    doc = json.loads(out)
    assert doc["summary"]["requests"] > 50 and len(doc["timeline"]["t_s"]) == 240


def test_plan_prints_best_and_runner_up(cli):
    code, out, err = cli(["plan", "-m", "llama-3.1-8b", "--qps", "3", "--slo-ttft-p99", "2", "--slo-tpot-p99", "0.05",
                          "--devices", "h100-sxm,a100-sxm-80gb", "--duration", "30"])
    assert code == 0, err
    assert "best" in out and "runner-up" in out


@pytest.mark.parametrize(("args", "msg"), [
    (["predict", "-m", "llama-3.1-70b", "-d", "h100-sxm", "--pp", "3"], "does not divide the 80 layers"),
    (["predict", "-m", "mixtral-8x7b", "-d", "h100-sxm", "--ep", "3"], "does not divide the 8 experts"),
    (["predict", "-m", "llama-3.1-405b", "-d", "mi300x", "--tp", "8", "--pp", "2"], "no scale-out"),
    (["predict", "-m", "llama-3.1-405b", "-d", "gb200", "--tp", "64", "--pp", "2"], "has 18"),
    (["predict", "-m", "llama-3.1-8b", "-d", "h100-sxm", "--spec", "nope"], "--spec"),
    (["predict", "-m", "llama-3.1-8b", "-d", "h100-sxm", "--devices", "4"], "--parallel auto"),
    (["simulate", "-m", "llama-3.1-8b", "-d", "h100-sxm", "--arrivals", "poisson:0"], "> 0"),
    (["simulate", "-m", "llama-3.1-8b", "-d", "h100-sxm", "--arrivals", "trace:/nonexistent.csv"], "cannot read"),
    (["simulate", "-m", "llama-3.1-8b", "-d", "h100-sxm", "--scheduler", "fifo"], "scheduler"),
    (["simulate", "-m", "llama-3.1-8b", "-d", "h100-sxm", "--count", "3", "--tp", "2"], "multiple"),
    (["plan", "-m", "llama-3.1-8b", "--qps", "0", "--slo-ttft-p99", "1", "--slo-tpot-p99", "0.05"], "--qps"),
    (["plan", "-m", "llama-3.1-8b", "--qps", "2", "--slo-ttft-p99", "0.0001", "--slo-tpot-p99", "0.0001",
      "--devices", "h100-sxm", "--duration", "10"], "best achievable"),
    (["sweep", "--models", "llama-3.1-8b", "--devices", "h100-sxm", "--batches", "x"], "integers"),
])
def test_bad_input_is_one_line_exit_2(cli, args, msg):
    code, out, err = cli(args)
    assert code == 2, (out, err)
    assert msg in err and len(err.strip().splitlines()) == 1


def test_malformed_trace(cli, tmp_path):
    tr = tmp_path / "trace.csv"
    tr.write_text("arrival_s,prompt_tokens,output_tokens\n0,10\n")
    code, _, err = cli(["simulate", "-m", "llama-3.1-8b", "-d", "h100-sxm", "--arrivals", f"trace:{tr}"])
    assert code == 2 and "line 2" in err  # (an unreachable --ray address: tests/engine/test_ray.py)
