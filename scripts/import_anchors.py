"""Turn the H100 peer-anchor run (benchmarks/anchors/h100_peers_*.json) into a trace folder.

The anchors are a real measured run on an H100 80GB HBM3 (torch 2.11): CUDA-event medians of 30 calls
and NVML total-energy counter deltas over >= 1 s windows (see benchmarks/anchors/README.md). This script maps
each row onto the project's trace schema so the dashboard and `roofline attribute` can use it; it never
changes a number. FLOPs and bytes are recovered exactly as the anchor script counted them
(achieved rate x latency).

    python scripts/import_anchors.py benchmarks/anchors/h100_peers_2026-11-22.json [--out traces]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from roofline.measure.traces import base_manifest, write_run  # noqa: E402

# anchor name -> (registry kernel, impl, dtype)
NAMES = {
    "torch_bf16_linear": ("linear", "torch-bf16-linear", "bf16"),
    "torch_fp16_linear": ("linear", "torch-fp16-linear", "fp16"),
    "torch_int4_tinygemm_g128": ("w4a16_linear", "torch-tinygemm-int4", "bf16"),
    "torch_int8_int_mm": ("w8a8_linear", "torch-int-mm", "int8"),
    "torch_2to4_sparse_linear": ("sparse24_linear", "torch-semi-structured", "fp16"),
    "sdpa_flash_attention": ("flash_attention", "sdpa-flash", "bf16"),
    "sdpa_cudnn_attention": ("flash_attention", "sdpa-cudnn", "bf16"),
    "sdpa_efficient_attention": ("flash_attention", "sdpa-efficient", "bf16"),
    "sdpa_decode_flash_attention": ("decode_attention", "sdpa-flash", "bf16"),
    "sdpa_decode_math": ("decode_attention", "sdpa-math", "bf16"),
}
IDLE_W = 72.8  # measured before the run, cold (benchmarks/anchors/README.md)


def parse_shape(kernel: str, s: str) -> dict:
    if m := re.fullmatch(r"M(\d+)K(\d+)N(\d+)", s):
        shape = {"M": int(m[1]), "K": int(m[2]), "N": int(m[3])}
        if kernel == "w4a16_linear":
            shape["group"] = 128
        return shape
    if m := re.fullmatch(r"B(\d+)H(\d+)S(\d+)D(\d+)(c?)", s):
        return {"B": int(m[1]), "H": int(m[2]), "Hkv": int(m[2]), "S": int(m[3]), "D": int(m[4]),
                "causal": m[5] == "c"}
    if m := re.fullmatch(r"B(\d+)L(\d+)gqa(\d+)", s):
        return {"B": int(m[1]), "H": 32, "Hkv": 32 // int(m[3]), "L": int(m[2]), "D": 128}
    raise ValueError(f"unknown anchor shape {s!r}")


def rows_from_anchors(records: list[dict], run_id: str) -> list[dict]:
    rows = []
    for r in records:
        if "err" in r or r["name"] not in NAMES:
            continue
        kernel, impl, dtype = NAMES[r["name"]]
        t = r["us"] * 1e-6
        e = r["mJ"] * 1e-3
        rows.append({
            "run_id": run_id, "kernel": kernel, "impl": impl,
            "shape": json.dumps(parse_shape(kernel, r["shape"]), sort_keys=True), "dtype": dtype,
            "device_id": "h100-sxm", "device_name": "NVIDIA H100 80GB HBM3",
            "median_s": t, "p20_s": math.nan, "p80_s": math.nan, "reps": 30,
            "flops": r["tflops"] * 1e12 * t, "bytes": r["tbs"] * 1e12 * t,
            "energy_j": e, "energy_dynamic_j": e - IDLE_W * t, "energy_cv": math.nan, "power_w": r["W"],
            "idle_power_w": IDLE_W, "energy_method": "nvml-counter",
            "sm_clock_mhz_before": math.nan, "sm_clock_mhz_after": math.nan, "temp_c_before": math.nan,
            "temp_c_after": math.nan, "throttle_reasons": "", "max_err": math.nan,
            "ncu_dram_bytes": math.nan, "ncu_l2_bytes": math.nan, "ncu_flops": math.nan,
            "versions": json.dumps({"torch": "2.11", "triton": "3.6"}),
        })
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("anchors", type=Path)
    ap.add_argument("--out", default=None, help="traces root (default: the repo's traces/)")
    a = ap.parse_args()
    date = re.search(r"(\d{4}-\d{2}-\d{2})", a.anchors.name)[1]
    run_id = f"h100-anchors-{date}"
    rows = rows_from_anchors(json.loads(a.anchors.read_text()), run_id)
    man = base_manifest(run_id, "h100-sxm", "NVIDIA H100 80GB HBM3", f"python scripts/import_anchors.py {a.anchors.name}",
                        "anchors (peers)", versions={"torch": "2.11", "triton": "3.6"})
    man.update(host="lent H100 (CEO's anchor session)", start=date, end=date, idle_power_w=IDLE_W,
               idle_state="cold: before any work",
               notes=[f"imported from shared/anchors/{a.anchors.name} (h100_peers.py): peers only, no project kernel",
                      "latency: median of 30 CUDA-event timings, no L2 flush; energy: NVML counter over >= 1 s",
                      "p20/p80, clocks and temperatures were not recorded by the anchor script"])
    path = write_run(a.out, man, rows)
    print(f"{len(rows)} rows -> {path}")


if __name__ == "__main__":
    main()
