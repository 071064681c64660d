"""W4A16 int4 linear: packing, kernel vs torch reference under the Triton interpreter, cost, bad input.

Tolerance: w4a16.RTOL (max |y - ref| / max |ref|; fp16 2e-3, fp32 1e-5) — the reference is exact fp32
math on the same codes, so only the rounding of y (and of scaled weights on group-straddling tiles) to
the activation dtype remains. Inputs are fresh random each run; the seed is in every failure message.
"""

from kernel_env import DEV, ON_GPU, fresh_seed  # noqa: I001  (first: sets TRITON_INTERPRET before triton)

import pytest  # noqa: E402
import torch  # noqa: E402

from kernels.quant import _common, lowbit, w4a16  # noqa: E402
from kernels.registry import REGISTRY, max_rel_error  # noqa: E402
from roofline.errors import InputError  # noqa: E402


DTYPES = {"fp16": torch.float16, "fp32": torch.float32}


def make(m, k, n, group, sym, dtype):
    x = torch.randn(m, k, dtype=DTYPES[dtype])
    w = torch.randn(n, k) / k**0.5
    qw, s, z = w4a16.quantize(w, group, sym)
    return x, w, qw, s, z


@pytest.mark.parametrize("n,k", [(5, 8), (3, 7), (16, 200), (64, 256), (33, 1)])
def test_pack_round_trip_bit_exact(n, k):
    seed = fresh_seed()
    q = torch.randint(0, 16, (n, k), dtype=torch.uint8)
    packed = w4a16.pack(q)
    assert packed.dtype == torch.int32 and packed.shape == ((k + 7) // 8, n)
    assert torch.equal(w4a16.unpack(packed, k), q), f"seed {seed}"


def test_pack_layout_strided_along_k():
    # K = 16 -> KP = 2 packed rows; code j of word [i, n] is q[n, j*2 + i]: k = 5 -> row 1, code 2 (bits 8..11).
    q = torch.zeros(3, 16, dtype=torch.uint8)
    q[1, 5] = 0xB
    q[2, 15] = 0xF  # k = 15 -> row 1, code 7: bits 28..31, the sign bit of the int32
    packed = w4a16.pack(q)
    assert packed[1, 1].item() == 0xB << 8
    assert packed[1, 2].item() == -(1 << 28)  # 0xF0000000 as int32
    assert packed[0].abs().sum().item() == 0 and packed[1, 0].item() == 0


@pytest.mark.parametrize("sym", [True, False])
@pytest.mark.parametrize("group", [64, 128, -1])
def test_quantize_error_within_half_step(group, sym):
    seed = fresh_seed()
    k, n = 256, 24
    w = torch.randn(n, k)
    qw, s, z = w4a16.quantize(w, group, sym)
    g = k if group == -1 else group
    step = s.float().t().repeat_interleave(g, dim=1)
    err = (w4a16.dequant(qw, s, z, k, group) - w).abs()
    # rounding is half a step; symmetric clamps +absmax/7*7.5 -> 7 only at the edge (still <= one step)
    assert (err <= step * (0.5 if not sym else 1.0) + 1e-6).all(), f"seed {seed}"


CASES = [  # (M, K, N, group): M = 1, 3, 17; K a multiple of the tiles or not (320, 200, 96)
    (1, 256, 96, 128), (3, 256, 96, 64), (17, 256, 40, -1), (3, 320, 48, 64), (1, 200, 40, -1),
    (17, 384, 64, 128), (2, 512, 128, 128), (1, 96, 24, -1),
]


@pytest.mark.parametrize("dtype", ["fp16", "fp32"])
@pytest.mark.parametrize("sym", [True, False])
@pytest.mark.parametrize("m,k,n,group", CASES)
def test_matches_reference(m, k, n, group, sym, dtype):
    seed = fresh_seed()
    x, _, qw, s, z = make(m, k, n, group, sym, dtype)
    y = w4a16.w4a16_linear(x, qw, s, z, group=group)
    ref = w4a16.reference(x, qw, s, z, group)
    assert y.shape == (m, n) and y.dtype == x.dtype
    err = max_rel_error(y, ref)
    assert err <= w4a16.RTOL[dtype], f"rel err {err:.2e} (seed {seed})"


@pytest.mark.parametrize("m,k,n,group", [(1, 256, 96, 128), (3, 320, 48, 64), (17, 256, 40, -1), (65, 256, 64, 128)])
def test_every_candidate_config(m, k, n, group):
    """Every config the GPU may pick computes the same thing (incl. aligned and straddling tiles)."""
    seed = fresh_seed()
    x, _, qw, s, z = make(m, k, n, group, False, "fp16")
    ref = w4a16.reference(x, qw, s, z, group)
    for cfg in lowbit.candidates_for(m):
        err = max_rel_error(w4a16.w4a16_linear(x, qw, s, z, group=group, cfg=cfg), ref)
        assert err <= w4a16.RTOL["fp16"], f"{cfg} rel err {err:.2e} (seed {seed})"


@pytest.mark.parametrize("m", [1, 5])
@pytest.mark.parametrize("split", [2, 3, 8])
def test_split_k_reduction(m, split):
    seed = fresh_seed()
    x, _, qw, s, z = make(m, 1024, 40, 64, True, "fp16")  # 128 packed rows: 8 blocks of 16
    cfg = lowbit.candidates_for(m)[0]
    cfg = _common.Cfg({**cfg.meta, "SPLIT_K": split, "BLOCK_KP": 16}, cfg.num_warps, cfg.num_stages)
    assert lowbit.split_k_for(m, 40, 128, cfg, x.device)[0] == split
    err = max_rel_error(w4a16.w4a16_linear(x, qw, s, z, group=64, cfg=cfg), w4a16.reference(x, qw, s, z, 64))
    assert err <= w4a16.RTOL["fp16"], f"rel err {err:.2e} (seed {seed})"


def test_leading_dims_flattened():
    x, _, qw, s, z = make(1, 128, 32, 64, True, "fp16")
    x3 = torch.randn(2, 3, 128, dtype=torch.float16)
    y = w4a16.w4a16_linear(x3, qw, s, z, group=64)
    assert y.shape == (2, 3, 32)
    assert max_rel_error(y, w4a16.reference(x3, qw, s, z, 64)) <= w4a16.RTOL["fp16"]


@ON_GPU
@pytest.mark.parametrize("m", [1, 3, 17, 64])
def test_bf16_on_gpu(m):
    x = torch.randn(m, 512, dtype=torch.bfloat16, device="cuda")
    qw, s, z = w4a16.quantize(torch.randn(256, 512, device="cuda") / 512**0.5, 128, False, torch.bfloat16)
    err = max_rel_error(w4a16.w4a16_linear(x, qw, s, z, group=128), w4a16.reference(x, qw, s, z, 128))
    assert err <= w4a16.RTOL["bf16"]


def test_cost_hand_derived():
    # M=1, K=N=8192, g128, symmetric, fp16:
    #   FLOPs 2*1*8192*8192 = 134,217,728
    #   read: x 8192*2 = 16,384 + codes 8192*8192/2 = 33,554,432 + scales (8192/128)*8192*2 = 1,048,576
    #         = 34,619,392;  written: y 8192*2 = 16,384
    (op,) = w4a16.cost(1, 8192, 8192, 128, True, "fp16")
    assert (op.flops, op.bytes_read, op.bytes_written, op.dtype) == (134217728, 34619392, 16384, "fp16")
    # asymmetric adds uint8 zeros: 64*8192 = 524,288 bytes
    (opa,) = w4a16.cost(1, 8192, 8192, 128, False, "fp16")
    assert opa.bytes_read == 34619392 + 524288
    # weight bytes fp16 / int4-g128: 134,217,728 / 34,603,008 = 16 / 4.125 = 3.879
    assert abs(2 * 8192 * 8192 / (33554432 + 1048576) - 16 / 4.125) < 1e-12
    # per-channel: one scale row, 8192*2 bytes; M=16 bf16 reads x 16*8192*2
    (opc,) = w4a16.cost(16, 8192, 8192, -1, True, "bf16")
    assert opc.bytes_read == 16 * 8192 * 2 + 33554432 + 16384 and opc.bytes_written == 16 * 8192 * 2


def test_registry_entry_prepares_on_cpu():
    e = REGISTRY["w4a16_linear"]
    assert e.family == "quant" and {"M": 1, "K": 8192, "N": 8192, "group": 128} in e.bench_shapes
    b = e.prepare(e.quick_shapes[0], "fp16", DEV)
    assert ("ours" in b.gpu_only) == (DEV == "cuda")
    assert "ours" in e.prepare(e.quick_shapes[0], "bf16", "cpu").gpu_only  # bf16 tl.dot: GPU only
    if DEV == "cpu":
        assert "torch-tinygemm-int4" not in b.impls
    assert max_rel_error(b.impls["ours"](), b.reference()) <= b.rtol
    assert b.ops_for("torch-bf16-linear")[0].bytes > b.ops[0].bytes


def test_ours_gpu_only_without_interpreter(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")  # read at call time by kernels.common.interpreting
    b = w4a16.prepare({"M": 1, "K": 128, "N": 16, "group": 64}, "fp16", "cpu")
    assert "ours" in b.gpu_only
    with pytest.raises(InputError, match="TRITON_INTERPRET"):
        b.impls["ours"]()


def test_bad_input():
    x, _, qw, s, z = make(2, 256, 32, 128, False, "fp16")
    with pytest.raises(InputError, match="not divisible"):
        w4a16.quantize(torch.randn(8, 200), 64)
    with pytest.raises(InputError, match="not divisible"):
        w4a16.w4a16_linear(torch.randn(2, 200, dtype=torch.float16), w4a16.pack(torch.zeros(32, 200)), s, z, group=64)
    with pytest.raises(InputError, match="per-channel"):
        w4a16.w4a16_linear(x, qw, s, z, group=0)
    with pytest.raises(InputError, match="dtype"):
        w4a16.w4a16_linear(x.to(torch.int32), qw, s, z, group=128)
    with pytest.raises(InputError, match="dtype"):
        w4a16.w4a16_linear(x, qw.to(torch.int64), s, z, group=128)
    with pytest.raises(InputError, match="dtype"):
        w4a16.w4a16_linear(x, qw, s, z.to(torch.int32), group=128)
    with pytest.raises(InputError, match="packed rows"):
        w4a16.w4a16_linear(torch.randn(2, 128, dtype=torch.float16), qw, s, z, group=128)
    with pytest.raises(InputError, match="scales has shape"):
        w4a16.w4a16_linear(x, qw, s[:, :16], z, group=128)
    with pytest.raises(InputError, match="scales has shape"):
        w4a16.w4a16_linear(x, qw, s, z, group=64)
    with pytest.raises(InputError, match="zeros has shape"):
        w4a16.w4a16_linear(x, qw, s, z[:1], group=128)
    with pytest.raises(InputError, match="device"):
        w4a16.w4a16_linear(x, qw.to("meta"), s, z, group=128)
    with pytest.raises(InputError, match="device"):
        w4a16.w4a16_linear(x, qw, s.to("meta"), z, group=128)
    with pytest.raises(InputError, match="dtype"):
        w4a16.prepare({"M": 1, "K": 128, "N": 16}, "int8", "cpu")
