"""A Llama-style decoder stack built from the project's kernels (random weights, CPU-testable).

The stack (random weights, no downloads): embedding, then per layer fused residual-add + RMSNorm, fused QKV
projection, RoPE + KV-cache write, attention (flash prefill, split-K decode), o_proj, residual-add + RMSNorm,
fused gate/up projection, SiLU-gate, down projection; final norm and lm_head on the last position. On CUDA
the linears are ``kernels.quant.w4a16`` (variant "w4a16") or bf16 ``F.linear`` ("bf16") and attention is
``kernels.attention`` flash / decode; elsewhere the same ops run as plain torch (the kernels' references),
so the stack is testable on a CPU.

Op names are ``roofline.engine.transformer``'s, so measured and predicted ops line up by name:
embedding, attn_norm, qkv_proj, flash_attention (prefill: flash; decode: split-K decode, both priced as
transformer.py's ``flash_attention``), o_proj, mlp_norm, gate_up_proj, mlp_act, down_proj, final_norm,
lm_head. Two names do not match one-to-one: ``rope`` (RoPE on q/k + the KV-cache write) is measured but not
modeled (transformer.py counts the cache write in qkv_proj's bytes), and ``dequant`` (W4A16) is modeled
but fused into the measured linears. Both appear in ``compare_step`` with the other side NaN.

The attribution of a step to these ops is ``roofline.analysis.decode_step``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from kernels.attention import decode, flash
from kernels.quant import w4a16
from roofline.engine.catalog import ModelSpec, get_model
from roofline.errors import InputError

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
        """These shapes as a catalog ModelSpec (for roofline.engine.transformer / predict)."""
        return ModelSpec(id=self.name, name=self.name, family="llama", layers=self.layers, hidden=self.hidden,
                         heads=self.heads, kv_heads=self.kv_heads, head_dim=self.head_dim,
                         intermediate=self.intermediate, vocab=self.vocab,
                         source="roofline.analysis.decode_step (random weights)")


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

        if self.weight is not None:
            return F.linear(x, self.weight)
        if self.use_kernels:
            return w4a16.w4a16_linear(x, self.qweight, self.scales, None, group=self.group)
        return w4a16.reference(x, self.qweight, self.scales, None, self.group)

    def dense(self) -> torch.Tensor:
        """The weight (N, K) in fp32, dequantized for W4A16 (what the reference forward uses)."""

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
