"""`roofline models|predict|select`: JSON documents and one-line errors with exit code 2."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from roofline.cli import app

runner = CliRunner()


def run_json(*args):
    r = runner.invoke(app, [*args, "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_models_list_and_show():
    docs = run_json("models", "list")
    assert len(docs) >= 15 and all(d["source"].startswith("https://") for d in docs)
    d = run_json("models", "show", "gemma-2-9b")
    assert d["head_dim"] == 256 and d["accuracy"][0]["kind"] == "published"
    r = runner.invoke(app, ["models", "list"])
    assert r.exit_code == 0 and "llama-3.1-8b" in r.stdout


def test_predict_json_document():
    d = run_json("predict", "--model", "llama-3.1-8b", "--device", "h100-sxm", "--phase", "generate", "--batch", "8",
                 "--prompt", "512", "--gen", "64", "--wbits", "4", "--kvbits", "8", "--group", "64", "--per-op")
    t = d["totals"]
    assert t["kind"] == "modeled" and t["fits"] is True and t["tokens_per_s"] > 0
    assert t["memory_bytes"] == pytest.approx(t["weight_bytes"] + t["kv_bytes"] + t["activation_bytes"])
    assert d["scenario"]["wbits"] == 4 and d["ops"]["rows"]


def test_predict_options_parse():
    d = run_json("predict", "-m", "mixtral-8x7b", "-d", "h100-sxm", "--sparsity", "2:4", "--attention",
                 "block-sparse:0.1", "--tp", "2")
    assert d["scenario"]["attention"] == "block-sparse" and d["scenario"]["attention_kept"] == 0.1
    assert d["scenario"]["weight_sparsity"] == "2:4" and d["device"]["count"] == 2


def test_predict_text_and_csv():
    r = runner.invoke(app, ["predict", "-m", "llama-3.2-1b", "-d", "h100-sxm", "--per-op"])
    assert r.exit_code == 0 and "TTFT" in r.stdout and "lm_head" in r.stdout
    r = runner.invoke(app, ["predict", "-m", "llama-3.2-1b", "-d", "h100-sxm", "--csv", "--per-op"])
    assert r.exit_code == 0 and r.stdout.splitlines()[0].startswith("name,kind,layer")


def test_select_json():
    d = run_json("select", "--model", "llama-3.1-8b", "--batch", "4", "--slo-tpot-ms", "1000", "--rank", "j_per_token")
    assert d["rank_by"] == "j_per_token" and d["devices"]
    assert "pareto" in d["devices"][0] and "h100-sxm" in {r["device_id"] for r in d["devices"]}


@pytest.mark.parametrize("args,msg", [
    (["--model", "llama-3.1-8x", "--device", "h100-sxm"], "did you mean llama-3.1-8b"),
    (["--model", "llama-3.1-8b", "--device", "h100-sx"], "h100-sxm"),
    (["--model", "llama-3.1-8b", "--device", "h100-sxm", "--batch", "0"], "batch"),
    (["--model", "llama-3.1-8b", "--device", "h100-sxm", "--prompt", "-5"], "prompt_tokens"),
    (["--model", "llama-3.1-8b", "--device", "h100-sxm", "--wbits", "32"], "wbits"),
    (["--model", "llama-3.1-8b", "--device", "h100-sxm", "--wbits", "4", "--group", "100"], "group"),
    (["--model", "llama-3.1-8b", "--device", "h100-sxm", "--sparsity", "1:8"], "sparsity"),
    (["--model", "llama-3.1-8b", "--device", "h100-sxm", "--attention", "block-sparse:x"], "attention"),
    (["--model", "llama-3.1-8b", "--device", "h100-sxm", "--tp", "5"], "heads"),
])
def test_bad_input_is_one_line_and_exit_2(args, msg):
    r = subprocess.run([sys.executable, "-m", "roofline", "predict", *args], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and msg in lines[0] and r.stdout == ""


def test_select_table_says_why_rows_do_not_fit_and_lists_placeholders_apart(cli):
    code, out, err = cli(["select", "--model", "llama-3.1-70b", "--wbits", "4", "--batch", "32", "--prompt", "4096",
                          "--slo-tpot-ms", "50", "--rank", "j_per_token"])
    assert code == 0, err
    assert "pareto *:" in out and "per device and per group" in out  # the legend line
    assert "Not ranked by j_per_token" in out and "tpu-v6e: power.tdp_w" in out
    pi = next(ln for ln in out.splitlines() if "orange-pi-5" in ln)
    assert "does not fit" in pi and " J " not in pi and "tok" not in pi.split("does not fit")[0]
    assert "$ on the cloud on-demand basis" in " ".join(out.split())  # the basis of every $ figure, said once


def test_cost_basis_flags(cli):
    code, out, err = cli(["predict", "--model", "llama-3.1-8b", "--device", "rtx-5090", "--batch", "8",
                          "--cost-basis", "owned", "--utilization", "0.5", "--json"])
    assert code == 0, err
    doc = json.loads(out)
    assert doc["price"]["cost_basis"] == "owned" and "50% use" in doc["price"]["basis"] and doc["totals"]["usd_per_mtok"] > 0
    for bad in (["--cost-basis", "lease"], ["--utilization", "0"], ["--utilization", "1.5"], ["--pue", "0.5"]):
        code, _, err = cli(["predict", "--model", "llama-3.1-8b", "--device", "h100-sxm", *bad])
        assert code == 2 and err.count("\n") == 1, (bad, err)


def test_select_group_cell_names_the_layout_beyond_tp():
    from roofline.views.common import layout_cell

    assert layout_cell({"tp": 2, "pp": 1, "ep": 1}) == "2x"
    assert layout_cell({"tp": 1, "pp": 4, "ep": 1}) == "4x PP4"
    assert layout_cell({"tp": 8, "pp": 2, "ep": 1}) == "16x TP8xPP2"
    assert layout_cell({"tp": float("nan")}) == "-"
