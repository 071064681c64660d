"""Roofline math on hand-derived numbers, and its invariants."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

import hwdb
from roofline.engine.efficiency import Efficiency, efficiency_for
from roofline.engine.energy import EnergyCoefficients, coefficients_for
from roofline.engine.model import ceilings, compute_dtype_for, estimate
from roofline.errors import UnsupportedDtypeError
from roofline.ops import Op

H100 = hwdb.get("h100-sxm")
UNIT = Efficiency(compute_default=1.0, memory=1.0, launch_overhead_s=0.0)
NO_ENERGY = EnergyCoefficients(idle_w=0.0)


def gemv_op(n: int = 8192) -> Op:
    # y = W x, W (n, n) bf16: FLOPs 2n^2; read n^2*2 + n*2 bytes, write n*2 bytes
    return Op("gemv", "matmul", 2 * n * n, 2 * n * n + 2 * n, 2 * n, "bf16")


def test_memory_bound_gemv_time_by_hand():
    # bytes = 2*8192^2 + 4*8192 = 134,250,496; at 3.35e12 B/s -> 40.075 us
    e = estimate(gemv_op(), H100, eff=UNIT, energy=NO_ENERGY)
    assert e.bound == "memory"
    assert e.time_s == pytest.approx(134_250_496 / 3.35e12)
    # intensity = 134,217,728 / 134,250,496 ~= 0.99976 FLOP/B
    assert e.intensity_flop_per_byte == pytest.approx(0.99976, rel=1e-4)


def test_compute_bound_matmul_time_by_hand():
    # 8192^3 bf16 matmul: 2*8192^3 = 1.0995e12 FLOP at 989.5e12 -> 1.1112 ms; bytes 3*2*8192^2 = 402.7 MB
    n = 8192
    op = Op("mm", "matmul", 2 * n**3, 2 * 2 * n * n, 2 * n * n, "bf16")
    e = estimate(op, H100, eff=UNIT, energy=NO_ENERGY)
    assert e.bound == "compute"
    assert e.time_s == pytest.approx(2 * n**3 / 989.5e12)
    assert e.attainable_flops_per_s == pytest.approx(989.5e12)


def test_count_overhead_and_energy():
    # 10 instances, each 1 us of memory time at unit efficiency + 2 us overhead -> 30 us
    op = Op("x", "elementwise", 0, 3.35e6, 0, "fp16", count=10)
    eff = replace(UNIT, launch_overhead_s=2e-6)
    en = EnergyCoefficients(idle_w=100.0, e_flop_j={"fp16": 1e-12}, e_byte_j=1e-10)
    e = estimate(op, H100, eff=eff, energy=en)
    assert e.time_s == pytest.approx(30e-6)
    assert e.bound == "overhead"
    # E = 100 W * 30 us + 1e-10 J/B * 33.5e6 B = 3e-3 + 3.35e-3
    assert e.energy_j == pytest.approx(3e-3 + 3.35e-3)


def test_comm_time_uses_interconnect():
    # 900e6 bytes over 900 GB/s NVLink = 1 ms
    op = Op("allreduce", "comm", 0, 0, 0, "bf16", comm_bytes=900e6)
    e = estimate(op, H100, eff=UNIT, energy=NO_ENERGY)
    assert e.bound == "comm" and e.time_s == pytest.approx(1e-3)


def test_unsupported_dtype_falls_back_to_wider_unit():
    assert compute_dtype_for(H100, "int4") == "int8"  # no int4 tensor cores on Hopper
    cpu_like = replace(H100, peak_ops_per_s={"fp32": 1e12})
    assert compute_dtype_for(cpu_like, "bf16") == "fp32"
    with pytest.raises(UnsupportedDtypeError):
        compute_dtype_for(replace(H100, peak_ops_per_s={"int8": 1e12}), "fp64")


def test_ceilings_and_calibration_seam():
    cs = {c.dtype: c for c in ceilings(H100)}
    assert "int4" not in cs and cs["fp8"].ridge_flop_per_byte == pytest.approx(1979e12 / 3.35e12)
    eff = efficiency_for(H100)
    assert eff.kind == "measured"  # H100 has a measured overlay
    assert eff.memory == pytest.approx(3.0 / 3.35)
    # the calibrated ceiling: cuBLAS's 4096x8192x8192 bf16 call (763.6 TF/s measured) with the fitted ~4 us launch
    # removed (roofline calibrate on the anchor trace)
    assert eff.compute_for("bf16") == pytest.approx(763.6 / 989.5, rel=0.01)
    assert efficiency_for(H100, calibrated=False).kind == "modeled"
    assert coefficients_for(H100).idle_w == pytest.approx(72.8)
    assert coefficients_for(H100, calibrated=False).kind == "modeled"


def test_op_rejects_bad_fields():
    with pytest.raises(ValueError, match="dtype"):
        Op("x", "matmul", 1, 1, 1, "fp2")
    with pytest.raises(ValueError, match="flops"):
        Op("x", "matmul", -1, 1, 1, "fp16")


@given(flops=st.floats(1e3, 1e15), nbytes=st.floats(1e3, 1e12), scale=st.floats(1.0, 10.0),
       dtype=st.sampled_from(["bf16", "fp16", "fp32", "int8", "fp8"]))
def test_more_bandwidth_or_peak_is_never_slower(flops, nbytes, scale, dtype):
    op = Op("p", "matmul", flops, nbytes, 0, dtype)
    base = estimate(op, H100).time_s
    faster_mem = replace(H100, mem_bw_bytes_per_s=H100.mem_bw_bytes_per_s * scale)
    faster_peak = replace(H100, peak_ops_per_s={k: v * scale for k, v in H100.peak_ops_per_s.items()})
    assert estimate(op, faster_mem).time_s <= base * (1 + 1e-12)
    assert estimate(op, faster_peak).time_s <= base * (1 + 1e-12)
