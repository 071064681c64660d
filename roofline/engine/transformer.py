"""The op graph of one transformer forward pass: ModelSpec + Scenario -> FLOPs and bytes per op.

One source of formulas for both users: ``pass_terms`` works on Python numbers (``ops()`` wraps the result
in ``roofline.ops.Op`` for ``predict``) and on numpy arrays of batch / tokens / context (``roofline.engine.sweep``
evaluates a whole grid with the same code). Everything is per device under tensor parallelism ``tp``.

Conventions (FLOPs: a multiply-add is 2; bytes: DRAM traffic, each tensor read or written once):
- N = batch * tokens in the pass (prefill: tokens = prompt; decode: tokens = 1).
- Weights move at ``wbits`` plus one 16-bit scale per ``group_size`` weights (bits < 16); 2:4 sparsity moves
  half the values plus 2 bits of metadata a kept value; embeddings, lm_head, norms and the MoE router stay
  16-bit (as in AWQ/GPTQ/BitNet releases).
- Activations move at ``abits``; the KV cache at ``kvbits`` plus a 16-bit scale per min(group, head_dim).
- Attention uses explicit head_dim: Q/O width = heads * head_dim (not hidden), K/V width = kv_heads * head_dim.
- Naive attention writes and re-reads the (tokens x positions) score matrix; flash never does; block-sparse
  is flash over the kept fraction of score blocks (and of the K/V it reads).
- A decode step at context L reads the whole KV cache (L + 1 positions with the new token).
- The lm_head runs for the last position of each sequence only: 2 * hidden * vocab FLOPs a sequence.
- MoE: a pass touches E * (1 - (1 - k/E)^N) distinct experts (expected, uniform routing); their weights
  are read once; FLOPs follow the k experts each token uses. The router is an h x E matmul.
- Weight-only quantization (weights narrower than the compute dtype) adds a ``dequant`` row per layer: the time
  dequantization adds to the layer's GEMMs as real kernels run it, whichever is faster per GEMM (priced by
  ``roofline.engine.predict``): fused (DEQUANT_FLOPS_PER_WEIGHT a weight a tile of DEQUANT_TILE_TOKENS tokens
  on the vector units, overlapped with the MMA: only the excess over the GEMM counts), or a dequantize kernel
  (read the packed weights, write 16-bit ones) + a dense GEMM that reads the 16-bit weights. The row's declared
  FLOPs are the fused path's; ``parts`` carries each GEMM's figures for the choice.
- 8- and 4-bit weights x activations run on the int8 / int4 roofs (``number_format`` int) or the fp8 / fp4
  roofs (float).
- Chunked prefill (``chunks`` > 1, a runtime's max-batched-tokens budget): the pass runs as ``chunks`` passes
  of N / chunks tokens; weights are read again in every chunk, activations once in all; attention's FLOPs and
  bytes split evenly (K/V re-reads of earlier chunks are not counted); the lm_head runs once.
- Tensor parallelism: heads, MLP width, vocab split over tp devices (KV heads replicated when tp > kv_heads);
  two ring all-reduces of S = N * hidden activations per layer: each device sends 2 (tp-1)/tp * S and receives
  as much at the same time. hwdb interconnect figures are bidirectional aggregates (NVLink 4: 900 GB/s =
  450 GB/s each way), so ``comm_bytes`` counts both directions (LINK_DIRECTIONS * 2 (tp-1)/tp * S): priced at the
  aggregate that is 2 (tp-1)/tp * S at the one-way bandwidth, as NCCL's bus bandwidth counts it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from roofline.engine.catalog import ModelSpec
from roofline.engine.scenario import Scenario
from roofline.ops import Op

EMBED_BYTES = 2.0  # embeddings / lm_head / norm weights / router at 16 bits
SCALE_BYTES = 2.0  # one fp16 scale per quantization group
DEQUANT_FLOPS_PER_WEIGHT = 2.0  # scale multiply + convert (zero-point folded)
DEQUANT_TILE_TOKENS = 128  # a fused W4A16 GEMM dequantizes each weight once per M-tile of tokens
NORM_FLOPS_PER_ELEM = 5.0  # residual add, square, sum, scale, weight multiply
ACT_FLOPS_PER_ELEM = 5.0  # SiLU (4) and the gate multiply (1) on the intermediate width
SOFTMAX_FLOPS_PER_ELEM = 5.0  # max, subtract, exp, sum, divide
LINK_DIRECTIONS = 2.0  # hwdb interconnect bandwidth is the bidirectional aggregate: a collective's bytes
# are counted sent + received so that comm_bytes / aggregate = one-way bytes / one-way bandwidth


@dataclass(frozen=True)
class Term:
    """One op row before wrapping: numeric fields are floats or numpy arrays (sweep). Per instance."""

    name: str
    kind: str
    layer: str
    count: int
    dtype: str
    flops: Any
    bytes_read: Any
    bytes_written: Any
    comm_bytes: Any = 0.0
    cls: str = "other"  # gemm | moe | attn_prefill | attn_decode | comm | dequant | other: which runtime efficiency
    rows: Any = 0.0  # GEMMs: tokens each weight meets in the pass (M of the GEMM; per expert for MoE)
    weight_bytes: Any = 0.0  # of bytes_read, the weights (read again by every chunk of a chunked prefill)
    parts: tuple = ()  # dequant rows: (flops, bytes, weight_elems, weight_bytes, dtype, tiles, rows, cls) a GEMM
    host_bytes: Any = 0.0  # streamed from host memory over the host link (offload), beside bytes_read
    coll: str = ""  # collective the comm row is: all_reduce | all_gather | all_to_all | p2p ("" = none)
    group: int = 1  # devices taking part
    stride: int = 1  # distance between them in the replica's device order (TP innermost, then EP, then PP)
    msg_bytes: Any = 0.0  # the collective's message a device (all-reduce S; all-to-all: bytes it sends)

    def op(self) -> Op:
        return Op(name=self.name, kind=self.kind, flops=float(self.flops), bytes_read=float(self.bytes_read),
                  bytes_written=float(self.bytes_written), dtype=self.dtype, count=self.count, layer=self.layer,
                  comm_bytes=float(self.comm_bytes))


# ---- element sizes and dtypes ---------------------------------------------------------------------------

def linear_dtype(wbits: int, abits: int, number_format: str = "int") -> str:
    """The compute roof a linear layer runs at: int4 / fp4 (W4A4), int8 / fp8 (W8A8, W4A8, BitNet W2A8), else bf16."""
    fp = number_format == "float"
    if wbits <= 4 and abits <= 4:
        return "fp4" if fp else "int4"
    if wbits <= 8 and abits <= 8:
        return "fp8" if fp else "int8"
    return "bf16"


def attention_dtype(abits: int, kvbits: int) -> str:
    return "fp8" if abits <= 8 and kvbits <= 8 else "bf16"


_DTYPE_BITS = {"int4": 4, "fp4": 4, "int8": 8, "fp8": 8, "bf16": 16}
ATTENTION_CORE = ("flash_attention", "block_sparse_attention", "qk_matmul", "sv_matmul")


def weight_bytes_per_elem(sc: Scenario) -> float:
    """DRAM bytes per dense weight element, group scales and 2:4 metadata included."""
    scale = SCALE_BYTES / sc.group_size if sc.wbits < 16 else 0.0
    if sc.weight_sparsity == "2:4":  # half the values kept; 2 bits of index metadata per kept value
        return 0.5 * (sc.wbits + 2) / 8 + 0.5 * scale
    return sc.wbits / 8 + scale


def kv_bytes_per_elem(sc: Scenario, m: ModelSpec) -> float:
    scale = SCALE_BYTES / min(sc.group_size, m.head_dim) if sc.kvbits < 16 else 0.0
    return sc.kvbits / 8 + scale


def heads_per_device(m: ModelSpec, tp: int) -> tuple[int, int]:
    """(query heads, KV heads) on one device; KV heads are replicated when tp > kv_heads."""
    return m.heads // tp, max(m.kv_heads // tp, 1)


def experts_touched(m: ModelSpec, tokens: Any) -> Any:
    """Expected distinct experts a pass of ``tokens`` tokens routes to (uniform top-k routing)."""
    if not m.is_moe:
        return 1.0
    return m.experts * (1.0 - (1.0 - m.experts_per_token / m.experts) ** tokens)


# ---- the graph -----------------------------------------------------------------------------------------

def window_pairs(x: Any, w: float) -> Any:
    """sum_{i=1..x} min(i, w): (query, key) pairs of x causal positions under a sliding window of w."""
    x = np.asarray(x, dtype=float)
    full = x * (x + 1.0) / 2.0
    out = np.where(x <= w, full, w * (w + 1.0) / 2.0 + (x - w) * w)
    return float(out) if out.ndim == 0 else out


def attention_pairs(tokens: Any, positions: Any, window: float = 0.0) -> Any:
    """(query, key) pairs a sequence's ``tokens`` new tokens make attending causally to ``positions`` positions
    (the new ones last): prefill (tokens = positions) T(T+1)/2, a decode step (tokens 1) L + 1."""
    if window:
        return window_pairs(positions, window) - window_pairs(np.asarray(positions, dtype=float) - tokens, window)
    return tokens * (positions - tokens) + tokens * (tokens + 1) / 2


def pass_terms(m: ModelSpec, sc: Scenario, batch: Any, tokens: Any, positions: Any, phase: str,
               sparse_hw: bool = True, chunks: Any = 1, logit_tokens: Any = 1) -> list[Term]:
    """Op rows of one forward pass, per device (of the bottleneck pipeline stage under ``sc.pp``).

    phase "prefill": ``tokens`` new tokens a sequence attend causally to themselves (positions = tokens);
    phase "decode": ``tokens`` (1, or k + 1 when verifying speculated tokens) new tokens a sequence attend to
    ``positions`` positions (L + tokens); phase "extend": ``tokens`` new tokens after positions - tokens cached
    ones (a prefix-cache hit, a chunk of a chunked prefill) -- extend and decode run the decode kernels.
    ``sparse_hw``: 2:4 weights run on sparse tensor cores (half the FLOPs) -- False on devices without them.
    ``chunks``: the pass runs as that many chunks (chunked prefill): rows are per chunk, counts times chunks.
    ``logit_tokens``: positions a sequence computes logits for (1; k + 1 when verifying speculated tokens).
    Batch is the replica's; under expert parallelism (ep) attention runs data-parallel, batch / ep a group.
    """
    t = sc.tp
    ep = sc.ep
    a = sc.abits / 8
    kvb = kv_bytes_per_elem(sc, m)
    wb = weight_bytes_per_elem(sc)
    sparse = sc.weight_sparsity == "2:4"
    sf = 0.5 if (sparse and sparse_hw) else 1.0  # executed fraction of linear FLOPs
    h, d = m.hidden, m.head_dim
    hq, hkv = heads_per_device(m, t)
    dv = m.v_head_dim or d
    q_cols = sc.head_active * hq * d  # active query width on this device
    o_cols = sc.head_active * hq * dv  # active attention-output width on this device
    kv_cols = 2 * hkv * d  # K and V
    k = chunks
    n_rep = batch * tokens / k  # tokens in the pass (in one chunk of a chunked prefill), the whole replica
    n = n_rep / ep  # tokens a device's attention / dense layers see (attention data-parallel over ep groups)
    b_dev = batch / ep
    layers = m.layers // sc.pp  # layers on one pipeline stage
    L = layers * k  # instances a row: one a layer and chunk
    terms: list[Term] = []
    ldt = linear_dtype(sc.wbits, sc.abits, sc.number_format)
    dq = sc.wbits < _DTYPE_BITS[ldt]  # weight-only quantization: weights dequantized to the compute dtype
    dq_tiles = np.ceil(np.asarray(n, dtype=float) / DEQUANT_TILE_TOKENS)
    dq_tiles = float(dq_tiles) if dq_tiles.ndim == 0 else dq_tiles
    dq_parts: list[tuple] = []
    off_w = sc.offload_fraction if sc.offload == "weights" else 0.0  # share of weights streamed from host memory
    off_kv = sc.offload_fraction if sc.offload == "kv" else 0.0

    def lin(name: str, kind: str, k_in: Any, n_out: Any, rows: Any, weight_elems: Any, out_bytes: Any = None,
            cls: str = "gemm", m_rows: Any = None, count: Any = None) -> None:
        # rows x k_in @ k_in x n_out; the weights are read once (L2 reuse across rows is assumed)
        w_bytes = weight_elems * wb
        tm = Term(name, kind, "decoder", L if count is None else count, ldt, flops=2.0 * rows * k_in * n_out * sf,
                  bytes_read=w_bytes * (1.0 - off_w) + rows * k_in * a,
                  bytes_written=rows * n_out * a if out_bytes is None else out_bytes, cls=cls,
                  weight_bytes=w_bytes * (1.0 - off_w), rows=rows if m_rows is None else m_rows,
                  host_bytes=w_bytes * off_w)
        terms.append(tm)
        if dq:
            kept = weight_elems * (0.5 if sparse else 1.0)  # 2:4: only the kept values are dequantized
            dq_parts.append((tm.flops, tm.bytes_read + tm.bytes_written, kept, w_bytes, ldt, dq_tiles, tm.rows, cls))

    def norm(name: str) -> None:  # fused residual add + RMSNorm: read x and residual, write both
        terms.append(Term(name, "norm", "decoder", L, "bf16", flops=NORM_FLOPS_PER_ELEM * n * h,
                          bytes_read=2.0 * n * h * a + EMBED_BYTES * h, bytes_written=2.0 * n * h * a,
                          weight_bytes=EMBED_BYTES * h))

    def allreduce(name: str, count: Any = None) -> None:
        if t > 1:
            frac = (t - 1) / t
            terms.append(Term(name, "comm", "decoder", L if count is None else count, "bf16", flops=frac * n * h,
                              bytes_read=1.0 * n * h * a, bytes_written=1.0 * n * h * a,
                              comm_bytes=LINK_DIRECTIONS * 2.0 * frac * n * h * a, cls="comm",  # ring, sent + received
                              coll="all_reduce", group=t, stride=1, msg_bytes=n * h * a))

    def mlp(prefix: str, width: Any, count: Any, cls: str = "gemm") -> None:  # a dense gated MLP on n tokens
        lin(f"{prefix}gate_up_proj", "mlp", h, 2 * width, n, h * 2 * width, count=count, cls=cls)
        act = n * width
        terms.append(Term(f"{prefix}mlp_act", "mlp", "decoder", count, "bf16", flops=ACT_FLOPS_PER_ELEM * act,
                          bytes_read=2.0 * act * a, bytes_written=act * a))
        lin(f"{prefix}down_proj", "mlp", width, h, n, width * h, count=count, cls=cls)

    # -- attention block
    norm("attn_norm")
    adt = attention_dtype(sc.abits, sc.kvbits)
    acls = "attn_prefill" if phase == "prefill" else "attn_decode"
    heads_b = b_dev * sc.head_active * hq / k  # (sequence, active head) pairs (a chunk's share)
    q_bytes = n * q_cols * a
    o_bytes = n * o_cols * a
    if m.is_mla:
        # multi-head latent attention: queries through a LoRA, K/V from a cached latent (kv_lora) + a shared RoPE
        # key; the latent is not split by TP (every rank needs it). Prefill materializes per-head K / V with kv_b
        # (FLOPs per (query, key) pair a head: 2 (d + dv)); decode and extend absorb kv_b into the query and
        # output (per pair 2 (latent + rope) + 2 latent on the latent cache)
        q_a, _, kv_a, _, _ = m.mla_weights
        lat = m.kv_lora_rank + m.qk_rope_head_dim
        q_b = (m.q_lora_rank or h) * sc.head_active * hq * d
        kv_b = m.kv_lora_rank * sc.head_active * hq * ((d - m.qk_rope_head_dim) + dv)
        w_in = q_a + q_b + kv_a
        lin("qkv_proj", "attention", h, w_in / h, n, w_in, out_bytes=n * q_cols * a + n * lat * kvb)
        # kv_b once a new token (prefill: its per-head K / V; decode: the query / output absorption)
        lin("kv_b_proj", "attention", m.kv_lora_rank, kv_b / m.kv_lora_rank, n, kv_b)
        pairs_mla = b_dev * attention_pairs(tokens, positions) / k
        lat_read = b_dev * positions * lat * kvb * (1.0 - off_kv) / k
        host_kv = b_dev * positions * lat * kvb * off_kv / k if phase != "prefill" else 0.0
        if phase == "prefill":
            fl = 2.0 * (d + dv) * sc.head_active * hq * pairs_mla
            kv_read = b_dev * positions * sc.head_active * hq * (d + dv) * a / k  # materialized per-head K / V
        else:
            fl = 2.0 * (2 * m.kv_lora_rank + m.qk_rope_head_dim) * sc.head_active * hq * pairs_mla
            kv_read = lat_read
        terms.append(Term("mla_attention", "attention", "decoder", L, adt, flops=fl,
                          bytes_read=q_bytes + kv_read, bytes_written=o_bytes, cls=acls, host_bytes=host_kv))
    else:
        lin("qkv_proj", "attention", h, q_cols + kv_cols, n, h * (q_cols + kv_cols),
            out_bytes=n * q_cols * a + n * kv_cols * kvb)  # K, V go straight into the cache
        # global layers attend to every position; sliding-window layers to the last ``window`` (their cache holds
        # at most that many; a prefill still reads each K / V once)
        wl = m.window_layers * layers // m.layers  # window layers on this stage
        groups = [((layers - wl) * k, 0.0, "")] if wl < layers else []
        if wl:
            groups.append((wl * k, float(m.sliding_window), "_local" if wl < layers else ""))
        for cnt, w, suffix in groups:
            pairs = attention_pairs(tokens, positions, w)
            full = tokens * (np.minimum(positions, w + tokens - 1) if w else positions)  # what a naive kernel computes
            if phase == "prefill":
                pos_read = positions
            else:
                pos_read = np.minimum(positions, w + tokens - 1) if w else positions
            kv_all = b_dev * pos_read * kv_cols * kvb * sc.head_active / k  # skipped heads skip their K/V too
            kv_host = kv_all * off_kv if phase != "prefill" else 0.0
            kv_read = kv_all - kv_host
            if sc.attention == "naive":
                score_bytes = heads_b * full * a
                terms.append(Term("qk_matmul" + suffix, "attention", "decoder", cnt, adt, flops=2.0 * heads_b * full * d,
                                  bytes_read=q_bytes + kv_read / 2, bytes_written=score_bytes, cls=acls,
                                  host_bytes=kv_host / 2))
                terms.append(Term("softmax" + suffix, "attention", "decoder", cnt, "bf16",
                                  flops=SOFTMAX_FLOPS_PER_ELEM * heads_b * full, bytes_read=score_bytes,
                                  bytes_written=score_bytes))
                terms.append(Term("sv_matmul" + suffix, "attention", "decoder", cnt, adt, flops=2.0 * heads_b * full * d,
                                  bytes_read=score_bytes + kv_read / 2, bytes_written=q_bytes, cls=acls,
                                  host_bytes=kv_host / 2))
            else:
                kept = sc.attention_kept if sc.attention == "block-sparse" else 1.0
                name = ("flash_attention" if sc.attention == "flash" else "block_sparse_attention") + suffix
                terms.append(Term(name, "attention", "decoder", cnt, adt, flops=4.0 * heads_b * pairs * d * kept,
                                  bytes_read=q_bytes + kv_read * kept, bytes_written=q_bytes, cls=acls,
                                  host_bytes=kv_host * kept))
    lin("o_proj", "attention", o_cols, h, n, o_cols * h)
    allreduce("attn_allreduce")

    # -- MLP block
    norm("mlp_norm")
    width = sc.mlp_active * m.mlp_width / t  # active intermediate columns a token, one expert, this device
    if m.is_moe:
        e = m.experts_per_token
        dense_n = m.first_dense_layers * layers // m.layers  # dense-MLP layers on this stage (DeepSeek: the first 3)
        dense_l, moe_l = dense_n * k, (layers - dense_n) * k
        if dense_n:
            mlp("dense_", sc.mlp_active * m.intermediate / t, dense_l)
        if dense_n < layers:
            local = m.experts / ep  # experts this device holds
            touched = local * (1.0 - (1.0 - e / m.experts) ** n_rep)  # of them, routed to by the replica's tokens
            rows = n_rep * e / ep  # (token, expert) pairs this device computes
            terms.append(Term("router", "mlp", "decoder", moe_l, "bf16", flops=2.0 * n * h * m.experts,
                              bytes_read=EMBED_BYTES * h * m.experts + n * h * a, bytes_written=n * m.experts * a,
                              weight_bytes=EMBED_BYTES * h * m.experts))
            if ep > 1:  # dispatch each token to its k experts' devices and combine the results: two all-to-alls
                send = n * e * h * a * (ep - 1) / ep / t
                for nm in ("moe_dispatch", "moe_combine"):
                    terms.append(Term(nm, "comm", "decoder", moe_l, "bf16", flops=0.0, bytes_read=send,
                                      bytes_written=send, comm_bytes=LINK_DIRECTIONS * send, cls="comm",
                                      coll="all_to_all", group=ep, stride=t, msg_bytes=send))
            per_expert = rows / touched  # rows each touched expert's GEMM sees
            lin("gate_up_proj", "mlp", h, 2 * width, rows, touched * h * 2 * width, cls="moe", m_rows=per_expert,
                count=moe_l)
            act_elems = rows * width
            terms.append(Term("mlp_act", "mlp", "decoder", moe_l, "bf16", flops=ACT_FLOPS_PER_ELEM * act_elems,
                              bytes_read=2.0 * act_elems * a, bytes_written=act_elems * a))
            lin("down_proj", "mlp", width, h, rows, touched * width * h, cls="moe", m_rows=per_expert, count=moe_l)
            if m.shared_experts:
                mlp("shared_", sc.mlp_active * m.shared_experts * m.mlp_width / t, moe_l)
    else:
        lin("gate_up_proj", "mlp", h, 2 * width, n, h * 2 * width)
        act_elems = n * width
        terms.append(Term("mlp_act", "mlp", "decoder", L, "bf16", flops=ACT_FLOPS_PER_ELEM * act_elems,
                          bytes_read=2.0 * act_elems * a, bytes_written=act_elems * a))
        lin("down_proj", "mlp", width, h, n, width * h)
    allreduce("mlp_allreduce")

    # -- dequantization of narrow weights to the compute dtype (weight-only quantization): the declared FLOPs
    # are the fused path's (on the vector units); the pricing picks fused or dequantize + dense GEMM per part
    if dq:
        elems = sum(p[2] for p in dq_parts)
        terms.append(Term("dequant", "dequant", "decoder", L, "fp32", flops=DEQUANT_FLOPS_PER_WEIGHT * elems * dq_tiles,
                          bytes_read=0.0, bytes_written=0.0, cls="dequant", parts=tuple(dq_parts)))

    # -- pipeline parallelism: the stage hands its activations to the next (a stage's rows are the last
    # stage's: it also runs the final norm and the lm_head; the first stage's embedding is counted with it)
    if sc.pp > 1:
        terms.append(Term("pp_send", "comm", "model", k, "bf16", flops=0.0, bytes_read=n * h * a,
                          bytes_written=0.0, comm_bytes=n * h * a, cls="comm", coll="p2p", group=sc.pp,
                          stride=t * ep, msg_bytes=n * h * a))

    # -- once per model (per chunk for the stream; the lm_head once, for the sequences' last positions)
    v = m.vocab / t
    rows_lm = b_dev * logit_tokens
    terms.insert(0, Term("embedding", "embedding", "model", k, "bf16", flops=0.0,
                         bytes_read=EMBED_BYTES * n * h, bytes_written=n * h * a))
    terms.append(Term("final_norm", "norm", "model", k, "bf16", flops=NORM_FLOPS_PER_ELEM * n * h,
                      bytes_read=2.0 * n * h * a + EMBED_BYTES * h, bytes_written=n * h * a,
                      weight_bytes=EMBED_BYTES * h))
    terms.append(Term("lm_head", "lm_head", "model", 1, "bf16", flops=2.0 * rows_lm * h * v,
                      bytes_read=EMBED_BYTES * h * v + rows_lm * h * a, bytes_written=rows_lm * v * a,
                      comm_bytes=LINK_DIRECTIONS * (t - 1) / t * rows_lm * m.vocab * a, cls="gemm",
                      weight_bytes=EMBED_BYTES * h * v, rows=rows_lm,  # logits gather, both ways
                      coll="all_gather" if t > 1 else "", group=t, stride=1, msg_bytes=rows_lm * m.vocab * a))
    return terms


def prefill_chunks(sc: Scenario, max_batched_tokens: int | None) -> int:
    """Passes a prefill of batch x prompt tokens takes under a max-batched-tokens budget (1 = one pass)."""
    if not max_batched_tokens:
        return 1
    return max(int(math.ceil(sc.batch * sc.prompt_tokens / max_batched_tokens)), 1)


def prefill_terms(m: ModelSpec, sc: Scenario, sparse_hw: bool = True, chunks: int = 1) -> list[Term]:
    return pass_terms(m, sc, sc.batch, sc.prompt_tokens, sc.prompt_tokens, "prefill", sparse_hw, chunks)


def decode_terms(m: ModelSpec, sc: Scenario, context: int | None = None, sparse_hw: bool = True) -> list[Term]:
    """One decode step whose cache holds ``context`` tokens (default: the prompt): L + 1 positions attended."""
    ctx = sc.prompt_tokens if context is None else context
    return pass_terms(m, sc, sc.batch, 1, ctx + 1, "decode", sparse_hw)


def ops(m: ModelSpec, sc: Scenario, phase: str | None = None, context: int | None = None,
        sparse_hw: bool = True) -> list[Op]:
    """The Ops of a prefill or of one decode step (``phase`` defaults to the scenario's; generate is
    priced in closed form by roofline.engine.predict, not as a list)."""
    phase = phase or sc.phase
    if phase == "prefill":
        return [t.op() for t in prefill_terms(m, sc, sparse_hw)]
    if phase == "decode":
        return [t.op() for t in decode_terms(m, sc, context, sparse_hw)]
    raise ValueError("ops() takes phase prefill or decode; generate = prefill + sum of decode steps")


# ---- memory footprint ----------------------------------------------------------------------------------

def weight_bytes(m: ModelSpec, sc: Scenario, resident: bool = True) -> float:
    """Weights per device: its pipeline stage's layers, its share of the experts (ep) and of the heads, MLP and
    vocab (tp); embeddings once when tied (both ends counted on the bottleneck stage). ``resident``: without the
    share offloaded to host memory."""
    t = sc.tp
    hq, hkv = heads_per_device(m, t)
    wb = weight_bytes_per_elem(sc)
    if m.is_mla:
        q_a, _, kv_a, _, _ = m.mla_weights
        d, dv = m.head_dim, m.v_head_dim
        attn = q_a + kv_a + hq * ((m.q_lora_rank or m.hidden) * d + m.kv_lora_rank * (d - m.qk_rope_head_dim + dv)
                                  + dv * m.hidden)
    else:
        attn = m.hidden * (hq + 2 * hkv) * m.head_dim + hq * m.head_dim * m.hidden
    if m.is_moe:
        moe = (m.experts / sc.ep + m.shared_experts) * 3 * m.hidden * m.mlp_width / t
        mlp_all = m.moe_layers * moe + m.first_dense_layers * 3 * m.hidden * m.intermediate / t
        router = m.moe_layers * m.hidden * m.experts * EMBED_BYTES
    else:
        mlp_all = m.layers * 3 * m.hidden * m.mlp_width / t
        router = 0.0
    norms = 2 * m.hidden * EMBED_BYTES
    emb = m.vocab / t * m.hidden * EMBED_BYTES * (1 if m.tied_embeddings else 2)
    layer_w = (m.layers * attn + mlp_all) * wb + router + m.layers * norms
    w = layer_w / sc.pp + emb + m.hidden * EMBED_BYTES
    if resident and sc.offload == "weights":
        w -= (m.layers * attn + mlp_all) * wb / sc.pp * sc.offload_fraction
    return w


def kv_positions(sc: Scenario, positions: Any) -> Any:
    """Positions a sequence's cache occupies: paged caches round up to whole blocks (``kv_block`` tokens)."""
    if sc.kv_block:
        return np.ceil(np.asarray(positions, dtype=float) / sc.kv_block) * sc.kv_block
    return positions


def kv_bytes_per_token(m: ModelSpec, sc: Scenario, positions: Any | None = None) -> Any:
    """KV-cache bytes one cached token of one sequence takes on a device (all its stage's layers); with
    ``positions`` given, sliding-window layers hold at most ``sliding_window`` of them (the mean a token)."""
    layers = m.layers / sc.pp
    if m.is_mla:  # one latent + RoPE key a token a layer, shared by the heads (not split by tp)
        return layers * (m.kv_lora_rank + m.qk_rope_head_dim) * kv_bytes_per_elem(sc, m)
    _, hkv = heads_per_device(m, sc.tp)
    per_layer = 2 * hkv * m.head_dim * kv_bytes_per_elem(sc, m)
    wl = m.window_layers / sc.pp
    if not wl or positions is None:
        return layers * per_layer
    p = np.maximum(np.asarray(positions, dtype=float), 1.0)
    return per_layer * ((layers - wl) + wl * np.minimum(p, m.sliding_window) / p)


def kv_cache_bytes(m: ModelSpec, sc: Scenario, batch: Any, positions: Any, resident: bool = True) -> Any:
    """KV cache per device for ``positions`` cached tokens a sequence (batch / ep sequences a device under
    attention data-parallelism; paged caches in whole blocks); ``resident``: without the host-offloaded share."""
    pos = kv_positions(sc, positions)
    out = batch / sc.ep * pos * kv_bytes_per_token(m, sc, pos)
    if resident and sc.offload == "kv":
        out = out * (1.0 - sc.offload_fraction)
    return out


def activation_bytes(m: ModelSpec, sc: Scenario, batch: Any, tokens: Any, positions: Any, chunks: Any = 1) -> Any:
    """Peak live activations per device in a pass: residual + normed stream, the widest layer output
    (QKV or gate/up), the score matrices of naive attention, and the logits. A chunked prefill holds one
    chunk's tokens (batch x tokens / chunks) at a time."""
    a = sc.abits / 8
    hq, hkv = heads_per_device(m, sc.tp)
    n = batch / sc.ep * tokens / chunks
    batch = batch / sc.ep
    k = m.experts_per_token if m.is_moe else 1
    widest = np.maximum((hq + 2 * hkv) * m.head_dim, 2 * k * sc.mlp_active * m.mlp_width / sc.tp)
    scores = 2 * hq * n * positions * a if sc.attention == "naive" else 0.0
    return n * a * (2 * m.hidden + widest) + scores + np.minimum(batch, np.maximum(n, 1)) * m.vocab / sc.tp * a
