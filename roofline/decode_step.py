"""A Llama-style decoder stack built from the project's kernels, and the attribution of one step to its ops.

The stack (random weights, no downloads): embedding, then per layer fused residual-add + RMSNorm, fused QKV
projection, RoPE + KV-cache write, attention (flash prefill, split-K decode), o_proj, residual-add + RMSNorm,
fused gate/up projection, SiLU-gate, down projection; final norm and lm_head on the last position. On CUDA
the linears are ``kernels.quant.w4a16`` (variant "w4a16") or bf16 ``F.linear`` ("bf16") and attention is
``kernels.attention`` flash / decode; elsewhere the same ops run as plain torch (the kernels' references),
so the stack is testable on a CPU.

Op names are ``roofline.transformer``'s, so measured and predicted ops line up by name:
embedding, attn_norm, qkv_proj, flash_attention (prefill: flash; decode: split-K decode, both priced as
transformer.py's ``flash_attention``), o_proj, mlp_norm, gate_up_proj, mlp_act, down_proj, final_norm,
lm_head. Two names do not match one-to-one: ``rope`` (RoPE on q/k + the KV-cache write) is measured but not
modeled (transformer.py counts the cache write in qkv_proj's bytes), and ``dequant`` (W4A16) is modeled
but fused into the measured linears. Both appear in ``compare_step`` with the other side NaN.

Attribution (``attribute_step``): the whole step is timed and metered; then each op type is run alone,
every layer's instance back to back (inputs captured from one layer of a real step; the layers have
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
import torch.nn.functional as F

from roofline.catalog import ModelSpec, get_model
from roofline.errors import InputError
from roofline.scenario import Scenario

PER_LAYER_OPS = ("attn_norm", "qkv_proj", "rope", "flash_attention", "o_proj", "mlp_norm", "gate_up_proj",
                 "mlp_act", "down_proj")
MODEL_OPS = ("embedding", "final_norm", "lm_head")
OP_ORDER = ("embedding", *PER_LAYER_OPS, "final_norm", "lm_head")
OP_KIND = {"embedding": "embedding", "attn_norm": "norm", "qkv_proj": "attention", "rope": "attention",
           "flash_attention": "attention", "o_proj": "attention", "mlp_norm": "norm", "gate_up_proj": "mlp",
           "mlp_act": "mlp", "down_proj": "mlp", "final_norm": "norm", "lm_head": "lm_head"}
VARIANTS = ("bf16", "w4a16")
ROPE_FLOPS_PER_ELEM = 3.0  # two multiplies and an add per rotated element


@dataclass(frozen=True)
class StackDims:
    """Shapes of a Llama-style decoder (head_dim explicit, GQA: kv_heads divides heads)."""

    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    rope_theta: float = 500000.0  # Llama 3 (its "llama3" frequency scaling is left out: same cost)
    norm_eps: float = 1e-5
    name: str = "stack"

    @classmethod
    def from_model(cls, model: ModelSpec | str, layers: int | None = None) -> StackDims:
        m = get_model(model)
        if m.is_moe:
            raise InputError(f"{m.id} is a mixture of experts; the decode-step stack is dense only")
        return cls(layers or m.layers, m.hidden, m.heads, m.kv_heads, m.head_dim, m.intermediate, m.vocab,
                   name=m.id if layers in (None, m.layers) else f"{m.id}[{layers} layers]")

    def model_spec(self) -> ModelSpec:
        """These shapes as a catalog ModelSpec (for roofline.transformer / predict)."""
        return ModelSpec(id=self.name, name=self.name, family="llama", layers=self.layers, hidden=self.hidden,
                         heads=self.heads, kv_heads=self.kv_heads, head_dim=self.head_dim,
                         intermediate=self.intermediate, vocab=self.vocab,
                         source="roofline.decode_step (random weights)")


TINY = StackDims(layers=2, hidden=64, heads=4, kv_heads=2, head_dim=16, intermediate=128, vocab=96, name="tiny")


# ---- weights ----------------------------------------------------------------------------------------------

@dataclass
class Linear:
    """y = x @ W.T: a 16-bit weight (N, K), or W4A16 codes + group scales (kernels.quant.w4a16 layout)."""

    weight: torch.Tensor | None = None
    qweight: torch.Tensor | None = None
    scales: torch.Tensor | None = None
    group: int = 128
    use_kernels: bool = False

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        from kernels.quant import w4a16

        if self.weight is not None:
            return F.linear(x, self.weight)
        if self.use_kernels:
            return w4a16.w4a16_linear(x, self.qweight, self.scales, None, group=self.group)
        return w4a16.reference(x, self.qweight, self.scales, None, self.group)

    def dense(self) -> torch.Tensor:
        """The weight (N, K) in fp32, dequantized for W4A16 (what the reference forward uses)."""
        from kernels.quant import w4a16

        if self.weight is not None:
            return self.weight.float()
        return w4a16.dequant(self.qweight, self.scales, None, self.scales.shape[0] * self.group, self.group)


@dataclass
class Layer:
    attn_norm: torch.Tensor
    qkv: Linear
    o: Linear
    mlp_norm: torch.Tensor
    gate_up: Linear
    down: Linear


def _linear(w: torch.Tensor, variant: str, group: int, dtype: torch.dtype, use_kernels: bool) -> Linear:
    if variant == "bf16":
        return Linear(weight=w.to(dtype))
    from kernels.quant import w4a16

    qweight, scales, _ = w4a16.quantize(w, group, sym=True, scale_dtype=dtype if dtype != torch.float32 else None)
    return Linear(qweight=qweight, scales=scales, group=group, use_kernels=use_kernels)


# ---- the stack --------------------------------------------------------------------------------------------

class DecoderStack:
    """Random-weight decoder with a KV cache. Each op is a method ``op_<name>(layer, *activations)``; every
    call goes through ``run_op`` (``hook(name, layer)`` sees each one: tests count work with it)."""

    def __init__(self, dims: StackDims, variant: str = "bf16", device: str | torch.device = "cpu",
                 dtype: torch.dtype | None = None, group: int = 128, seed: int = 0, use_kernels: bool | None = None):
        if variant not in VARIANTS:
            raise InputError(f"unknown variant {variant!r} (use {', '.join(VARIANTS)})")
        if dims.heads % dims.kv_heads:
            raise InputError(f"kv_heads {dims.kv_heads} must divide heads {dims.heads}")
        self.dims, self.variant, self.group = dims, variant, group
        self.device = torch.device(device)
        self.dtype = dtype or (torch.bfloat16 if self.device.type == "cuda" else torch.float32)
        self.use_kernels = self.device.type == "cuda" if use_kernels is None else use_kernels
        self.hook: Callable[[str, int | None], None] | None = None
        g = torch.Generator(device=self.device).manual_seed(seed)
        d = dims
        q_dim, kv_dim = d.heads * d.head_dim, d.kv_heads * d.head_dim

        def rand(*shape: int, scale: float) -> torch.Tensor:  # fp32 master; cast or quantized below
            return torch.randn(*shape, generator=g, device=self.device) * scale

        def norm_w() -> torch.Tensor:
            return (1.0 + 0.1 * torch.randn(d.hidden, generator=g, device=self.device)).to(self.dtype)

        def lin(n: int, k: int) -> Linear:
            return _linear(rand(n, k, scale=k ** -0.5), variant, group, self.dtype, self.use_kernels)

        self.embed = rand(d.vocab, d.hidden, scale=1.0).to(self.dtype)
        self.layers = [Layer(norm_w(), lin(q_dim + 2 * kv_dim, d.hidden), lin(d.hidden, q_dim), norm_w(),
                             lin(2 * d.intermediate, d.hidden), lin(d.hidden, d.intermediate))
                       for _ in range(d.layers)]
        self.final_norm = norm_w()
        self.lm_head = rand(d.vocab, d.hidden, scale=d.hidden ** -0.5).to(self.dtype)  # 16-bit, as transformer.py
        self.k_cache: list[torch.Tensor] = []
        self.v_cache: list[torch.Tensor] = []
        self.cos = self.sin = None

    # -- cache
    def allocate_cache(self, batch: int, max_len: int) -> None:
        """KV cache (B, Hkv, max_len, D) per layer, and the RoPE tables for max_len positions."""
        d = self.dims
        shape = (batch, d.kv_heads, max_len, d.head_dim)
        self.k_cache = [torch.zeros(shape, device=self.device, dtype=self.dtype) for _ in range(d.layers)]
        self.v_cache = [torch.zeros(shape, device=self.device, dtype=self.dtype) for _ in range(d.layers)]
        inv = 1.0 / d.rope_theta ** (torch.arange(0, d.head_dim, 2, device=self.device).float() / d.head_dim)
        ang = torch.arange(max_len, device=self.device).float()[:, None] * inv[None, :]  # (L, D/2)
        self.cos, self.sin = ang.cos(), ang.sin()

    @property
    def cache_len(self) -> int:
        return self.k_cache[0].shape[2] if self.k_cache else 0

    # -- ops (layer index first; activations after)
    def _rms(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, (x.shape[-1],), w, self.dims.norm_eps)

    def op_embedding(self, li, tokens):
        return F.embedding(tokens, self.embed)  # (B, T, h)

    def op_attn_norm(self, li, resid, delta):
        resid = resid if delta is None else resid + delta
        return resid, self._rms(resid, self.layers[li].attn_norm)

    def op_qkv_proj(self, li, h):
        return self.layers[li].qkv(h)  # (B, T, (H + 2 Hkv) D)

    def op_rope(self, li, qkv, start):
        """RoPE (rotate-half) on q and k, K/V written to the cache at [start, start + T); returns q (B, H, T, D)."""
        d = self.dims
        B, T, _ = qkv.shape
        q, k, v = qkv.split([d.heads * d.head_dim, d.kv_heads * d.head_dim, d.kv_heads * d.head_dim], dim=-1)
        cos, sin = self.cos[start:start + T, None, :], self.sin[start:start + T, None, :]  # (T, 1, D/2)

        def rot(x: torch.Tensor, heads: int) -> torch.Tensor:
            x = x.view(B, T, heads, d.head_dim).float()
            x1, x2 = x.chunk(2, dim=-1)
            return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1).to(self.dtype)

        self.k_cache[li][:, :, start:start + T] = rot(k, d.kv_heads).transpose(1, 2)
        self.v_cache[li][:, :, start:start + T] = v.view(B, T, d.kv_heads, d.head_dim).transpose(1, 2)
        return rot(q, d.heads).transpose(1, 2)  # (B, H, T, D)

    def op_flash_attention(self, li, q, start):
        """T > 1: causal flash over cache[:start + T] (bottom-right aligned); T == 1: split-K decode."""
        from kernels.attention import decode, flash

        B, H, T, D = q.shape
        n = start + T
        k, v = self.k_cache[li], self.v_cache[li]
        if T == 1:
            lens = torch.full((B,), n, device=q.device, dtype=torch.int32)
            run = decode.decode_attention if self.use_kernels else decode.reference
            o = run(q[:, :, 0], k, v, lens)[0][:, :, None]  # (B, H, 1, D)
        else:
            run = flash.flash_attention if self.use_kernels else flash.reference
            o = run(q, k[:, :, :n], v[:, :, :n], causal=True)[0]  # (B, H, T, D)
        return o.transpose(1, 2).reshape(B, T, H * D)

    def op_o_proj(self, li, o):
        return self.layers[li].o(o)

    def op_mlp_norm(self, li, resid, delta):
        resid = resid + delta
        return resid, self._rms(resid, self.layers[li].mlp_norm)

    def op_gate_up_proj(self, li, h):
        return self.layers[li].gate_up(h)  # (B, T, 2 I)

    def op_mlp_act(self, li, gu):
        g, u = gu.chunk(2, dim=-1)
        return F.silu(g) * u

    def op_down_proj(self, li, a):
        return self.layers[li].down(a)

    def op_final_norm(self, li, resid, delta):
        return self._rms(resid + delta, self.final_norm)

    def op_lm_head(self, li, h):
        return F.linear(h[:, -1], self.lm_head)  # (B, V): the last position only

    def run_op(self, name: str, li: int | None, *acts: Any) -> Any:
        if self.hook is not None:
            self.hook(name, li)
        return getattr(self, f"op_{name}")(li, *acts)

    # -- whole passes
    def forward(self, tokens: torch.Tensor, start: int, capture: dict[str, tuple] | None = None,
                capture_layer: int = 0) -> torch.Tensor:
        """Run T = tokens.shape[1] new tokens a sequence at positions [start, start + T) through the stack;
        the cache must hold the first ``start`` positions. Returns the last position's logits (B, V).
        ``capture`` receives each op's activations (model ops, and per-layer ops of ``capture_layer``)."""
        B, T = tokens.shape
        if start + T > self.cache_len or (self.k_cache and self.k_cache[0].shape[0] != B):
            raise InputError(f"cache ({self.cache_len} positions) too small for {start}+{T}, or batch != {B}: "
                             "call allocate_cache(batch, max_len) first")

        def op(name: str, li: int | None, *acts: Any) -> Any:
            if capture is not None and (li is None or li == capture_layer):
                capture[name] = acts
            return self.run_op(name, li, *acts)

        resid, delta = op("embedding", None, tokens), None
        for li in range(self.dims.layers):
            resid, h = op("attn_norm", li, resid, delta)
            q = op("rope", li, op("qkv_proj", li, h), start)
            delta = op("o_proj", li, op("flash_attention", li, q, start))
            resid, h = op("mlp_norm", li, resid, delta)
            delta = op("down_proj", li, op("mlp_act", li, op("gate_up_proj", li, h)))
        return op("lm_head", None, op("final_norm", None, resid, delta))

    def prefill(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.forward(tokens, 0)

    def decode(self, tokens: torch.Tensor, position: int) -> torch.Tensor:
        """One decode step: tokens (B, 1) at ``position`` (= the context length L already cached)."""
        return self.forward(tokens, position)

    def op_sweep(self, name: str, capture: dict[str, tuple]) -> Callable[[], Any]:
        """Zero-argument call running op type ``name`` once per layer (or once for a model op) on the
        captured activations: one op type's share of a step, repeatable back to back."""
        acts = capture[name]
        layers: Sequence[int | None] = [None] if name in MODEL_OPS else range(self.dims.layers)

        def run() -> None:
            for li in layers:
                self.run_op(name, li, *acts)

        return run

    def layer_block(self, li: int, capture: dict[str, tuple]) -> Callable[[], Any]:
        """Zero-argument call running all of layer ``li``'s ops on the captured activations."""
        def run() -> None:
            for name in PER_LAYER_OPS:
                self.run_op(name, li, *capture[name])

        return run


def reference_logits(stack: DecoderStack, tokens: torch.Tensor) -> torch.Tensor:
    """Plain fp32 forward of the same weights, no cache, explicit causal softmax: logits (B, S, V) of
    every position (the checks compare against the stack's prefill / decode outputs)."""
    d = stack.dims
    B, S = tokens.shape
    D, H, Hkv = d.head_dim, d.heads, d.kv_heads

    def rms(x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + d.norm_eps) * w.float()

    inv = 1.0 / d.rope_theta ** (torch.arange(0, D, 2, device=tokens.device).float() / D)
    ang = torch.arange(S, device=tokens.device).float()[:, None] * inv[None, :]
    cos, sin = ang.cos()[:, None, :], ang.sin()[:, None, :]  # (S, 1, D/2)

    def rot(x):  # (B, S, heads, D)
        x1, x2 = x.chunk(2, dim=-1)
        return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)

    x = stack.embed.float()[tokens]  # (B, S, h)
    causal = torch.ones(S, S, dtype=torch.bool, device=tokens.device).tril()
    for lw in stack.layers:
        h = rms(x, lw.attn_norm)
        qkv = h @ lw.qkv.dense().t()
        q, k, v = qkv.split([H * D, Hkv * D, Hkv * D], dim=-1)
        q = rot(q.view(B, S, H, D)).transpose(1, 2)  # (B, H, S, D)
        k = rot(k.view(B, S, Hkv, D)).transpose(1, 2).repeat_interleave(H // Hkv, dim=1)
        v = v.view(B, S, Hkv, D).transpose(1, 2).repeat_interleave(H // Hkv, dim=1)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(D)  # (B, H, S, S)
        o = torch.softmax(s.masked_fill(~causal, float("-inf")), dim=-1) @ v
        x = x + o.transpose(1, 2).reshape(B, S, H * D) @ lw.o.dense().t()
        h = rms(x, lw.mlp_norm)
        g, u = (h @ lw.gate_up.dense().t()).chunk(2, dim=-1)
        x = x + (F.silu(g) * u) @ lw.down.dense().t()
    return rms(x, stack.final_norm) @ stack.lm_head.float().t()


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
    roofline.transformer; ``rope`` (not modeled there) from its own count."""
    from roofline import transformer as tf

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
        from roofline.fmt import to_jsonable

        return to_jsonable({
            "variant": self.variant, "phase": self.phase, "batch": self.batch, "ctx": self.ctx,
            "dims": asdict(self.dims), "kind": "measured", "energy_method": self.energy_method,
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
    by op type. ``timer(fn) -> roofline.timers.Timing``; ``meter.measure(fn, sync, call_s, flops, bytes,
    dtype) -> EnergyResult`` (a roofline.meters meter) or None. For decode the cache is first filled by a
    prefill of ``ctx`` random tokens. The cache is left holding the measured step's K/V."""
    from roofline.timers import sync_for

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
    """Per-op modeled time and energy of the scenario's step (roofline.predict), one row an op name:
    name, kind, count, flops, bytes, time_s, energy_j, bound. ``device`` is an hwdb id or a Device (e.g.
    one carrying a fresh calibration)."""
    from roofline.predict import predict

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
