"""Attention suite on a CUDA GPU: our Triton kernels and their peers side by side, in one run.

For every shape of the registered sweeps (kernels/attention): check "ours" against the fp32 reference,
then time each implementation with CUDA events (warm-up first — it also runs the autotuner and
torch.compile —, L2 flushed before every timed call, median and p20/p80 of the repetitions), and print
achieved TFLOP/s and TB/s from each implementation's declared cost plus the speed ratio of ours vs each
peer (> 1: ours is faster).

    python benchmarks/attention/bench_attention.py                       # all three kernels, bf16
    python benchmarks/attention/bench_attention.py --kernels decode_attention --json out.json
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402

from kernels.registry import load_all, max_rel_error  # noqa: E402
from roofline.ops import total_bytes, total_flops  # noqa: E402

KERNELS = ("flash_attention", "decode_attention", "block_sparse_attention")
L2_FLUSH_BYTES = 256 * 2**20  # > the H100's 50 MB L2


def time_cuda(fn, target_s: float, warmup: int, min_reps: int = 10, max_reps: int = 200) -> list[float]:
    """Seconds per call: CUDA events around each call, the L2 flushed (outside the events) before each."""
    flush = torch.empty(L2_FLUSH_BYTES, dtype=torch.uint8, device="cuda")
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    torch.cuda.synchronize()
    reps = int(min(max(target_s / max(start.elapsed_time(end) * 1e-3, 1e-6), min_reps), max_reps))
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    for s, e in zip(starts, ends, strict=True):
        flush.zero_()
        s.record()
        fn()
        e.record()
    torch.cuda.synchronize()
    return [s.elapsed_time(e) * 1e-3 for s, e in zip(starts, ends, strict=True)]


def quantile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


def run_shape(entry, shape: dict, dtype: str, target_s: float, warmup: int) -> list[dict]:
    bench = entry.prepare(dict(shape), dtype, "cuda")
    ref = bench.reference()
    rows = []
    for impl, fn in bench.impls.items():
        row = {"kernel": entry.name, "impl": impl, "shape": shape, "dtype": dtype}
        try:
            out = fn()
            err = max_rel_error(out, ref)
            row["max_err"] = err
            if impl in bench.checked and not err <= bench.rtol:
                row["error"] = f"max relative error {err:.3g} > {bench.rtol:.3g}; not timed"
                rows.append(row)
                continue
            ts = time_cuda(fn, target_s, warmup)
        except Exception as e:  # a peer backend that does not take this shape: report, go on
            row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}"
            rows.append(row)
            continue
        ops = bench.ops_for(impl)
        med = statistics.median(ts)
        row.update(median_s=med, p20_s=quantile(ts, 0.2), p80_s=quantile(ts, 0.8), reps=len(ts),
                   flops=total_flops(ops), bytes=total_bytes(ops),
                   tflops_per_s=total_flops(ops) / med / 1e12, tb_per_s=total_bytes(ops) / med / 1e12)
        rows.append(row)
    ours = next((r for r in rows if r["impl"] == "ours" and "median_s" in r), None)
    for r in rows:
        if ours and "median_s" in r and r is not ours:
            r["ours_speedup"] = r["median_s"] / ours["median_s"]
    del bench, ref
    torch.cuda.empty_cache()
    return rows


def fmt_row(r: dict) -> str:
    label = f"{r['impl']:<22}"
    if "error" in r:
        return f"  {label} {r['error']}"
    ratio = f"ours {r['ours_speedup']:.2f}x" if "ours_speedup" in r else ""
    return (f"  {label} {r['median_s'] * 1e6:10.1f} us  [{r['p20_s'] * 1e6:.1f}-{r['p80_s'] * 1e6:.1f}]"
            f"  {r['tflops_per_s']:7.1f} TF/s  {r['tb_per_s']:6.3f} TB/s  err {r.get('max_err', math.nan):.2g}  {ratio}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernels", default=",".join(KERNELS), help="comma-separated subset of " + ", ".join(KERNELS))
    ap.add_argument("--dtype", default="bf16", choices=("bf16", "fp16"))
    ap.add_argument("--target-s", type=float, default=0.3, help="timed repetitions fill about this long")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--shapes", default="bench", choices=("bench", "quick"))
    ap.add_argument("--json", type=Path, help="write every row here")
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("bench_attention: needs a CUDA GPU", file=sys.stderr)
        return 2
    registry = load_all()
    print(f"# {torch.cuda.get_device_name()}  torch {torch.__version__}  dtype {args.dtype}")
    rows = []
    for name in args.kernels.split(","):
        entry = registry[name]
        for shape in entry.bench_shapes if args.shapes == "bench" else entry.quick_shapes:
            print(f"{name} {json.dumps(shape)}", flush=True)
            for r in run_shape(entry, shape, args.dtype, args.target_s, args.warmup):
                print(fmt_row(r), flush=True)
                rows.append(r)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
