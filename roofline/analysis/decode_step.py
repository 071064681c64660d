"""The attribution of one decode-step stack step to its ops, and predicted-vs-measured per op.

The stack itself (``DecoderStack``, ``StackDims``, op names) lives in ``roofline.measure.decode_stack``.

Attribution (``attribute_step``): the whole step is timed and metered; then each op type is run alone, every
layer's instance back to back (inputs captured from one layer of a real step; the layers have
identical shapes), timed and metered in its own energy window. Closure = sum over op types / whole step.
Per layer: the time of sampled layers' blocks is measured; their energy is apportioned (the op types'
per-layer energy split in proportion to the measured layer time) and labelled so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
import torch

from roofline.engine import transformer as tf
from roofline.engine.catalog import ModelSpec, get_model
from roofline.engine.predict import predict
from roofline.engine.scenario import Scenario
from roofline.errors import InputError
from roofline.fmt import to_jsonable
from roofline.measure.decode_stack import (
    MODEL_OPS,
    OP_KIND,
    OP_ORDER,
    PER_LAYER_OPS,
    ROPE_FLOPS_PER_ELEM,
    DecoderStack,
    StackDims,
)
from roofline.measure.timers import sync_for
from roofline.provenance import MEASURED

# ---- cost of each op (for the meters and for predicted-vs-measured) --------------------------------------

def scenario_for(variant: str, phase: str, batch: int, ctx: int, group: int = 128) -> Scenario:
    """The roofline Scenario of one step: prefill of ``ctx`` tokens, or one decode step at context ``ctx``."""
    if phase not in ("prefill", "decode"):
        raise InputError(f"phase must be prefill or decode, got {phase!r}")
    wbits = 4 if variant == "w4a16" else 16
    return Scenario(phase=phase, batch=batch, prompt_tokens=ctx, gen_tokens=1, wbits=wbits, group_size=group)


def op_costs(dims: StackDims, variant: str, phase: str, batch: int, ctx: int, group: int = 128
             ) -> dict[str, tuple[float, float, str]]:
    """name -> (FLOPs, DRAM bytes, compute dtype) of all of a step's instances of each op, from
    roofline.engine.transformer; ``rope`` (not modeled there) from its own count."""

    m, sc = dims.model_spec(), scenario_for(variant, phase, batch, ctx, group)
    tokens, positions = (ctx, ctx) if phase == "prefill" else (1, ctx + 1)
    out: dict[str, tuple[float, float, str]] = {}
    for t in tf.pass_terms(m, sc, batch, tokens, positions, phase):
        out[t.name] = (float(t.flops) * t.count, float(t.bytes_read + t.bytes_written) * t.count, t.dtype)
    n, a = batch * tokens, 2.0
    rot = n * (dims.heads + dims.kv_heads) * dims.head_dim
    kv = n * 2 * dims.kv_heads * dims.head_dim
    out["rope"] = (ROPE_FLOPS_PER_ELEM * rot * dims.layers, (2 * rot + kv) * a * dims.layers, "bf16")
    return out


# ---- attribution ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class OpAttribution:
    """One op type over a whole step (all layers' instances). Units: s, J."""

    name: str
    kind: str
    instances: int
    time_s: float
    time_p20_s: float
    time_p80_s: float
    energy_j: float
    energy_dynamic_j: float
    flops: float
    bytes: float


@dataclass(frozen=True)
class LayerAttribution:
    layer: int
    time_s: float  # measured: the layer's ops back to back
    energy_j: float  # apportioned: the per-layer op types' energy x this layer's share of time
    energy_dynamic_j: float
    energy_kind: str = "apportioned"


@dataclass(frozen=True)
class StepAttribution:
    """Where one prefill or decode step's time and energy go. Closures are sum over op types / step."""

    variant: str
    phase: str
    batch: int
    ctx: int
    dims: StackDims
    ops: tuple[OpAttribution, ...]
    layers: tuple[LayerAttribution, ...]
    step_time_s: float
    step_time_p20_s: float
    step_time_p80_s: float
    step_energy_j: float
    step_energy_dynamic_j: float
    energy_method: str
    idle_power_w: float
    timing_method: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def sum_op_time_s(self) -> float:
        return sum(o.time_s for o in self.ops)

    @property
    def sum_op_energy_j(self) -> float:
        return sum(o.energy_j for o in self.ops)

    @property
    def time_closure(self) -> float:
        return self.sum_op_time_s / self.step_time_s if self.step_time_s > 0 else math.nan

    @property
    def energy_closure(self) -> float:
        e = self.step_energy_j
        return self.sum_op_energy_j / e if e > 0 else math.nan

    @property
    def dynamic_energy_closure(self) -> float:
        e = self.step_energy_dynamic_j
        return sum(o.energy_dynamic_j for o in self.ops) / e if e > 0 else math.nan

    @property
    def step_power_w(self) -> float:
        return self.step_energy_j / self.step_time_s if self.step_time_s > 0 else math.nan

    def ops_frame(self) -> pd.DataFrame:
        """One row an op type: name, kind, instances, time_s, ..., share_time, share_energy."""
        df = pd.DataFrame([asdict(o) for o in self.ops])
        df["share_time"] = df["time_s"] / self.sum_op_time_s
        df["share_energy"] = df["energy_j"] / self.sum_op_energy_j if self.sum_op_energy_j > 0 else math.nan
        return df

    def layers_frame(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(x) for x in self.layers],
                            columns=["layer", "time_s", "energy_j", "energy_dynamic_j", "energy_kind"])

    def to_dict(self) -> dict[str, Any]:

        return to_jsonable({
            "variant": self.variant, "phase": self.phase, "batch": self.batch, "ctx": self.ctx,
            "dims": asdict(self.dims), "kind": MEASURED, "energy_method": self.energy_method,
            "timing_method": self.timing_method, "idle_power_w": self.idle_power_w,
            "step": {"time_s": self.step_time_s, "time_p20_s": self.step_time_p20_s,
                     "time_p80_s": self.step_time_p80_s, "energy_j": self.step_energy_j,
                     "energy_dynamic_j": self.step_energy_dynamic_j, "power_w": self.step_power_w},
            "closure": {"sum_op_time_s": self.sum_op_time_s, "sum_op_energy_j": self.sum_op_energy_j,
                        "time": self.time_closure, "energy": self.energy_closure,
                        "dynamic_energy": self.dynamic_energy_closure, "ok_10pct": closure_ok(self)},
            "ops": [asdict(o) for o in self.ops], "layers": [asdict(x) for x in self.layers],
            "notes": list(self.notes)})


def _energy(meter, fn, sync, call_s: float, cost: tuple[float, float, str]):
    if meter is None:
        return math.nan, math.nan, "none"
    r = meter.measure(fn, sync, call_s, cost[0], cost[1], cost[2])
    return r.energy_j, r.energy_dynamic_j, r.method


def attribute_step(stack: DecoderStack, phase: str, batch: int, ctx: int, timer: Callable[[Callable], Any],
                   meter=None, *, layer_sample: Sequence[int] | None = None, seed: int = 0,
                   sync: Callable[[], None] | None = None) -> StepAttribution:
    """Measure one step (prefill of ``ctx`` tokens, or a decode step at context ``ctx``) whole and op type
    by op type. ``timer(fn) -> roofline.measure.timers.Timing``; ``meter.measure(fn, sync, call_s, flops, bytes,
    dtype) -> EnergyResult`` (a roofline.measure.meters meter) or None. For decode the cache is first filled by a
    prefill of ``ctx`` random tokens. The cache is left holding the measured step's K/V."""

    if phase not in ("prefill", "decode") or batch < 1 or ctx < 1:
        raise InputError(f"attribute_step needs phase prefill|decode and batch, ctx >= 1 (got {phase}, {batch}, {ctx})")
    sync = sync or sync_for(stack.device.type)
    d = stack.dims
    g = torch.Generator(device=stack.device).manual_seed(seed)
    stack.allocate_cache(batch, ctx + (1 if phase == "decode" else 0))
    prompt = torch.randint(0, d.vocab, (batch, ctx), generator=g, device=stack.device)
    with torch.inference_mode():
        if phase == "decode":
            stack.prefill(prompt)
            tokens, start = torch.randint(0, d.vocab, (batch, 1), generator=g, device=stack.device), ctx
        else:
            tokens, start = prompt, 0
        capture: dict[str, tuple] = {}
        cap_layer = 1 if d.layers > 1 else 0  # layer 1 has a residual delta on both norms, like every later one
        stack.forward(tokens, start, capture, cap_layer)
        sync()
        costs = op_costs(d, stack.variant, phase, batch, ctx, stack.group)

        def whole() -> None:
            stack.forward(tokens, start)

        ops = []
        for name in OP_ORDER:
            fn = stack.op_sweep(name, capture)
            t = timer(fn)
            e, e_dyn, _ = _energy(meter, fn, sync, t.median_s, costs[name])
            n = 1 if name in MODEL_OPS else d.layers
            ops.append(OpAttribution(name, OP_KIND[name], n, t.median_s, t.p20_s, t.p80_s, e, e_dyn,
                                     costs[name][0], costs[name][1]))
        total = (sum(c[0] for c in costs.values()), sum(c[1] for c in costs.values()), "bf16")
        ts = timer(whole)
        e_step, e_step_dyn, method = _energy(meter, whole, sync, ts.median_s, total)
        sample = list(range(d.layers)) if layer_sample is None else sorted({int(i) for i in layer_sample})
        if any(not 0 <= i < d.layers for i in sample):
            raise InputError(f"layer_sample {sample} outside 0..{d.layers - 1}")
        lt = {li: timer(stack.layer_block(li, capture)).median_s for li in sample}
    per_layer_e = sum(o.energy_j for o in ops if o.name in PER_LAYER_OPS)
    per_layer_dyn = sum(o.energy_dynamic_j for o in ops if o.name in PER_LAYER_OPS)
    mean_t = sum(lt.values()) / len(lt) if lt else math.nan
    layers = tuple(LayerAttribution(li, t, per_layer_e / d.layers * t / mean_t, per_layer_dyn / d.layers * t / mean_t)
                   for li, t in lt.items())
    notes = (f"op types run alone on activations captured from layer {cap_layer}; energy windows per op type",
             "per-layer energy apportioned by measured layer time")
    return StepAttribution(variant=stack.variant, phase=phase, batch=batch, ctx=ctx, dims=d, ops=tuple(ops),
                           layers=layers, step_time_s=ts.median_s, step_time_p20_s=ts.p20_s, step_time_p80_s=ts.p80_s,
                           step_energy_j=e_step, step_energy_dynamic_j=e_step_dyn, energy_method=method,
                           idle_power_w=float(getattr(meter, "idle_w", math.nan)) if meter is not None else math.nan,
                           timing_method=ts.method, notes=notes)


def closure_ok(attr: StepAttribution, tol: float = 0.10, require_energy: bool = True) -> bool:
    """Sum of per-op time (and energy) within ``tol`` of the measured whole step."""
    ok_t = abs(attr.time_closure - 1.0) <= tol
    if not require_energy:
        return bool(ok_t)
    return bool(ok_t and abs(attr.energy_closure - 1.0) <= tol)


# ---- predicted vs measured --------------------------------------------------------------------------------

def predicted_step(model: ModelSpec | StackDims | str, device, scenario: Scenario,
                   calibrated: bool = True) -> pd.DataFrame:
    """Per-op modeled time and energy of the scenario's step (roofline.engine.predict), one row an op name:
    name, kind, count, flops, bytes, time_s, energy_j, bound. ``device`` is an hwdb id or a Device (e.g.
    one carrying a fresh calibration)."""

    m = model.model_spec() if isinstance(model, StackDims) else get_model(model)
    if scenario.phase not in ("prefill", "decode"):
        raise InputError("predicted_step takes a prefill or decode scenario (one step)")
    p = predict(m, device, scenario, calibrated)
    df = p.ops_frame()[["name", "kind", "count", "flops", "bytes", "time_s", "energy_j", "bound"]]
    df.attrs.update(efficiency_kind=p.efficiency_kind, energy_kind=p.energy_kind, fits=p.fits,
                    time_s=p.time_s, energy_j=p.energy_j)
    return df.reset_index(drop=True)


def compare_step(attr: StepAttribution, predicted: pd.DataFrame) -> pd.DataFrame:
    """Measured vs predicted per op name (outer join: unmatched names keep NaN on the other side) and a
    final ``step`` row (measured whole step vs the sum of predicted ops). err = measured / predicted - 1."""
    meas = attr.ops_frame()[["name", "time_s", "energy_j"]].rename(
        columns={"time_s": "measured_time_s", "energy_j": "measured_energy_j"})
    pred = predicted[["name", "time_s", "energy_j", "bound"]].rename(
        columns={"time_s": "predicted_time_s", "energy_j": "predicted_energy_j"})
    df = meas.merge(pred, on="name", how="outer", sort=False)
    order = {n: i for i, n in enumerate((*OP_ORDER, "dequant"))}
    df = df.sort_values("name", key=lambda s: s.map(lambda n: order.get(n, 99)), kind="stable")
    step = {"name": "step", "measured_time_s": attr.step_time_s, "measured_energy_j": attr.step_energy_j,
            "predicted_time_s": float(predicted["time_s"].sum()), "predicted_energy_j": float(predicted["energy_j"].sum()),
            "bound": ""}
    df = pd.concat([df, pd.DataFrame([step])], ignore_index=True)
    df["time_err"] = df["measured_time_s"] / df["predicted_time_s"] - 1
    df["energy_err"] = df["measured_energy_j"] / df["predicted_energy_j"] - 1
    return df.reset_index(drop=True)
