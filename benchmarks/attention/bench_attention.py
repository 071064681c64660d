"""Attention suite on a CUDA GPU: our Triton kernels and their peers side by side, in one run.

For every shape of the registered sweeps (kernels/attention): check "ours" against the fp32 reference,
then time each implementation with roofline.measure.timers.time_cuda (warm-up first — it also runs the autotuner
and torch.compile —, CUDA events, L2 flushed before every timed call, median and p20/p80), and print
achieved TFLOP/s and TB/s from each implementation's declared cost plus the speed ratio of ours vs each
peer (> 1: ours is faster).

    python benchmarks/attention/bench_attention.py                       # all three kernels, bf16
    python benchmarks/attention/bench_attention.py --kernels decode_attention --json out.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402

from kernels.registry import load_all, max_rel_error  # noqa: E402
from roofline.measure.timers import KernelWrongError, check_output, time_cuda  # noqa: E402
from roofline.ops import total_bytes, total_flops  # noqa: E402

KERNELS = ("flash_attention", "decode_attention", "block_sparse_attention")
MIN_REPS, MAX_REPS = 10, 200  # bounds on the repetitions that fill --target-s


def run_shape(entry, shape: dict, dtype: str, target_s: float, warmup: int) -> list[dict]:
    bench = entry.prepare(dict(shape), dtype, "cuda")
    ref = bench.reference()
    rows = []
    for impl, fn in bench.impls.items():
        row = {"kernel": entry.name, "impl": impl, "shape": shape, "dtype": dtype}
        try:
            out = fn()
            if impl in bench.checked:  # raises KernelWrongError (wrong, or a zero reference): not timed
                row["max_err"] = check_output(impl, out, ref, bench.rtol)
            else:
                row["max_err"] = max_rel_error(out, ref)
            # No CUDA-graph replay: it would keep small inputs in L2 across calls, and the TB/s printed
            # here are read against the HBM roof (each timed call starts with a flushed L2).
            t = time_cuda(fn, target_s=target_s, warmup=warmup, min_reps=MIN_REPS, max_reps=MAX_REPS,
                          allow_graph=False)
        except KernelWrongError as e:
            row["error"] = str(e)
            rows.append(row)
            continue
        except Exception as e:  # a peer backend that does not take this shape: report, go on
            row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}"
            rows.append(row)
            continue
        ops = bench.ops_for(impl)
        med = t.median_s
        row.update(median_s=med, p20_s=t.p20_s, p80_s=t.p80_s, reps=t.reps, method=t.method,
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
