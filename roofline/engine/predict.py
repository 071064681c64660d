"""Predict one model x device x scenario: per-op estimates and totals (TTFT, TPOT, tokens/s, memory, energy).

Prefill and one decode step are priced op by op with ``roofline.engine.model.estimate``. Whole generation is
prefill + the sum over every decode step, in closed form: each op's compute and memory time is affine in
the context length, so the sum of max(compute, memory, comm) over the steps splits at the crossing points
into arithmetic series (``sum_max_affine``) -- exact, not sampled. The same vectorized pricing
(``DeviceRoof``, ``price``) serves ``roofline.engine.sweep``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

import hwdb
from hwdb.schema import DTYPES, Device
from roofline.engine import transformer as tf
from roofline.engine.catalog import Accuracy, ModelSpec, get_model
from roofline.engine.efficiency import efficiency_for
from roofline.engine.energy import coefficients_for, ipj, ipw
from roofline.engine.model import Estimate, compute_dtype_for, estimate
from roofline.engine.scenario import Scenario
from roofline.errors import InputError, UnsupportedDtypeError
from roofline.fmt import si, to_jsonable
from roofline.ops import Op
from roofline.provenance import DATASHEET, MODELED

# A serving engine cannot use all of device memory (CUDA context, allocator slack, framework buffers);
# vLLM's default gpu_memory_utilization is 0.9.
USABLE_MEMORY_FRACTION = 0.90
# Devices with only an MSRP are priced by straight-line amortization over this many years of 24/7 use
# (hardware only: no power, hosting or margin -- cloud prices include those).
AMORTIZATION_YEARS = 3.0
HOURS_PER_YEAR = 8760.0


# ---- vectorized pricing (shared with roofline.engine.sweep) ---------------------------------------------------

@dataclass(frozen=True)
class DeviceRoof:
    """Effective roofs of one or more devices as arrays (axis 0 = device): what ``estimate`` uses."""

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


def device_roof(devices: list[Device], calibrated: bool = True) -> DeviceRoof:
    peak: dict[str, list[float]] = {dt: [] for dt in DTYPES}
    cdt: dict[str, list[str | None]] = {dt: [] for dt in DTYPES}
    ef: dict[str, list[float]] = {dt: [] for dt in DTYPES}
    bw, ic, oh, idle, eb, sp = [], [], [], [], [], []
    for d in devices:
        eff = efficiency_for(d, calibrated)
        en = coefficients_for(d, calibrated)
        for dt in DTYPES:
            try:
                c = compute_dtype_for(d, dt)
            except UnsupportedDtypeError:
                c = None
            cdt[dt].append(c)
            peak[dt].append(d.peak(c) * eff.compute_for(c) if c else math.nan)
            ef[dt].append(en.e_flop_j.get(c, 0.0) if c else math.nan)
        bw.append(d.mem_bw_bytes_per_s * eff.memory)
        ic.append(d.interconnect_bw_bytes_per_s or math.nan)
        oh.append(eff.launch_overhead_s)
        idle.append(en.idle_w)
        eb.append(en.e_byte_j)
        sp.append(d.sparse_2_4)
    arr = np.asarray
    return DeviceRoof(ids=tuple(d.id for d in devices), peak_eff={k: arr(v, float) for k, v in peak.items()},
                      compute_dtype={k: tuple(v) for k, v in cdt.items()}, e_flop_j={k: arr(v, float) for k, v in ef.items()},
                      bw_eff=arr(bw, float), ic_bw=arr(ic, float), overhead_s=arr(oh, float), idle_w=arr(idle, float),
                      e_byte_j=arr(eb, float), sparse_2_4=arr(sp, bool))


def _dev(x: np.ndarray, ndim: int) -> np.ndarray:
    """Device-axis array shaped to broadcast against ``ndim`` trailing scenario axes."""
    return x.reshape(x.shape + (1,) * ndim)


def unit_times(term: tf.Term, roof: DeviceRoof, ndim: int) -> tuple[Any, Any, Any]:
    """Per-instance compute, memory and interconnect time of a term on every device of ``roof``."""
    t_c = term.flops / _dev(roof.peak_eff[term.dtype], ndim)
    t_m = (term.bytes_read + term.bytes_written) / _dev(roof.bw_eff, ndim)
    comm = np.asarray(term.comm_bytes, dtype=float)
    with np.errstate(invalid="ignore"):
        t_comm = np.where(comm > 0, comm / _dev(roof.ic_bw, ndim), 0.0)
    return t_c, t_m, t_comm


def price(term: tf.Term, roof: DeviceRoof, ndim: int) -> tuple[Any, Any]:
    """(time_s, energy_j) of all ``count`` instances of a term, as ``model.estimate`` computes them."""
    t_c, t_m, t_comm = unit_times(term, roof, ndim)
    time_s = (np.maximum(np.maximum(t_c, t_m), t_comm) + _dev(roof.overhead_s, ndim)) * term.count
    flops = term.flops * term.count
    nbytes = (term.bytes_read + term.bytes_written) * term.count
    energy = (_dev(roof.idle_w, ndim) * time_s + _dev(roof.e_flop_j[term.dtype], ndim) * flops
              + _dev(roof.e_byte_j, ndim) * nbytes)
    return time_s, energy


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


def decode_sum(first: tf.Term, last: tf.Term, n: Any, roof: DeviceRoof, ndim: int) -> dict[str, Any]:
    """Totals of one op over n decode steps whose cost is affine in the step index (first -> last step)."""
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


# ---- the prediction ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Prediction:
    """Modeled serving figures of a model on ``tp`` devices of one kind. Units: s, tokens/s, bytes, J, W, USD.

    Per-device quantities: weight/kv/activation/memory bytes. Whole-system quantities (all tp devices):
    energy_j, avg_power_w, tokens_per_s, usd_per_mtok. ``ops`` are the per-device estimates of the phase.
    """

    model_id: str
    device_id: str
    scenario: Scenario
    ops: tuple[Estimate, ...]
    ttft_s: float
    tpot_s: float
    tokens_per_s: float
    tokens_per_s_per_request: float
    time_s: float
    weight_bytes: float
    kv_bytes: float
    activation_bytes: float
    memory_bytes: float
    fits: bool
    fit_reason: str
    energy_j: float
    j_per_token: float
    avg_power_w: float
    accuracy: Accuracy | None
    ipw: float | None
    ipj: float | None
    usd_per_mtok: float | None
    kind: str = MODELED
    efficiency_kind: str = MODELED
    energy_kind: str = MODELED
    # additions beyond the contract
    tp: int = 1
    tokens_per_s_per_device: float = 0.0
    prefill_time_s: float = 0.0
    decode_time_s: float = 0.0
    tokens: float = 0.0
    usable_memory_bytes: float = 0.0
    usd_per_h: float | None = None
    price_basis: str = ""
    bound: str = ""
    efficiency_source: str = ""
    energy_source: str = ""
    op_phases: tuple[str, ...] = field(default=())

    def ops_frame(self) -> pd.DataFrame:
        """One row an op: name, kind, layer, count, flops, bytes, dtype, time_s, bound, intensity,
        attainable_flops_per_s, energy_j (+ phase, comm_bytes; totals over count, per device)."""
        rows = [{"name": e.op.name, "kind": e.op.kind, "layer": e.op.layer, "count": e.op.count,
                 "flops": e.op.total_flops, "bytes": e.op.total_bytes, "dtype": e.op.dtype, "time_s": e.time_s,
                 "bound": e.bound, "intensity": e.intensity_flop_per_byte,
                 "attainable_flops_per_s": e.attainable_flops_per_s, "energy_j": e.energy_j,
                 "phase": ph, "comm_bytes": e.op.comm_bytes * e.op.count}
                for e, ph in zip(self.ops, self.op_phases or ("",) * len(self.ops), strict=True)]
        cols = ["name", "kind", "layer", "count", "flops", "bytes", "dtype", "time_s", "bound", "intensity",
                "attainable_flops_per_s", "energy_j", "phase", "comm_bytes"]
        return pd.DataFrame(rows, columns=cols)

    def to_dict(self, include_ops: bool = False) -> dict[str, Any]:
        """One JSON-ready document; every number group carries its provenance kind."""

        m = get_model(self.model_id)
        doc: dict[str, Any] = {
            "model": {"id": m.id, "name": m.name, "params": m.params, "active_params": m.active_params,
                      "source": m.source, "kind": DATASHEET},
            "device": {"id": self.device_id, "count": self.tp, "kind": DATASHEET},
            "scenario": asdict(self.scenario),
            "totals": {
                "kind": self.kind, "ttft_s": self.ttft_s, "tpot_s": self.tpot_s, "tokens_per_s": self.tokens_per_s,
                "tokens_per_s_per_request": self.tokens_per_s_per_request,
                "tokens_per_s_per_device": self.tokens_per_s_per_device, "time_s": self.time_s,
                "prefill_time_s": self.prefill_time_s, "decode_time_s": self.decode_time_s, "tokens": self.tokens,
                "bound": self.bound, "memory_bytes": self.memory_bytes, "weight_bytes": self.weight_bytes,
                "kv_bytes": self.kv_bytes, "activation_bytes": self.activation_bytes,
                "usable_memory_bytes": self.usable_memory_bytes, "fits": self.fits, "fit_reason": self.fit_reason,
                "energy_j": self.energy_j, "j_per_token": self.j_per_token, "avg_power_w": self.avg_power_w,
                "usd_per_mtok": self.usd_per_mtok},
            "efficiency": {"kind": self.efficiency_kind, "source": self.efficiency_source},
            "energy_model": {"kind": self.energy_kind, "source": self.energy_source},
            "price": {"kind": DATASHEET if self.usd_per_h is not None else None, "usd_per_h": self.usd_per_h,
                      "basis": self.price_basis, "usd_per_mtok": self.usd_per_mtok},
            "intelligence": None if self.accuracy is None else {
                "kind": MODELED, "accuracy": {**asdict(self.accuracy), "kind": "published"},
                "ipw": self.ipw, "ipj": self.ipj,
                "note": "IPW = accuracy (fraction) / mean power (W); IPJ = accuracy / energy per request (J)"},
        }
        if include_ops:
            doc["ops"] = {"kind": MODELED, "rows": self.ops_frame().to_dict(orient="records")}
        return to_jsonable(doc)


def _estimate_from_sum(first: Op, s: dict[str, Any], n: int, device: Device, roof: DeviceRoof) -> Estimate:
    """An Estimate for one op summed over n decode steps (per-instance figures are step means)."""
    cnt = first.count * n
    op = Op(name=first.name, kind=first.kind, flops=float(s["flops"]) / cnt, bytes_read=float(s["bytes"]) / cnt,
            bytes_written=0.0, dtype=first.dtype, count=cnt, layer=first.layer,
            comm_bytes=float(s["comm_bytes"]) / cnt)
    parts = {"compute": float(s["compute_time_s"]), "memory": float(s["memory_time_s"]), "comm": float(s["comm_time_s"])}
    bound = max(parts, key=parts.get)
    if float(s["overhead_s"]) > parts[bound]:
        bound = "overhead"
    peak = float(roof.peak_eff[first.dtype][0])
    bw = float(roof.bw_eff[0])
    return Estimate(op=op, device_id=device.id, time_s=float(s["time_s"]), compute_time_s=parts["compute"],
                    memory_time_s=parts["memory"], comm_time_s=parts["comm"], overhead_s=float(s["overhead_s"]),
                    bound=bound, intensity_flop_per_byte=op.intensity,
                    attainable_flops_per_s=min(peak, op.intensity * bw), energy_j=float(s["energy_j"]))


def price_usd_per_h(device: Device, tp: int) -> tuple[float | None, str]:
    if device.cloud_usd_per_h:
        return device.cloud_usd_per_h * tp, f"cloud on-demand ({device.price_date})"
    if device.msrp_usd:
        return device.msrp_usd * tp / (AMORTIZATION_YEARS * HOURS_PER_YEAR), \
            f"MSRP amortized over {AMORTIZATION_YEARS:g} years of 24/7 use, hardware only ({device.price_date})"
    return None, "no public price"


def fit_check(weights: float, kv: float, act: float, device: Device, tp: int) -> tuple[bool, str]:
    usable = USABLE_MEMORY_FRACTION * device.memory_bytes
    total = weights + kv + act
    if total <= usable:
        return True, ""

    return False, (f"needs {si(total, 'B')} a device (weights {si(weights, 'B')}, KV {si(kv, 'B')}, "
                   f"activations {si(act, 'B')}) > {si(usable, 'B')} usable ({USABLE_MEMORY_FRACTION:.0%} of "
                   f"{si(device.memory_bytes, 'B')}) on {device.id}" + (f" x{tp}" if tp > 1 else "")
                   + "; try more tensor parallelism, fewer bits, a smaller batch or context")


def predict(model: ModelSpec | str, device: Device | str, scenario: Scenario, calibrated: bool = True) -> Prediction:
    """Price ``scenario`` for ``model`` on ``scenario.tp`` devices of one kind. Raises InputError /
    UnknownNameError on bad input, UnsupportedDtypeError when the device lacks every substitute dtype."""

    m = get_model(model)
    dev = hwdb.get(device) if isinstance(device, str) else device
    sc = scenario.validate(m)
    if sc.tp > 1 and not dev.interconnect_bw_bytes_per_s:
        raise InputError(f"{dev.id} has no interconnect bandwidth in hwdb: tensor parallelism cannot be priced")
    eff = efficiency_for(dev, calibrated)
    en = coefficients_for(dev, calibrated)
    roof = device_roof([dev], calibrated)
    sparse_hw = dev.sparse_2_4
    B, P, G = sc.batch, sc.prompt_tokens, sc.gen_tokens

    def est(terms: list[tf.Term]) -> list[Estimate]:
        return [estimate(t.op(), dev, eff, en) for t in terms]

    pre = est(tf.prefill_terms(m, sc, sparse_hw))
    step = est(tf.decode_terms(m, sc, P, sparse_hw))
    prefill_s = sum(e.time_s for e in pre)
    step_s = sum(e.time_s for e in step)
    n = G - 1
    dec_rows: list[Estimate] = []
    if n > 0 and sc.phase == "generate":
        first = tf.decode_terms(m, sc, P, sparse_hw)
        last = tf.decode_terms(m, sc, P + G - 2, sparse_hw)
        for f, la in zip(first, last, strict=True):
            s = decode_sum(f, la, n, roof, 0)
            dec_rows.append(_estimate_from_sum(f.op(), {k: np.asarray(v).reshape(-1)[0] for k, v in s.items()},
                                               n, dev, roof))
    gen_decode_s = sum(e.time_s for e in dec_rows)
    ttft = prefill_s
    # TPOT: the mean decode step of the generation; for prefill / decode phases, the first step after the prompt
    tpot = gen_decode_s / n if dec_rows else step_s

    if sc.phase == "prefill":
        rows, phases, time_s, dec_s = pre, ("prefill",) * len(pre), prefill_s, 0.0
    elif sc.phase == "decode":
        rows, phases, time_s, dec_s = step, ("decode",) * len(step), step_s, step_s
    else:
        rows = pre + dec_rows
        phases = ("prefill",) * len(pre) + ("decode",) * len(dec_rows)
        time_s, dec_s = prefill_s + gen_decode_s, gen_decode_s
    tokens = float(B * sc.tokens_out)
    tok_s = tokens / time_s
    energy = sc.tp * sum(e.energy_j for e in rows)  # all tp devices work in lockstep
    power = energy / time_s

    w = tf.weight_bytes(m, sc)
    kv = float(tf.kv_cache_bytes(m, sc, B, sc.max_context))
    act_tokens = P if sc.phase in ("prefill", "generate") else 1
    act = float(tf.activation_bytes(m, sc, B, act_tokens, sc.max_context if sc.phase == "decode" else P))
    fits, reason = fit_check(w, kv, act, dev, sc.tp)

    acc = m.accuracy_for()
    ipw_ = ipw(acc.fraction, power) if acc else None
    ipj_ = ipj(acc.fraction, energy / B) if acc else None  # a query = one sequence of the batch
    usd_h, basis = price_usd_per_h(dev, sc.tp)
    usd_mtok = usd_h / 3600.0 / tok_s * 1e6 if usd_h is not None else None
    by_bound: dict[str, float] = {}
    for e in rows:
        by_bound[e.bound] = by_bound.get(e.bound, 0.0) + e.time_s
    return Prediction(
        model_id=m.id, device_id=dev.id, scenario=sc, ops=tuple(rows), ttft_s=ttft, tpot_s=tpot, tokens_per_s=tok_s,
        tokens_per_s_per_request=tok_s / B, time_s=time_s, weight_bytes=w, kv_bytes=kv, activation_bytes=act,
        memory_bytes=w + kv + act, fits=fits, fit_reason=reason, energy_j=energy, j_per_token=energy / tokens,
        avg_power_w=power, accuracy=acc, ipw=ipw_, ipj=ipj_, usd_per_mtok=usd_mtok, kind=MODELED,
        efficiency_kind=eff.kind, energy_kind=en.kind, tp=sc.tp, tokens_per_s_per_device=tok_s / sc.tp,
        prefill_time_s=prefill_s if sc.phase != "decode" else 0.0, decode_time_s=dec_s, tokens=tokens,
        usable_memory_bytes=USABLE_MEMORY_FRACTION * dev.memory_bytes, usd_per_h=usd_h, price_basis=basis,
        bound=max(by_bound, key=by_bound.get), efficiency_source=eff.source, energy_source=en.source,
        op_phases=phases)
