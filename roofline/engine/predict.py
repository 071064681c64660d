"""Predict one model x device x scenario: per-op estimates and totals (TTFT, TPOT, tokens/s, memory, energy).

Prefill and one decode step are priced op by op with ``roofline.engine.pricing`` (the formula of
``roofline.engine.model.estimate``, per op class under a runtime profile, ``roofline.engine.runtime``). Whole
generation is prefill + the sum over every decode step, in closed form (``pricing.decode_sum``). The runtime adds
its per-pass and per-request costs as ``runtime_step`` / ``runtime_request`` rows, chunks the prefill under its
max-batched-tokens budget and sets the usable memory; every headline figure gets a band (``*_lo`` / ``*_hi``)
from the held-out residuals of the profile for the device's class.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

import hwdb
from hwdb.schema import Device
from hwdb.systems import systems_for
from roofline.engine import transformer as tf
from roofline.engine.catalog import Accuracy, ModelSpec, get_model
from roofline.engine.collectives import default_links
from roofline.engine.cost import DEFAULT_BASIS, Tco, hourly_cost
from roofline.engine.efficiency import efficiency_for
from roofline.engine.energy import coefficients_for, ipj, ipw
from roofline.engine.model import Estimate, compute_dtype_for
from roofline.engine.parallel import check_layout, nodes_for
from roofline.engine.pricing import Roofs, decode_sum, device_roofs, term_cost
from roofline.engine.runtime import DEFAULT_RUNTIME, Band, RuntimeProfile, device_class, get_profile
from roofline.engine.scenario import SPEC_HEADS, Scenario
from roofline.errors import InputError
from roofline.fmt import si, to_jsonable
from roofline.ops import Op
from roofline.provenance import DATASHEET, MEASURED, MODELED

# A serving engine cannot use all of device memory (CUDA context, allocator slack, framework buffers);
# vLLM's default gpu_memory_utilization is 0.9 (the ideal runtime's figure; each profile states its own).
USABLE_MEMORY_FRACTION = 0.90
# Headline figures that carry a band: times (and what scales with time), rates, energy and what follows from it.
TIME_FIELDS = ("ttft_s", "tpot_s", "time_s", "usd_per_mtok")
RATE_FIELDS = ("tokens_per_s", "tokens_per_s_per_request", "tokens_per_s_per_device")
BAND_FIELDS = TIME_FIELDS + RATE_FIELDS + ("energy_j", "j_per_token", "avg_power_w", "ipw", "ipj")
# Devices with only an MSRP are priced by straight-line amortization over this many years of 24/7 use
# (hardware only: no power, hosting or margin -- cloud prices include those).


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
    runtime: str = DEFAULT_RUNTIME
    runtime_title: str = ""
    prefill_chunks: int = 1
    cost_basis: str = DEFAULT_BASIS  # cloud | owned: the basis every $ figure here is on
    price_source: str = ""  # the quote behind usd_per_h: provider, date, url
    unreliable: dict[str, str] = field(default_factory=dict)  # shown figure -> why it is not to be trusted
    bands: dict[str, tuple[float, float]] = field(default_factory=dict)  # field -> (lo, hi)
    band: Band | None = None
    notes: tuple[str, ...] = ()
    # parallel layout (issue 17): a replica of tp x pp x ep devices over ``nodes`` nodes of ``system_id``
    pp: int = 1
    ep: int = 1
    nodes: int = 1
    devices: int = 1
    system_id: str = ""
    tokens_per_step: float = 1.0  # tokens a sequence gains a decode step (> 1 with speculative decoding)
    step_busy_s: float = 0.0  # a device's busy time in the first decode step (pipeline bubbles excluded)

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
            "device": {"id": self.device_id, "count": self.devices, "kind": DATASHEET},
            "parallel": {"tp": self.tp, "pp": self.pp, "ep": self.ep, "nodes": self.nodes, "devices": self.devices,
                         "system": self.system_id, "tokens_per_step": self.tokens_per_step},
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
                "usd_per_mtok": self.usd_per_mtok, "prefill_chunks": self.prefill_chunks,
                **{f"{k}_{side}": self.bands[k][i] if k in self.bands else None
                   for k in BAND_FIELDS for i, side in enumerate(("lo", "hi"))}},
            "runtime": {"name": self.runtime, "title": self.runtime_title, "default": DEFAULT_RUNTIME,
                        "is_default": self.runtime == DEFAULT_RUNTIME},
            "band": None if self.band is None else {
                "kind": MODELED, "device_class": self.band.device_class, "coverage": self.band.coverage,
                "lo_factor": math.exp(self.band.lo), "hi_factor": math.exp(self.band.hi), "n": self.band.n,
                "basis": self.band.basis,
                "note": "measured / predicted time fell in [lo_factor, hi_factor] for this share of held-out points"},
            "notes": list(self.notes),
            "efficiency": {"kind": self.efficiency_kind, "source": self.efficiency_source},
            "energy_model": {"kind": self.energy_kind, "source": self.energy_source},
            "price": {"kind": DATASHEET if self.usd_per_h is not None else None, "usd_per_h": self.usd_per_h,
                      "cost_basis": self.cost_basis, "basis": self.price_basis, "source": self.price_source,
                      "usd_per_mtok": self.usd_per_mtok},
            "unreliable": dict(self.unreliable),
            "intelligence": None if self.accuracy is None else {
                "kind": MODELED, "accuracy": {**asdict(self.accuracy), "kind": "published"},
                "ipw": self.ipw, "ipj": self.ipj,
                "note": "IPW = accuracy (fraction) / mean power (W); IPJ = accuracy / energy per request (J)"},
        }
        if include_ops:
            doc["ops"] = {"kind": MODELED, "rows": self.ops_frame().to_dict(orient="records")}
        return to_jsonable(doc)


def _estimate(op: Op, c: dict[str, Any], device: Device, roofs: Roofs, cls: str) -> Estimate:
    """An Estimate from ``pricing.term_cost`` / ``decode_sum`` totals (ndim 0: one device)."""
    v = {k: float(np.asarray(x).reshape(-1)[0]) for k, x in c.items()}
    parts = {"compute": v["compute_time_s"], "memory": v["memory_time_s"], "comm": v["comm_time_s"]}
    bound = max(parts, key=parts.get)
    if v["overhead_s"] > parts[bound]:
        bound = "overhead"
    roof = roofs[cls]
    peak = float(roof.peak_eff[op.dtype][0])
    bw = float(roof.bw_eff[0])
    return Estimate(op=op, device_id=device.id, time_s=v["time_s"], compute_time_s=parts["compute"],
                    memory_time_s=parts["memory"], comm_time_s=parts["comm"], overhead_s=v["overhead_s"],
                    bound=bound, intensity_flop_per_byte=op.intensity,
                    attainable_flops_per_s=min(peak, op.intensity * bw), energy_j=v["energy_j"])


def _term_estimate(t: tf.Term, device: Device, roofs: Roofs) -> Estimate:
    c = term_cost(t, roofs, 0)
    op = t.op()
    if t.cls == "dequant":  # the row carries the path the pricing chose (its vector FLOPs and extra bytes)
        cnt = op.count
        op = Op(name=op.name, kind=op.kind, flops=float(np.asarray(c["flops"]).reshape(-1)[0]) / cnt,
                bytes_read=float(np.asarray(c["bytes"]).reshape(-1)[0]) / cnt, bytes_written=0.0, dtype=op.dtype,
                count=cnt, layer=op.layer)
    return _estimate(op, c, device, roofs, t.cls)


def _sum_estimate(first: tf.Term, s: dict[str, Any], n: int, device: Device, roofs: Roofs) -> Estimate:
    """An Estimate for one op summed over n decode steps (per-instance figures are step means)."""
    cnt = first.count * n
    v = {k: float(np.asarray(x).reshape(-1)[0]) for k, x in s.items()}
    op = Op(name=first.name, kind=first.kind, flops=v["flops"] / cnt, bytes_read=v["bytes"] / cnt,
            bytes_written=0.0, dtype=first.dtype, count=cnt, layer=first.layer, comm_bytes=v["comm_bytes"] / cnt)
    return _estimate(op, s, device, roofs, first.cls)


def _overhead_estimate(name: str, seconds: float, count: int, device: Device, idle_w: float) -> Estimate:
    """A runtime cost row: host-side time the device waits through (at idle power)."""
    op = Op(name=name, kind="overhead", flops=0.0, bytes_read=0.0, bytes_written=0.0, dtype="bf16", count=count,
            layer="runtime")
    t = seconds * count
    return Estimate(op=op, device_id=device.id, time_s=t, compute_time_s=0.0, memory_time_s=0.0, comm_time_s=0.0,
                    overhead_s=t, bound="overhead", intensity_flop_per_byte=op.intensity, attainable_flops_per_s=0.0,
                    energy_j=idle_w * t)


def bands_for(band: Band | None, p: dict[str, Any], idle_w: float, tp: int) -> dict[str, tuple[float, float]]:
    """lo / hi of every headline figure from a band of log(measured / predicted time).

    Times (and $/Mtok, which is price x time) scale by e^lo .. e^hi; rates by the inverse. Energy splits into the
    idle share (idle power x time, which scales with time) and the dynamic share (per FLOP and byte, which does
    not); mean power, IPW and IPJ follow from energy and time."""
    if band is None:
        return {}
    f_lo, f_hi = math.exp(band.lo), math.exp(band.hi)
    out: dict[str, tuple[float, float]] = {}
    for k in TIME_FIELDS:
        if p.get(k) is not None:
            out[k] = (p[k] * f_lo, p[k] * f_hi)
    for k in RATE_FIELDS:
        if p.get(k) is not None:
            out[k] = (p[k] / f_hi, p[k] / f_lo)
    t, e = p["time_s"], p["energy_j"]
    idle = min(idle_w * tp * t, e)
    e_lo, e_hi = idle * f_lo + (e - idle), idle * f_hi + (e - idle)
    out["energy_j"] = (e_lo, e_hi)
    out["j_per_token"] = (e_lo / p["tokens"], e_hi / p["tokens"])
    p_lo, p_hi = e_hi / (t * f_hi), e_lo / (t * f_lo)  # mean power falls as the same work takes longer
    out["avg_power_w"] = (p_lo, p_hi)
    if p.get("accuracy") is not None:
        a = p["accuracy"]
        out["ipw"] = (a / p_hi, a / p_lo)
        out["ipj"] = (a * p["batch"] / e_hi, a * p["batch"] / e_lo)
    return out


def price_usd_per_h(device: Device, tp: int, basis: str = DEFAULT_BASIS) -> tuple[float | None, str]:
    """USD an hour of ``tp`` devices on ``basis`` without the power share (the vectorized sweep adds its own
    modeled energy for the owned basis); (None, why) without a quote on that basis."""
    c = hourly_cost(device, tp, basis)
    return c.usd_per_h, c.label


# Which device fields each shown figure rests on: a flagged field ([unreliable] in hwdb) flags the figure.
ENERGY_FIGURES = ("energy_j", "j_per_token", "avg_power_w", "ipw", "ipj")


def unreliable_fields(device: Device, cost_basis: str, energy_kind: str) -> dict[str, str]:
    """figure -> why it is not to be trusted, from the device's [unreliable] fields: power placeholders flag the
    energy figures (unless energy was calibrated from measurements) and, owned, the dollar ones; a flagged
    price flags the dollar figures of its basis."""
    out: dict[str, str] = {}
    power = device.unreliable_reason("power.") if energy_kind != MEASURED else ""
    if power:
        out.update({f: power for f in ENERGY_FIGURES})
    usd = "; ".join(x for x in (device.unreliable_reason(f"price.{cost_basis}"),
                                power if cost_basis == "owned" else "") if x)
    if usd:
        out.update({"usd_per_h": usd, "usd_per_mtok": usd})
    return out


def fit_check(weights: float, kv: float, act: float, device: Device, tp: int,
              usable_fraction: float = USABLE_MEMORY_FRACTION) -> tuple[bool, str]:
    usable = usable_fraction * device.memory_bytes
    total = weights + kv + act
    if total <= usable:
        return True, ""

    return False, (f"needs {si(total, 'B')} a device (weights {si(weights, 'B')}, KV {si(kv, 'B')}, "
                   f"activations {si(act, 'B')}) > {si(usable, 'B')} usable ({usable_fraction:.0%} of "
                   f"{si(device.memory_bytes, 'B')}) on {device.id}" + (f" x{tp}" if tp > 1 else "")
                   + "; try more tensor parallelism, fewer bits, a smaller batch or context")


def expected_tokens_per_step(k: int, alpha: float) -> float:
    """Tokens a speculative step yields on average: (1 - alpha^(k+1)) / (1 - alpha) for k drafted tokens each
    accepted with probability alpha (Leviathan et al. 2023, eq. 1): the accepted prefix plus the target's own."""
    if k <= 0:
        return 1.0
    return (1.0 - alpha ** (k + 1)) / (1.0 - alpha)


def draft_model(m: ModelSpec, sc: Scenario) -> tuple[ModelSpec, Scenario]:
    """The model that drafts speculated tokens and the scenario it runs under: a catalog model (replicated on
    each device when its heads do not split over tp), or for ``heads`` (Medusa / EAGLE) one dense decoder
    layer of the target with its lm_head, a stage each."""
    base = dict(spec_tokens=0, spec_acceptance=0.0, spec_draft="", prefix_hit=0.0, offload="none",
                offload_fraction=0.0, ep=1)
    if sc.spec_draft == SPEC_HEADS:
        d = replace(m, id=f"{m.id}-draft-head", layers=sc.pp, experts=1, experts_per_token=1, moe_intermediate=0,
                    first_dense_layers=0, shared_experts=0, sliding_window=0, sliding_layers=0,
                    intermediate=m.intermediate if not m.is_moe or m.intermediate else m.mlp_width)
        return d, sc.with_(**base)
    d = get_model(sc.spec_draft)
    ds = sc.with_(**base, pp=1, nodes=1, wbits=min(sc.wbits, d.native_wbits), abits=min(sc.abits, d.native_abits))
    try:
        ds.validate(d)
    except InputError:
        ds = ds.with_(tp=1)
    return d, ds


def _scaled(terms: list[tf.Term], times: int, prefix: str = "") -> list[tf.Term]:
    """Terms repeated ``times`` on a device (micro-batches of a pipeline step, drafted tokens)."""
    if times == 1 and not prefix:
        return terms
    return [replace(x, count=x.count * times, name=prefix + x.name) for x in terms]


def predict(model: ModelSpec | str, device: Device | str, scenario: Scenario, calibrated: bool = True,
            runtime: RuntimeProfile | str | None = None, system: str | None = None,
            allow_pcie_tp: bool = False, cost_basis: str = DEFAULT_BASIS, tco: Tco | None = None) -> Prediction:
    """Price ``scenario`` for ``model`` on a replica of tp x pp x ep devices of one kind (in ``system``: an hwdb
    system id, default the device's largest one) under a runtime profile (default ``DEFAULT_RUNTIME``), $ on
    ``cost_basis`` (cloud or owned TCO) for every device of the replica.
    Raises InputError / UnknownNameError on bad input (a layout the model or system does not allow),
    UnsupportedDtypeError when the device lacks every substitute dtype.

    Pipelines: a prefill of m micro-batches (chunks) takes (m + pp - 1) / m of a stage's busy time; a decode
    step runs min(pp, batch) micro-batches and takes pp micro-batch stage times (the rest is bubble, at idle
    power). Speculative decoding: a step verifies k + 1 tokens and drafts k; it yields
    ``expected_tokens_per_step`` tokens. Prefix caching: the prefill computes only the missed prompt tokens."""

    m = get_model(model)
    dev = hwdb.get(device) if isinstance(device, str) else device
    sc = scenario.validate(m)
    rt = get_profile(runtime)
    links = default_links(dev, system)
    sys_obj = next((s for s in systems_for(dev.id) if s.id == links.system_id), None)
    if sc.nodes == 1 and sc.devices > links.per_node:
        sc = sc.with_(nodes=nodes_for(sc.devices, links))
    check_layout(m, sc, links, allow_pcie_tp, sys_obj.max_nodes if sys_obj else None)
    if sc.offload != "none" and not math.isfinite(links.host_bw):
        raise InputError(f"{links.system_id} has no host-link bandwidth in hwdb: offload cannot be priced")
    eff = efficiency_for(dev, calibrated)
    en = coefficients_for(dev, calibrated)
    roofs = device_roofs([dev], calibrated, rt, [links])
    sparse_hw = dev.sparse_2_4
    B, P, G = sc.batch, sc.prompt_tokens, sc.gen_tokens
    pp, ndev = sc.pp, sc.devices
    p_new = max(1, int(round(P * (1.0 - sc.prefix_hit))))  # prompt tokens the prefill computes
    chunks = tf.prefill_chunks(sc.with_(prompt_tokens=p_new), rt.max_batched_tokens)
    m_pre = max(chunks, min(B, pp)) if pp > 1 else chunks  # prefill micro-batches through the pipeline
    m_dec = min(pp, B)  # decode micro-batches a step
    k_spec = sc.spec_tokens
    e_tok = expected_tokens_per_step(k_spec, sc.spec_acceptance)
    step_s, request_s = rt.param("step_s"), rt.param("request_s")
    notes: list[str] = []
    if sys_obj is None and ndev > 1:
        notes.append(f"no hwdb system holds {dev.id}: links implied by its interconnect field ({links.link}, one node)")
    dm, dsc = draft_model(m, sc) if k_spec else (None, None)

    def est(terms: list[tf.Term]) -> list[Estimate]:
        return [_term_estimate(t, dev, roofs) for t in terms]

    def step_terms(ctx: int) -> list[tf.Term]:
        """A device's rows of one decode step (all its micro-batches) whose caches hold ``ctx`` tokens."""
        b = B / m_dec
        if k_spec:
            out = _scaled(tf.pass_terms(m, sc, b, k_spec + 1, ctx + k_spec + 1, "decode", sparse_hw,
                                        logit_tokens=k_spec + 1), m_dec)
            draft = tf.pass_terms(dm, dsc, b, 1, ctx + 1, "decode", sparse_hw)
            return out + _scaled(draft, k_spec * m_dec, "draft_")
        return _scaled(tf.pass_terms(m, sc, b, 1, ctx + 1, "decode", sparse_hw), m_dec)

    def bubble(busy: float, share: float) -> list[Estimate]:
        if pp == 1 or share <= 0:
            return []
        return [_overhead_estimate("pipeline_bubble", busy * share, 1, dev, en.idle_w)]

    phase_pre = "extend" if p_new < P else "prefill"
    pre_terms = tf.pass_terms(m, sc, B, p_new, P, phase_pre, sparse_hw, m_pre)
    for t in pre_terms:
        compute_dtype_for(dev, t.dtype)  # UnsupportedDtypeError when the device has no path for a row's dtype
    pre = est(pre_terms)
    pre += bubble(sum(e.time_s for e in pre), (pp - 1) / m_pre)
    if step_s > 0:
        pre.append(_overhead_estimate("runtime_step", step_s, chunks, dev, en.idle_w))
    if request_s > 0:
        pre.append(_overhead_estimate("runtime_request", request_s, 1, dev, en.idle_w))
    step = est(step_terms(P))
    busy_step = sum(e.time_s for e in step)
    step += bubble(busy_step, (pp - m_dec) / m_dec)
    if step_s > 0:
        step.append(_overhead_estimate("runtime_step", step_s, 1, dev, en.idle_w))
    if any(t.cls == "dequant" for t in pre_terms) and not np.isfinite(roofs["dequant"].vec_flops_per_s[0]):
        notes.append(f"dequantization not priced: {dev.id} publishes no vector-unit (non-matrix) rate")
    prefill_s = sum(e.time_s for e in pre)
    step_time = sum(e.time_s for e in step)
    n = G - 1
    n_steps = int(math.ceil(n / e_tok)) if n > 0 else 0  # target steps to produce n tokens
    dec_rows: list[Estimate] = []
    if n > 0 and sc.phase == "generate":
        first = step_terms(P)
        last = step_terms(P + G - 2)
        for f, la in zip(first, last, strict=True):
            dec_rows.append(_sum_estimate(f, decode_sum(f, la, n_steps, roofs, 0), n_steps, dev, roofs))
        dec_rows += bubble(sum(e.time_s for e in dec_rows), (pp - m_dec) / m_dec)
        if step_s > 0:
            dec_rows.append(_overhead_estimate("runtime_step", step_s, n_steps, dev, en.idle_w))
    gen_decode_s = sum(e.time_s for e in dec_rows)
    ttft = prefill_s
    # TPOT: the mean time an output token of the generation; for prefill / decode phases, of the first step
    tpot = gen_decode_s / n if dec_rows else step_time / e_tok

    if sc.phase == "prefill":
        rows, phases, time_s, dec_s = pre, ("prefill",) * len(pre), prefill_s, 0.0
    elif sc.phase == "decode":
        rows, phases, time_s, dec_s = step, ("decode",) * len(step), step_time, step_time
    else:
        rows = pre + dec_rows
        phases = ("prefill",) * len(pre) + ("decode",) * len(dec_rows)
        time_s, dec_s = prefill_s + gen_decode_s, gen_decode_s
    tokens = float(B * sc.tokens_out) * (e_tok if sc.phase == "decode" else 1.0)
    tok_s = tokens / time_s
    energy = ndev * sum(e.energy_j for e in rows)  # every device of the replica works (or idles) the whole time
    power = energy / time_s

    usable_fraction = rt.param("usable_memory_fraction")
    w = tf.weight_bytes(m, sc)
    kv = float(tf.kv_cache_bytes(m, sc, B, sc.max_context + k_spec))
    if sc.phase == "decode":
        act = float(tf.activation_bytes(m, sc, B, 1 + k_spec, sc.max_context))
    else:
        act = float(tf.activation_bytes(m, sc, B, p_new, P, chunks))
    if dm is not None:  # the draft's weights and cache live beside the target's
        w += tf.weight_bytes(dm, dsc) if sc.spec_draft != SPEC_HEADS else tf.weight_bytes(dm, dsc) / max(pp, 1)
        kv += float(tf.kv_cache_bytes(dm, dsc, B, sc.max_context))
    fits, reason = fit_check(w, kv, act, dev, ndev, usable_fraction)
    if sc.offload != "none":
        notes.append(f"{sc.offload_fraction:.0%} of the {'KV cache' if sc.offload == 'kv' else 'weights'} in host "
                     f"memory, streamed over {links.system_id}'s host link ({si(links.host_bw, 'B/s')} one way)")

    acc = m.accuracy_for()
    ipw_ = ipw(acc.fraction, power) if acc else None
    ipj_ = ipj(acc.fraction, energy / B) if acc else None  # a query = one sequence of the batch
    cost = hourly_cost(dev, ndev, cost_basis, power, en.idle_w, tco)
    usd_h, basis = cost.usd_per_h, cost.label
    usd_mtok = usd_h / 3600.0 / tok_s * 1e6 if usd_h is not None else None
    unreliable = unreliable_fields(dev, cost_basis, en.kind)
    by_bound: dict[str, float] = {}
    for e in rows:
        by_bound[e.bound] = by_bound.get(e.bound, 0.0) + e.time_s
    band = rt.band_for(dev)
    if band is not None and band.device_class != device_class(dev):
        notes.append(f"runtime {rt.name} was not measured on {device_class(dev)} devices: its band for unmeasured "
                     "device classes applies (wider)")
    figures = {"ttft_s": ttft, "tpot_s": tpot, "time_s": time_s, "usd_per_mtok": usd_mtok, "tokens_per_s": tok_s,
               "tokens_per_s_per_request": tok_s / B, "tokens_per_s_per_device": tok_s / ndev, "energy_j": energy,
               "tokens": tokens, "batch": B, "accuracy": acc.fraction if acc else None}
    return Prediction(
        model_id=m.id, device_id=dev.id, scenario=sc, ops=tuple(rows), ttft_s=ttft, tpot_s=tpot, tokens_per_s=tok_s,
        tokens_per_s_per_request=tok_s / B, time_s=time_s, weight_bytes=w, kv_bytes=kv, activation_bytes=act,
        memory_bytes=w + kv + act, fits=fits, fit_reason=reason, energy_j=energy, j_per_token=energy / tokens,
        avg_power_w=power, accuracy=acc, ipw=ipw_, ipj=ipj_, usd_per_mtok=usd_mtok, kind=MODELED,
        efficiency_kind=eff.kind, energy_kind=en.kind, tp=sc.tp, tokens_per_s_per_device=tok_s / ndev,
        prefill_time_s=prefill_s if sc.phase != "decode" else 0.0, decode_time_s=dec_s, tokens=tokens,
        usable_memory_bytes=usable_fraction * dev.memory_bytes, usd_per_h=usd_h, price_basis=basis,
        cost_basis=cost_basis, price_source=cost.source, unreliable=unreliable,
        bound=max(by_bound, key=by_bound.get), efficiency_source=eff.source, energy_source=en.source,
        op_phases=phases, runtime=rt.name, runtime_title=rt.title, prefill_chunks=chunks,
        bands=bands_for(band, figures, en.idle_w, ndev), band=band, notes=tuple(notes), pp=sc.pp, ep=sc.ep,
        nodes=sc.nodes, devices=ndev, system_id=links.system_id, tokens_per_step=e_tok, step_busy_s=busy_step)
