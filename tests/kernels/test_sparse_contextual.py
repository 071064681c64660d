import os

os.environ.setdefault("TRITON_INTERPRET", "1")  # before triton / kernels are imported

import pytest
import torch
import torch.nn.functional as F

from kernels.registry import load_all, max_rel_error
from kernels.sparse.contextual import (
    RTOL,
    GatedMLP,
    GatherConfig,
    active_set,
    contextual_mlp,
    contextual_mlp_cost,
    dense_mlp_cost,
    expected_union_fraction,
    gather_rows_accumulate,
    gather_rows_matmul,
    head_sparse_out_proj,
    head_sparse_proj,
    prepare,
    reference_head_out_proj,
    reference_head_proj,
    reference_mlp,
    topk_active,
    train_predictor,
    union_active,
)
from roofline.errors import InputError

# Tolerance: max |out - ref| / max |ref| <= RTOL[dtype] (fp16 4e-3, fp32 1e-4) vs an fp32 reference: output
# rounding + silu(gate)*up rounded to the weight dtype for the tensor cores (kernels/sparse/contextual.py).
DTYPES = [torch.float16, torch.float32]


def _mlp(h, i, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    wg = (torch.randn(i, h, generator=g) * h**-0.5).to(dtype)
    wu = (torch.randn(i, h, generator=g) * h**-0.5).to(dtype)
    wd = (torch.randn(h, i, generator=g) * i**-0.5).to(dtype)
    return wg, wu, wd


def _name(dtype):
    return {torch.float16: "fp16", torch.float32: "fp32"}[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,h,i,frac", [(1, 64, 96, 0.1), (5, 48, 80, 0.25), (17, 40, 70, 0.5)])
def test_mlp_matches_dense_with_inactive_zeroed(dtype, m, h, i, frac):
    wg, wu, wd = _mlp(h, i, dtype)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(m, h, generator=g).to(dtype)
    k = max(1, round(frac * i))
    act = union_active(torch.stack([torch.randperm(i, generator=g)[:k] for _ in range(m)]), i)
    ref = reference_mlp(x, wg, wu, wd, act)
    mlp = GatedMLP.from_linear(wg, wu, wd)
    assert max_rel_error(contextual_mlp(x, mlp, act), ref) <= RTOL[_name(dtype)]
    # split reductions (fp32 atomics) in both kernels, several tiles each
    pre = gather_rows_matmul(x, mlp.w_gate, act, w2=mlp.w_up, config=GatherConfig(16, 16, 16, 2))
    y = gather_rows_accumulate(pre, mlp.w_down_t, act, gated=True, config=GatherConfig(16, 16, 16, 3))
    assert max_rel_error(y, ref) <= RTOL[_name(dtype)]


def test_all_active_equals_dense_mlp():
    wg, wu, wd = _mlp(32, 48, torch.float32)
    x = torch.randn(3, 32)
    dense = F.linear(F.silu(F.linear(x, wg)) * F.linear(x, wu), wd)
    y = contextual_mlp(x, GatedMLP.from_linear(wg, wu, wd), list(range(48)))
    assert max_rel_error(y, dense) <= RTOL["fp32"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_head_sparse_projections(dtype):
    d, n_heads, h, m = 8, 6, 40, 3
    g = torch.Generator().manual_seed(2)
    x = torch.randn(m, h, generator=g).to(dtype)
    wq = (torch.randn(n_heads * d, h, generator=g) * h**-0.5).to(dtype)
    wo_t = (torch.randn(n_heads * d, h, generator=g) * (n_heads * d) ** -0.5).to(dtype)
    heads = active_set([4, 1], n_heads)  # sorted to [1, 4]
    q = head_sparse_proj(x, wq, heads, d)
    assert q.shape == (m, 2 * d)
    assert max_rel_error(q, reference_head_proj(x, wq, heads, d)) <= RTOL[_name(dtype)]
    o = head_sparse_out_proj(q, wo_t, heads, d)
    assert max_rel_error(o, reference_head_out_proj(q, wo_t, heads, d)) <= RTOL[_name(dtype)]


@pytest.mark.parametrize("bad,match", [
    ([], "non-empty"), ([0, 96], "out of range"), ([-1, 3], "out of range"), ([2, 2], "duplicates"),
    ([0.5], "integers"), ([[1, 2]], "1-D"),
])
def test_bad_index_lists_refused(bad, match):
    wg, wu, wd = _mlp(64, 96, torch.float32)
    with pytest.raises(InputError, match=match):
        contextual_mlp(torch.randn(1, 64), GatedMLP.from_linear(wg, wu, wd), bad)


def test_other_bad_inputs_refused():
    wg, wu, wd = _mlp(32, 48, torch.float32)
    mlp = GatedMLP.from_linear(wg, wu, wd)
    with pytest.raises(InputError, match=r"\(\.\.\., 32\)"):
        contextual_mlp(torch.randn(2, 31), mlp, [1])
    with pytest.raises(InputError, match="MLP shapes disagree"):
        GatedMLP.from_linear(wg, wu, wd.T)
    with pytest.raises(InputError, match="no active"):
        union_active(torch.empty(2, 0, dtype=torch.long), 48)
    with pytest.raises(InputError, match="head_dim"):
        head_sparse_proj(torch.randn(1, 32), torch.randn(30, 32), [0], 8)
    with pytest.raises(InputError, match="over 10 units"):
        contextual_mlp(torch.randn(1, 32), mlp, active_set([1], 10))


def test_union_grows_with_batch():
    assert union_active(torch.tensor([[0, 2], [2, 5]]), 8).idx.tolist() == [0, 2, 5]
    assert expected_union_fraction(0.1, 1) == pytest.approx(0.1)
    assert expected_union_fraction(0.1, 2) == pytest.approx(0.19)  # 1 - 0.9^2
    assert expected_union_fraction(0.5, 3) == pytest.approx(0.875)  # 1 - 0.5^3
    fr = [expected_union_fraction(0.05, b) for b in (1, 2, 4, 8, 16, 32)]
    assert fr == sorted(fr) and fr[-1] == pytest.approx(1 - 0.95**32)  # 0.806 at batch 32


def test_predictor_beats_chance():
    h, i, frac = 64, 96, 0.1
    wg, wu, _ = _mlp(h, i, torch.float32)
    g = torch.Generator().manual_seed(3)
    pred = train_predictor(wg, wu, torch.randn(512, h, generator=g), frac, rank=16, steps=200)
    xt = torch.randn(64, h, generator=g)
    true = topk_active((F.silu(xt @ wg.T) * (xt @ wu.T)).abs(), frac)
    got = topk_active(pred.scores(xt), frac)
    recall = sum(len(set(a.tolist()) & set(b.tolist())) for a, b in zip(true, got, strict=True)) / true.numel()
    assert recall > 2 * frac  # chance is frac
    act = pred.active(xt[:1], frac)
    assert act.count == round(frac * i) and act.n_total == i


def test_cost_by_hand():
    # Llama-3.1-8B, batch 1, A = 1434 active of 14336 (10%), fp16.
    # up/gate: FLOPs 2 * 2*M*A*H = 4*1434*4096 = 23,494,656; read 2*A*H*2 B = 23,494,656 + x 8,192 + idx 5,736;
    # written fp32 pre-activations 2*1*1434*4 = 11,472 B.
    # down: FLOPs 2*1434*4096 + 5*1434 (silu*mul) = 11,754,498; read A*H*2 = 11,747,328 + 11,472 + 5,736;
    # written y 4096*2 = 8,192 B.
    up, down = contextual_mlp_cost(1, 4096, 1434, "fp16")
    assert (up.flops, up.bytes_read, up.bytes_written) == (23_494_656, 23_508_584, 11_472)
    assert (down.flops, down.bytes_read, down.bytes_written) == (11_754_498, 11_764_536, 8_192)
    dense = dense_mlp_cost(1, 4096, 14336, "fp16")
    weight_bytes = 3 * 14336 * 4096 * 2  # 352,321,536
    assert sum(o.bytes_read for o in dense) > weight_bytes
    # dense: up/gate 234,881,024 + x 16,384 read, 57,344 written; silu*mul 86,016 read, 57,344 written;
    # down 117,440,512 + 28,672 read, 8,192 written -> 352,575,488 B. Ours 23,520,056 + 11,772,728 = 35,292,784 B.
    assert sum(o.bytes for o in dense) == 352_575_488 and up.bytes + down.bytes == 35_292_784  # 9.99x fewer
    ops = contextual_mlp_cost(1, 4096, 1434, "fp16", split_up=4, split_down=2)
    assert [o.name for o in ops][2:] == ["contextual_zero", "contextual_zero", "contextual_cast"]


def test_registry_and_quick_bench():
    entry = load_all()["contextual_mlp"]
    assert entry.family == "sparse" and entry.quick_shapes
    assert {s["active"] for s in entry.bench_shapes} == {0.05, 0.1, 0.25, 0.5}
    assert {s["batch"] for s in entry.bench_shapes} >= {1, 32}
    for shape in entry.quick_shapes:
        b = prepare(shape, "fp16", "cpu")
        assert set(b.impls) == {"ours", "torch-dense-mlp"} and not b.gpu_only
        assert max_rel_error(b.impls["ours"](), b.reference()) <= b.rtol
        assert b.impls["torch-dense-mlp"]().shape == (shape["batch"], shape["H"])
        assert 0 < b.shape["union_fraction"] <= 1
