import os; os.environ.setdefault("TRITON_INTERPRET", "1")  # noqa: E702,I001  before triton is imported

import pytest
import torch

from kernels.attention import decode, flash
from kernels.registry import load_all, max_rel_error
from roofline.errors import InputError

# Tolerance (absolute; outputs are weighted means of N(0,1) values): fp16 — P is rounded to fp16 before
# P·V and the output is stored in fp16 (ulp 2^-10 near 1): 4e-3; fp32 — exact fp32 products, only the
# summation order (split + combine) differs from torch: 2e-5. LSE fp32 in both: 1e-4.
ATOL = {torch.float16: 4e-3, torch.float32: 2e-5}
LSE_ATOL = 1e-4


def _inputs(B, H, Hkv, L, D, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(B, H, D, generator=g).to(dtype), torch.randn(B, Hkv, L, D, generator=g).to(dtype),
            torch.randn(B, Hkv, L, D, generator=g).to(dtype))


def _check(out, ref, dtype):
    assert out[0].shape == ref[0].shape and out[0].dtype == ref[0].dtype
    assert (out[0].float() - ref[0].float()).abs().max() <= ATOL[dtype]
    assert (out[1] - ref[1]).abs().max() <= LSE_ATOL


@pytest.mark.parametrize("B,H,Hkv,L,D,lens,splits,block_n,dtype", [
    (2, 4, 1, 67, 64, None, None, None, torch.float16),          # GQA 4, heuristic splits
    (3, 8, 8, 50, 64, [1, 50, 23], 3, 16, torch.float32),        # GQA 1, ragged incl. a length of 1
    (2, 8, 1, 67, 64, [67, 40], 3, 16, torch.float16),           # GQA 8, L=67 not a multiple of the split
    (1, 4, 2, 1, 64, None, None, None, torch.float16),           # L = 1
    (2, 4, 2, 40, 128, [40, 17], 2, 16, torch.float16),          # D = 128
    (1, 2, 1, 96, 64, None, 5, 16, torch.float16),               # more splits than needed: empty tail splits
])
def test_matches_reference(B, H, Hkv, L, D, lens, splits, block_n, dtype):
    q, k, v = _inputs(B, H, Hkv, L, D, dtype)
    sl = None if lens is None else torch.tensor(lens, dtype=torch.int32)
    out = decode.decode_attention(q, k, v, sl, num_splits=splits, block_n=block_n)
    _check(out, decode.reference(q, k, v, sl), dtype)


def test_int8_cache_with_per_head_scales():
    q, k, v = _inputs(3, 8, 2, 100, 64, torch.float16, seed=1)
    kq, ks = decode.quantize_kv_int8(k)
    vq, vs = decode.quantize_kv_int8(v)
    assert kq.dtype == torch.int8 and ks.shape == (2,)
    sl = torch.tensor([1, 100, 77], dtype=torch.int32)
    out = decode.decode_attention(q, kq, vq, sl, ks, vs, num_splits=4, block_n=16)
    _check(out, decode.reference(q, kq, vq, sl, ks, vs), torch.float16)
    # and close to attention on the unquantized cache (int8 rounding: ~0.4% of the per-head max)
    full = decode.reference(q, k, v, sl)[0].float()
    assert (out[0].float() - full).abs().max() < 5e-2


def test_equals_prefill_last_row():
    # decode of the last token over the whole cache == causal prefill's last output row (and its LSE)
    g = torch.Generator().manual_seed(2)
    q = torch.randn(2, 8, 45, 64, generator=g).half()
    k = torch.randn(2, 2, 45, 64, generator=g).half()
    v = torch.randn(2, 2, 45, 64, generator=g).half()
    po, plse = flash.flash_attention(q, k, v, causal=True)
    do, dlse = decode.decode_attention(q[:, :, -1], k, v, num_splits=3, block_n=16)
    assert (do.float() - po[:, :, -1].float()).abs().max() <= ATOL[torch.float16]
    assert (dlse - plse[:, :, -1]).abs().max() <= LSE_ATOL


def test_split_choice():
    # B1 Hkv8 on 132 SMs: cdiv(4·132, 8) = 66 splits (L=128k allows 512)
    assert decode.choose_num_splits(1, 8, 131072, 132) == 66
    # B64 Hkv8: 512 programs already ~ 4 per SM -> cdiv(528, 512) = 2
    assert decode.choose_num_splits(64, 8, 4096, 132) == 2
    # a short cache is never cut below 256 keys a split
    assert decode.choose_num_splits(1, 8, 300, 132) == 2
    assert decode.choose_num_splits(1, 1, 10, 132) == 1
    # more SMs never means fewer splits
    assert all(decode.choose_num_splits(4, 8, 8192, s) <= decode.choose_num_splits(4, 8, 8192, s + 16)
               for s in range(16, 200, 16))


@pytest.mark.parametrize("kwargs,msg", [
    ({"seq_lens": torch.tensor([0, 5], dtype=torch.int32)}, r"\[1, 16\]"),
    ({"seq_lens": torch.tensor([17, 5], dtype=torch.int32)}, r"\[1, 16\]"),
    ({"seq_lens": torch.tensor([5], dtype=torch.int32)}, "shape"),
    ({"num_splits": 0}, "num_splits"),
    ({"k_scale": torch.ones(2)}, "int8"),
])
def test_bad_input(kwargs, msg):
    q, k, v = _inputs(2, 4, 2, 16, 64, torch.float16)
    with pytest.raises(InputError, match=msg):
        decode.decode_attention(q, k, v, **kwargs)


def test_bad_shapes_and_int8_scales():
    q, k, v = _inputs(2, 4, 3, 16, 64, torch.float16)
    with pytest.raises(InputError, match="must divide"):
        decode.decode_attention(q, k, v)
    q, k, v = _inputs(2, 4, 2, 16, 80, torch.float16)
    with pytest.raises(InputError, match="head dim 80"):
        decode.decode_attention(q, k, v)
    q, k, v = _inputs(2, 4, 2, 16, 64, torch.float16)
    with pytest.raises(InputError, match="3 dims"):
        decode.decode_attention(q[:, :, None], k, v)
    kq, ks = decode.quantize_kv_int8(k)
    vq, vs = decode.quantize_kv_int8(v)
    with pytest.raises(InputError, match="k_scale and v_scale"):
        decode.decode_attention(q, kq, vq)
    with pytest.raises(InputError, match="one scale per kv head"):
        decode.decode_attention(q, kq, vq, None, ks[:1], vs)


def test_cost_hand_counted():
    # B2 H4 Hkv2 L10 D16 fp16, 3 splits: tokens 20; FLOPs 4·4·16·20 = 5120;
    # read K,V 2·2·2·16·20 = 2560 B + Q 2·2·4·16 = 256 B; partials 4·2·4·3·17 = 1632 B written
    split, comb = decode.cost(2, 4, 2, 10, 16, "fp16", num_splits=3)
    assert (split.flops, split.bytes_read, split.bytes_written) == (5120, 2816, 1632)
    # combine: read the partials, write O 2·2·4·16 = 256 B + LSE 4·2·4 = 32 B; 2·2·4·3·16 = 768 FLOPs
    assert (comb.flops, comb.bytes_read, comb.bytes_written) == (768, 1632, 288)
    # ragged: only the cached tokens count (10 + 3)
    assert decode.cost(2, 4, 2, 10, 16, "fp16", seq_lens=[10, 3])[0].flops == 4 * 4 * 16 * 13
    # int8 cache halves the KV bytes and adds two fp32 scales per kv head
    s8 = decode.cost(2, 4, 2, 10, 16, "fp16", "int8", num_splits=3)[0]
    assert s8.bytes_read == 2560 // 2 + 256 + 2 * 2 * 4
    # issue's floor: B16 L8192 GQA 32/8 D128 bf16 reads 2·16·8·8192·128·2 = 536,870,912 B of KV
    big = decode.cost(16, 32, 8, 8192, 128, "bf16")[0]
    assert big.bytes_read - 2 * 16 * 32 * 128 == 536_870_912


def test_registered_quick_shapes_run_under_interpreter():
    entry = load_all()["decode_attention"]
    assert entry.family == "attention"
    assert {(s["B"], s["L"]) for s in entry.bench_shapes} >= {(1, 32768), (16, 8192), (64, 4096), (1, 131072)}
    for shape in entry.quick_shapes:
        b = entry.prepare(dict(shape), "fp16", "cpu")
        assert {"ours", "sdpa-flash", "sdpa-cudnn", "sdpa-efficient"} <= set(b.impls)
        assert "ours" not in b.gpu_only and "sdpa-flash" in b.gpu_only
        assert max_rel_error(b.impls["ours"](), b.reference()) <= b.rtol
