"""W8A8 int8 linear: kernel vs torch reference under the interpreter, cost, bad input.

Tolerance: w8a8.RTOL (fp16 1e-3): the int32 accumulation is exact and so is the reference (fp64 sums of
int8 products stay far below 2**53); the fp32 epilogue adds ~1e-7, so only the rounding of y to fp16
(half an ulp, 2**-11 of an element) remains. bf16 output (no bf16 dot: only the cast) runs under the
interpreter too (RTOL bf16 8e-3, 2**-8). Fresh random inputs
each run; the seed is in every failure message.
"""

from kernel_env import DEV, ON_GPU, fresh_seed  # noqa: I001  (first: sets TRITON_INTERPRET before triton)

import pytest  # noqa: E402
import torch  # noqa: E402

from kernels.quant import w8a8  # noqa: E402
from kernels.registry import REGISTRY, max_rel_error  # noqa: E402
from roofline.errors import InputError  # noqa: E402


def make(m, k, n):
    x_q, sx = w8a8.quantize_rows(torch.randn(m, k))
    w_q, sw = w8a8.quantize_rows(torch.randn(n, k) / k**0.5)
    return x_q, sx, w_q, sw


def test_quantize_rows():
    t = torch.randn(7, 100)
    q, s = w8a8.quantize_rows(t)
    assert q.dtype == torch.int8 and s.shape == (7,) and q.abs().max().item() == 127
    assert ((q.float() * s[:, None] - t).abs() <= s[:, None] / 2 + 1e-6).all()


def test_reference_accumulates_exactly():
    x_q, _, w_q, _ = make(5, 3000, 16)  # sums past 2**24, where an fp32 accumulation would round
    x_q, w_q = x_q.cpu(), w_q.cpu()  # int64 matmul: CPU only
    x_q[0] = 127
    w_q[0] = -127
    exact = x_q.long() @ w_q.long().t()  # e.g. [0, 0] = -127 * 127 * 3000 = -48,387,000
    ref = w8a8.reference(x_q, torch.ones(5), w_q, torch.ones(16), torch.float64)
    assert exact[0, 0].item() == -48387000 and torch.equal(ref, exact.double())


CASES = [  # (M, K, N): M = 1, 3, 17, 33; K = 160, 100, 96 not multiples of BLOCK_K
    (1, 256, 96), (3, 256, 96), (17, 160, 64), (3, 100, 40), (33, 512, 48), (1, 96, 24), (17, 384, 128),
]


@pytest.mark.parametrize("m,k,n", CASES)
def test_matches_reference(m, k, n):
    seed = fresh_seed()
    x_q, sx, w_q, sw = make(m, k, n)
    y = w8a8.w8a8_linear(x_q, sx, w_q, sw, torch.float16)
    assert y.shape == (m, n) and y.dtype == torch.float16
    err = max_rel_error(y, w8a8.reference(x_q, sx, w_q, sw, torch.float16))
    assert err <= w8a8.RTOL["fp16"], f"rel err {err:.2e} (seed {seed})"


@pytest.mark.parametrize("m,k,n", [(3, 320, 40), (17, 256, 64), (257, 256, 72)])
def test_every_candidate_config(m, k, n):
    seed = fresh_seed()
    x_q, sx, w_q, sw = make(m, k, n)
    ref = w8a8.reference(x_q, sx, w_q, sw, torch.float16)
    for cfg in w8a8.candidates_for(m):
        err = max_rel_error(w8a8.w8a8_linear(x_q, sx, w_q, sw, torch.float16, cfg=cfg), ref)
        assert err <= w8a8.RTOL["fp16"], f"{cfg} rel err {err:.2e} (seed {seed})"


def test_non_contiguous_weight_view():
    x_q, sx, w_q, sw = make(3, 128, 32)
    wide = torch.zeros(32, 256, dtype=torch.int8)
    wide[:, :128] = w_q
    y = w8a8.w8a8_linear(x_q, sx, wide[:, :128], sw)
    assert max_rel_error(y, w8a8.reference(x_q, sx, w_q, sw)) <= w8a8.RTOL["fp16"]


def test_bf16_output_under_interpreter():
    # no bf16 tl.dot here (int8 x int8), only the epilogue cast, which the interpreter does right
    seed = fresh_seed()
    x_q, sx, w_q, sw = make(17, 256, 64)
    err = max_rel_error(w8a8.w8a8_linear(x_q, sx, w_q, sw, torch.bfloat16),
                        w8a8.reference(x_q, sx, w_q, sw, torch.bfloat16))
    assert err <= w8a8.RTOL["bf16"], f"rel err {err:.2e} (seed {seed})"


@ON_GPU
@pytest.mark.parametrize("m", [1, 17, 300])
@pytest.mark.parametrize("out", [torch.float16, torch.bfloat16])
def test_on_gpu(m, out):
    x_q, sx = w8a8.quantize_rows(torch.randn(m, 1024, device="cuda"))
    w_q, sw = w8a8.quantize_rows(torch.randn(512, 1024, device="cuda"))
    err = max_rel_error(w8a8.w8a8_linear(x_q, sx, w_q, sw, out), w8a8.reference(x_q, sx, w_q, sw, out))
    assert err <= w8a8.RTOL["fp16" if out == torch.float16 else "bf16"]


def test_cost_hand_derived():
    # M=4096, K=N=8192: ops 2*4096*8192*8192 = 549,755,813,888 (int8 ceiling);
    # read x 4096*8192 = 33,554,432 + W 8192*8192 = 67,108,864 + scales 4*4096 + 4*8192 = 49,152
    #   = 100,712,448; written fp16 y 2*4096*8192 = 67,108,864.
    (op,) = w8a8.cost(4096, 8192, 8192)
    assert (op.flops, op.bytes_read, op.bytes_written, op.dtype) == (549755813888, 100712448, 67108864, "int8")


def test_registry_entry_prepares_on_cpu():
    e = REGISTRY["w8a8_linear"]
    assert e.family == "quant" and {"M": 4096, "K": 8192, "N": 8192} in e.bench_shapes
    b = e.prepare(e.quick_shapes[1], "fp16", DEV)
    assert ("torch-int-mm" in b.impls) == (DEV == "cuda")  # CUDA-only peer (M = 17 > 16)
    assert max_rel_error(b.impls["ours"](), b.reference()) <= b.rtol


def test_bad_input():
    x_q, sx, w_q, sw = make(3, 64, 16)
    with pytest.raises(InputError, match="K differs"):
        w8a8.w8a8_linear(x_q, sx, w_q[:, :32], sw)
    with pytest.raises(InputError, match="dtype"):
        w8a8.w8a8_linear(x_q.half(), sx, w_q, sw)
    with pytest.raises(InputError, match="dtype"):
        w8a8.w8a8_linear(x_q, sx.half(), w_q, sw)
    with pytest.raises(InputError, match="scales must be"):
        w8a8.w8a8_linear(x_q, sx[:2], w_q, sw)
    with pytest.raises(InputError, match="out_dtype"):
        w8a8.w8a8_linear(x_q, sx, w_q, sw, torch.float32)
    with pytest.raises(InputError, match="2-D"):
        w8a8.w8a8_linear(x_q[0], sx, w_q, sw)
    with pytest.raises(InputError, match="device"):
        w8a8.w8a8_linear(x_q, sx, w_q.to("meta"), sw)
    with pytest.raises(InputError, match="dtype"):
        w8a8.prepare({"M": 1, "K": 64, "N": 16}, "fp32", "cpu")
