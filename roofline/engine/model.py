"""Roofline math: price an Op on a Device.

time(op) = max(flops / (peak[dtype] * eff_c), bytes / (bw * eff_m), comm_bytes / interconnect_bw)
           + launch overhead, for each of ``op.count`` instances.
"""

from __future__ import annotations

from dataclasses import dataclass

from hwdb.schema import DTYPES, Device
from roofline.engine.efficiency import Efficiency, efficiency_for
from roofline.engine.energy import EnergyCoefficients, coefficients_for
from roofline.errors import MissingFigureError, UnsupportedDtypeError
from roofline.ops import Op
from roofline.provenance import MODELED


@dataclass(frozen=True)
class Estimate:
    """Modeled cost of one Op (all instances) on one device. Units: s, FLOP/s, FLOP/byte, J."""

    op: Op
    device_id: str
    time_s: float
    compute_time_s: float
    memory_time_s: float
    comm_time_s: float
    overhead_s: float
    bound: str  # compute | memory | comm | overhead
    intensity_flop_per_byte: float
    attainable_flops_per_s: float
    energy_j: float
    kind: str = MODELED

    @property
    def achieved_flops_per_s(self) -> float:
        return self.op.total_flops / self.time_s if self.time_s > 0 else 0.0


@dataclass(frozen=True)
class Ceiling:
    """One compute roof of a device: dense peak for a dtype, and where it meets the memory roof."""

    dtype: str
    peak_ops_per_s: float
    ridge_flop_per_byte: float
    source: str


def ceilings(device: Device) -> list[Ceiling]:
    """Datasheet compute roofs per supported dtype, in DTYPES order."""
    out = []
    for dt in DTYPES:
        p = device.peak(dt)
        if p is not None:
            out.append(Ceiling(dt, p, p / device.mem_bw_bytes_per_s, device.source_of(f"peak.{dt}").title))
    return out


def attainable_flops_per_s(intensity: float, device: Device, dtype: str, eff: Efficiency | None = None) -> float:
    """min(peak * eff_c, intensity * bw * eff_m): the roofline itself."""
    eff = eff or efficiency_for(device)
    peak = device.peak(dtype)
    if peak is None:
        raise UnsupportedDtypeError(f"{device.id} has no {dtype} ceiling (supports: {', '.join(device.supported_dtypes)})")
    return min(peak * eff.compute_for(dtype), intensity * device.mem_bw_bytes_per_s * eff.memory)


def compute_dtype_for(device: Device, dtype: str) -> str:
    """The ceiling an op of ``dtype`` runs at on ``device``: itself, or the nearest wider dtype it supports.

    (int4 without int4 units runs as int8 or fp16; fp8 without fp8 units runs as fp16/bf16; tf32 as fp32.)
    """
    if device.peak(dtype) is not None:
        return dtype
    fallbacks = {"int4": ("int8", "fp16", "bf16", "fp32"), "int8": ("fp16", "bf16", "fp32"),
                 "fp8": ("fp16", "bf16", "fp32"), "bf16": ("fp16", "fp32"), "fp16": ("bf16", "fp32"),
                 "tf32": ("fp32",), "fp32": ("tf32", "fp16", "bf16"), "fp64": ("fp32",)}
    for alt in fallbacks.get(dtype, ()):
        if device.peak(alt) is not None:
            return alt
    raise UnsupportedDtypeError(f"{device.id} has no ceiling for {dtype} or a wider substitute")


def estimate(op: Op, device: Device, eff: Efficiency | None = None,
             energy: EnergyCoefficients | None = None) -> Estimate:
    """Modeled time, bound and energy of ``op`` on ``device`` (calibrated factors where measured)."""
    eff = eff or efficiency_for(device)
    energy = energy or coefficients_for(device)
    dt = compute_dtype_for(device, op.dtype)
    peak = device.peak(dt) * eff.compute_for(dt)
    bw = device.mem_bw_bytes_per_s * eff.memory
    t_c = op.flops / peak
    t_m = op.bytes / bw
    t_comm = 0.0
    if op.comm_bytes:
        icbw = device.interconnect_bw_bytes_per_s
        if not icbw:
            raise MissingFigureError(f"{device.id} has no interconnect bandwidth for {op.name!r}")
        t_comm = op.comm_bytes / icbw
    t_o = eff.launch_overhead_s
    t_one = max(t_c, t_m, t_comm) + t_o
    parts = {"compute": t_c, "memory": t_m, "comm": t_comm}
    bound = max(parts, key=parts.get)
    if t_o > parts[bound]:
        bound = "overhead"
    n = op.count
    time_s = t_one * n
    e = energy.energy_j(time_s, op.total_flops, op.total_bytes, dt)
    return Estimate(op=op, device_id=device.id, time_s=time_s, compute_time_s=t_c * n, memory_time_s=t_m * n,
                    comm_time_s=t_comm * n, overhead_s=t_o * n, bound=bound, intensity_flop_per_byte=op.intensity,
                    attainable_flops_per_s=min(peak, op.intensity * bw), energy_j=e)
