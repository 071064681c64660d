"""Scenario: what is being served (phase, batch, lengths, quantization, sparsity, attention kind, TP).

Phases (the convention every engine function follows):
- ``prefill``: the prompt of ``prompt_tokens`` tokens for each of ``batch`` sequences; it emits the first token.
- ``decode``: one decode step whose KV cache holds ``prompt_tokens`` tokens (context L = prompt_tokens); the new
  token attends to L + 1 positions. It is the first decode step after the prompt.
- ``generate``: prefill, then ``gen_tokens - 1`` decode steps at contexts L = P, P+1, ..., P+G-2, so that
  ``gen_tokens`` tokens are produced per sequence (the first by the prefill, as serving benchmarks count TTFT).
"""

from __future__ import annotations

import numbers
import re
from dataclasses import dataclass, replace

from roofline.engine.catalog import ModelSpec
from roofline.errors import InputError

PHASES = ("prefill", "decode", "generate")
ATTENTION_KINDS = ("naive", "flash", "block-sparse")
WEIGHT_SPARSITY = ("none", "2:4")
OFFLOAD = ("none", "kv", "weights")  # what part of device memory lives in host memory (streamed over the host link)
SPEC_HEADS = "heads"  # speculative decoding with Medusa / EAGLE-style heads on the target (else a draft model id)
NUMBER_FORMATS = ("int", "float")  # 8- and 4-bit weights/activations as integers (int8/int4) or floats (fp8/fp4)


@dataclass(frozen=True)
class Scenario:
    """One serving configuration. Bits are per element; group_size is the number of weights sharing one
    16-bit scale (only when bits < 16); attention_kept is the fraction of score blocks block-sparse keeps;
    mlp_active / head_active are contextual-sparsity fractions (DejaVu-style); number_format says whether
    8- and 4-bit weights and activations are integers (int8 / int4 GEMMs) or floats (fp8 / fp4 GEMMs)."""

    phase: str = "decode"
    batch: int = 1
    prompt_tokens: int = 1024
    gen_tokens: int = 256
    wbits: int = 16
    abits: int = 16
    kvbits: int = 16
    group_size: int = 128
    weight_sparsity: str = "none"
    mlp_active: float = 1.0
    head_active: float = 1.0
    attention: str = "flash"
    attention_kept: float = 1.0
    tp: int = 1
    number_format: str = "int"
    # parallelism beyond TP (a replica = tp x pp x ep devices over ``nodes`` nodes; batch = the replica's sequences)
    pp: int = 1
    ep: int = 1
    nodes: int = 1
    # serving features
    spec_tokens: int = 0  # speculative decoding: tokens drafted a step (lookahead k); 0 = off
    spec_acceptance: float = 0.0  # probability the target accepts each drafted token (i.i.d., Leviathan et al.)
    spec_draft: str = ""  # a catalog model id (draft model) or "heads" (Medusa / EAGLE heads)
    prefix_hit: float = 0.0  # share of prompt tokens found in the prefix cache (not recomputed)
    offload: str = "none"  # none | kv | weights
    offload_fraction: float = 0.0  # of the KV cache or of the weights held in host memory
    kv_block: int = 0  # paged KV cache block in tokens (0 = contiguous)

    @property
    def devices(self) -> int:
        """Devices one replica occupies."""
        return self.tp * self.pp * self.ep

    @property
    def decode_steps(self) -> int:
        """Decode steps in the phase (generate: gen_tokens - 1; decode: 1; prefill: 0)."""
        return {"prefill": 0, "decode": 1, "generate": self.gen_tokens - 1}[self.phase]

    @property
    def tokens_out(self) -> int:
        """Tokens the phase yields per sequence: prefill processes the prompt (counted as its input tokens),
        a decode step makes one, generate makes gen_tokens."""
        return {"prefill": self.prompt_tokens, "decode": 1, "generate": self.gen_tokens}[self.phase]

    @property
    def max_context(self) -> int:
        """The most positions the KV cache holds during the phase."""
        return {"prefill": self.prompt_tokens, "decode": self.prompt_tokens + 1,
                "generate": self.prompt_tokens + max(self.gen_tokens - 1, 1)}[self.phase]

    def with_(self, **kw) -> Scenario:
        return replace(self, **kw)

    def label(self) -> str:
        q = f"W{self.wbits}A{self.abits}KV{self.kvbits}" + (f"g{self.group_size}" if min(self.wbits, self.kvbits) < 16 else "")
        if self.number_format == "float" and min(self.wbits, self.abits, self.kvbits) <= 8:
            q += " float"
        att = self.attention + (f":{self.attention_kept:g}" if self.attention == "block-sparse" else "")
        extra = (" 2:4" if self.weight_sparsity == "2:4" else "") + (f" tp{self.tp}" if self.tp > 1 else "")
        extra += (f" pp{self.pp}" if self.pp > 1 else "") + (f" ep{self.ep}" if self.ep > 1 else "")
        extra += f" x{self.nodes} nodes" if self.nodes > 1 else ""
        if self.spec_tokens:
            extra += f" spec {self.spec_draft}:{self.spec_tokens}@{self.spec_acceptance:g}"
        extra += f" prefix {self.prefix_hit:.0%}" if self.prefix_hit else ""
        extra += f" offload {self.offload} {self.offload_fraction:.0%}" if self.offload != "none" else ""
        return f"{self.phase} B={self.batch} P={self.prompt_tokens} G={self.gen_tokens} {q} {att}{extra}"

    def validate(self, model: ModelSpec | None = None) -> Scenario:
        """Raise InputError on any value the engine cannot price; returns self for chaining."""
        if self.phase not in PHASES:
            raise InputError(f"unknown phase {self.phase!r} (use {', '.join(PHASES)})")
        for f in ("batch", "prompt_tokens", "gen_tokens", "group_size", "tp", "pp", "ep", "nodes"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v <= 0:
                raise InputError(f"{f} must be a positive integer, got {v!r}")
        for f in ("wbits", "abits", "kvbits"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or not 1 <= v <= 16:
                raise InputError(f"{f} must be an integer in 1..16, got {v!r}")
        if self.weight_sparsity not in WEIGHT_SPARSITY:
            raise InputError(f"cannot parse weight sparsity {self.weight_sparsity!r} (use none or 2:4)")
        if self.number_format not in NUMBER_FORMATS:
            raise InputError(f"unknown number format {self.number_format!r} (use {' or '.join(NUMBER_FORMATS)})")
        if self.attention not in ATTENTION_KINDS:
            raise InputError(f"unknown attention kind {self.attention!r} (use naive, flash, block-sparse:<kept>)")
        for f in ("mlp_active", "head_active", "attention_kept"):
            v = getattr(self, f)
            if not 0.0 < v <= 1.0:
                raise InputError(f"{f} must be in (0, 1], got {v!r}")
        for f in ("spec_tokens", "kv_block"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0:
                raise InputError(f"{f} must be a non-negative integer, got {v!r}")
        if self.spec_tokens:
            if not 0.0 <= self.spec_acceptance < 1.0:
                raise InputError(f"spec_acceptance must be in [0, 1), got {self.spec_acceptance!r}")
            if not self.spec_draft:
                raise InputError("speculative decoding needs a draft: a catalog model id or 'heads'")
        for f in ("prefix_hit", "offload_fraction"):
            v = getattr(self, f)
            if not 0.0 <= v < 1.0:
                raise InputError(f"{f} must be in [0, 1), got {v!r}")
        if self.offload not in OFFLOAD:
            raise InputError(f"unknown offload {self.offload!r} (use {', '.join(OFFLOAD)})")
        if self.devices % self.nodes:
            raise InputError(f"{self.devices} devices (tp {self.tp} x pp {self.pp} x ep {self.ep}) do not split over "
                             f"{self.nodes} nodes")
        if model is not None:
            if model.hidden % self.group_size and min(self.wbits, self.kvbits) < 16:
                raise InputError(f"group size {self.group_size} does not divide hidden {model.hidden} of {model.id}")
            if model.heads % self.tp:
                raise InputError(f"tensor-parallel degree {self.tp} does not divide the {model.heads} heads of {model.id}")
            if model.kv_heads % self.tp and self.tp % model.kv_heads:
                raise InputError(f"tensor-parallel degree {self.tp} and the {model.kv_heads} KV heads of {model.id} "
                                 "neither divide the other")
            if model.mlp_width % self.tp:
                raise InputError(f"tensor-parallel degree {self.tp} does not divide the MLP width {model.mlp_width}")
            if model.layers % self.pp:
                raise InputError(f"pipeline-parallel degree {self.pp} does not divide the {model.layers} layers of "
                                 f"{model.id}")
            if self.ep > 1 and not model.is_moe:
                raise InputError(f"expert parallelism needs a mixture-of-experts model; {model.id} is dense")
            if model.is_moe and model.experts % self.ep:
                raise InputError(f"expert-parallel degree {self.ep} does not divide the {model.experts} experts of "
                                 f"{model.id}")
        return self


def parse_attention(spec: str) -> tuple[str, float]:
    """'naive' | 'flash' | 'block-sparse:0.1' -> (kind, kept fraction). Raises InputError."""
    s = spec.strip().lower()
    if s in ("naive", "flash"):
        return s, 1.0
    m = re.fullmatch(r"block-sparse(?::([0-9]*\.?[0-9]+(?:e-?[0-9]+)?))?", s)
    if m:
        kept = float(m.group(1)) if m.group(1) else 0.1
        if not 0.0 < kept <= 1.0:
            raise InputError(f"block-sparse kept fraction must be in (0, 1], got {kept:g}")
        return "block-sparse", kept
    raise InputError(f"cannot parse attention {spec!r} (use naive, flash or block-sparse:<kept fraction>)")


def parse_sparsity(spec: str) -> str:
    """'none' | '2:4' (also 'dense'). Raises InputError."""
    s = spec.strip().lower()
    if s in ("none", "dense", "0"):
        return "none"
    if s in ("2:4", "2of4", "24"):
        return "2:4"
    raise InputError(f"cannot parse weight sparsity {spec!r} (use none or 2:4)")
