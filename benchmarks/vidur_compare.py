"""Side by side with Vidur on one shared configuration: Llama-2-7B linear layers on an H100 SXM, tensor-parallel
1 / 2 / 4 / 8, 1..4096 tokens a pass. Vidur's execution times are *measured* (its profiler's CUDA-event medians,
``data/profiling/compute/h100/meta-llama/Llama-2-7b-hf/mlp.csv`` in github.com/microsoft/vidur); ours are the
roofline engine's rows for the same op and token count (``transformer.pass_terms`` priced by ``pricing``) under
the ideal and the vLLM runtime profiles. Vidur's simulator itself needs the matching ``attention.csv`` (absent from
its PyPI wheel and from the stored snapshot of the repository): without it its simulation does not run, so the
comparison is of the per-op times its simulations are built from.

Run: `python benchmarks/vidur_compare.py PATH/TO/vidur/data/profiling/compute/h100/meta-llama/Llama-2-7b-hf/mlp.csv`
"""

from __future__ import annotations

import csv
import statistics
import sys

import numpy as np

import hwdb
from roofline.engine import transformer as tf
from roofline.engine.catalog import get_model
from roofline.engine.pricing import device_roofs, term_cost
from roofline.engine.scenario import Scenario

# vidur op -> our row (per layer)
OPS = {"attn_pre_proj": "qkv_proj", "attn_post_proj": "o_proj", "mlp_up_proj": "gate_up_proj",
       "mlp_down_proj": "down_proj", "mlp_act": "mlp_act", "input_layernorm": "attn_norm"}
TOKENS = (1, 8, 32, 128, 512, 1024, 2048, 4096)


def ours(runtime: str, tp: int, n: int) -> dict[str, float]:
    m = get_model("llama-2-7b")
    dev = hwdb.get("h100-sxm")
    roofs = device_roofs([dev], True, runtime)
    terms = {t.name: t for t in tf.pass_terms(m, Scenario(tp=tp), float(n), 1.0, 2.0, "decode")}
    out = {}
    for op, name in OPS.items():
        t = terms[name]
        out[op] = float(np.asarray(term_cost(t, roofs, 0)["time_s"]).reshape(-1)[0]) / t.count
    return out


def main(path: str) -> None:
    rows = list(csv.DictReader(open(path)))
    print("| TP | tokens | op | Vidur measured | ideal | vLLM profile | ideal / Vidur | vLLM / Vidur |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|")
    errs: dict[str, list[float]] = {"ideal": [], "vllm": []}
    for tp in (1, 2, 4, 8):
        for n in TOKENS:
            r = next((x for x in rows if int(x["num_tokens"]) == n and int(x["num_tensor_parallel_workers"]) == tp),
                     None)
            if r is None:
                continue
            a, b = ours("ideal", tp, n), ours("vllm", tp, n)
            for op in OPS:
                v = float(r[f"time_stats.{op}.median"]) * 1e-3  # ms -> s
                errs["ideal"].append(abs(a[op] / v - 1))
                errs["vllm"].append(abs(b[op] / v - 1))
                if op in ("attn_pre_proj", "mlp_up_proj", "mlp_down_proj") and n in (1, 128, 4096):
                    print(f"| {tp} | {n} | {op} | {v * 1e6:.1f} us | {a[op] * 1e6:.1f} us | {b[op] * 1e6:.1f} us | "
                          f"{a[op] / v:.2f} | {b[op] / v:.2f} |")
    for k, e in errs.items():
        e.sort()
        print(f"{k}: median |ours / Vidur - 1| = {statistics.median(e):.1%}, p90 {e[int(0.9 * len(e))]:.1%} "
              f"over {len(e)} (op, TP, tokens) points")


if __name__ == "__main__":
    main(sys.argv[1])
