import os

os.environ.setdefault("TRITON_INTERPRET", "1")  # before triton / kernels are imported

import pytest
import torch

from kernels.registry import load_all, max_rel_error
from kernels.sparse.semi_structured import (
    RTOL,
    TritonConfig,
    choose_path,
    compress_2_4,
    decompress_2_4,
    decompress_2_4_triton,
    dense_linear_cost,
    mask_2_4,
    packed_weight_bytes,
    prepare,
    prune_2_4,
    reference_linear,
    sparse24_cost,
    sparse24_linear,
    sparse24_linear_triton,
)
from roofline.errors import InputError

# Tolerance: max |out - ref| / max |ref| <= RTOL[dtype] (fp16 2e-3, fp32 1e-4) vs an fp32 reference; the kernel
# accumulates in fp32, so the error is the output rounding plus summation order (see kernels/sparse/semi_structured.py).
DTYPES = [torch.float16, torch.float32]
SHAPES = [(1, 48, 128), (17, 40, 96), (5, 33, 260)]  # (M, N, K): decode, M > 16, odd N and K % 32 != 0


def _weight(n, k, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    return prune_2_4(torch.randn(n, k, generator=g).to(dtype))


def _name(dtype):
    return {torch.float16: "fp16", torch.float32: "fp32"}[dtype]


def test_prune_keeps_two_largest_of_every_four():
    w = torch.randn(37, 64, generator=torch.Generator().manual_seed(1))
    p = prune_2_4(w)
    groups = p.reshape(37, 16, 4)
    assert ((groups != 0).sum(-1) == 2).all()  # random values: no ties, no zeros
    assert (mask_2_4(w).reshape(37, 16, 4).sum(-1) == 2).all()
    kept_min = groups.abs().masked_fill(groups == 0, float("inf")).amin(-1)
    dropped_max = (w.reshape(37, 16, 4) * (groups == 0)).abs().amax(-1)
    assert (kept_min >= dropped_max).all()
    assert torch.equal(prune_2_4(torch.tensor([[1.0, -5.0, 3.0, 0.5]])), torch.tensor([[0.0, -5.0, 3.0, 0.0]]))


def test_metadata_format_by_hand():
    # group 0 keeps columns 1, 3 -> nibble 1 | 3 << 2 = 13; group 1 has one nonzero (column 0) and keeps the
    # lowest zero column 1 as padding -> 0 | 1 << 2 = 4; word = 13 | 4 << 4 = 77.
    w = torch.tensor([[0.0, 7.0, 0.0, 9.0, 5.0, 0.0, 0.0, 0.0]])
    sw = compress_2_4(w)
    assert sw.values.tolist() == [[7.0, 9.0, 5.0, 0.0]]
    assert sw.meta.tolist() == [[77]]
    assert torch.equal(decompress_2_4(sw), w)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,k", [(33, 260), (8, 32), (5, 4)])
def test_round_trip_exact(dtype, n, k):
    w = _weight(n, k, dtype)
    w[0] = 0  # a row of groups with no nonzeros
    w[-1, :4] = torch.tensor([0.0, 0.0, 0.0, 2.5])  # one nonzero in a group
    sw = compress_2_4(w)
    assert sw.values.shape == (n, k // 2) and sw.meta.shape == (n, -(-k // 32))
    assert torch.equal(decompress_2_4(sw), w)
    assert torch.equal(decompress_2_4_triton(sw, block_n=16, block_k=64), w)


def test_high_nibble_words_round_trip():
    # all groups keep columns 2, 3 -> nibble 14; 8 of them fill a word's sign bit (0xEEEEEEEE as int32).
    w = torch.tensor([[0.0, 0.0, 1.0, 2.0] * 8], dtype=torch.float16)
    sw = compress_2_4(w)
    assert sw.meta.item() == 0xEEEEEEEE - 2**32
    assert torch.equal(decompress_2_4_triton(sw), w)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,n,k", SHAPES)
def test_linear_matches_masked_dense(dtype, m, n, k):
    w = _weight(n, k, dtype)
    x = torch.randn(m, k, generator=torch.Generator().manual_seed(2)).to(dtype)
    sw = compress_2_4(w)
    ref = reference_linear(x, w)
    assert choose_path(m, sw) == "triton"
    assert max_rel_error(sparse24_linear(x, sw), ref) <= RTOL[_name(dtype)]
    assert max_rel_error(sparse24_linear(x, sw, path="dense"), ref) <= RTOL[_name(dtype)]


@pytest.mark.parametrize("dtype", DTYPES)
def test_split_k_atomics_and_batched_input(dtype):
    w = _weight(40, 256, dtype)
    x = torch.randn(2, 3, 256, generator=torch.Generator().manual_seed(3)).to(dtype)  # (..., K)
    sw = compress_2_4(w)
    y = sparse24_linear_triton(x, sw, TritonConfig(block_m=16, block_n=16, block_k=64, split_k=3))
    assert y.shape == (2, 3, 40) and y.dtype == dtype
    assert max_rel_error(y, reference_linear(x.reshape(6, 256), w).reshape(2, 3, 40)) <= RTOL[_name(dtype)]


def test_weight_not_2_4_is_refused():
    w = prune_2_4(torch.randn(6, 16))
    w[4, 8:12] = torch.tensor([1.0, 2.0, 3.0, 0.0])
    with pytest.raises(InputError, match=r"not 2:4 sparse: row 4, columns 8\.\.11 hold 3 nonzeros"):
        compress_2_4(w)
    with pytest.raises(InputError, match="not 2:4"):
        compress_2_4(torch.randn(8, 8))


@pytest.mark.parametrize("bad", [torch.randn(8, 6), torch.randn(16), torch.randint(0, 3, (4, 8))])
def test_bad_weight_shapes_and_dtypes(bad):
    with pytest.raises(InputError):
        compress_2_4(bad)


def test_bad_activations_and_path():
    sw = compress_2_4(_weight(8, 32, torch.float32))
    with pytest.raises(InputError, match="K=32"):
        sparse24_linear(torch.randn(2, 16), sw)
    with pytest.raises(InputError, match="float16"):
        sparse24_linear(torch.randn(2, 32, dtype=torch.float16), sw)
    with pytest.raises(InputError, match="unknown 2:4 path"):
        sparse24_linear(torch.randn(2, 32), sw, path="magic")
    with pytest.raises(InputError, match="needs CUDA"):
        sparse24_linear(torch.randn(2, 32), sw, path="cusparselt")


def test_cost_by_hand():
    # M=1, N=K=4096 fp16. values 4096*2048*2 = 16,777,216 B; meta 4096 rows * 128 words * 4 B = 2,097,152 B;
    # x 4096*2 = 8,192 B read; y 4096*2 = 8,192 B written; executed FLOPs 2*1*4096*4096 = 33,554,432.
    (op,) = sparse24_cost(1, 4096, 4096, "fp16")
    assert op.bytes_read == 16_777_216 + 2_097_152 + 8_192 and op.bytes_written == 8_192
    assert op.flops == 33_554_432 and op.dtype == "fp16"
    (dense,) = dense_linear_cost(1, 4096, 4096, "fp16")
    assert dense.bytes_read == 33_554_432 + 8_192
    # weight bytes ratio, fp16: 2 / (1 + 1/8) = 16/9 = 1.78x
    assert 4096 * 4096 * 2 / packed_weight_bytes(4096, 4096, 2) == pytest.approx(16 / 9)
    # split-K: fp32 partials written (4096*4 = 16,384 B), zero-filled, then read and rounded to fp16
    ops = sparse24_cost(1, 4096, 4096, "fp16", split_k=4)
    assert [o.name for o in ops] == ["sparse24_matmul", "sparse24_zero", "sparse24_cast"]
    assert ops[0].bytes_written == 16_384 and ops[2].bytes_read == 16_384 and ops[2].bytes_written == 8_192
    # cuSPARSELt executes the kept half: M*N*K = 16,777,216 FLOPs; bytes: values + N*K/8 meta + x
    (cs,) = sparse24_cost(1, 4096, 4096, "fp16", path="cusparselt")
    assert cs.flops == 16_777_216 and cs.bytes_read == 16_777_216 + 2_097_152 + 8_192
    # K % 32 != 0 pads the last meta word: K=96 -> 3 words a row; K=100 -> 4 words
    assert packed_weight_bytes(1, 96, 2) == 96 + 12 and packed_weight_bytes(1, 100, 2) == 100 + 16


def test_registry_and_quick_bench():
    entry = load_all()["sparse24_linear"]
    assert entry.family == "sparse" and entry.bench_shapes and entry.quick_shapes
    assert {s["M"] for s in entry.bench_shapes} == {1, 16, 64, 256, 4096}
    for shape in entry.quick_shapes:
        b = prepare(shape, "fp16", "cpu")
        assert set(b.impls) == {"ours", "torch-dense-linear"} and not b.gpu_only
        ref = b.reference()
        for name in b.checked:
            assert max_rel_error(b.impls[name](), ref) <= b.rtol
        assert b.ops_for("torch-dense-linear")[0].bytes_read > b.ops_for("ours")[0].bytes_read
