"""Turn the research set of published serving measurements into the validation file the runtime fit uses.

The research set (``serving_points.toml``: 229 points transcribed from TensorRT-LLM perf pages, MLPerf results,
SGLang / vLLM / LMSYS blogs, an Oracle blog and llama.cpp PRs, each with document, locator, device, counts,
precisions, batch, lengths, metric, statistic and value) is copied point by point, every source field kept,
with a ``[point.map]`` table saying how the point becomes a prediction: the catalog model and hwdb device it is
(names as the source printed them map through the tables below), the scenario, the predicted quantity and the
value in system units. Points that cannot be mapped are listed as ``[[dropped]]`` with the reason (no stated
batch, a model or device the workbench does not hold, an unknown tensor-parallel degree). No value is changed.

    python scripts/import_validation.py /work/scratch/validation/serving_points.toml \
        benchmarks/validation/serving_points_extra.toml [--out roofline/engine/runtimes/validation.toml]

Further research files (``benchmarks/validation/serving_points_extra.toml``: measured, batch-stated points found later,
in the research set's format) are read after the first, their documents and points appended.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from roofline.engine.catalog import get_model  # noqa: E402

# source model name -> (catalog id, note on the mapping)
MODELS = {
    "meta-llama/Llama-2-7b-hf": ("llama-2-7b", ""),
    "meta-llama/Llama-2-70b-hf": ("llama-2-70b", ""),
    "meta-llama/Llama-2-70b-chat-hf": ("llama-2-70b", "the chat model has the base model's architecture"),
    "meta-llama/Llama-3.1-8B": ("llama-3.1-8b", ""),
    "meta-llama/Llama-3.1-8B-Instruct": ("llama-3.1-8b", ""),
    "nvidia/Llama-3.1-8B-Instruct-FP8": ("llama-3.1-8b", "an FP8 checkpoint of Llama-3.1-8B-Instruct"),
    "meta-llama/Llama-3.1-70B": ("llama-3.1-70b", ""),
    "meta-llama/Llama-3.1-70B-Instruct": ("llama-3.1-70b", ""),
    "meta-llama/Meta-Llama-3-70B-Instruct": ("llama-3.1-70b", "Llama-3-70B has Llama-3.1-70B's shapes (rope scaling aside)"),
    "amd/Llama-3.1-70B-Instruct-FP8-KV": ("llama-3.1-70b", "AMD's Quark FP8 checkpoint of Llama-3.1-70B-Instruct"),
    "amd/Llama-3.1-405B-Instruct-FP8-KV": ("llama-3.1-405b", "AMD's Quark FP8 checkpoint of Llama-3.1-405B-Instruct"),
    "nvidia/Llama-3.3-70B-Instruct-FP8": ("llama-3.1-70b", "Llama-3.3-70B has Llama-3.1-70B's architecture"),
    "nvidia/Llama-3.3-70B-Instruct-FP4": ("llama-3.1-70b", "Llama-3.3-70B has Llama-3.1-70B's architecture"),
    "deepseek-ai/DeepSeek-R1-Distill-Llama-70B": ("llama-3.1-70b", "a Llama-3.3-70B fine-tune: same architecture"),
    "meta-llama/Llama-3.1-405B": ("llama-3.1-405b", ""),
    "meta-llama/Llama-3.1-405B-Instruct": ("llama-3.1-405b", ""),
    "nvidia/Llama-3.1-405B-Instruct-FP4": ("llama-3.1-405b", ""),
    "Llama-3.1-405B (FP8 checkpoint, repo not stated)": ("llama-3.1-405b", ""),
    "mistralai/Mixtral-8x7B-v0.1": ("mixtral-8x7b", ""),
    "mistralai/Mixtral-8x7B-Instruct-v0.1": ("mixtral-8x7b", ""),
    "mistralai/Mixtral-8x22B-v0.1": ("mixtral-8x22b", ""),
    "meta-llama/Llama-3.2-3B-Instruct": ("llama-3.2-3b", ""),
    "codellama/CodeLlama-7b-hf": ("llama-2-7b", "CodeLlama-7B has Llama-2-7B's shapes (vocab 32016 vs 32000)"),
    "LLaMA 7B (llama.cpp label; checkpoint not stated)": ("llama-2-7b", "LLaMA-1 and Llama-2 7B have the same shapes"),
    "llama 7B (llama.cpp label; checkpoint not stated)": ("llama-2-7b", "LLaMA-1 and Llama-2 7B have the same shapes"),
    "7B (llama.cpp label '7b'; checkpoint not stated)": ("llama-2-7b", "LLaMA-1 and Llama-2 7B have the same shapes"),
    "llama 8B (llama.cpp label; Llama-3-8B assumed)": ("llama-3.1-8b", "Llama-3-8B has Llama-3.1-8B's shapes"),
}
# source device name -> (hwdb id, note)
DEVICES = {
    "NVIDIA H100": ("h100-sxm", "the TRT-LLM / vLLM pages' H100 is the SXM5 80GB part"),
    "NVIDIA H100 80GB HBM3": ("h100-sxm", ""), "NVIDIA H100 (HBM3 80GB)": ("h100-sxm", ""),
    "NVIDIA H100 80GB": ("h100-sxm", ""), "NVIDIA H100-SXM-80GB": ("h100-sxm", ""),
    "NVIDIA H100 SXM 80GB": ("h100-sxm", ""),
    "NVIDIA H200 141GB HBM3": ("h200", ""), "NVIDIA H200-SXM-141GB": ("h200", ""), "NVIDIA H200 141GB": ("h200", ""),
    "NVIDIA H200 SXM 141GB": ("h200", ""),
    "NVIDIA A100": ("a100-sxm-80gb", "TRT-LLM's A100 tables are DGX A100 (SXM4 80GB) runs"),
    "NVIDIA A100 80GB": ("a100-sxm-80gb", ""), "NVIDIA A100-SXM4-80GB": ("a100-sxm-80gb", ""),
    "NVIDIA A100-PCIE-80GB": ("a100-pcie-80gb", ""),
    "NVIDIA L40S": ("l40s", ""),
    "NVIDIA B200": ("b200", ""), "NVIDIA B200 180GB": ("b200", ""), "NVIDIA B200-SXM-180GB": ("b200", ""),
    "NVIDIA B200-SXM-180GB (1000W)": ("b200", ""),
    "NVIDIA GB200": ("gb200", ""), "NVIDIA GB200 192GB (NVL72)": ("gb200", ""), "NVIDIA GB200 (NVL72)": ("gb200", ""),
    "NVIDIA GH200 Grace Hopper Superchip 144GB": ("gh200", ""),
    "AMD Instinct MI300X 192GB": ("mi300x", ""), "AMD Instinct MI300X 192GB (750W)": ("mi300x", ""),
    "AMD Instinct MI300X 192GB HBM3": ("mi300x", ""), "AMD Instinct MI325X 256GB HBM3e": ("mi325x", ""),
    "NVIDIA GeForce RTX 4090": ("rtx-4090", ""), "NVIDIA GeForce RTX 3090": ("rtx-3090", ""),
    "Apple M2 Ultra (76-core GPU assumed)": ("apple-m2-ultra", ""),
    "Apple M2 Max (30-core GPU)": ("apple-m2-max", ""),
    "Intel Gaudi 2 (96 GB HBM2E)": ("gaudi2", ""),
}
_FLOAT = {"fp8", "fp4", "mxfp4"}
# weight precision -> (bits, group size or None for "per-tensor / per-channel" scales, note)
_WEIGHTS = {"fp8": (8, None, "fp8 with per-tensor scales"), "fp4": (4, 32, "NVFP4: an fp8 scale a 16 values = 2 B / 32"),
            "mxfp4": (4, 64, "MXFP4: an e8m0 scale a 32 values = 2 B / 64"), "int8": (8, None, ""),
            "int4": (4, 128, "4-bit with 128-value groups"), "q4_0": (4, 32, "llama.cpp Q4_0: an fp16 scale a 32 values"),
            "q8_0": (8, 32, "llama.cpp Q8_0: an fp16 scale a 32 values"), "bf16": (16, None, ""),
            "fp16": (16, None, ""), "f16": (16, None, "")}
_ACTS = {"fp8": 8, "fp4": 4, "int8": 8, "bf16": 16, "fp16": 16, "f16": 16, "": 16}
_KV = {"fp8": 8, "bf16": 16, "fp16": 16, "f16": 16, "": 16}
UBATCH_DOCS = {"llamacpp-pr7676-rtx4090-ubatch", "llamacpp-pr15802-rtx3090-ubatch"}


def _q(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def map_point(p: dict, doc: dict) -> tuple[dict | None, str]:
    """(map table, "") or (None, reason the point cannot be priced)."""
    batch = p["batch"] or p["concurrency"]
    if batch <= 0:
        return None, "no stated batch or concurrency (in-flight batching at max load, MLPerf, or a rate-limited run)"
    if p["model"] not in MODELS:
        return None, f"model {p['model']!r} is not in the catalog (architecture not modeled)"
    if p["device"] not in DEVICES:
        return None, f"device {p['device']!r} is not in hwdb"
    if p["tp"] <= 0:
        return None, "tensor-parallel degree not stated"
    model_id, mnote = MODELS[p["model"]]
    device_id, dnote = DEVICES[p["device"]]
    m = get_model(model_id)
    wbits, group, wnote = _WEIGHTS[p["weight_precision"]]
    abits, kvbits = _ACTS[p["activation_precision"]], _KV[p["kv_precision"]]
    fmt = "float" if p["weight_precision"] in _FLOAT or p["activation_precision"] in _FLOAT else "int"
    notes = [n for n in (mnote, dnote, wnote) if n]
    sc: dict = {"batch": batch, "prompt_tokens": max(p["input_tokens"], 1), "gen_tokens": max(p["output_tokens"], 1),
                "wbits": wbits, "abits": abits, "kvbits": kvbits, "group_size": group or m.hidden,
                "number_format": fmt, "tp": p["tp"]}
    metric = p["metric"]
    replicas = max(p["device_count"] // p["tp"], 1)
    value = p["value"] * (p["device_count"] if p["per"] == "gpu" else 1)
    if metric == "ttft_s":
        sc["phase"], quantity = "prefill", "ttft_s"
        if p["batch"] == 0:  # an online run at a concurrency: each request's TTFT is its own prompt's prefill
            sc["batch"] = 1
            notes.append(f"TTFT at concurrency {p['concurrency']}: one arriving request's prefill (batch 1)")
    elif metric in ("tpot_s", "itl_s"):
        sc["phase"], quantity = "generate", "tpot_s"
    elif metric == "e2e_s":
        sc["phase"], quantity = "generate", "time_s"
    elif metric == "prompt_tokens_per_s":
        sc["phase"], quantity = "prefill", "tokens_per_s"
    elif metric == "output_tokens_per_s" and p["input_tokens"] == 0:  # llama-bench tg N: batch-1 generation rate
        sc["phase"], quantity = "generate", "decode_tokens_per_s"
        notes.append("llama-bench tg: generation from an empty context, rate = 1 / TPOT")
    elif metric == "output_tokens_per_s":
        sc["phase"], quantity = "generate", "tokens_per_s"
    else:
        return None, f"metric {metric!r} has no predicted counterpart"
    if quantity in ("ttft_s", "tpot_s", "time_s"):
        value = p["value"]  # latencies are per request, not per GPU
    out = {"model_id": model_id, "device_id": device_id, "quantity": quantity, "value_si": value,
           "replicas": replicas, **sc}
    if p["document"] in UBATCH_DOCS:  # -ub N: one 512-token prompt in N-token passes
        out["batch"] = 1
        out["max_batched_tokens"] = p["batch"]
        notes.append(f"llama.cpp micro-batch {p['batch']}: the 512-token prompt runs in {p['batch']}-token passes")
    if replicas > 1:
        notes.append(f"{replicas} replicas of TP {p['tp']} (system rate = {replicas} x one instance)")
    out["note"] = "; ".join(notes)
    return out, ""


def merge(srcs: list[dict]) -> dict:
    """The research files as one: documents and points appended in order; a document key may appear once."""
    out: dict = {"document": [], "point": []}
    for src in srcs:
        for d in src["document"]:
            if any(d["key"] == e["key"] for e in out["document"]):
                raise SystemExit(f"document key {d['key']!r} appears in two research files")
            out["document"].append(d)
        out["point"] += src["point"]
    return out


def build(src: dict, names: tuple[str, ...] = ("serving_points.toml",)) -> str:
    docs = {d["key"]: d for d in src["document"]}
    n_src = len({d["url"] for d in src["document"]})
    lines = ["# Validation set: published, measured LLM serving figures (one [[point]] each), with the mapping of each",
             "# onto a workbench prediction ([point.map]). Generated by scripts/import_validation.py from the research",
             f"# set ({' + '.join(names)}: {len(src['point'])} points from {n_src} sources); every source field is kept "
             "as transcribed.",
             "# Points that cannot be priced are listed as [[dropped]] with the reason. Hold out by `group` (one source",
             "# URL), not by document: documents that share a source come from one measurement campaign.", ""]
    for d in src["document"]:
        lines.append("[[document]]")
        for k, v in d.items():
            lines.append(f"{k} = {_q(v)}")
        lines.append(f"group = {_q(d['url'])}")
        lines.append("")
    kept, dropped = 0, collections.Counter()
    drop_lines = []
    counters: dict[str, int] = collections.Counter()
    for p in src["point"]:
        counters[p["document"]] += 1
        pid = f"{p['document']}/{counters[p['document']]}"
        mp, why = map_point(p, docs[p["document"]])
        if mp is None:
            dropped[why.split(" (")[0] if why.startswith("no stated") else why.split(" '")[0].split(" is")[0]] += 1
            drop_lines += ["[[dropped]]", f"id = {_q(pid)}", f"document = {_q(p['document'])}",
                           f"locator = {_q(p['locator'])}", f"reason = {_q(why)}", ""]
            continue
        kept += 1
        lines.append("[[point]]")
        lines.append(f"id = {_q(pid)}")
        for k, v in p.items():
            lines.append(f"{k} = {_q(v)}")
        lines.append("[point.map]")
        for k, v in mp.items():
            lines.append(f"{k} = {_q(v)}")
        lines.append("")
    summary = [f"# kept {kept} points; dropped {sum(dropped.values())}: "
               + "; ".join(f"{n} {why}" for why, n in dropped.most_common()), ""]
    return "\n".join(lines[:5] + summary + lines[5:] + drop_lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src", nargs="+", help="the research set, then any supplementary research files")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "roofline/engine/runtimes/validation.toml"))
    a = ap.parse_args()
    srcs = []
    for path in a.src:
        with open(path, "rb") as f:
            srcs.append(tomllib.load(f))
    text = build(merge(srcs), tuple(Path(p).name for p in a.src))
    tomllib.loads(text)  # the output parses
    Path(a.out).write_text(text)
    print(text.splitlines()[5])


if __name__ == "__main__":
    main()
