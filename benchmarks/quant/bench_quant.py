"""Benchmark suite `quant`: our W4A16 / W8A8 / ternary Triton kernels and their torch peers, side by side.

For every shape and M of each kernel's sweep: check ours against the torch reference, then time ours and
every peer in the same run (roofline.measure.timers.time_cuda: CUDA events, warm-up, L2 flushed before every rep,
median and p20/p80 of --reps), print speedups over the peers and the fraction of the roofline each
reaches on the device (hwdb h100-sxm unless --device-id; ideal roof: datasheet peak and bandwidth,
efficiency 1, no launch cost).

    python benchmarks/quant/bench_quant.py                      # full sweep, bf16, writes nothing
    python benchmarks/quant/bench_quant.py --headline --out r.json
    python benchmarks/quant/bench_quant.py --model-only         # the NOTES.md numbers; no GPU needed
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from anywhere without installing

import hwdb  # noqa: E402
from kernels.quant import ternary, w4a16, w8a8  # noqa: E402  (registers the entries)
from kernels.registry import REGISTRY, max_rel_error  # noqa: E402
from roofline.engine.efficiency import Efficiency  # noqa: E402
from roofline.engine.model import estimate  # noqa: E402
from roofline.measure.timers import time_cuda  # noqa: E402

KERNELS = ("w4a16_linear", "w8a8_linear", "ternary_linear")
IDEAL = Efficiency(compute_default=1.0, memory=1.0, launch_overhead_s=0.0, source="ideal roof")
SQUARE = (8192, 8192)
# (kernel, M, peer, minimum speedup of ours over the peer) on the K = N = 8192 layer (issue 4 targets)
TARGETS = (("w4a16_linear", 1, "torch-bf16-linear", 3.5), ("w4a16_linear", 16, "torch-bf16-linear", 3.0),
           ("w4a16_linear", 64, "torch-bf16-linear", 1.5), ("w8a8_linear", 4096, "torch-int-mm", 0.9),
           ("ternary_linear", 1, "torch-bf16-linear", 5.0))


def shapes_for(name: str, headline: bool, ms: set[int] | None):
    for s in REGISTRY[name].bench_shapes:
        if headline and (s["K"], s["N"]) != SQUARE:
            continue
        if ms and s["M"] not in ms:
            continue
        yield s


def run(args) -> list[dict]:
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("bench_quant: needs a CUDA device (use --model-only for the roofline numbers)")
    dev = hwdb.get(args.device_id)
    props = torch.cuda.get_device_properties(0)
    print(f"# {props.name}, {props.multi_processor_count} SMs; roof from hwdb {dev.id}; torch {torch.__version__}")
    rows = []
    for name in args.kernels:
        for shape in shapes_for(name, args.headline, args.m):
            bench = REGISTRY[name].prepare(shape, args.dtype, "cuda")
            out = bench.impls["ours"]()  # first call also picks the config (timed once, cached)
            err = max_rel_error(out, bench.reference())
            # exactly --reps timed calls (min_reps = max_reps), each from a flushed L2; no CUDA-graph
            # replay, which would keep a small layer's weights in L2 across the replayed calls
            times = {impl: time_cuda(fn, warmup=3, min_reps=args.reps, max_reps=args.reps, allow_graph=False)
                     for impl, fn in bench.impls.items()}
            t_ours = times["ours"].median_s
            for impl, t in times.items():
                med, p20, p80 = t.median_s, t.p20_s, t.p80_s
                (op,) = bench.ops_for(impl)
                roof = estimate(op, dev, eff=IDEAL)
                rows.append({"kernel": name, **shape, "dtype": args.dtype, "impl": impl, "median_s": med,
                             "p20_s": p20, "p80_s": p80, "reps": t.reps, "flops": op.flops, "bytes": op.bytes,
                             "roof_s": roof.time_s, "bound": roof.bound, "pct_of_roof": roof.time_s / med,
                             "tb_per_s": op.bytes / med / 1e12, "tflop_per_s": op.flops / med / 1e12,
                             "speedup_of_ours": med / t_ours, "max_rel_err": err if impl == "ours" else None,
                             "rtol": bench.rtol if impl == "ours" else None})
                r = rows[-1]
                flag = "" if impl != "ours" or err <= bench.rtol else f"  WRONG: err {err:.1e} > {bench.rtol:.0e}"
                print(f"{name:15s} M={shape['M']:<5d} K={shape['K']:<6d} N={shape['N']:<6d} {impl:20s} "
                      f"{med * 1e6:9.1f} us [{p20 * 1e6:.1f}-{p80 * 1e6:.1f}]  {r['tb_per_s']:5.2f} TB/s "
                      f"{r['tflop_per_s']:7.1f} TF/s  {100 * r['pct_of_roof']:5.1f}% of {roof.bound} roof  "
                      f"ours {r['speedup_of_ours']:5.2f}x{flag}", flush=True)
            del bench
            torch.cuda.empty_cache()
    return rows


def report_targets(rows: list[dict]) -> None:
    print("\n# issue 4 targets (K = N = 8192)")
    for name, m, peer, want in TARGETS:
        hit = [r for r in rows if r["kernel"] == name and r["M"] == m and r["impl"] == peer
               and (r["K"], r["N"]) == SQUARE]
        if not hit:
            print(f"{name} M={m} vs {peer}: not measured")
            continue
        got = hit[0]["speedup_of_ours"]
        print(f"{name} M={m} vs {peer}: {got:.2f}x (target >= {want}x) {'PASS' if got >= want else 'MISS'}")


def model_only(device_id: str) -> None:
    """The roofline numbers quoted in NOTES.md, from hwdb and roofline.engine.model only."""
    dev = hwdb.get(device_id)
    bw = dev.mem_bw_bytes_per_s
    print(f"# {dev.id}: {bw / 1e12:.2f} TB/s, fp16/bf16 {dev.peak('bf16') / 1e12:.1f} TF/s, "
          f"int8 {dev.peak('int8') / 1e12:.0f} TOP/s; ridge bf16 {dev.ridge_flop_per_byte('bf16'):.1f}, "
          f"int8 {dev.ridge_flop_per_byte('int8'):.1f} FLOP/byte")
    print(f"ideal W4A16 g128 weight-byte ratio vs 16-bit: 16 / 4.125 = {16 / 4.125:.3f}x")
    k, n = SQUARE
    bf16 = w4a16.bf16_linear_ops
    for m in (1, 16, 64, 256, 4096):
        for label, (op,) in (("bf16 F.linear", bf16(m, k, n)), ("w4a16 g128", w4a16.cost(m, k, n, 128, True, "bf16")),
                             ("ternary", ternary.cost(m, k, n, 0, "bf16")), ("w8a8", w8a8.cost(m, k, n))):
            e = estimate(op, dev, eff=IDEAL)
            print(f"M={m:<5d} {label:14s} {op.flops / 1e9:10.3f} GFLOP {op.bytes / 1e6:9.2f} MB "
                  f"floor {e.time_s * 1e6:8.2f} us ({e.bound}, intensity {op.intensity:7.1f})")
    for label, fn in (("bf16 F.linear", lambda m: bf16(m, k, n)[0]),
                      ("w4a16 g128", lambda m: w4a16.cost(m, k, n, 128, True, "bf16")[0]),
                      ("ternary", lambda m: ternary.cost(m, k, n, 0, "bf16")[0]),
                      ("w8a8", lambda m: w8a8.cost(m, k, n)[0])):
        m = 1
        while estimate(fn(m), dev, eff=IDEAL).bound == "memory":
            m += 1
        print(f"ridge batch {label:14s}: memory-bound up to M = {m - 1}, compute-bound from M = {m}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kernels", default=",".join(KERNELS), help="comma-separated registry names")
    p.add_argument("--dtype", default="bf16", choices=("bf16", "fp16"))
    p.add_argument("--headline", action="store_true", help="only the K = N = 8192 layer")
    p.add_argument("--m", default="", help="comma-separated M values to keep (default: the whole sweep)")
    p.add_argument("--reps", type=int, default=30, help="timed calls per implementation")
    p.add_argument("--device-id", default="h100-sxm", help="hwdb device whose roof the fractions use")
    p.add_argument("--out", default="", help="write the rows as JSON here")
    p.add_argument("--model-only", action="store_true", help="print the roofline numbers and exit (CPU)")
    args = p.parse_args(argv)
    if args.model_only:
        model_only(args.device_id)
        return
    args.kernels = [s for s in args.kernels.split(",") if s]
    unknown = [s for s in args.kernels if s not in KERNELS]
    if unknown:
        raise SystemExit(f"bench_quant: unknown kernel(s) {unknown}; known: {', '.join(KERNELS)}")
    args.m = {int(v) for v in args.m.split(",") if v}
    rows = run(args)
    report_targets(rows)
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))
        print(f"wrote {len(rows)} rows to {args.out}")


if __name__ == "__main__":
    main()
