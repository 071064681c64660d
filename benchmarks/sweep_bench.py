"""Benchmark roofline.engine.sweep: all devices x all models x 2 phases x 8 batches x 6 contexts x 4 quantization
configs, reporting scenarios per second (median and spread of 5 runs after one warm-up run).

Target (issue 3): the full grid in under 5 s on a 2-core CPU machine. Run: `python benchmarks/sweep_bench.py`.
"""

from __future__ import annotations

import statistics
import time

import hwdb
from roofline.engine.catalog import load_models
from roofline.engine.scenario import Scenario
from roofline.engine.sweep import sweep

PHASES = ("decode", "generate")  # generate = prefill + every decode step in closed form: the costlier phase
BATCHES = (1, 2, 4, 8, 16, 32, 64, 128)
CONTEXTS = (128, 512, 1024, 2048, 4096, 8192)
QUANT = (dict(), dict(wbits=4, group_size=128), dict(wbits=8, abits=8, kvbits=8), dict(wbits=4, abits=4, kvbits=4))
GEN_TOKENS = 256
REPEATS = 5


def grid() -> list[Scenario]:
    return [Scenario(phase=ph, batch=b, prompt_tokens=c, gen_tokens=GEN_TOKENS, **q)
            for ph in PHASES for b in BATCHES for c in CONTEXTS for q in QUANT]


def main() -> None:
    devices = list(hwdb.load().values())
    models = list(load_models().values())
    scenarios = grid()
    n = len(devices) * len(models) * len(scenarios)
    sweep(devices, models, scenarios)  # warm-up (imports, device roofs)
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        df = sweep(devices, models, scenarios)
        times.append(time.perf_counter() - t0)
    assert len(df) == n
    med = statistics.median(times)
    print(f"grid: {len(devices)} devices x {len(models)} models x {len(PHASES)} phases x {len(BATCHES)} batches x "
          f"{len(CONTEXTS)} contexts x {len(QUANT)} quant = {n:,} scenarios")
    print(f"sweep time: median {med:.3f} s (min {min(times):.3f}, max {max(times):.3f}, {REPEATS} runs)")
    print(f"throughput: {n / med:,.0f} scenarios/s; target < 5 s: {'met' if med < 5 else 'MISSED'}")
    print(f"fits: {df['fits'].mean():.1%} of rows")


if __name__ == "__main__":
    main()
