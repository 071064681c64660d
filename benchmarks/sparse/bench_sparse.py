"""Benchmark suite `sparse`: 2:4 linear and contextual MLP vs their peers, side by side, on one CUDA GPU.

    python benchmarks/sparse/bench_sparse.py [--suite 24|contextual|all] [--dtype fp16] [--quick] [--json out.json]
    python benchmarks/sparse/bench_sparse.py --predict-only      # roofline.engine.model predictions, no GPU needed

Each point: check every checked impl against the fp32 reference first (roofline.measure.timers.check_output), then
per impl warm up, and time ``--reps`` calls with roofline.measure.timers.time_cuda (CUDA events, each call after an
L2 flush, no CUDA-graph replay), report the median and p20/p80, achieved TB/s and TFLOP/s from the
impl's own Ops, and ratios vs the dense peer (and vs torch semi-structured for 2:4). ``--kernel-time`` also sums the CUDA kernel time of each call with the
torch profiler, to separate host/plan overhead (cuSPARSELt builds a plan per call) from the kernels.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402

import hwdb  # noqa: E402
from kernels.sparse import contextual, semi_structured  # noqa: E402
from roofline.engine.model import estimate  # noqa: E402
from roofline.measure.timers import KernelWrongError, check_output, time_cuda  # noqa: E402
from roofline.ops import Op  # noqa: E402

DEVICE_ID = "h100-sxm"
H100_SMS = 132  # H100 SXM5 enabled SMs (hwdb/devices/h100-sxm.toml notes); sizes the modeled launch grid


def predicted_s(ops: list[Op]) -> float:
    dev = hwdb.get(DEVICE_ID)
    return sum(estimate(o, dev).time_s for o in ops)


def kernel_time_s(fn, reps: int = 10) -> float:
    """Mean CUDA-kernel time a call (torch profiler), without host or plan-building gaps."""
    from torch.profiler import ProfilerActivity, profile

    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(reps):
            fn()
        torch.cuda.synchronize()
    total_us = sum(e.self_device_time_total for e in prof.key_averages())
    return total_us * 1e-6 / reps


def run_point(entry_prepare, shape: dict, dtype: str, args) -> list[dict]:
    bench = entry_prepare(shape, dtype, "cuda")
    ref = bench.reference()
    rows = []
    for name, fn in bench.impls.items():
        try:
            err = check_output(name, fn(), ref, bench.rtol) if name in bench.checked else None
        except KernelWrongError as e:
            raise SystemExit(f"{bench.kernel} {shape}: {e}") from None
        # exactly --reps timed calls (min_reps = max_reps); no CUDA-graph replay, which would keep a small
        # layer's weights in L2 across the replayed calls (--kernel-time is the launch-gap-free view)
        t = time_cuda(fn, warmup=args.warmup, min_reps=args.reps, max_reps=args.reps, allow_graph=False)
        ops = bench.ops_for(name)
        med = t.median_s
        flops, nbytes = sum(o.total_flops for o in ops), sum(o.total_bytes for o in ops)
        row = {"kernel": bench.kernel, **bench.shape, "dtype": dtype, "impl": name, "median_s": med,
               "p20_s": t.p20_s, "p80_s": t.p80_s, "reps": t.reps,
               "tflops": flops / med / 1e12, "tbs": nbytes / med / 1e12, "max_rel_err": err,
               "predicted_s": predicted_s(ops)}
        if args.kernel_time:
            row["kernel_s"] = kernel_time_s(fn)
        rows.append(row)
    dense = next(r for r in rows if r["impl"].startswith("torch-dense"))
    semi = next((r for r in rows if r["impl"] == "torch-semi-structured"), None)
    for r in rows:
        r["x_vs_dense"] = dense["median_s"] / r["median_s"]
        r["x_vs_semi"] = semi["median_s"] / r["median_s"] if semi else None
    return rows


def print_rows(rows: list[dict]) -> None:
    for r in rows:
        shape = " ".join(f"{k}={r[k]}" for k in ("model", "layer", "M", "N", "K", "H", "I", "batch", "active",
                                               "active_union", "path") if k in r)
        semi = f" {r['x_vs_semi']:5.2f}x semi" if r.get("x_vs_semi") else ""
        kt = f" kernel {r['kernel_s'] * 1e6:8.1f} us" if "kernel_s" in r else ""
        print(f"{r['kernel']:16s} {shape:60s} {r['dtype']} {r['impl']:22s} {r['median_s'] * 1e6:9.1f} us "
              f"[{r['p20_s'] * 1e6:.1f}, {r['p80_s'] * 1e6:.1f}] {r['tbs']:5.2f} TB/s {r['tflops']:7.1f} TF/s "
              f"{r['x_vs_dense']:5.2f}x dense{semi} (model {r['predicted_s'] * 1e6:.1f} us){kt}", flush=True)


def predict_only() -> None:
    """Modeled times on h100-sxm from the kernels' own Ops (roofline.engine.model, calibrated efficiencies)."""
    print(f"# 2:4 linear, fp16, modeled on {DEVICE_ID}: dense / triton / cusparselt / decompress+dense (us)")
    for s in semi_structured.BENCH_SHAPES:
        m, n, k = s["M"], s["N"], s["K"]
        cfg = semi_structured.triton_config(m, n, k, "cuda", sms=H100_SMS)
        t = {p: predicted_s(semi_structured.sparse24_cost(m, n, k, "fp16", p, cfg.split_k))
             for p in ("triton", "cusparselt", "dense")}
        d = predicted_s(semi_structured.dense_linear_cost(m, n, k, "fp16"))
        print(f"{s['model']:14s} {s['layer']:5s} M={m:5d} N={n:6d} K={k:6d} dense {d * 1e6:8.1f} "
              f"triton {t['triton'] * 1e6:8.1f} ({d / t['triton']:.2f}x) cusparselt {t['cusparselt'] * 1e6:8.1f} "
              f"({d / t['cusparselt']:.2f}x) decompress+dense {t['dense'] * 1e6:8.1f} ({d / t['dense']:.2f}x)")
    print(f"# contextual MLP, fp16, modeled on {DEVICE_ID}: union of independent per-token sets")
    for s in contextual.BENCH_SHAPES:
        h, i, b, f = s["H"], s["I"], s["batch"], s["active"]
        a = round(contextual.expected_union_fraction(f, b) * i)
        up = contextual.gather_config(b, a, h, "cuda", sms=H100_SMS).split
        down = contextual.gather_config(b, h, a, "cuda", sms=H100_SMS).split
        ours = predicted_s(contextual.contextual_mlp_cost(b, h, a, "fp16", up, down))
        d = predicted_s(contextual.dense_mlp_cost(b, h, i, "fp16"))
        print(f"{s['model']:14s} active={f:4.2f} batch={b:2d} union={a / i:5.3f} dense {d * 1e6:8.1f} us "
              f"ours {ours * 1e6:8.1f} us {d / ours:5.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", choices=("24", "contextual", "all"), default="all")
    ap.add_argument("--dtype", choices=("fp16", "bf16"), action="append")
    ap.add_argument("--quick", action="store_true", help="one model (8B), fewer points")
    ap.add_argument("--reps", type=int, default=50, help="timed calls per impl")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--kernel-time", action="store_true", help="also profile CUDA kernel time a call")
    ap.add_argument("--json", type=Path, help="write all rows here")
    ap.add_argument("--predict-only", action="store_true")
    args = ap.parse_args()
    if args.predict_only:
        predict_only()
        return
    if not torch.cuda.is_available():
        raise SystemExit("bench_sparse.py needs a CUDA GPU (use --predict-only for the modeled numbers)")
    dtypes = args.dtype or ["fp16", "bf16"]
    points = []
    if args.suite in ("24", "all"):
        points += [(semi_structured.prepare, s) for s in semi_structured.BENCH_SHAPES
                   if not args.quick or s["model"] == "llama-3.1-8b"]
    if args.suite in ("contextual", "all"):
        points += [(contextual.prepare, s) for s in contextual.BENCH_SHAPES
                   if not args.quick or (s["model"] == "llama-3.1-8b" and s["batch"] in (1, 8, 32))]
    print(f"# {torch.cuda.get_device_name()} torch {torch.__version__}; median of {args.reps}, L2 flushed",
          flush=True)
    rows = []
    for dtype in dtypes:
        for prep, shape in points:
            pr = run_point(prep, shape, dtype, args)
            print_rows(pr)
            rows += pr
            torch.cuda.empty_cache()
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=str))


if __name__ == "__main__":
    main()
