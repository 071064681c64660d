import os; os.environ.setdefault("TRITON_INTERPRET", "1")  # noqa: E702,I001  before triton is imported

import pytest
import torch
from kernel_env import ATTN_ATOL, ATTN_LSE_ATOL, attn_qkv

from kernels.attention import common, flash
from kernels.registry import load_all, max_rel_error
from roofline.errors import InputError


def _check(out, ref, dtype):
    o, lse = out
    ro, rlse = ref
    assert o.shape == ro.shape and o.dtype == ro.dtype
    assert (o.float() - ro.float()).abs().max() <= ATTN_ATOL[dtype]
    assert (lse - rlse).abs().max() <= ATTN_LSE_ATOL


@pytest.mark.parametrize("B,H,Hkv,Sq,Sk,D,causal,dtype,config", [
    (1, 2, 2, 67, 67, 64, True, torch.float16, None),          # odd length, causal, GQA 1
    (2, 8, 2, 45, 45, 64, False, torch.float16, None),         # GQA 4
    (1, 8, 1, 67, 67, 64, True, torch.float32, None),          # GQA 8, fp32
    (1, 4, 2, 37, 70, 64, True, torch.float16, {"BLOCK_M": 16, "BLOCK_N": 32}),  # Sq < Sk: bottom-right causal
    (1, 2, 2, 50, 50, 64, True, torch.float16, {"BLOCK_M": 32, "BLOCK_N": 16}),  # several free tiles + diagonal
    (1, 2, 1, 1, 33, 64, False, torch.float16, None),          # a single query row
    (1, 2, 2, 48, 48, 128, True, torch.float16, {"BLOCK_M": 16, "BLOCK_N": 16}),  # D=128, lengths = blocks
])
def test_matches_reference(B, H, Hkv, Sq, Sk, D, causal, dtype, config):
    q, k, v = attn_qkv(B, H, Hkv, Sq, Sk, D, dtype)
    _check(flash.flash_attention(q, k, v, causal=causal, config=config), flash.reference(q, k, v, causal=causal), dtype)


def test_causal_equal_lengths_matches_sdpa_top_left():
    # with Sq == Sk bottom-right and SDPA's top-left causal alignment coincide
    q, k, v = attn_qkv(1, 2, 2, 40, 40, 64, torch.float32, seed=3)
    o, _ = flash.flash_attention(q, k, v, causal=True)
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert (o - ref).abs().max() <= ATTN_ATOL[torch.float32]


def test_reference_is_softmax_rows():
    # the reference itself: uniform V rows -> output equals that row; LSE of zero scores = log(#keys)
    q = torch.zeros(1, 1, 5, 16)
    k = torch.randn(1, 1, 7, 16)
    v = torch.ones(1, 1, 7, 16) * 3.0
    o, lse = flash.reference(q, k, v, causal=True)
    assert torch.allclose(o, torch.full_like(o, 3.0))
    # row i keeps i + (7 - 5) + 1 keys
    assert torch.allclose(lse[0, 0], torch.log(torch.tensor([3.0, 4, 5, 6, 7])))


@pytest.mark.parametrize("make,msg", [
    (lambda: attn_qkv(1, 2, 2, 8, 8, 96, torch.float16), "head dim 96"),
    (lambda: attn_qkv(1, 6, 4, 8, 8, 64, torch.float16), "must divide"),
    (lambda: (*attn_qkv(1, 2, 2, 8, 8, 64, torch.float16)[:2], torch.randn(1, 2, 9, 64).half()), "same shape"),
    (lambda: (torch.randn(2, 2, 8, 64).half(), *attn_qkv(1, 2, 2, 8, 8, 64, torch.float16)[1:]), "batch"),
    (lambda: (torch.randn(1, 2, 8, 64).half(), *attn_qkv(1, 2, 2, 8, 8, 64, torch.float32)[1:]), "dtypes differ"),
    (lambda: (torch.randn(1, 2, 8, 64, dtype=torch.float64),) + attn_qkv(1, 2, 2, 8, 8, 64, torch.float16)[1:],
     "unsupported"),
])
def test_bad_input(make, msg):
    with pytest.raises(InputError, match=msg):
        flash.flash_attention(*make())


def test_causal_needs_sq_le_sk():
    q, k, v = attn_qkv(1, 2, 2, 9, 8, 64, torch.float16)
    with pytest.raises(InputError, match="Sq <= Sk"):
        flash.flash_attention(q, k, v, causal=True)


def test_cpu_tensors_without_interpreter(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(InputError, match="CUDA"):
        flash.flash_attention(*attn_qkv(1, 2, 2, 8, 8, 64, torch.float16))


def test_cost_hand_counted():
    # B2 H4 Hkv2 S8 D16 non-causal: 4·2·4·16·(8·8) = 32768 FLOPs;
    # read fp16 Q 2·4·8·16 = 1024 + K, V 2·(2·2·8·16) = 1024 elements -> 4096 B;
    # write O 1024 elements = 2048 B + LSE 2·4·8 fp32 = 256 B
    (op,) = flash.cost(2, 4, 2, 8, 8, 16, False, "fp16")
    assert (op.flops, op.bytes_read, op.bytes_written, op.dtype) == (32768, 4096, 2304, "fp16")
    # causal Sq = Sk = 8 keeps 1 + 2 + ... + 8 = 36 pairs of 64
    (opc,) = flash.cost(2, 4, 2, 8, 8, 16, True, "fp16")
    assert opc.flops == 4 * 2 * 4 * 16 * 36 and opc.bytes == op.bytes
    # causal Sq=3 < Sk=8: rows keep 6, 7, 8 keys = 21 pairs
    assert flash.kept_pairs(3, 8, True) == 21
    # headline: B4 H32 S4096 D128 non-causal = 4·4·32·4096²·128 = 1.0995e12 FLOPs; Q,K,V,O bf16 = 4·134 MB
    (big,) = flash.cost(4, 32, 32, 4096, 4096, 128, False, "bf16")
    assert big.flops == 4 * 4 * 32 * 4096**2 * 128 == 1_099_511_627_776
    assert big.bytes == 4 * (4 * 32 * 4096 * 128 * 2) + 4 * 4 * 32 * 4096


def test_registered_quick_shapes_run_under_interpreter():
    entry = load_all()["flash_attention"]
    assert entry.family == "attention" and entry.bench_shapes and entry.quick_shapes
    assert {"S", "D", "causal"} <= set(entry.bench_shapes[0])
    b = entry.prepare(dict(entry.quick_shapes[0]), "fp16", "cpu")
    assert {"ours", "sdpa-flash", "sdpa-cudnn", "sdpa-efficient"} <= set(b.impls)
    assert {"sdpa-flash", "sdpa-cudnn", "sdpa-efficient"} <= b.gpu_only and "ours" not in b.gpu_only
    assert max_rel_error(b.impls["ours"](), b.reference()) <= b.rtol
    assert "ours" in entry.prepare(dict(entry.quick_shapes[0]), "bf16", "cpu").gpu_only  # bf16 dot: GPU only
    assert common.rtol_for("bf16") > common.rtol_for("fp16")
