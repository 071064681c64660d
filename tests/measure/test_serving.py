"""Serving-benchmark import: each tool's format (hand-made fixtures in tests/fixtures/serving) becomes serving
trace rows and validation points; unknown formats, missing fields and runs without a batch are refused."""

import json
import math

import pytest

from roofline.errors import DataFileError, InputError, UnknownNameError
from roofline.measure import traces
from roofline.measure.serving import match_model, points_from_rows, read_serving, serving_rows


@pytest.fixture
def serving(fixtures_dir):
    return fixtures_dir / "serving"


def test_vllm_result_json(serving):
    (run,) = read_serving(serving / "vllm_benchmark_serving_handmade.json")
    assert run.format == "vllm" and run.batch == 16 and run.prompt_tokens == 1024 and run.gen_tokens == 256
    m = {q: v for q, v, _ in run.metrics}
    assert m == pytest.approx({"ttft_s": 0.0362, "tpot_s": 0.0101, "tokens_per_s": 1494.9})
    assert match_model(run.model) == "llama-3.1-8b"  # meta-llama/Llama-3.1-8B-Instruct -> the catalog's base model


def test_sglang_jsonl_one_run_a_line(serving):
    runs = read_serving(serving / "sglang_bench_serving_handmade.jsonl")
    assert [r.format for r in runs] == ["sglang", "sglang"] and [r.batch for r in runs] == [8, 32]
    assert runs[1].locator == "line 2" and dict((q, v) for q, v, _ in runs[1].metrics)["tpot_s"] == pytest.approx(0.0109)


def test_trtllm_bench_report(serving):
    (run,) = read_serving(serving / "trtllm_bench_report_handmade.json")
    assert run.format == "trtllm" and run.batch == 63 and run.tp == 1  # avg_num_concurrent_requests 63.4
    assert (run.wbits, run.abits, run.kvbits, run.number_format) == (8, 8, 8, "float")  # quantization FP8
    assert run.max_batched_tokens == 8192 and run.prompt_tokens == 1024.0 and run.gen_tokens == 512.0


@pytest.mark.parametrize("name", ["llama_bench_handmade.json", "llama_bench_handmade.csv"])
def test_llama_bench_json_and_csv(serving, name):
    pp, tg = read_serving(serving / name)
    assert pp.format == tg.format == "llamacpp" and pp.batch == tg.batch == 1
    assert pp.metrics[0][0] == "tokens_per_s" and pp.prompt_tokens == 512 and pp.max_batched_tokens == 512
    assert tg.metrics[0][0] == "decode_tokens_per_s" and tg.gen_tokens == 128
    assert pp.wbits in (4, 8) and pp.group_size == 32  # Q4_0 / Q8_0: an fp16 scale a 32 values


def test_mlperf_summary_states_no_batch(serving):
    (run,) = read_serving(serving / "mlperf_log_summary_handmade.txt")
    assert run.format == "mlperf" and run.batch is None and run.metrics[0] == ("tokens_per_s", 2183.7, "single")
    with pytest.raises(InputError, match="no stated batch"):
        serving_rows([run], "s.txt", "r", "h100-sxm", "", "trtllm", "llama-2-70b", {"prompt_tokens": 1024,
                                                                                     "gen_tokens": 256})
    rows = serving_rows([run], "s.txt", "r", "h100-sxm", "", "trtllm", "llama-2-70b",
                        {"batch": 64, "prompt_tokens": 1024, "gen_tokens": 256, "tp": 4})
    assert json.loads(rows["shape"].iloc[0])["batch"] == 64


def test_rows_round_trip_through_a_trace_into_points(serving, tmp_path):
    runs = read_serving(serving / "vllm_benchmark_serving_handmade.json")
    rows = serving_rows(runs, "v.json", "r1", "h100-sxm", "NVIDIA H100 80GB HBM3", "vllm")
    assert set(rows["kernel"]) == {"serving"} and len(rows) == 3 and set(rows["impl"]) == {"vllm"}
    m = traces.base_manifest("r1", "h100-sxm", "NVIDIA H100 80GB HBM3", "test", "import-serving")
    run = traces.write_run(tmp_path, m, rows)
    pts = points_from_rows(traces.load_run(run))
    by = {p.quantity: p for p in pts}
    assert by["ttft_s"].scenario.batch == 1 and by["ttft_s"].scenario.phase == "prefill"  # one arriving request
    assert by["tpot_s"].scenario.batch == 16 and by["tokens_per_s"].value == pytest.approx(1494.9)
    assert all(p.runtime == "vllm" and p.device_id == "h100-sxm" for p in pts)
    assert math.isfinite(by["tpot_s"].predicted("vllm"))


@pytest.mark.parametrize(("text", "match"), [
    ("hello\n", "not a serving-benchmark result"),
    ('{"completed": 10, "total_input_tokens": 100, "total_output_tokens": 50, "output_throughput": 1.0}', None),
    ('{"completed": 10, "total_input_tokens": 100, "output_throughput": 5.0}', "total_output_tokens: missing field"),
    ('{"performance": {}, "request_info": {"avg_input_length": 1}, "world_info": {"tp_size": 1}}',
     "system_output_throughput_tok_s: missing field"),
    ('[{"n_prompt": 512, "avg_ts": 10.0}]', r"\[0\]\.n_gen: missing field"),
])
def test_bad_files_name_the_field(tmp_path, text, match):
    f = tmp_path / "x.json"
    f.write_text(text)
    if match is None:  # a vLLM file without max_concurrency reads, but cannot be priced without --batch
        (run,) = read_serving(f)
        with pytest.raises(InputError, match="no stated batch"):
            serving_rows([run], str(f), "r", "h100-sxm", "", "vllm", "llama-3.1-8b")
        return
    with pytest.raises(DataFileError, match=match):
        read_serving(f)


def test_unknown_runtime_and_model(serving):
    runs = read_serving(serving / "llama_bench_handmade.json")
    with pytest.raises(UnknownNameError, match="runtime"):
        serving_rows(runs, "l.json", "r", "rtx-4090", "", "llama.cpp")
    with pytest.raises(InputError, match="--model"):
        serving_rows(runs, "l.json", "r", "rtx-4090", "", "llamacpp")  # "llama 8B Q4_0" is no catalog id
