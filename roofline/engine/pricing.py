"""Vectorized pricing of op rows on one or more devices: the one formula ``predict`` and ``sweep`` share.

time(row) = (max(flops / (peak[dtype] x eff_c), bytes / (bw x eff_m), comm_bytes / interconnect bw) + launch) x count,
with the efficiencies of the device (``roofline.engine.efficiency``) scaled by the runtime profile for the row's
op class (``roofline.engine.runtime``). A whole generation is summed in closed form: each row's compute, memory
and interconnect times are affine in the context length, so the sum of their max over the steps splits at the
crossing points into arithmetic series (``sum_max_affine``) -- exact, not sampled.

Dequantization rows (weight-only quantization) are priced as real kernels run it, per GEMM, whichever is
faster: fused (the vector-unit dequant work overlaps the MMA: only its excess over the GEMM counts) or a
dequantize kernel (read the packed weights, write 16-bit ones, at memory speed or the vector rate) followed
by a dense GEMM that reads 16-bit weights. The vector rate is the device's published one (hwdb
``vector_ops_per_s`` or its fp32 figure); where it is unknown the dequant is not priced and the prediction says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from hwdb.schema import DTYPES, Device
from roofline.engine import collectives as co
from roofline.engine import transformer as tf
from roofline.engine.collectives import Links, default_links
from roofline.engine.efficiency import efficiency_for
from roofline.engine.energy import coefficients_for
from roofline.engine.model import compute_dtype_for
from roofline.engine.runtime import RuntimeProfile, get_profile
from roofline.errors import UnsupportedDtypeError

ROOF_CLASSES = ("gemm", "moe", "attn_prefill", "attn_decode", "comm", "dequant", "other")
DENSE_WEIGHT_BYTES = 2.0  # a dequantize-then-GEMM path materializes 16-bit weights


@dataclass(frozen=True)
class DeviceRoof:
    """Effective roofs of one or more devices as arrays (axis 0 = device) for one op class."""

    ids: tuple[str, ...]
    peak_eff: dict[str, np.ndarray]  # op dtype -> attainable FLOP/s (peak of the substitute dtype x eff); NaN = none
    compute_dtype: dict[str, tuple[str | None, ...]]
    e_flop_j: dict[str, np.ndarray]  # op dtype -> dynamic J/FLOP of the dtype it runs at
    bw_eff: np.ndarray
    ic_bw: np.ndarray  # NaN where the device has no interconnect figure
    overhead_s: np.ndarray
    idle_w: np.ndarray
    e_byte_j: np.ndarray
    sparse_2_4: np.ndarray
    vec_flops_per_s: np.ndarray  # vector-unit rate x efficiency (dequantization); NaN = unknown
    half_rows: float = 0.0  # GEMM rows at half compute efficiency (runtime; 0 = no size curve)
    # the system's links (roofline.engine.collectives.Links), one value a device; NaN = unknown
    bus_bw: np.ndarray | None = None
    peer_bw: np.ndarray | None = None
    nvls_bw: np.ndarray | None = None
    net_bw: np.ndarray | None = None
    host_bw: np.ndarray | None = None
    hop_s: np.ndarray | None = None
    domain: np.ndarray | None = None
    per_node: np.ndarray | None = None


def _multipliers(rt: RuntimeProfile, op_class: str, cdt: str, dev: Device) -> tuple[float, float]:
    """(compute, memory) factors the runtime applies to the device's ceilings for an op class."""
    v = rt.vendor_eff(dev)
    mem = rt.param("mem_eff")
    if op_class == "gemm":
        return v * rt.gemm_eff(cdt), v * mem
    if op_class == "moe":
        moe = rt.param("moe_eff")
        return v * rt.gemm_eff(cdt) * moe, v * mem * moe
    if op_class == "attn_prefill":
        return v * rt.param("attn_prefill_eff"), v * mem
    if op_class == "attn_decode":
        return v, v * rt.param("attn_decode_eff")
    return v, v * mem


def device_roof(devices: list[Device], calibrated: bool = True, runtime: RuntimeProfile | str | None = None,
                op_class: str = "other", links: list[Links] | None = None) -> DeviceRoof:
    rt = get_profile(runtime)
    lk = links if links is not None else [default_links(d) for d in devices]
    peak: dict[str, list[float]] = {dt: [] for dt in DTYPES}
    cdt: dict[str, list[str | None]] = {dt: [] for dt in DTYPES}
    ef: dict[str, list[float]] = {dt: [] for dt in DTYPES}
    bw, ic, oh, idle, eb, sp, vec = [], [], [], [], [], [], []
    for d in devices:
        eff = efficiency_for(d, calibrated)
        en = coefficients_for(d, calibrated)
        for dt in DTYPES:
            try:
                c = compute_dtype_for(d, dt)
            except UnsupportedDtypeError:
                c = None
            cdt[dt].append(c)
            if c:
                mc, _ = _multipliers(rt, op_class, c, d)
                pk = rt.peak_for(d, c, op_class)
                peak[dt].append(min(pk * eff.compute_for(c) * mc, pk))
            else:
                peak[dt].append(math.nan)
            ef[dt].append(en.e_flop_j.get(c, 0.0) if c else math.nan)
        _, mm = _multipliers(rt, op_class, "bf16", d)
        bw.append(min(d.mem_bw_bytes_per_s * eff.memory * mm, d.mem_bw_bytes_per_s))
        ic.append(d.interconnect_bw_bytes_per_s or math.nan)
        oh.append(rt.launch_s if rt.launch_s is not None else eff.launch_overhead_s)
        idle.append(en.idle_w)
        eb.append(en.e_byte_j)
        sp.append(d.sparse_2_4)
        vp = d.vector_peak("fp32")
        vec.append(vp * eff.compute_default if vp else math.nan)
    arr = np.asarray
    return DeviceRoof(ids=tuple(d.id for d in devices), peak_eff={k: arr(v, float) for k, v in peak.items()},
                      compute_dtype={k: tuple(v) for k, v in cdt.items()}, e_flop_j={k: arr(v, float) for k, v in ef.items()},
                      bw_eff=arr(bw, float), ic_bw=arr(ic, float), overhead_s=arr(oh, float), idle_w=arr(idle, float),
                      e_byte_j=arr(eb, float), sparse_2_4=arr(sp, bool), vec_flops_per_s=arr(vec, float),
                      half_rows=rt.param("gemm_half_rows") if op_class in ("gemm", "moe") else 0.0,
                      bus_bw=arr([x.bus_bw for x in lk], float), peer_bw=arr([x.peer_bw for x in lk], float),
                      nvls_bw=arr([x.nvls_bw for x in lk], float), net_bw=arr([x.net_bw for x in lk], float),
                      host_bw=arr([x.host_bw for x in lk], float), hop_s=arr([x.hop_s for x in lk], float),
                      domain=arr([x.domain for x in lk], float), per_node=arr([x.per_node for x in lk], float))


Roofs = dict[str, DeviceRoof]


def device_roofs(devices: list[Device], calibrated: bool = True,
                 runtime: RuntimeProfile | str | None = None, links: list[Links] | None = None) -> Roofs:
    """One DeviceRoof per op class (``ROOF_CLASSES``) under a runtime profile; ``links``: the system each device
    sits in (default: its largest hwdb system, else links implied by its interconnect field)."""
    rt = get_profile(runtime)
    lk = links if links is not None else [default_links(d) for d in devices]
    return {c: device_roof(devices, calibrated, rt, c, lk) for c in ROOF_CLASSES}


def _dev(x: np.ndarray, ndim: int) -> np.ndarray:
    """Device-axis array shaped to broadcast against ``ndim`` trailing scenario axes."""
    return x.reshape(x.shape + (1,) * ndim)


def size_factor(rows: Any, half_rows: float) -> Any:
    """1 / (M / (M + M_half)): how much longer a GEMM of M rows computes than one at the asymptotic efficiency."""
    if not half_rows:
        return 1.0
    return 1.0 + half_rows / np.maximum(np.asarray(rows, dtype=float), 1e-9)


def collective_time(term: tf.Term, roof: DeviceRoof, ndim: int) -> Any:
    """alpha-beta time of one instance of a collective row (``roofline.engine.collectives``) on every device:
    the group stays on the scale-up fabric when it fits in one domain (TP innermost, then EP, then PP); past the
    domain but inside a node (a PCIe server's peer group of 1, a GeForce NVLink pair) it crosses the node's PCIe
    (the host link where the system gives one, else the scale-up figure); past the node its ring runs at the
    nodes' NIC bandwidth."""
    D = _dev(roof.domain, ndim)
    node = np.maximum(D, _dev(roof.per_node, ndim))  # devices reachable without a NIC (NVL72: the 72-GPU domain)
    span = term.group * term.stride  # devices the group's members are spread over
    cross = span > node
    beyond = (span > D) & ~cross
    hop = _dev(roof.hop_s, ndim)
    bus, peer, net = _dev(roof.bus_bw, ndim), _dev(roof.peer_bw, ndim), _dev(roof.net_bw, ndim)
    host = _dev(roof.host_bw, ndim) if roof.host_bw is not None else np.asarray(math.nan)
    pcie = np.where(np.isfinite(host), np.minimum(host, bus), bus)
    msg = term.msg_bytes
    with np.errstate(invalid="ignore", divide="ignore"):
        if term.coll == "all_reduce" or term.coll == "all_gather":
            bw = co.ring_bw(np.minimum(term.group, D), bus, peer)
            bw = np.where(beyond, np.minimum(bw, pcie), bw)
            bw = np.where(cross, np.minimum(bw, _dev(roof.per_node, ndim) * net), bw)
            if term.coll == "all_gather":
                inside = co.all_gather_s(msg, term.group, bw, hop, cross=False)
                across = co.all_gather_s(msg, term.group, bw, hop, cross=True)
            else:
                inside = co.all_reduce_s(msg, term.group, bw, hop, _dev(roof.nvls_bw, ndim), cross=False)
                outside_domain = co.all_reduce_s(msg, term.group, bw, hop, cross=False, ring_only=True)
                inside = np.where(beyond, outside_domain, inside)  # no NVLS off the switch
                across = co.all_reduce_s(msg, term.group, bw, hop, cross=True)
            return np.where(cross, across, inside)
        if term.coll == "all_to_all":
            off = np.clip(1.0 - node / span, 0.0, 1.0)
            return co.all_to_all_s(msg, term.group, np.where(span > D, np.minimum(bus, pcie), bus), hop, net, off)
        if term.coll == "p2p":  # some stage boundary leaves the domain (or the node) when the replica does
            full = term.group * term.stride
            return np.where(full > node, co.p2p_s(msg, net, hop, cross=True),
                            co.p2p_s(msg, np.where(full > D, np.minimum(peer, pcie), peer), hop))
    raise ValueError(f"unknown collective {term.coll!r}")


def unit_times(term: tf.Term, roof: DeviceRoof, ndim: int) -> tuple[Any, Any, Any]:
    """Per-instance compute, memory and interconnect (or host-link) time of a term on every device of ``roof``."""
    t_c = term.flops / _dev(roof.peak_eff[term.dtype], ndim) * size_factor(term.rows, roof.half_rows)
    t_m = (term.bytes_read + term.bytes_written) / _dev(roof.bw_eff, ndim)
    if term.coll and (term.group > 1):
        t_comm = collective_time(term, roof, ndim)
    else:
        comm = np.asarray(term.comm_bytes, dtype=float)
        with np.errstate(invalid="ignore"):
            t_comm = np.where(comm > 0, comm / _dev(roof.ic_bw, ndim), 0.0)
    host = np.asarray(term.host_bytes, dtype=float)
    if np.any(host > 0):  # offloaded bytes stream over the host link beside the HBM reads (prefetched)
        with np.errstate(invalid="ignore"):
            t_comm = np.maximum(t_comm, np.where(host > 0, host / _dev(roof.host_bw, ndim), 0.0))
    return t_c, t_m, t_comm


def dequant_unit(term: tf.Term, roofs: Roofs, ndim: int) -> tuple[Any, Any, Any]:
    """(time, vector FLOPs, bytes) one dequant row adds to its layer's GEMMs, the faster path per GEMM.

    Zero where the device's vector rate is unknown (the caller says so)."""
    q = roofs["dequant"]
    vec = _dev(q.vec_flops_per_s, ndim)
    t_add, f_add, b_add = 0.0, 0.0, 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        for flops, nbytes, elems, wq, dt, tiles, rows, cls in term.parts:
            g = roofs[cls]
            bw = _dev(g.bw_eff, ndim)
            o = _dev(g.overhead_s, ndim)
            t_c = flops / _dev(g.peak_eff[dt], ndim) * size_factor(rows, g.half_rows)
            t_m = nbytes / bw
            plain = np.maximum(t_c, t_m)
            v_fused = tf.DEQUANT_FLOPS_PER_WEIGHT * elems * tiles
            fused = np.maximum(plain, v_fused / vec)
            w16 = elems * DENSE_WEIGHT_BYTES
            v_kernel = tf.DEQUANT_FLOPS_PER_WEIGHT * elems
            unfused = (np.maximum(t_c, t_m + (w16 - wq) / bw)
                       + np.maximum((wq + w16) / bw, v_kernel / vec) + o)
            split = unfused < fused
            t_add = t_add + np.nan_to_num(np.where(split, unfused, fused) - plain, nan=0.0)
            f_add = f_add + np.where(np.isfinite(vec), np.where(split, v_kernel, v_fused), 0.0)
            b_add = b_add + np.where(np.isfinite(vec) & split, 2.0 * w16, 0.0)  # write + re-read 16-bit weights
    return t_add, f_add, b_add


def term_cost(term: tf.Term, roofs: Roofs, ndim: int) -> dict[str, Any]:
    """All ``count`` instances of a term: time, its compute / memory / comm / overhead parts, flops, bytes, energy."""
    roof = roofs[term.cls]
    if term.cls == "dequant":
        t, f, b = dequant_unit(term, roofs, ndim)
        cnt = term.count
        out = {"time_s": t * cnt, "compute_time_s": t * cnt, "memory_time_s": 0.0 * t, "comm_time_s": 0.0 * t,
               "overhead_s": 0.0 * t, "flops": f * cnt, "bytes": b * cnt, "comm_bytes": 0.0}
    else:
        t_c, t_m, t_comm = unit_times(term, roof, ndim)
        o = _dev(roof.overhead_s, ndim)
        cnt = term.count
        out = {"time_s": (np.maximum(np.maximum(t_c, t_m), t_comm) + o) * cnt,
               "compute_time_s": t_c * cnt, "memory_time_s": t_m * cnt, "comm_time_s": t_comm * cnt,
               "overhead_s": o * cnt, "flops": term.flops * cnt,
               "bytes": (term.bytes_read + term.bytes_written) * cnt, "comm_bytes": term.comm_bytes * cnt}
    out["energy_j"] = (_dev(roof.idle_w, ndim) * out["time_s"] + _dev(roof.e_flop_j[term.dtype], ndim) * out["flops"]
                       + _dev(roof.e_byte_j, ndim) * out["bytes"])
    return out


def price(term: tf.Term, roofs: Roofs, ndim: int) -> tuple[Any, Any]:
    """(time_s, energy_j) of all ``count`` instances of a term, as ``model.estimate`` computes them."""
    c = term_cost(term, roofs, ndim)
    return c["time_s"], c["energy_j"]


def sum_max_affine(firsts: list[Any], lasts: list[Any], n: Any) -> Any:
    """sum_{j=0}^{n-1} max_i f_i(j) for functions affine in j given by their values at j=0 and j=n-1.

    Exact: the integer range is cut at every pairwise crossing; on each piece one function is the max
    and its sum is an arithmetic series. Vectorized over any broadcastable shape; n may be 0.
    """
    F = np.stack(np.broadcast_arrays(*[np.asarray(f, dtype=float) for f in firsts]))
    La = np.stack(np.broadcast_arrays(*[np.asarray(x, dtype=float) for x in lasts]))
    F, La = np.broadcast_arrays(F, La)
    n = np.broadcast_to(np.asarray(n, dtype=float), F.shape[1:])
    S = (La - F) / np.maximum(n - 1.0, 1.0)  # slope per step
    cuts = [np.zeros_like(n), n]
    k = F.shape[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in range(k):
            for j in range(i + 1, k):
                ds = S[i] - S[j]
                x = np.where(ds != 0, (F[j] - F[i]) / np.where(ds != 0, ds, 1.0), 0.0)
                cuts.append(np.clip(np.ceil(np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)), 0.0, n))
    bounds = np.sort(np.stack(cuts), axis=0)
    total = np.zeros_like(n)
    for s in range(bounds.shape[0] - 1):
        lo, hi = bounds[s], bounds[s + 1]
        cnt = hi - lo
        mid = (lo + hi - 1.0) / 2.0
        best = np.argmax(F + S * mid, axis=0)[None]
        fb = np.take_along_axis(F, best, 0)[0]
        sb = np.take_along_axis(S, best, 0)[0]
        total = total + np.where(cnt > 0, cnt * fb + sb * (lo + hi - 1.0) * cnt / 2.0, 0.0)
    return total


def decode_sum(first: tf.Term, last: tf.Term, n: Any, roofs: Roofs, ndim: int) -> dict[str, Any]:
    """Totals of one op over n decode steps whose cost is affine in the step index (first -> last step)."""
    roof = roofs[first.cls]
    if first.cls == "dequant":  # its GEMMs do not depend on the context: n equal steps
        c = term_cost(first, roofs, ndim)
        out = {k: (v * n if k != "energy_j" else v) for k, v in c.items()}
        out["energy_j"] = c["energy_j"] * n
        return out
    c0, m0, k0 = unit_times(first, roof, ndim)
    c1, m1, k1 = unit_times(last, roof, ndim)
    o = _dev(roof.overhead_s, ndim)
    cnt = first.count
    half = n / 2.0
    out = {
        "time_s": cnt * (sum_max_affine([c0, m0, k0], [c1, m1, k1], n) + n * o),
        "compute_time_s": cnt * half * (c0 + c1), "memory_time_s": cnt * half * (m0 + m1),
        "comm_time_s": cnt * half * (k0 + k1), "overhead_s": cnt * n * o,
        "flops": cnt * half * (np.asarray(first.flops) + last.flops),
        "bytes": cnt * half * (np.asarray(first.bytes_read) + first.bytes_written + last.bytes_read + last.bytes_written),
        "comm_bytes": cnt * half * (np.asarray(first.comm_bytes) + last.comm_bytes),
    }
    out["energy_j"] = (_dev(roof.idle_w, ndim) * out["time_s"] + _dev(roof.e_flop_j[first.dtype], ndim) * out["flops"]
                       + _dev(roof.e_byte_j, ndim) * out["bytes"])
    return out
