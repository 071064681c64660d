"""One test per op of the transformer graph, expected values derived by hand in the comments.

Toy model (odd on purpose): layers 2, hidden h=64, heads H=4, kv_heads Hkv=2, head_dim d=32 (explicit:
H*d = 128 != h), intermediate I=96, vocab V=100. Default scenario: batch B=2, prompt P=8, 16-bit
everything (2 bytes an element), so a prefill has N = B*P = 16 tokens.
"""

import pytest

from roofline.engine import transformer as tf
from roofline.engine.catalog import ModelSpec
from roofline.engine.scenario import Scenario

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
    # all-reduce of S = N*h*2 = 16*64*2 = 2048 bytes: a ring sends 2*(1/2)*S = 2048 bytes a device and receives
    # as many; hwdb interconnect bandwidth is the bidirectional aggregate, so comm_bytes counts both: 4096
    # (= 2048 at the one-way bandwidth, NCCL's bus bandwidth). Reduction adds (1/2)*16*64 = 512 FLOPs.
    ts = prefill(SC.with_(tp=2))
    assert ts["qkv_proj"].flops == 262144
    assert fbw(ts["attn_allreduce"]) == (512, 2048, 2048) and ts["attn_allreduce"].comm_bytes == 4096
    assert ts["mlp_allreduce"].comm_bytes == 4096 and ts["attn_allreduce"].count == 2  # two a layer, every layer
    assert "attn_allreduce" not in prefill()
    # logits gathered over the vocab split: B*V*2 = 2*100*2 = 400 bytes, (tp-1)/tp = 1/2 crosses the links,
    # counted both ways: 400; lm_head FLOPs 2*B*h*(V/2) = 2*2*64*50 = 12800
    assert ts["lm_head"].comm_bytes == 400 and ts["lm_head"].flops == 12800
    # tp 4: ring factor 2*(3/4) = 1.5: 1.5*2048 = 3072 each way -> 6144
    assert prefill(SC.with_(tp=4))["mlp_allreduce"].comm_bytes == 6144


def test_allreduce_is_priced_at_the_one_way_link_bandwidth():
    # Llama-3.1-70B prefill of 1024 tokens, tp 8 on h100-sxm (NVLink 4: 900 GB/s bidirectional = 450 GB/s a way):
    # S = 1024*8192*2 = 16,777,216 bytes; ring sends 2*(7/8)*S = 29,360,128 bytes a device each way
    # -> 29,360,128 / 450e9 = 65.2 us an all-reduce (plus the launch overhead), not 32.6 us.
    import hwdb
    from roofline.engine.catalog import get_model
    from roofline.engine.model import estimate

    dev = hwdb.get("h100-sxm")
    m = get_model("llama-3.1-70b")
    t = by_name(tf.prefill_terms(m, Scenario(phase="prefill", batch=1, prompt_tokens=1024, tp=8)))["attn_allreduce"]
    e = estimate(t.op(), dev)
    assert e.comm_time_s / t.count == pytest.approx(2 * 7 / 8 * 16_777_216 / (dev.interconnect_bw_bytes_per_s / 2))
    assert e.comm_time_s / t.count == pytest.approx(65.2e-6, rel=1e-3) and e.bound == "comm"


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


def test_lm_head_in_decode_is_2hV_a_sequence():
    # convention: prefill computes logits for the last position only; a decode step for its one new token.
    # Either way B sequences -> 2*B*h*V = 2*2*64*100 = 25600 FLOPs, weights 64*100*2 = 12800 bytes read once
    # + B hidden states 2*64*2 = 256; logits 2*100*2 = 400 written
    t = by_name(tf.decode_terms(TOY, SC.with_(phase="decode"), 8))["lm_head"]
    assert fbw(t) == (25600, 13056, 400)
    assert fbw(t) == fbw(prefill()["lm_head"])  # independent of the prompt length


def test_w4a16_moves_4_plus_16_over_g_bits_a_weight():
    # (4 + 16/g) bits: g=128 -> 4.125 bits = 0.515625 bytes; g=32 -> 4.5 bits = 0.5625 bytes
    assert tf.weight_bytes_per_elem(Scenario(wbits=4, group_size=128)) == 4.125 / 8
    assert tf.weight_bytes_per_elem(Scenario(wbits=4, group_size=32)) == 4.5 / 8
    # 2:4 on W4 g128: half the values (2 bits a dense weight) + 2-bit index a kept value (1 bit a dense weight)
    # + half the scales (16/128/2 = 0.0625 bits) = 3.0625 bits = 0.3828125 bytes a dense weight
    assert tf.weight_bytes_per_elem(Scenario(wbits=4, group_size=128, weight_sparsity="2:4")) == 3.0625 / 8
    assert tf.weight_bytes_per_elem(Scenario()) == 2.0  # bf16, no scales


def test_moe_decode_reads_the_union_of_touched_experts():
    # batch B = 3 decode tokens, E = 4, k = 2: expected distinct experts 4*(1 - (1 - 2/4)^3) = 4*0.875 = 3.5
    # (not all 4, not k = 2). gate_up weights read: 3.5 experts * 64 * (2*48) * 2 bytes = 43008; + 3 tokens'
    # input for each of the k experts: 3*2*64*2 = 768 -> 43776. FLOPs follow k: 2*(3*2)*64*96 = 73728.
    # down: 3.5 * 48 * 64 * 2 = 21504 + input 3*2*48*2 = 576 -> 22080
    ts = by_name(tf.decode_terms(MOE, Scenario(phase="decode", batch=3, prompt_tokens=8), 8))
    assert tf.experts_touched(MOE, 3) == pytest.approx(3.5)
    assert fbw(ts["gate_up_proj"]) == pytest.approx((73728, 43776, 3 * 2 * 96 * 2))
    assert ts["down_proj"].bytes_read == pytest.approx(22080)


def test_llama_8b_decode_reads_the_whole_kv_cache_of_every_layer():
    # KV a token: 32 layers * 8 kv heads * 128 * 2 (K, V) * 2 bytes = 131,072 B.
    # Decode at L = 8191 cached tokens attends 8192 positions: reads 8192 * 131,072 = 1,073,741,824 bytes of
    # K/V a sequence a step, plus Q (4096*2 = 8192 B a layer); B = 4 -> 4x
    from roofline.engine.catalog import get_model

    m = get_model("llama-3.1-8b")
    sc = Scenario(phase="decode", batch=4, prompt_tokens=8191)
    assert tf.kv_cache_bytes(m, sc, 1, 1) == 131_072
    t = by_name(tf.decode_terms(m, sc))["flash_attention"]
    assert t.count * (t.bytes_read - 4 * 4096 * 2) == 4 * 8192 * 131_072
    # FLOPs: 4 * (B*H = 4*32) * 8192 * 128 a layer (QK^T and PV, 2 each)
    assert t.flops == 4 * 4 * 32 * 8192 * 128
