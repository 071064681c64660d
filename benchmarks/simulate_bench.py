"""Benchmark roofline.engine.simulate: one hour of Poisson traffic at 10 requests/s (~36k requests, chat lengths)
for Llama-3.1-8B on one H100 under the vLLM profile and scheduler, on one core.

Target (issue 17): under 2 s. Reports the median and spread of 5 runs after one warm-up (workload drawing
included; the StepModel's one-time engine evaluation included), and the run's headline figures.
Run: `taskset -c 0 python benchmarks/simulate_bench.py` (the script pins itself to one core where it can).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core: numpy's BLAS threads too (set before numpy loads)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from roofline.engine.scenario import Scenario  # noqa: E402
from roofline.engine.simulate import SimConfig, simulate  # noqa: E402
from roofline.engine.workload import make_workload  # noqa: E402

DURATION_S = 3600.0
QPS = 10.0
REPEATS = 5
TARGET_S = 2.0


def one(seed: int = 1):
    wl = make_workload(f"poisson:{QPS:g}", DURATION_S, "chat", "chat", seed)
    cfg = SimConfig(model="llama-3.1-8b", device="h100-sxm", scenario=Scenario(), scheduler="vllm", runtime="vllm",
                    slo_ttft_s=2.0, slo_tpot_s=0.05, seed=seed)
    return simulate(cfg, wl, DURATION_S)


def main() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    one()  # warm-up: imports, hwdb and catalog caches
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        r = one()
        times.append(time.perf_counter() - t0)
    s = r.summary
    med = statistics.median(times)
    print(f"simulate: {s['requests']:,} requests, {DURATION_S:g} s of poisson:{QPS:g}, llama-3.1-8b on 1 x h100-sxm "
          f"(vllm): median {med:.3f} s (min {min(times):.3f}, max {max(times):.3f}) over {REPEATS} runs on one core; "
          f"target < {TARGET_S:g} s: {'met' if med < TARGET_S else 'MISSED'}")
    print(f"  TTFT p50/p99 {s['ttft_s']['p50'] * 1e3:.1f}/{s['ttft_s']['p99'] * 1e3:.1f} ms, TPOT p50/p99 "
          f"{s['tpot_s']['p50'] * 1e3:.2f}/{s['tpot_s']['p99'] * 1e3:.2f} ms, {s['throughput_tokens_per_s']:,.0f} "
          f"tokens/s, {s['j_per_token'] * 1e3:.1f} mJ/token, busy {s['utilization']:.1%}")
    sys.exit(0)


if __name__ == "__main__":
    main()
