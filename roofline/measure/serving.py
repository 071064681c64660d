"""Import users' own serving-benchmark results as serving trace rows (``kernel = "serving"``).

Formats, recognized by content (each as its tool writes it):

- ``vllm``: the result JSON of vLLM's ``benchmark_serving.py`` / ``vllm bench serve --save-result``
  (``max_concurrency``, ``total_input_tokens``, ``median_ttft_ms``, ``median_tpot_ms``, ``output_throughput``, ...);
- ``sglang``: SGLang's ``bench_serving --output-file`` JSONL, one run a line (the same metrics plus
  ``mean_e2e_latency_ms``, ``total_output_tokens_retokenized``);
- ``trtllm``: ``trtllm-bench throughput|latency --report_json`` (``engine``, ``world_info``, ``request_info``,
  ``performance``, ``streaming_metrics``);
- ``llamacpp``: ``llama-bench -o json`` (an array) or ``-o csv`` (``n_prompt``, ``n_gen``, ``n_ubatch``, ``avg_ts``);
- ``mlperf``: a LoadGen ``mlperf_log_summary.txt`` (scenario, tokens per second, first-token latency).

Each run becomes one row per measured figure (TTFT, TPOT, a throughput, an end-to-end latency; ``median_s`` holds
it as a time: a rate as seconds a token) with the scenario it was measured under in ``shape`` (JSON): model, batch (the run's concurrency), prompt and generated lengths,
precision, tensor parallelism, the value in SI units and where in the file it came from. What a file does not
say (the device, often the model id, precision or TP) comes from the command line; a run that states no batch or
concurrency, and none is given, is refused: a serving figure is only comparable at its batch.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from roofline.engine.catalog import load_models
from roofline.engine.runtime import runtime_names
from roofline.engine.validation import ServingPoint, point_from_map
from roofline.errors import DataFileError, InputError, UnknownNameError

SERVING_KERNEL = "serving"
FORMATS = ("vllm", "sglang", "trtllm", "llamacpp", "mlperf")
# a format -> the runtime it measures (a flag can say otherwise, e.g. vLLM's benchmark against an SGLang server)
FORMAT_RUNTIME = {"vllm": "vllm", "sglang": "sglang", "trtllm": "trtllm", "llamacpp": "llamacpp", "mlperf": "trtllm"}
_LLAMA_TYPES = {"q4_0": (4, 32), "q4_1": (4, 32), "q5_0": (5, 32), "q5_1": (5, 32), "q8_0": (8, 32), "f16": (16, None),
                "bf16": (16, None), "f32": (16, None)}


@dataclass(frozen=True)
class ServingRun:
    """One benchmark run as a file states it. Lengths are per request (means); values SI."""

    format: str
    locator: str  # where in the file (line, object index, scenario)
    model: str = ""  # as the file names it
    device_name: str = ""
    batch: int | None = None  # concurrency / batch the run held
    prompt_tokens: float | None = None
    gen_tokens: float | None = None
    tp: int | None = None
    wbits: int | None = None
    abits: int | None = None
    kvbits: int | None = None
    group_size: int | None = None
    number_format: str | None = None
    max_batched_tokens: int | None = None
    metrics: tuple[tuple[str, float, str], ...] = ()  # (quantity, value, statistic)
    date: str = ""


def _err(path: str, where: str, msg: str) -> DataFileError:
    return DataFileError(f"{Path(path).name}: {where}: {msg}")


def _need(path: str, d: dict, key: str, where: str = "") -> Any:
    if key not in d or d[key] is None:
        raise _err(path, f"{where}{key}", "missing field")
    return d[key]


def _num(path: str, v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise _err(path, where, f"expected a number, got {v!r}")
    return float(v)


# ---- readers, one per format ---------------------------------------------------------------------------------

def _vllm(path: str, d: dict, where: str = "") -> ServingRun:
    completed = _num(path, _need(path, d, "completed", where), f"{where}completed")
    if completed <= 0:
        raise _err(path, f"{where}completed", "no request completed")
    tin = _num(path, _need(path, d, "total_input_tokens", where), f"{where}total_input_tokens")
    tout = _num(path, _need(path, d, "total_output_tokens", where), f"{where}total_output_tokens")
    metrics = []
    for key, q in (("median_ttft_ms", "ttft_s"), ("median_tpot_ms", "tpot_s")):
        if d.get(key) is not None:
            metrics.append((q, _num(path, d[key], f"{where}{key}") / 1e3, "median"))
    metrics.append(("tokens_per_s", _num(path, _need(path, d, "output_throughput", where), f"{where}output_throughput"),
                    "single"))
    conc = d.get("max_concurrency")
    return ServingRun(format="sglang" if "total_output_tokens_retokenized" in d else "vllm", locator=where.rstrip(".")
                      or "result", model=str(d.get("model_id") or d.get("model") or ""),
                      batch=int(conc) if isinstance(conc, (int, float)) and conc > 0 else None,
                      prompt_tokens=tin / completed, gen_tokens=tout / completed, metrics=tuple(metrics),
                      date=str(d.get("date", "")))


def _trtllm(path: str, d: dict) -> ServingRun:
    eng = d.get("engine") or {}
    world = _need(path, d, "world_info")
    req = _need(path, d, "request_info")
    perf = _need(path, d, "performance")
    stream = d.get("streaming_metrics") or {}
    conc = req.get("avg_num_concurrent_requests")
    metrics = [("tokens_per_s", _num(path, _need(path, perf, "system_output_throughput_tok_s", "performance."),
                                     "performance.system_output_throughput_tok_s"), "single")]
    for key, q in (("avg_ttft_ms", "ttft_s"), ("avg_tpot_ms", "tpot_s")):
        if stream.get(key) is not None:
            metrics.append((q, _num(path, stream[key], f"streaming_metrics.{key}") / 1e3, "mean"))
    quant = str(eng.get("quantization") or "").upper()
    kv = str(eng.get("kv_cache_dtype") or "").upper()
    bits = {"FP8": (8, 8, "float"), "NVFP4": (4, 4, "float"), "W4A16_AWQ": (4, 16, "int"), "W8A16": (8, 16, "int"),
            "W4A8_AWQ": (4, 8, "int")}.get(quant)
    return ServingRun(format="trtllm", locator="report", model=str(eng.get("model", "")),
                      batch=int(round(conc)) if isinstance(conc, (int, float)) and conc >= 0.5 else None,
                      prompt_tokens=_num(path, _need(path, req, "avg_input_length", "request_info."),
                                         "request_info.avg_input_length"),
                      gen_tokens=_num(path, _need(path, req, "avg_output_length", "request_info."),
                                      "request_info.avg_output_length"),
                      tp=int(_need(path, world, "tp_size", "world_info.")),
                      wbits=bits[0] if bits else None, abits=bits[1] if bits else None,
                      number_format=bits[2] if bits else None, kvbits=8 if kv.startswith("FP8") or kv == "INT8" else None,
                      max_batched_tokens=world.get("max_num_tokens"), metrics=tuple(metrics))


def _llama_bench(path: str, recs: list[dict]) -> list[ServingRun]:
    runs = []
    for i, r in enumerate(recs):
        where = f"[{i}]."
        n_p = int(_num(path, _need(path, r, "n_prompt", where), f"{where}n_prompt"))
        n_g = int(_num(path, _need(path, r, "n_gen", where), f"{where}n_gen"))
        ts = _num(path, _need(path, r, "avg_ts", where), f"{where}avg_ts")
        mtype = str(r.get("model_type", ""))
        quant = mtype.split()[-1].lower() if mtype else ""
        wbits, group = _LLAMA_TYPES.get(quant, (None, None))
        kv = str(r.get("type_k", "f16")).lower()
        if n_p > 0 and n_g == 0:
            quantity, prompt, gen = "tokens_per_s", n_p, 1  # pp N: a prompt of N tokens, prefill tokens/s
        elif n_g > 0 and n_p == 0:
            quantity, prompt, gen = "decode_tokens_per_s", 1, n_g  # tg N: generation from an empty context
        else:
            raise _err(path, f"{where}n_prompt", "a pp+tg test mixes prefill and decode: run -p and -n separately")
        runs.append(ServingRun(format="llamacpp", locator=f"test {i} ({'pp' if n_g == 0 else 'tg'} "
                               f"{n_p or n_g}, {mtype})", model=mtype, device_name=str(r.get("gpu_info", "")),
                               batch=1, prompt_tokens=prompt, gen_tokens=gen, tp=1, wbits=wbits, abits=16 if wbits else None,
                               kvbits=8 if kv.startswith("q8") else 16, group_size=group,
                               max_batched_tokens=int(r["n_ubatch"]) if r.get("n_ubatch") else None,
                               metrics=((quantity, ts, "mean"),), date=str(r.get("test_time", ""))))
    return runs


_MLPERF_NUM = re.compile(r"^\s*([^:]+?)\s*:\s*([-+0-9.eE]+)\s*$")


def _mlperf(path: str, text: str) -> ServingRun:
    vals: dict[str, float] = {}
    scenario = ""
    for line in text.splitlines():
        if line.strip().startswith("Scenario"):
            scenario = line.split(":", 1)[1].strip()
        m = _MLPERF_NUM.match(line)
        if m:
            vals[m.group(1).lower()] = float(m.group(2))
    tok = vals.get("tokens per second") or vals.get("completed tokens per second")
    if tok is None:
        raise _err(path, "Tokens per second", "missing field (a LoadGen summary of an LLM benchmark)")
    metrics = [("tokens_per_s", tok, "single")]
    if "mean first token latency (ns)" in vals:
        metrics.append(("ttft_s", vals["mean first token latency (ns)"] / 1e9, "mean"))
    if "mean time to output token (ns)" in vals:
        metrics.append(("tpot_s", vals["mean time to output token (ns)"] / 1e9, "mean"))
    return ServingRun(format="mlperf", locator=f"{scenario or 'LoadGen'} scenario", metrics=tuple(metrics))


def detect_format(path: str, text: str) -> str:
    s = text.lstrip()
    if "MLPerf Results Summary" in text:
        return "mlperf"
    if s.startswith("["):
        return "llamacpp"
    if s.startswith("{"):
        first = s.splitlines()[0]
        try:
            d = json.loads(first) if first.rstrip().endswith("}") and len(s.splitlines()) > 1 else json.loads(s)
        except json.JSONDecodeError:
            d = {}
        if isinstance(d, dict):
            if "performance" in d and "request_info" in d:
                return "trtllm"
            if "total_output_tokens_retokenized" in d or "mean_e2e_latency_ms" in d:
                return "sglang"
            if "output_throughput" in d and "completed" in d:
                return "vllm"
    head = s.splitlines()[0] if s else ""
    if "n_prompt" in head and "avg_ts" in head:
        return "llamacpp"
    raise DataFileError(f"{Path(path).name}: not a serving-benchmark result this workbench reads "
                        f"(formats: {', '.join(FORMATS)}: vLLM benchmark_serving JSON, SGLang bench_serving JSONL, "
                        "trtllm-bench --report_json, llama-bench -o json|csv, mlperf_log_summary.txt)")


def read_serving(path: str | Path) -> list[ServingRun]:
    """Every run in a serving-benchmark result file; DataFileError names the file and the field."""
    p = str(path)
    try:
        text = Path(p).read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise DataFileError(f"{Path(p).name}: cannot read: {getattr(e, 'strerror', None) or e}") from None
    fmt = detect_format(p, text)
    try:
        if fmt == "mlperf":
            return [_mlperf(p, text)]
        if fmt == "llamacpp":
            s = text.lstrip()
            recs = json.loads(s) if s.startswith("[") else [
                {k: _cell(v) for k, v in row.items()} for row in csv.DictReader(io.StringIO(s))]
            return _llama_bench(p, recs)
        if fmt == "trtllm":
            return [_trtllm(p, json.loads(text))]
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if fmt == "sglang" or (len(lines) > 1 and all(ln.lstrip().startswith("{") for ln in lines)):
            return [_vllm(p, json.loads(ln), f"line {i + 1}.") for i, ln in enumerate(lines)]
        return [_vllm(p, json.loads(text))]
    except json.JSONDecodeError as e:
        raise DataFileError(f"{Path(p).name}: not valid JSON: {e}") from None


def _cell(v: str) -> Any:
    try:
        return int(v)
    except ValueError:
        try:
            return float(v)
        except ValueError:
            return v


# ---- runs -> trace rows -> points ----------------------------------------------------------------------------

def match_model(name: str) -> str | None:
    """A catalog id for a model name as a benchmark file prints it (HF repo id or a catalog id), else None."""
    models = load_models()
    key = name.strip().lower()
    if key in models:
        return key
    repo = key.split("huggingface.co/")[-1].strip("/")
    for suffix in ("", "-instruct", "-chat-hf", "-hf", "-chat", "-it"):
        for m in models.values():
            src = m.source.lower().split("huggingface.co/")[-1].split("/blob/")[0].split("/raw/")[0]
            if src and (repo == src or repo == src + suffix or repo.removesuffix(suffix) == src):
                return m.id
    return None


def serving_rows(runs: list[ServingRun], source: str, run_id: str, device_id: str, device_name: str, runtime: str,
                 model_id: str | None = None, overrides: dict[str, Any] | None = None) -> pd.DataFrame:
    """Trace rows (one a measured figure) for the runs; ``overrides`` fill or replace what a file does not state
    (batch, tp, wbits, abits, kvbits, group_size, number_format, max_batched_tokens)."""
    if runtime not in runtime_names():
        raise UnknownNameError("runtime", runtime, runtime_names())
    ov = {k: v for k, v in (overrides or {}).items() if v is not None}
    rows = []
    for run in runs:
        run = replace(run, **{k: v for k, v in ov.items() if hasattr(run, k)})
        mid = model_id or match_model(run.model)
        if mid is None:
            raise InputError(f"{Path(source).name}: {run.locator}: model {run.model or '(not stated)'!r} is not a "
                             "catalog id: pass --model ID (see `roofline models list`)")
        if run.batch is None:
            raise InputError(f"{Path(source).name}: {run.locator}: no stated batch or concurrency (pass --batch: a "
                             "serving figure is only comparable at its batch)")
        if run.prompt_tokens is None or run.gen_tokens is None:
            raise InputError(f"{Path(source).name}: {run.locator}: no input / output lengths (pass --prompt and --gen)")
        for quantity, value, stat in run.metrics:
            # TTFT at a concurrency is one arriving request's prefill (as the validation set maps it)
            batch = 1 if quantity == "ttft_s" else run.batch
            shape = {"model_id": mid, "quantity": quantity, "value_si": value, "statistic": stat,
                     "phase": "prefill" if quantity == "ttft_s" or (quantity == "tokens_per_s" and run.gen_tokens <= 1
                                                                      and run.format == "llamacpp") else "generate",
                     "batch": int(batch), "prompt_tokens": max(int(round(run.prompt_tokens)), 1),
                     "gen_tokens": max(int(round(run.gen_tokens)), 1), "tp": int(run.tp or 1),
                     "wbits": run.wbits or 16, "abits": run.abits or 16, "kvbits": run.kvbits or 16,
                     "group_size": run.group_size or 128, "number_format": run.number_format or "int",
                     "format": run.format, "locator": run.locator, "source_file": Path(source).name,
                     "date": run.date}
            if run.max_batched_tokens:
                shape["max_batched_tokens"] = int(run.max_batched_tokens)
            if shape["phase"] == "prefill" and quantity == "tokens_per_s":
                shape["gen_tokens"] = 1
            rows.append({"run_id": run_id, "kernel": SERVING_KERNEL, "impl": runtime, "shape": json.dumps(shape),
                         "dtype": f"w{shape['wbits']}a{shape['abits']}", "device_id": device_id,
                         "device_name": device_name or run.device_name,
                         # the figure in time: a latency as is, a rate as seconds a token (the value in shape rules)
                         "median_s": value if quantity in ("ttft_s", "tpot_s", "time_s") else 1.0 / value,
                         "p20_s": math.nan, "p80_s": math.nan, "reps": 1, "flops": math.nan, "bytes": math.nan,
                         "energy_j": math.nan, "energy_method": "", "versions": "{}"})
    return pd.DataFrame(rows)


def points_from_rows(df: pd.DataFrame) -> list[ServingPoint]:
    """Serving trace rows as validation points (one group a run file, so a file is held out as a whole)."""
    out = []
    rows = df[df["kernel"] == SERVING_KERNEL]
    for i, r in enumerate(rows.itertuples(index=False)):
        try:
            shape = json.loads(r.shape or "{}")
        except json.JSONDecodeError:
            raise DataFileError(f"serving row {i} of run {r.run_id}: shape is not JSON") from None
        mp = {"device_id": r.device_id, **shape}
        if not r.device_id:
            raise InputError(f"serving row {i} of run {r.run_id} has no hwdb device: import it with --device ID")
        where = f"run {r.run_id} row {i}"
        group = f"{r.run_id}/{shape.get('source_file', '')}"
        out.append(point_from_map(f"{r.run_id}/{i + 1}", str(r.run_id), group, str(r.impl), mp,
                                  {"locator": shape.get("locator", ""), "date": shape.get("date", ""),
                                   "statistic": shape.get("statistic", "")}, where))
    return out
