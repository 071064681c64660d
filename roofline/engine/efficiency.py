"""Efficiency factors: the fraction of a datasheet roof that real kernels reach.

This is the seam between datasheet and measurement. ``efficiency_for(device)`` returns calibrated
factors when the device has a measured overlay (``hwdb/measured/<id>.toml``, written by
`roofline calibrate`) and documented defaults otherwise; ``Efficiency.kind`` says which.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import pandas as pd

import hwdb
from hwdb.schema import DTYPES, Device, ImplCurve
from roofline.provenance import MEASURED, MODELED

# Documented defaults, by device kind. Reasons:
# - GPU compute 0.75: cuBLAS bf16 GEMMs reach 0.70-0.80 of the dense datasheet peak on H100/A100
#   (measured here: 763.6 TF/s of 989.5 on H100 SXM = 0.77, shared/anchors 2026-11-22).
# - GPU memory 0.85: large device-to-device copies reach ~0.9 of HBM peak (H100: 3.0 of 3.35 TB/s),
#   GEMV-style kernels somewhat less.
# - GPU launch overhead 4 us: one kernel launch plus its tail on a busy stream (CUDA graphs cut it).
# - CPU/SoC: vector code reaches ~0.5 of the derived FMA peak and ~0.7 of DRAM bandwidth (STREAM-like);
#   per-op overhead ~2 us of framework dispatch.
_DEFAULTS = {
    "gpu": (0.75, 0.85, 4e-6),
    "accelerator": (0.75, 0.85, 4e-6),
    "cpu": (0.5, 0.7, 2e-6),
    "soc": (0.5, 0.7, 2e-6),
}
# Low-precision GEMMs reach a smaller share of their (doubled) datasheet peak than 16-bit ones. fp8: the largest
# matmuls measured by ml-engineering's "maximum achievable matmul FLOPS" benchmark reached 1402.6 of 1979 TF on
# an H100 SXM (0.71; bf16 there: 794.5 of 989.5 = 0.80), 1453.4 on an H200 (0.73), 3432.5 of 4500 on a B200
# (0.76), 3615.6 of 5000 on a GB200 (0.72) -- https://github.com/stas00/ml-engineering/blob/master/compute/
# accelerator/README.md (MAMF table). fp4: no published measured ceiling was found; the fp8 share is assumed.
LOW_PRECISION_DEFAULTS = {"gpu": {"fp8": 0.71, "fp4": 0.71}, "accelerator": {"fp8": 0.71, "fp4": 0.71}}


@dataclass(frozen=True)
class Efficiency:
    compute: Mapping[str, float] = field(default_factory=dict)  # per dtype; missing -> compute_default
    compute_default: float = 0.75
    memory: float = 0.85
    launch_overhead_s: float = 4e-6
    kind: str = MODELED  # modeled (documented default) or measured (calibrated from traces)
    source: str = "roofline.engine.efficiency defaults"

    def compute_for(self, dtype: str) -> float:
        return self.compute.get(dtype, self.compute_default)


def default_efficiency(device: Device) -> Efficiency:
    """The kind's documented defaults, with the device's own published measured matmul ceilings
    (hwdb ``achievable_ops_per_s``: e.g. ml-engineering's MAMF table) in place of them where there are some: an
    MI300X's bf16 GEMMs reach 0.51 of its peak where an A100's reach 0.87, which no per-kind default can say."""
    c, m, o = _DEFAULTS[device.kind]
    comp = {dt: v for dt, v in LOW_PRECISION_DEFAULTS.get(device.kind, {}).items() if device.peak(dt)}
    measured = {dt: min(v / device.peak(dt), 1.0) for dt, v in device.achievable_ops_per_s.items() if device.peak(dt)}
    comp.update(measured)
    half = measured.get("bf16", measured.get("fp16"))
    if half is not None:
        # fp16 and bf16 share the tensor path and the peak: one measured 16-bit share stands for both
        for dt in ("bf16", "fp16"):
            if dt not in measured and device.peak(dt) == device.peak("bf16" if dt == "fp16" else "fp16"):
                comp[dt] = half
        # an unmeasured low-precision dtype is not assumed to reach a larger share than the measured 16-bit one
        for dt in LOW_PRECISION_DEFAULTS.get(device.kind, {}):
            if dt in comp and dt not in measured:
                comp[dt] = min(comp[dt], half)
    src = "roofline.engine.efficiency defaults"
    if measured:
        src += "; published matmul ceilings " + ", ".join(
            f"{dt} {v:.3f} ({device.source_of('achievable.' + dt).title})" for dt, v in sorted(measured.items()))
    return Efficiency(compute=MappingProxyType(comp), compute_default=c, memory=m, launch_overhead_s=o, source=src)


def efficiency_for(device: Device, calibrated: bool = True) -> Efficiency:
    """Calibrated efficiencies where the device was measured, else the documented defaults."""
    base = default_efficiency(device)
    m = device.measured
    if not calibrated or m is None:
        return base
    compute = dict(base.compute)
    for dt, ops in m.matmul_ops_per_s.items():  # measured matmul ceiling / datasheet peak
        peak = device.peak(dt)
        if dt not in m.compute_eff and peak:
            compute[dt] = min(ops / peak, 1.0)
    compute.update(m.compute_eff)
    memory = m.memory_eff
    if memory is None and m.copy_bw_bytes_per_s:
        memory = min(m.copy_bw_bytes_per_s / device.mem_bw_bytes_per_s, 1.0)
    return Efficiency(
        compute=MappingProxyType(compute), compute_default=base.compute_default,
        memory=memory if memory is not None else base.memory,
        launch_overhead_s=m.launch_overhead_s if m.launch_overhead_s is not None else base.launch_overhead_s,
        kind=MEASURED, source=f"{m.run_id} ({m.date})",
    )


def efficiency_table(devices: list[Device] | None = None, calibrated: bool = True):
    """Every device's efficiency factors as a DataFrame (device_id, kind, compute_default, compute_<dtype>,
    memory, launch_overhead_s, source): documented defaults, or calibrated values where measured."""


    devs = list(hwdb.load().values()) if devices is None else devices
    rows = []
    for d in devs:
        e = efficiency_for(d, calibrated)
        rows.append({"device_id": d.id, "kind": e.kind, "compute_default": e.compute_default,
                     **{f"compute_{dt}": e.compute_for(dt) if dt in d.peak_ops_per_s else None for dt in DTYPES},
                     "memory": e.memory, "launch_overhead_s": e.launch_overhead_s, "source": e.source})
    return pd.DataFrame(rows)


def curve_time_s(curve: ImplCurve, t_compute_s: float, t_memory_s: float, flops: float) -> tuple[float, str]:
    """(time of one call, bound) under an implementation's fitted curve (``hwdb.schema.ImplCurve``).

    t_compute_s / t_memory_s are the call's datasheet roof times; the compute efficiency falls off at small sizes
    as s / (s + half_flops) (tile occupancy and wave quantization), and ``floor_s`` is the latency floor."""
    ce = curve.compute_eff * (flops / (flops + curve.half_flops) if curve.half_flops and flops > 0 else 1.0)
    t_c = t_compute_s / ce if t_compute_s > 0 else 0.0
    t_m = t_memory_s / curve.memory_eff if t_memory_s > 0 else 0.0
    roof = max(t_c, t_m)
    bound = "compute" if t_c >= t_m else "memory"
    if curve.floor_s > roof:
        bound = "overhead"
    return roof + curve.floor_s, bound
