"""The trace row: one measured configuration (DESIGN.md). Parquet columns and manifest fields."""

from __future__ import annotations

SCHEMA_VERSION = 1
REFERENCE_IMPL = "torch-reference"  # impl name of a kernel's plain-torch reference, timed where "ours" cannot run

# column -> (dtype, meaning). Units in names; energy per call.
TRACE_COLUMNS: dict[str, tuple[str, str]] = {
    "run_id": ("str", "trace run id (folder name under traces/)"),
    "kernel": ("str", "registry kernel name"),
    "impl": ("str", "'ours' or the peer's name"),
    "shape": ("str", "JSON object of shape parameters"),
    "dtype": ("str", "activation/compute dtype"),
    "device_id": ("str", "hwdb id, or '' when the local device matched none"),
    "device_name": ("str", "raw device name as the driver reports it"),
    "median_s": ("float", "median latency of one call"),
    "p20_s": ("float", "20th percentile latency"),
    "p80_s": ("float", "80th percentile latency"),
    "reps": ("int", "timed repetitions"),
    "timing_method": ("str", "cuda-events | cuda-graph | perf_counter: the same for every impl of a point ('' in old runs)"),
    "flops": ("float", "FLOPs of one call (the kernel's declared cost)"),
    "bytes": ("float", "DRAM bytes of one call (declared cost: read + written)"),
    "energy_j": ("float", "total energy per call (J), NaN when not measured"),
    "energy_dynamic_j": ("float", "energy per call minus idle power x time"),
    "energy_cv": ("float", "coefficient of variation of energy/call across trials"),
    "power_w": ("float", "mean power during the energy windows"),
    "idle_power_w": ("float", "idle power subtracted for dynamic energy"),
    "energy_method": ("str", "nvml-counter | rapl | modeled"),
    "sm_clock_mhz_before": ("float", "SM clock before the point"),
    "sm_clock_mhz_after": ("float", "SM clock after the point"),
    "temp_c_before": ("float", "GPU temperature before"),
    "temp_c_after": ("float", "GPU temperature after"),
    "throttle_reasons": ("str", "NVML clock-throttle reasons seen (comma list), '' when none"),
    "max_err": ("float", "max relative error vs the torch reference (NaN for unchecked peers)"),
    "ncu_dram_bytes": ("float", "Nsight Compute dram__bytes_read+write (NaN unless --ncu)"),
    "ncu_l2_bytes": ("float", "Nsight Compute lts__t_bytes (NaN unless --ncu)"),
    "ncu_flops": ("float", "Nsight Compute tensor + CUDA-core FLOPs (NaN unless --ncu)"),
    "versions": ("str", "JSON object: torch, triton, driver, cuda"),
    "device_forced": ("str", "'' when the host is device_id; else what the host was (profile --force-device)"),
}

MANIFEST_FIELDS = ("schema_version", "run_id", "host", "device_id", "device_name", "driver", "versions", "command",
                   "suite", "start", "end", "complete", "rows", "idle_power_w", "idle_state", "notes", "device_properties",
                   "device_forced")
