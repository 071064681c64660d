"""One test per op of the transformer graph, expected values derived by hand in the comments.

Toy model (odd on purpose): layers 2, hidden h=64, heads H=4, kv_heads Hkv=2, head_dim d=32 (explicit:
H*d = 128 != h), intermediate I=96, vocab V=100. Default scenario: batch B=2, prompt P=8, 16-bit
everything (2 bytes an element), so a prefill has N = B*P = 16 tokens.
"""

import pytest

from roofline import transformer as tf
from roofline.catalog import ModelSpec
from roofline.scenario import Scenario

TOY = ModelSpec(id="toy", name="Toy", family="toy", layers=2, hidden=64, heads=4, kv_heads=2, head_dim=32,
                intermediate=96, vocab=100, source="https://example.org/config.json")
MOE = ModelSpec(id="toy-moe", name="Toy MoE", family="toy", layers=2, hidden=64, heads=4, kv_heads=2, head_dim=32,
                intermediate=96, vocab=100, experts=4, experts_per_token=2, moe_intermediate=48,
                source="https://example.org/config.json")
SC = Scenario(phase="prefill", batch=2, prompt_tokens=8, gen_tokens=4)


def by_name(terms):
    return {t.name: t for t in terms}


def fbw(t):
    return (t.flops, t.bytes_read, t.bytes_written)


def prefill(sc=SC, m=TOY, sparse_hw=True):
    return by_name(tf.prefill_terms(m, sc, sparse_hw))


def test_embedding():
    # gather N rows of the 16-bit table: read 16*64*2 = 2048; write 16*64*2 = 2048; no FLOPs
    t = prefill()["embedding"]
    assert fbw(t) == (0, 2048, 2048) and t.count == 1 and t.layer == "model"


def test_attn_norm_fused_residual():
    # 5 FLOPs an element: 5*16*64 = 5120; read x and residual 2*16*64*2 = 4096 + weight 64*2 = 128 -> 4224;
    # write normed and residual 2*16*64*2 = 4096; once a layer
    t = prefill()["attn_norm"]
    assert fbw(t) == (5120, 4224, 4096) and t.count == 2


def test_qkv_proj_uses_kv_heads_and_head_dim():
    # LLM-Viewer #12/#26: Q width H*d = 128, K+V width 2*Hkv*d = 128 (not 3*h = 192)
    # FLOPs 2*16*64*256 = 524288; read weights 64*256*2 = 32768 + input 16*64*2 = 2048 -> 34816;
    # write Q 16*128*2 = 4096 + K,V into the cache 16*128*2 = 4096 -> 8192
    t = prefill()["qkv_proj"]
    assert fbw(t) == (524288, 34816, 8192) and t.dtype == "bf16"


def test_flash_attention_prefill_is_causal_and_writes_only_the_output():
    # LLM-Viewer #19: the output is N*H*d (16*128*2 = 4096 bytes), never the S x S scores
    # causal pairs a (sequence, head) = 8*9/2 = 36; (sequence, head) pairs 2*4 = 8; FLOPs 4*8*36*32 = 36864
    # read Q 4096 + K,V of the prompt 2*8*128*2 = 4096 -> 8192; write O 4096
    t = prefill()["flash_attention"]
    assert fbw(t) == (36864, 8192, 4096)


def test_naive_attention_writes_and_rereads_the_score_matrix():
    # full 8x8 scores for 8 (sequence, head) pairs: 8*64*2 = 1024 bytes
    # qk: FLOPs 2*8*64*32 = 32768; read Q 4096 + K 2048 = 6144; write scores 1024
    # softmax: 5*8*64 = 2560 FLOPs; read 1024, write 1024
    # sv: FLOPs 32768; read probabilities 1024 + V 2048 = 3072; write O 4096
    ts = prefill(SC.with_(attention="naive"))
    assert fbw(ts["qk_matmul"]) == (32768, 6144, 1024)
    assert fbw(ts["softmax"]) == (2560, 1024, 1024)
    assert fbw(ts["sv_matmul"]) == (32768, 3072, 4096)
    assert "flash_attention" not in ts


def test_block_sparse_attention_reads_the_kept_fraction():
    # kept 0.25 of flash: FLOPs 36864/4 = 9216; read Q 4096 + K,V 4096/4 = 1024 -> 5120; write O 4096
    t = prefill(SC.with_(attention="block-sparse", attention_kept=0.25))["block_sparse_attention"]
    assert fbw(t) == (9216, 5120, 4096)


def test_decode_attention_reads_the_whole_kv_cache():
    # context L = 8 -> 9 positions; B = 2, N = 2: FLOPs 4*(2*4)*9*32 = 9216;
    # read Q 2*128*2 = 512 + K,V 2*9*128*2 = 4608 -> 5120; write O 512
    t = by_name(tf.decode_terms(TOY, SC.with_(phase="decode"), 8))["flash_attention"]
    assert fbw(t) == (9216, 5120, 512)
    t2 = by_name(tf.decode_terms(TOY, SC.with_(phase="decode"), 100))["flash_attention"]
    assert t2.bytes_read - t.bytes_read == 2 * 92 * 128 * 2  # grows with every cached token


def test_o_proj_input_is_heads_times_head_dim():
    # FLOPs 2*16*128*64 = 262144; read weights 128*64*2 = 16384 + input 16*128*2 = 4096 -> 20480; write 2048
    assert fbw(prefill()["o_proj"]) == (262144, 20480, 2048)


def test_mlp_norm():
    assert fbw(prefill()["mlp_norm"]) == (5120, 4224, 4096)


def test_gate_up_proj():
    # FLOPs 2*16*64*192 = 393216; read 64*192*2 = 24576 + 2048 -> 26624; write 16*192*2 = 6144
    assert fbw(prefill()["gate_up_proj"]) == (393216, 26624, 6144)


def test_mlp_activation_on_the_intermediate_size():
    # LLM-Viewer #16: SiLU * gate runs on N x I = 16*96 = 1536 elements, not N x h
    # FLOPs 5*1536 = 7680; read gate and up 2*1536*2 = 6144; write 1536*2 = 3072
    assert fbw(prefill()["mlp_act"]) == (7680, 6144, 3072)


def test_down_proj():
    # FLOPs 2*16*96*64 = 196608; read 96*64*2 = 12288 + 16*96*2 = 3072 -> 15360; write 2048
    assert fbw(prefill()["down_proj"]) == (196608, 15360, 2048)


def test_final_norm():
    # 5*16*64 = 5120 FLOPs; read 2*16*64*2 + 128 = 4224; write 16*64*2 = 2048
    assert fbw(prefill()["final_norm"]) == (5120, 4224, 2048)


def test_lm_head_is_2hV_for_the_last_position_only():
    # LLM-Viewer #22: 2*h*V FLOPs a sequence: 2*2*64*100 = 25600; read weights 64*100*2 = 12800
    # + last hidden states 2*64*2 = 256 -> 13056; write logits 2*100*2 = 400
    assert fbw(prefill()["lm_head"]) == (25600, 13056, 400)


def test_weight_quantization_moves_group_scales_and_adds_dequant():
    # W4 g32: 4/8 + 2/32 = 0.5625 bytes a weight; qkv read 64*256*0.5625 = 9216 + 2048 = 11264
    ts = prefill(SC.with_(wbits=4, group_size=32))
    assert ts["qkv_proj"].bytes_read == 11264
    assert ts["qkv_proj"].dtype == "bf16"  # W4A16: dequantized to bf16 for the tensor cores
    # dequant: 2 FLOPs a weight a 128-token tile; weights a layer 64*256 + 128*64 + 3*64*96 = 43008; 1 tile
    assert fbw(ts["dequant"]) == (2 * 43008, 0, 0) and ts["dequant"].dtype == "fp32"
    assert "dequant" not in prefill()
    # W8A8 runs on the int8 roof, no dequant pass
    ts8 = prefill(SC.with_(wbits=8, abits=8))
    assert ts8["qkv_proj"].dtype == "int8" and "dequant" not in ts8


def test_two_four_sparsity_moves_half_values_plus_metadata():
    # 2:4 at 16 bits: 0.5 * (16 + 2) / 8 = 1.125 bytes a weight; qkv weights 64*256*1.125 = 18432 + 2048 = 20480
    ts = prefill(SC.with_(weight_sparsity="2:4"))
    assert ts["qkv_proj"].bytes_read == 20480
    assert ts["qkv_proj"].flops == 524288 / 2  # sparse tensor cores skip the zeros
    assert prefill(SC.with_(weight_sparsity="2:4"), sparse_hw=False)["qkv_proj"].flops == 524288


def test_kv_quantization_with_scales():
    # KV8, group 32 (= head_dim): 1 + 2/32 = 1.0625 bytes; qkv writes Q 4096 + K,V 16*128*1.0625 = 2176 -> 6272
    assert prefill(SC.with_(kvbits=8, group_size=32))["qkv_proj"].bytes_written == 6272


def test_tensor_parallel_splits_heads_and_adds_allreduce():
    # tp 2: 2 query heads (64 wide), 1 KV head (K+V 64 wide): qkv FLOPs 2*16*64*128 = 262144
    # all-reduce of N*h*2 = 2048 bytes: ring moves 2*(1/2)*2048 = 2048 bytes; adds (1/2)*16*64 = 512 FLOPs
    ts = prefill(SC.with_(tp=2))
    assert ts["qkv_proj"].flops == 262144
    assert fbw(ts["attn_allreduce"]) == (512, 2048, 2048) and ts["attn_allreduce"].comm_bytes == 2048
    assert "mlp_allreduce" in ts and "attn_allreduce" not in prefill()


def test_contextual_sparsity_scales_active_neurons_and_heads():
    # mlp_active 0.5: gate_up width 2*48: FLOPs 2*16*64*96 = 196608
    assert prefill(SC.with_(mlp_active=0.5))["gate_up_proj"].flops == 196608
    # head_active 0.5: Q width 64 + K,V 128 -> FLOPs 2*16*64*192 = 393216
    assert prefill(SC.with_(head_active=0.5))["qkv_proj"].flops == 393216


def test_moe_router_and_touched_experts():
    # decode B=1: one token, top-2 of 4 experts: touched 4*(1 - (1 - 2/4)^1) = 2
    ts = by_name(tf.decode_terms(MOE, Scenario(phase="decode", batch=1, prompt_tokens=8), 8))
    # router h x E: FLOPs 2*1*64*4 = 512; read 64*4*2 + 64*2 = 640; write 4*2 = 8
    assert fbw(ts["router"]) == (512, 640, 8)
    # gate_up: FLOPs for k=2 experts 2*2*64*96 = 24576; read 2 experts 2*64*96*2 = 24576 + 2*64*2 = 256 -> 24832
    assert fbw(ts["gate_up_proj"]) == (24576, 24832, 2 * 96 * 2)
    # a large batch touches every expert
    assert tf.experts_touched(MOE, 10_000) == pytest.approx(4)


def test_memory_footprint():
    # weights a layer: attn 64*(4+4)*32 + 128*64 = 16384 + 8192 = 24576; mlp 3*64*96 = 18432; x2 bytes
    # = 86016 + norms 2*64*2 = 256 -> 86272 a layer; 2 layers 172544; embeddings untied 2*100*64*2 = 25600;
    # final norm 128 -> 198272
    assert tf.weight_bytes(TOY, SC) == 198272
    tied = ModelSpec(**{**TOY.__dict__, "tied_embeddings": True})
    assert tf.weight_bytes(tied, SC) == 198272 - 12800
    # KV: B*positions*layers*2*Hkv*d*2 = 2*10*2*2*2*32*2 = 10240
    assert tf.kv_cache_bytes(TOY, SC, 2, 10) == 10240
