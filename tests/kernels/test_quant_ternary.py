"""Ternary (BitNet b1.58) linear: 2-bit packing, kernel vs torch reference under the interpreter, cost, bad input.

Tolerance: ternary.RTOL (fp16 2e-3, fp32 1e-5): the weights -1/0/+1 are exact in every dtype, so the error
is the rounding of y to the activation dtype (and of s*t on group-straddling tiles). Fresh random inputs
each run; the seed is in every failure message.
"""

from kernel_env import DEV, ON_GPU, fresh_seed  # noqa: I001  (first: sets TRITON_INTERPRET before triton)

import pytest  # noqa: E402
import torch  # noqa: E402

from kernels.quant import lowbit, ternary  # noqa: E402
from kernels.registry import REGISTRY, max_rel_error  # noqa: E402
from roofline.errors import InputError  # noqa: E402


DTYPES = {"fp16": torch.float16, "fp32": torch.float32}


@pytest.mark.parametrize("n,k", [(5, 16), (3, 7), (16, 200), (64, 256), (9, 33)])
def test_pack_round_trip_bit_exact(n, k):
    seed = fresh_seed()
    q = torch.randint(0, 3, (n, k), dtype=torch.uint8)
    packed = ternary.pack(q, ternary.BITS)
    assert packed.dtype == torch.int32 and packed.shape == ((k + 15) // 16, n)
    assert torch.equal(ternary.unpack(packed, k, ternary.BITS), q), f"seed {seed}"


def test_pack_layout():
    # K = 32 -> KP = 2; code j of word [i, n] is c[n, j*2 + i]: k = 31 -> row 1, code 15 (bits 30..31)
    c = torch.ones(2, 32, dtype=torch.uint8)  # all zeros weights (code 1)
    c[0, 31] = 2  # +1
    packed = ternary.pack(c, 2)
    ones = sum(1 << (2 * j) for j in range(16))  # 0x55555555
    assert packed[0, 1].item() == ones
    assert packed[1, 0].item() & 0xFFFFFFFF == ones + (1 << 30)  # 0x95555555: negative as int32


@pytest.mark.parametrize("group", [0, -1, 64])
def test_quantize_is_ternary(group):
    w = torch.randn(8, 256)
    qw, s = ternary.quantize(w, group)
    t = ternary.unpack(qw, 256, 2).long() - 1
    assert set(t.unique().tolist()) <= {-1, 0, 1}
    if group == 0:
        assert s.shape == (1, 1) and abs(s.float().item() - w.abs().mean().item()) < 1e-3 * w.abs().mean().item()


CASES = [  # (M, K, N, group): group 0 per-tensor, -1 per-channel, 64/128 groups; K = 200, 96, 320 odd
    (1, 256, 96, 0), (3, 256, 96, 128), (17, 256, 40, -1), (3, 320, 48, 64), (1, 200, 40, 0),
    (17, 512, 64, 0), (2, 96, 24, -1),
]


@pytest.mark.parametrize("dtype", ["fp16", "fp32"])
@pytest.mark.parametrize("m,k,n,group", CASES)
def test_matches_reference(m, k, n, group, dtype):
    seed = fresh_seed()
    x = torch.randn(m, k, dtype=DTYPES[dtype])
    qw, s = ternary.quantize(torch.randn(n, k) / k**0.5, group)
    y = ternary.ternary_linear(x, qw, s, group=group)
    assert y.shape == (m, n) and y.dtype == x.dtype
    err = max_rel_error(y, ternary.reference(x, qw, s, group))
    assert err <= ternary.RTOL[dtype], f"rel err {err:.2e} (seed {seed})"


@pytest.mark.parametrize("m,k,n,group", [(1, 512, 96, 0), (3, 320, 48, 64), (33, 256, 40, -1)])
def test_every_candidate_config(m, k, n, group):
    seed = fresh_seed()
    x = torch.randn(m, k, dtype=torch.float16)
    qw, s = ternary.quantize(torch.randn(n, k) / k**0.5, group)
    ref = ternary.reference(x, qw, s, group)
    for cfg in lowbit.candidates_for(m, ternary.BITS):
        err = max_rel_error(ternary.ternary_linear(x, qw, s, group=group, cfg=cfg), ref)
        assert err <= ternary.RTOL["fp16"], f"{cfg} rel err {err:.2e} (seed {seed})"


@ON_GPU
@pytest.mark.parametrize("m", [1, 3, 64])
def test_bf16_on_gpu(m):
    x = torch.randn(m, 512, dtype=torch.bfloat16, device="cuda")
    qw, s = ternary.quantize(torch.randn(256, 512, device="cuda"), 0, torch.bfloat16)
    assert max_rel_error(ternary.ternary_linear(x, qw, s), ternary.reference(x, qw, s)) <= ternary.RTOL["bf16"]


def test_cost_hand_derived():
    # M=1, K=N=8192, per-tensor scale, fp16: FLOPs 2*8192*8192 = 134,217,728;
    # read x 16,384 + codes 8192*8192/4 = 16,777,216 + one fp16 scale 2 = 16,793,602; written 16,384.
    (op,) = ternary.cost(1, 8192, 8192, 0, "fp16")
    assert (op.flops, op.bytes_read, op.bytes_written) == (134217728, 16793602, 16384)
    # group 128: scales 64*8192*2 = 1,048,576 instead of 2
    (opg,) = ternary.cost(1, 8192, 8192, 128, "fp16")
    assert opg.bytes_read == 16384 + 16777216 + 1048576


def test_registry_entry_prepares_on_cpu():
    e = REGISTRY["ternary_linear"]
    assert e.family == "quant" and len(e.bench_shapes) == 88
    b = e.prepare(e.quick_shapes[0], "fp16", DEV)
    assert max_rel_error(b.impls["ours"](), b.reference()) <= b.rtol


def test_bad_input():
    x = torch.randn(2, 256, dtype=torch.float16)
    qw, s = ternary.quantize(torch.randn(32, 256), 128)
    with pytest.raises(InputError, match="not divisible"):
        ternary.quantize(torch.randn(8, 200), 64)
    with pytest.raises(InputError, match="not divisible"):
        ternary.ternary_linear(torch.randn(2, 200, dtype=torch.float16), ternary.pack(torch.ones(8, 200), 2),
                               torch.ones(1, 8, dtype=torch.float16), group=64)
    with pytest.raises(InputError, match="group must be"):
        ternary.ternary_linear(x, qw, s, group=-3)
    with pytest.raises(InputError, match="scales has shape"):
        ternary.ternary_linear(x, qw, s, group=0)
    with pytest.raises(InputError, match="dtype"):
        ternary.ternary_linear(x.to(torch.int8), qw, s, group=128)
    with pytest.raises(InputError, match="packed rows"):
        ternary.ternary_linear(torch.randn(2, 512, dtype=torch.float16), qw, s, group=128)
    with pytest.raises(InputError, match="device"):
        ternary.ternary_linear(x, qw, s.to("meta"), group=128)
