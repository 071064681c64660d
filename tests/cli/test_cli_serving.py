"""CLI: import-serving, predict / select with --runtime and bands, calibrate --runtime; bad input is one line,
exit 2."""

import json

import pytest


@pytest.fixture
def serving(fixtures_dir):
    return fixtures_dir / "serving"


def test_import_serving_prints_measured_beside_predicted(cli, serving):
    code, out, err = cli(["import-serving", str(serving / "vllm_benchmark_serving_handmade.json"), "--device",
                          "h100-sxm", "--json"])
    assert code == 0, err
    doc = json.loads(out)
    assert doc["format"] == "vllm" and doc["runtime"] == "vllm" and len(doc["rows"]) == 3
    assert all(r["predicted"] > 0 and r["error"] is not None for r in doc["rows"])


def test_import_serving_save_then_calibrate_a_runtime(cli, serving, tmp_path):
    code, out, err = cli(["import-serving", str(serving / "llama_bench_handmade.json"), "--device", "rtx-4090",
                          "--model", "llama-3.1-8b", "--save", "--out", str(tmp_path)])
    assert code == 0, err and "trace:" in out
    run = next(p for p in tmp_path.iterdir() if p.is_dir())
    code, out, err = cli(["calibrate", str(run), "--runtime", "llamacpp", "--dry-run", "--max-evals", "8", "--json"])
    assert code == 0, err
    doc = json.loads(out)
    assert doc["imported_points"] == 2 and doc["points"] == 27 and doc["written"] is None
    assert "nvidia-gpu" in doc["bands"] and 0 <= doc["coverage"]["inside"] <= 1


@pytest.mark.parametrize("args", [
    ["import-serving", "README.md"],
    ["import-serving", "tests/fixtures/serving/mlperf_log_summary_handmade.txt", "--device", "h100-sxm",
     "--model", "llama-2-70b"],  # no stated batch
    ["import-serving", "tests/fixtures/serving/vllm_benchmark_serving_handmade.json", "--runtime", "vlm"],
    ["predict", "--model", "llama-3.1-8b", "--device", "h100-sxm", "--runtime", "nope"],
    ["calibrate", "--runtime", "trt-llm"],
])
def test_bad_input_is_one_line_and_exit_2(cli, args):
    code, out, err = cli(args)
    assert code == 2 and err.count("\n") == 1 and err.startswith("error:"), (out, err)


def test_predict_states_its_runtime_and_bands(cli):
    code, out, err = cli(["predict", "--model", "llama-3.1-8b", "--device", "h100-sxm", "--phase", "decode",
                          "--batch", "32", "--runtime", "vllm", "--json"])
    assert code == 0, err
    doc = json.loads(out)
    t = doc["totals"]
    assert doc["runtime"]["name"] == "vllm" and doc["runtime"]["default"] == "ideal"
    assert t["tpot_s_lo"] < t["tpot_s"] < t["tpot_s_hi"] and t["tokens_per_s_lo"] < t["tokens_per_s"]
    assert doc["band"]["device_class"] == "nvidia-gpu" and doc["band"]["coverage"] == 0.8
    code, out, err = cli(["predict", "--model", "llama-3.1-8b", "--device", "h100-sxm"])
    assert code == 0 and "runtime: ideal (the default)" in out and "TPOT" in out and "-" in out


def test_select_says_which_devices_are_within_each_others_band(cli):
    code, out, err = cli(["select", "--model", "llama-3.1-8b", "--batch", "8", "--kind", "gpu", "--runtime", "trtllm",
                          "--json"])
    assert code == 0, err
    doc = json.loads(out)
    ranked = [d for d in doc["devices"] if d["rank"] is not None]
    assert doc["runtime"]["name"] == "trtllm" and ranked
    assert any(d["within_band_of"] for d in ranked)
    a = ranked[0]
    for other in a["within_band_of"].split(","):
        b = next(d for d in ranked if d["device_id"] == other)
        assert max(a["tokens_per_s_lo"], b["tokens_per_s_lo"]) <= min(a["tokens_per_s_hi"], b["tokens_per_s_hi"])
