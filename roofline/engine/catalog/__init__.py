"""The model catalog: open LLM architectures as data (one TOML per model in this folder).

Each file holds the numbers of the model's HuggingFace ``config.json`` (``source``), with ``head_dim``
explicit (never derived as hidden / heads: Gemma-2 and Qwen3-MoE differ), and the accuracy figures its
publisher reports, each with benchmark and source (for IPW / IPJ).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from roofline.errors import InputError, UnknownNameError

CATALOG_DIR = Path(__file__).parent


@dataclass(frozen=True)
class Accuracy:
    """A published accuracy figure (percent) with the benchmark it was measured on and where it was published."""

    benchmark: str
    value_pct: float
    source: str
    note: str = ""

    @property
    def fraction(self) -> float:
        return self.value_pct / 100.0


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """A decoder-only transformer as its config describes it. Dense models have experts = 1."""

    id: str
    name: str
    family: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int  # dense MLP width (unused by MoE layers, which use moe_intermediate)
    vocab: int
    experts: int = 1
    experts_per_token: int = 1
    moe_intermediate: int = 0
    tied_embeddings: bool = False
    max_context: int = 4096
    source: str = ""
    accuracy: tuple[Accuracy, ...] = ()
    notes: str = ""
    native_wbits: int = 16  # bits a weight as released (BitNet: ternary packed in 2 bits)
    native_abits: int = 16
    # sliding-window attention: ``sliding_layers`` layers (0 with a window = all) attend to the last
    # ``sliding_window`` positions only (Mistral v0.1: all 32; Gemma-2: every other layer)
    sliding_window: int = 0
    sliding_layers: int = 0
    # multi-head latent attention (DeepSeek-V2/V3): K and V come from a cached latent of kv_lora_rank plus a
    # shared RoPE key of qk_rope_head_dim; head_dim is the query/key width (nope + rope), v_head_dim the value's
    kv_lora_rank: int = 0
    q_lora_rank: int = 0
    qk_rope_head_dim: int = 0
    v_head_dim: int = 0
    first_dense_layers: int = 0  # MoE models whose first layers are dense MLPs (DeepSeek: first_k_dense_replace)
    shared_experts: int = 0  # experts every token uses besides its routed ones (DeepSeek: n_shared_experts)
    path: str = field(default="", compare=False)

    @property
    def is_moe(self) -> bool:
        return self.experts > 1

    @property
    def mlp_width(self) -> int:
        """Intermediate width of one expert (MoE) or of the dense MLP."""
        return self.moe_intermediate if self.is_moe else self.intermediate

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank > 0

    @property
    def window_layers(self) -> int:
        """Layers that attend through the sliding window (0 when the model has none)."""
        if not self.sliding_window:
            return 0
        return self.sliding_layers or self.layers

    @property
    def moe_layers(self) -> int:
        return self.layers - self.first_dense_layers if self.is_moe else 0

    @property
    def q_dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    @property
    def o_dim(self) -> int:
        """Width of the attention output (heads x value head dim)."""
        return self.heads * (self.v_head_dim or self.head_dim)

    @property
    def mla_weights(self) -> tuple[int, int, int, int, int]:
        """MLA projections per layer: (q_a, q_b, kv_a, kv_b, o) weight counts (q_a = 0 without a query LoRA)."""
        h, H = self.hidden, self.heads
        nope = self.head_dim - self.qk_rope_head_dim
        q_a = h * self.q_lora_rank
        q_b = (self.q_lora_rank or h) * H * self.head_dim
        kv_a = h * (self.kv_lora_rank + self.qk_rope_head_dim)
        kv_b = self.kv_lora_rank * H * (nope + self.v_head_dim)
        return q_a, q_b, kv_a, kv_b, H * self.v_head_dim * h

    @property
    def attn_params_per_layer(self) -> int:
        if self.is_mla:
            return sum(self.mla_weights)
        return self.hidden * (self.q_dim + 2 * self.kv_dim) + self.q_dim * self.hidden

    def mlp_params_per_layer(self, experts: float | None = None) -> float:
        """Gated MLP (gate, up, down): 3 * hidden * width per expert (shared experts included); the router for MoE."""
        n = (self.experts if experts is None else experts) + (self.shared_experts if self.is_moe else 0)
        router = self.hidden * self.experts if self.is_moe else 0
        return 3 * self.hidden * self.mlp_width * n + router

    def _mlp_total(self, experts: float | None) -> float:
        dense = 3 * self.hidden * self.intermediate * self.first_dense_layers if self.is_moe else 0.0
        per = self.mlp_params_per_layer(experts)
        return dense + per * (self.moe_layers if self.is_moe else self.layers)

    @property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden * (1 if self.tied_embeddings else 2)

    @property
    def params(self) -> float:
        """All parameters (embeddings counted once when tied; norms included)."""
        per_layer = self.attn_params_per_layer + 2 * self.hidden
        return self.layers * per_layer + self._mlp_total(None) + self.embedding_params + self.hidden

    @property
    def active_params(self) -> float:
        """Parameters touched by one token (MoE: experts_per_token experts)."""
        per_layer = self.attn_params_per_layer + 2 * self.hidden
        return self.layers * per_layer + self._mlp_total(self.experts_per_token) + self.embedding_params + self.hidden

    def accuracy_for(self, benchmark: str | None = None) -> Accuracy | None:
        """The first published figure (or the one for ``benchmark``, matched by prefix), None when absent."""
        for a in self.accuracy:
            if benchmark is None or a.benchmark.lower().startswith(benchmark.lower()):
                return a
        return None


_INT_FIELDS = ("layers", "hidden", "heads", "kv_heads", "head_dim", "intermediate", "vocab", "experts",
               "experts_per_token", "moe_intermediate", "max_context", "native_wbits", "native_abits",
               "sliding_window", "sliding_layers", "kv_lora_rank", "q_lora_rank", "qk_rope_head_dim", "v_head_dim",
               "first_dense_layers", "shared_experts")
_REQUIRED = ("id", "name", "family", "layers", "hidden", "heads", "kv_heads", "head_dim", "intermediate", "vocab",
             "source")


def parse_model(path: Path, raw: dict) -> ModelSpec:
    """Validate one model document; raise InputError naming the file and field."""
    def err(f: str, msg: str) -> InputError:
        return InputError(f"{path.name}: {f}: {msg}")

    allowed = set(_INT_FIELDS) | {"id", "name", "family", "tied_embeddings", "source", "accuracy", "notes"}
    for k in raw:
        if k not in allowed:
            raise err(k, "unknown field")
    for k in _REQUIRED:
        if k not in raw:
            raise err(k, "missing field")
    for k in _INT_FIELDS:
        if k in raw and (not isinstance(raw[k], int) or isinstance(raw[k], bool) or raw[k] < 0):
            raise err(k, f"expected a non-negative integer, got {raw[k]!r}")
    for k in ("layers", "hidden", "heads", "kv_heads", "head_dim", "intermediate", "vocab"):
        if raw[k] <= 0:
            raise err(k, "must be > 0")
    if raw["heads"] % raw["kv_heads"]:
        raise err("kv_heads", f"{raw['kv_heads']} does not divide heads {raw['heads']}")
    if raw.get("experts", 1) > 1 and (raw.get("moe_intermediate", 0) <= 0
                                      or not 1 <= raw.get("experts_per_token", 1) <= raw["experts"]):
        raise err("experts", "an MoE model needs moe_intermediate > 0 and 1 <= experts_per_token <= experts")
    if raw.get("sliding_layers", 0) > raw["layers"]:
        raise err("sliding_layers", f"{raw['sliding_layers']} > layers {raw['layers']}")
    if raw.get("kv_lora_rank", 0) and not (0 < raw.get("qk_rope_head_dim", 0) < raw["head_dim"]
                                           and raw.get("v_head_dim", 0) > 0):
        raise err("kv_lora_rank", "an MLA model needs 0 < qk_rope_head_dim < head_dim and v_head_dim > 0")
    if raw.get("first_dense_layers", 0) >= raw["layers"]:
        raise err("first_dense_layers", "must be fewer than the layers")
    if not str(raw["source"]).startswith("https://"):
        raise err("source", "must be the config URL")
    accs = []
    for i, a in enumerate(raw.get("accuracy", [])):
        if set(a) - {"benchmark", "value_pct", "source", "note"} or not a.get("benchmark") or not a.get("source"):
            raise err(f"accuracy[{i}]", "needs benchmark, value_pct, source (and optional note)")
        if not 0 < float(a["value_pct"]) <= 100:
            raise err(f"accuracy[{i}].value_pct", "must be in (0, 100]")
        accs.append(Accuracy(a["benchmark"], float(a["value_pct"]), a["source"], a.get("note", "")))
    kw = {k: raw[k] for k in raw if k != "accuracy"}
    return ModelSpec(**kw, accuracy=tuple(accs), path=str(path))


@lru_cache(maxsize=1)
def load_models() -> dict[str, ModelSpec]:
    """Every catalog model keyed by id."""
    out: dict[str, ModelSpec] = {}
    for path in sorted(CATALOG_DIR.glob("*.toml")):
        with open(path, "rb") as f:
            m = parse_model(path, tomllib.load(f))
        if m.id in out:
            raise InputError(f"{path.name}: id: duplicate model id {m.id!r}")
        out[m.id] = m
    return out


def get_model(model_id: str | ModelSpec) -> ModelSpec:
    """One model by id (a ModelSpec passes through); UnknownNameError suggests the closest ids."""
    if isinstance(model_id, ModelSpec):
        return model_id
    models = load_models()
    if model_id not in models:
        raise UnknownNameError("model", model_id, list(models))
    return models[model_id]


__all__ = ["Accuracy", "ModelSpec", "load_models", "get_model", "parse_model", "CATALOG_DIR"]
