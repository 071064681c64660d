"""Dashboard speed: first render of each page and the time of one interaction, under AppTest.

Targets (issue 9): first render < 3 s, an interaction < 0.5 s, on the shipped data (traces/ and hwdb/).
Each page's first render is timed in a fresh Python process (cold imports and cold caches); the
interactions are timed in that process after the first render (median of REPEATS, with min and max).

    python benchmarks/dashboard_bench.py [--traces DIR] [--repeats 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = str(ROOT / "app" / "dashboard.py")
FIRST_RENDER_BUDGET_S = 3.0
INTERACTION_BUDGET_S = 0.5

# page -> (widget kind, key, values to alternate between)
INTERACTIONS = {
    "hardware": ("multiselect", "hw_dtypes", (["bf16"], ["fp32", "bf16", "fp8", "int8"])),
    "workload": ("select_slider", "wl_batch", (64, 1)),
    "measurements": ("segmented_control", "ms_source", ("upload a file", "shipped traces")),
    "selection": ("selectbox", "se_by", ("j_per_token", "tokens_per_s")),
    "energy": ("multiselect", "en_dtypes", (["bf16"], ["bf16", "int8"])),
}


def _one_page(page: str, repeats: int) -> dict:
    """Run in a child process: first render of ``page`` (cold), then ``repeats`` interactions."""
    t_import = time.perf_counter()
    from streamlit.testing.v1 import AppTest

    import_s = time.perf_counter() - t_import
    at = AppTest.from_file(DASHBOARD, default_timeout=120)
    t0 = time.perf_counter()
    at.run()
    if page != "hardware":
        at.switch_page(f"screens/{page}.py").run()
    first_s = time.perf_counter() - t0
    if at.exception:
        raise SystemExit(f"{page}: exception on first render: {at.exception[0].value}")
    kind, key, values = INTERACTIONS[page]
    times = []
    for i in range(repeats):
        w = getattr(at, kind)(key=key)
        t = time.perf_counter()
        w.set_value(values[i % 2]).run()
        times.append(time.perf_counter() - t)
        if at.exception:
            raise SystemExit(f"{page}: exception after {key} = {values[i % 2]}: {at.exception[0].value}")
    return {"page": page, "import_streamlit_s": import_s, "first_render_s": first_s, "interaction": key,
            "interaction_median_s": statistics.median(times), "interaction_min_s": min(times),
            "interaction_max_s": max(times), "repeats": repeats}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--traces", help="trace folder (default: the repo's traces/)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", action="store_true", help="print one JSON document")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(_one_page(a.child, a.repeats)))
        return
    env = dict(os.environ)
    if a.traces:
        env["ROOFLINE_TRACES"] = str(Path(a.traces).resolve())
    sys.path.insert(0, str(ROOT))
    from roofline.measure import traces

    n_runs = len(traces.list_runs(env.get("ROOFLINE_TRACES")))
    rows = []
    for page in INTERACTIONS:
        out = subprocess.run([sys.executable, __file__, "--child", page, "--repeats", str(a.repeats)], env=env,
                             capture_output=True, text=True, cwd=ROOT)
        if out.returncode:
            raise SystemExit(f"{page}: {out.stdout[-500:]} {out.stderr[-2000:]}")
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    doc = {"trace_runs": n_runs, "cpus": os.cpu_count(), "pages": rows,
           "first_render_budget_s": FIRST_RENDER_BUDGET_S, "interaction_budget_s": INTERACTION_BUDGET_S,
           "ok": all(r["first_render_s"] < FIRST_RENDER_BUDGET_S and r["interaction_median_s"] < INTERACTION_BUDGET_S
                     for r in rows)}
    if a.json:
        print(json.dumps(doc, indent=2))
        return
    print(f"dashboard under AppTest, {n_runs} trace runs, {os.cpu_count()} CPUs "
          f"(first render: fresh process, caches cold; interaction: median of {a.repeats})")
    print(f"{'page':<14}{'first render':>14}{'interaction':>30}{'median':>10}{'min':>9}{'max':>9}")
    for r in rows:
        print(f"{r['page']:<14}{r['first_render_s']:>13.2f}s{r['interaction']:>30}{r['interaction_median_s']:>9.3f}s"
              f"{r['interaction_min_s']:>8.3f}s{r['interaction_max_s']:>8.3f}s")
    print(f"budgets: first render < {FIRST_RENDER_BUDGET_S} s, interaction < {INTERACTION_BUDGET_S} s -> "
          f"{'OK' if doc['ok'] else 'OVER BUDGET'}")


if __name__ == "__main__":
    main()
