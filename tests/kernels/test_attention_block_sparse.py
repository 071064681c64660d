import os; os.environ.setdefault("TRITON_INTERPRET", "1")  # noqa: E702,I001  before triton is imported

import warnings

import pytest
import torch
from kernel_env import ATTN_ATOL, ATTN_LSE_ATOL, attn_qkv

from kernels.attention import block_sparse as bs
from kernels.attention import flash
from kernels.registry import load_all, max_rel_error
from roofline.errors import InputError


def _close(out, ref, dtype):
    assert (out[0].float() - ref[0].float()).abs().max() <= ATTN_ATOL[dtype]
    fin = torch.isfinite(ref[1])
    assert torch.equal(fin, torch.isfinite(out[1]))
    assert (out[1][fin] - ref[1][fin]).abs().max() <= ATTN_LSE_ATOL


@pytest.mark.parametrize("causal", [False, True])
def test_all_blocks_kept_equals_dense(causal):
    q, k, v = attn_qkv(1, 8, 2, 67, 67, 64, torch.float16)  # GQA 4, length not a multiple of the block
    mask = bs.from_dense_blocks(torch.ones(1, 1, 5, 5, dtype=torch.bool), 67, 67, 16, 16, causal=causal)
    assert mask.kept_fraction == pytest.approx(flash.kept_pairs(67, 67, causal) / 67**2)
    _close(bs.block_sparse_attention(q, k, v, mask), flash.flash_attention(q, k, v, causal=causal), torch.float16)


@pytest.mark.parametrize("Sq,Sk,window,qb,kb,block_n,dtype", [
    (67, 67, 20, 16, 16, None, torch.float16),
    (67, 67, 20, 16, 32, 16, torch.float32),   # key blocks wider than query blocks, two tiles a block
    (30, 75, 24, 16, 16, None, torch.float16),  # Sq < Sk: bottom-right causal window
])
def test_sliding_window_matches_reference(Sq, Sk, window, qb, kb, block_n, dtype):
    q, k, v = attn_qkv(1, 2, 1, Sq, Sk, 64, dtype)  # GQA 2
    mask = bs.sliding_window_mask(Sq, Sk, window, qb, kb)
    _close(bs.block_sparse_attention(q, k, v, mask, block_n=block_n), bs.reference(q, k, v, mask), dtype)


def test_centroid_topk_matches_reference_gqa8():
    q, k, v = attn_qkv(2, 8, 1, 67, 67, 64, torch.float16, seed=1)
    mask = bs.centroid_topk_mask(q, k, 2, 16, 16)
    diag = torch.arange(5)
    assert bool(mask.kept[:, :, diag, diag].all())  # the diagonal block is always kept
    assert int(mask.kept.sum(-1).max()) <= 2
    assert not bool(mask.kept.triu(1).any())  # nothing above the causal diagonal
    _close(bs.block_sparse_attention(q, k, v, mask), bs.reference(q, k, v, mask), torch.float16)


def test_d128_window():
    q, k, v = attn_qkv(1, 2, 2, 40, 40, 128, torch.float16, seed=4)
    mask = bs.sliding_window_mask(40, 40, 16, 16, 16)
    _close(bs.block_sparse_attention(q, k, v, mask), bs.reference(q, k, v, mask), torch.float16)


def test_block_indices_and_empty_rows():
    # per head: head 0 keeps block 0 for every query block; head 1 keeps nothing for query block 1
    counts = torch.tensor([[[1, 1, 1], [2, 0, 1]]], dtype=torch.int32)  # (B1, H2, nQb 3)
    idx = torch.tensor([[[[0, 0], [0, 9], [0, 0]], [[1, 1], [0, 0], [2, 1]]]], dtype=torch.int32)
    mask = bs.from_block_indices(counts, idx, 40, 40, 16, 16)
    expect = torch.tensor([[[1, 0, 0], [1, 0, 0], [1, 0, 0]], [[0, 1, 0], [0, 0, 0], [0, 0, 1]]], dtype=torch.bool)
    assert torch.equal(mask.kept[0], expect)  # duplicates collapse; entries past the count are ignored
    q, k, v = attn_qkv(1, 2, 2, 40, 40, 64, torch.float16, seed=5)
    o, lse = bs.block_sparse_attention(q, k, v, mask)
    _close((o, lse), bs.reference(q, k, v, mask), torch.float16)
    assert torch.all(o[0, 1, 16:32] == 0) and torch.all(lse[0, 1, 16:32] == float("-inf"))


def test_full_and_partial_lists():
    # S=64, blocks of 16, causal window 32: the block just below the diagonal is entirely inside the
    # window (full); the diagonal (causal cut) and the block two below (window edge) are partial
    m = bs.sliding_window_mask(64, 64, 32, 16, 16)
    assert m.full_counts.flatten().tolist() == [0, 1, 1, 1]
    assert m.part_counts.flatten().tolist() == [1, 1, 2, 2]
    assert m.full_idx[0, 0, 3, 0] == 2 and m.part_idx[0, 0, 3].tolist() == [1, 3]
    # no causal, no window, S a multiple of the block: everything is full
    d = bs.from_dense_blocks(torch.ones(1, 1, 4, 4, dtype=torch.bool), 64, 64, 16, 16)
    assert d.part_counts.sum() == 0 and d.full_counts.flatten().tolist() == [4, 4, 4, 4]


def test_cost_hand_counted():
    # S=64, block 16, causal window 16: row i keeps min(i + 1, 16) keys -> 136 + 48·16 = 904 pairs a head;
    # B1 H2 D16: FLOPs 4·16·904·2 = 115,712. Every key block is used: read Q 2·64·16 + K,V 2·1·64·16
    # elements = 4096 elements = 8192 B fp16; write O 2048 elements = 4096 B + LSE 2·64·4 = 512 B
    m = bs.sliding_window_mask(64, 64, 16, 16, 16)
    (op,) = bs.cost(m, 1, 2, 1, 16, "fp16")
    assert (op.flops, op.bytes_read, op.bytes_written) == (115_712, 8192, 4608)
    # only key block 0 kept (non-causal): 4 query blocks × 16·16 pairs = 1024 a head; K,V bytes: 1 block
    # of 16 keys per kv head = 2·16·16·2 B = 1024 B (vs 4096 B dense)
    one = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
    one[..., 0] = True
    (op1,) = bs.cost(bs.from_dense_blocks(one, 64, 64, 16, 16), 1, 2, 1, 16, "fp16")
    assert op1.flops == 4 * 16 * 1024 * 2 and op1.bytes_read == 2 * (2 * 64 * 16) + 1024
    # all kept == the dense causal cost
    full = bs.from_dense_blocks(torch.ones(1, 1, 5, 5, dtype=torch.bool), 67, 67, 16, 16, causal=True)
    assert bs.cost(full, 2, 8, 2, 64, "bf16")[0] == flash.cost(2, 8, 2, 67, 67, 64, True, "bf16")[0].__class__(
        "block_sparse_attention_fwd", "attention", *[getattr(flash.cost(2, 8, 2, 67, 67, 64, True, "bf16")[0], f)
                                                     for f in ("flops", "bytes_read", "bytes_written", "dtype")])


def test_bad_input():
    q, k, v = attn_qkv(1, 2, 2, 40, 40, 64, torch.float16)
    with pytest.raises(InputError, match="mask is for"):
        bs.block_sparse_attention(q, k, v, bs.sliding_window_mask(48, 48, 8, 16, 16))
    with pytest.raises(InputError, match="block sizes"):
        bs.block_sparse_attention(q, k, v, bs.sliding_window_mask(40, 40, 8, 48, 48))
    with pytest.raises(InputError, match=r"\[0, 3\)"):
        bs.from_block_indices(torch.ones(1, 1, 3, dtype=torch.int32), torch.full((1, 1, 3, 1), 3), 40, 40, 16, 16)
    with pytest.raises(InputError, match="kept blocks must be"):
        bs.from_dense_blocks(torch.ones(1, 1, 2, 2, dtype=torch.bool), 40, 40, 16, 16)
    with pytest.raises(InputError, match="top_k"):
        bs.centroid_topk_mask(q, k, 9, 16, 16)
    q3, k3, v3 = attn_qkv(1, 6, 4, 40, 40, 64, torch.float16)
    with pytest.raises(InputError, match="must divide"):
        bs.block_sparse_attention(q3, k3, v3, bs.sliding_window_mask(40, 40, 8, 16, 16))


def test_flex_block_mask_is_the_same_sparsity():
    q, k, v = attn_qkv(1, 4, 2, 64, 64, 32, torch.float32, seed=6)
    mask = bs.centroid_topk_mask(q, k, 2, 16, 16)
    from torch.nn.attention.flex_attention import flex_attention

    bm = bs.flex_block_mask(mask, 1, 4)
    assert torch.equal(bm.to_dense().bool(), mask.kept)  # the full + partial block lists
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # eager flex on the CPU warns that it is unfused
        out = flex_attention(q, k, v, block_mask=bm, enable_gqa=True)
    assert (out - bs.reference(q, k, v, mask)[0]).abs().max() <= 1e-5


def test_registered_quick_shapes_run_under_interpreter():
    entry = load_all()["block_sparse_attention"]
    assert entry.family == "attention"
    assert {s["kept"] for s in entry.bench_shapes} == {0.05, 0.1, 0.25, 0.5}
    for shape in entry.quick_shapes:
        b = entry.prepare(dict(shape), "fp16", "cpu")
        assert {"ours", "flex-attention", "sdpa-flash-causal"} <= set(b.impls)
        assert {"flex-attention", "sdpa-flash-causal"} <= b.gpu_only and "ours" not in b.gpu_only
        assert b.ops[0].flops < b.ops_for("sdpa-flash-causal")[0].flops
        assert max_rel_error(b.impls["ours"](), b.reference()) <= b.rtol
