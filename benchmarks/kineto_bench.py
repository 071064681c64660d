"""Benchmark roofline.measure.kineto: import a synthetic torch.profiler trace of 100,000 GPU kernels inside one
long outer op (half launched from aten::linear > aten::addmm, half straight from the outer op, each after a
short op that ended: 400,001 events, 52 MB of JSON) and summarize it. Before: 20,000 kernels of this
trace took 16.6 s (quadratic); now 100,000 take about 2 s.

The import used to find each kernel's launching op by a backward scan (quadratic: 20,000 kernels took 15 s);
it is one sort and one stack sweep per thread now. Target: under 5 s for 100k kernels on one core.

    PYTHONPATH=. python benchmarks/kineto_bench.py [--kernels 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from roofline.measure.kineto import kineto_trace_rows, read_kineto, summarize_kineto


def synthetic_trace(n_kernels: int) -> bytes:
    """n kernels on one thread inside one long outer op (a step, as torch.compile or a ProfilerStep makes):
    each kernel follows a short op that ended (aten::empty); even kernels are launched inside
    aten::linear > aten::addmm, odd ones straight from the outer op, so a scan back from the latest op would
    walk every op before it (the old quadratic import)."""
    ev = [{"ph": "X", "cat": "cpu_op", "name": "CompiledFunction", "pid": 1, "tid": 1, "ts": 0.0,
           "dur": 10.0 * n_kernels + 10}]
    for i in range(n_kernels):
        t = 10.0 * i
        ev.append({"ph": "X", "cat": "cpu_op", "name": "aten::empty", "pid": 1, "tid": 1, "ts": t + 0.1, "dur": 0.5})
        if i % 2 == 0:
            ev += [{"ph": "X", "cat": "cpu_op", "name": "aten::linear", "pid": 1, "tid": 1, "ts": t + 1, "dur": 8.0},
                   {"ph": "X", "cat": "cpu_op", "name": "aten::addmm", "pid": 1, "tid": 1, "ts": t + 1.5, "dur": 6.0}]
        ev += [{"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1, "tid": 1, "ts": t + 2,
                "dur": 1.0, "args": {"correlation": i}},
               {"ph": "X", "cat": "kernel", "name": f"sm90_xmma_gemm_bf16_{i % 13}", "pid": 0, "tid": 7,
                "ts": t + 3, "dur": 4.0 + (i % 5), "args": {"correlation": i, "device": 0, "stream": 7}}]
    return json.dumps({"schemaVersion": 1, "traceEvents": ev}).encode()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernels", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    data = synthetic_trace(a.kernels)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "trace.json"
        path.write_bytes(data)
        times = []
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            df = read_kineto(path)
            rows = kineto_trace_rows(df, "bench", "", "")
            summarize_kineto(df)
            times.append(time.perf_counter() - t0)
    assert len(df) == a.kernels and set(df["cpu_op"]) == {"aten::addmm", "CompiledFunction"}
    n_events = data.count(b'"ph"')
    print(f"{a.kernels:,} kernels ({n_events:,} events, {len(data) / 1e6:.0f} MB JSON) -> {len(rows)} trace rows: "
          f"median {statistics.median(times):.2f} s, best {min(times):.2f} s over {a.repeat} runs "
          f"(target < 5 s)")


if __name__ == "__main__":
    main()
