"""Every core op, the cross-entropy kernel, nn and optim on 'cuda' (CuPy) give the CPU's results.
Skipped cleanly (tests/conftest.py) where CuPy or an NVIDIA GPU is missing."""
import numpy as np
import pytest

import tinygrad_lm as tg
import tinygrad_lm.nn.functional as F
from tinygrad_lm import backend

pytestmark = pytest.mark.gpu

RNG = np.random.default_rng(0)
A, B, V = RNG.standard_normal((3, 4)), RNG.standard_normal((4, 5)), RNG.standard_normal(4)
P = np.abs(A) + 0.5
IDX = np.array([2, 0, 2])
T3 = np.array([1, 0, 3])
_DEVICE = ["cpu"]  # where _run is computing: integer targets and constants go there too


def on(a):
    return tg.tensor(a).to(_DEVICE[0])


OPS = {
    "add": (lambda a, b: a + b, [A, V]), "sub": (lambda a, b: a - b, [A, V]), "mul": (lambda a, b: a * b, [A, V]),
    "div": (lambda a, b: a / b, [A, P]), "pow": (lambda a, b: a ** b, [P, A]), "neg": (lambda a: -a, [A]),
    "matmul": (lambda a, b: a @ b, [A, B]), "matmul_batched": (lambda a, b: a[None] @ b[None].expand(2, 4, 5), [A, B]),
    "matvec": (lambda a, v: a @ v, [A, V]),
    "exp": (tg.exp, [A]), "log": (tg.log, [P]), "sqrt": (tg.sqrt, [P]), "abs": (tg.abs, [A]),
    "tanh": (tg.tanh, [A]), "sigmoid": (tg.sigmoid, [A]), "relu": (F.relu, [A]), "leaky_relu": (F.leaky_relu, [A]),
    "gelu": (F.gelu, [A]), "gelu_tanh": (lambda a: F.gelu(a, approximate="tanh"), [A]),
    "softmax": (lambda a: tg.softmax(a, 1), [A]), "log_softmax": (lambda a: tg.log_softmax(a, 0), [A]),
    "sum": (lambda a: a.sum(1), [A]), "mean": (lambda a: a.mean((0, 1), keepdim=True), [A]),
    "max": (lambda a: a.max(1).values, [A]), "amin": (lambda a: tg.amin(a, 0), [A]),
    "var": (lambda a: a.var(1), [A]), "std": (lambda a: a.std(0, keepdim=True), [A]),
    "reshape": (lambda a: a.reshape(2, 6), [A]), "permute": (lambda a: a.permute(1, 0) * 1.0, [A]),
    "expand": (lambda v: v[None].expand(3, 4), [V]), "squeeze": (lambda a: a[None].squeeze(0).unsqueeze(2), [A]),
    "flatten": (lambda a: a.flatten(), [A]), "cat": (lambda a, b: tg.cat([a, b.T], 0), [A, B]),
    "stack": (lambda a, b: tg.stack([a, b], 1), [A, P]), "split": (lambda a: a.split([1, 3], 1), [A]),
    "chunk": (lambda a: a.chunk(2, 0), [A]),
    "index_basic": (lambda a: a[1:, ::2], [A]), "index_advanced": (lambda a: a[on(IDX)], [A]),
    "index_mask": (lambda a: a[a > 0], [A]), "gather": (lambda a: a.gather(1, on(np.tile(T3, (3, 1)))), [A]),
    "where": (lambda a, b: tg.where(a > 0, a, b), [A, P]), "masked_fill": (lambda a: a.masked_fill(a < 0, 0.5), [A]),
    "clip": (lambda a: a.clip(-0.5, 0.5), [A]),
    "linear": (lambda a, w, b: F.linear(a, w, b), [A, B.T, B[0]]),
    "embedding": (lambda w: F.embedding(on(IDX), w), [A]),
    "normalize": (F.normalize, [A]),
    "mse": (F.mse_loss, [A, P]),
    "cross_entropy": (lambda a: F.cross_entropy(a, on(T3 % 4), label_smoothing=0.1), [A]),
    "nll": (lambda a: F.nll_loss(tg.log_softmax(a, 1), on(T3 % 4)), [A]),
    "bce": (lambda a, y: F.binary_cross_entropy(tg.sigmoid(a), y), [A, P / P.max()]),
    "bce_logits": (lambda a, y: F.binary_cross_entropy_with_logits(a, y, pos_weight=on(V[:4]).to(dtype=a.dtype)), [A, P / P.max()]),
}


def _run(fn, arrays, device, dtype):
    _DEVICE[0] = device
    inputs = [tg.tensor(a.astype(dtype), requires_grad=True).to(device) for a in arrays]
    leaves = inputs
    if device == "cuda":  # the CUDA copies are the leaves, as after model.cuda()
        leaves = [tg.tensor(x.data, requires_grad=True) for x in inputs]
    out = fn(*leaves)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    for o in outs:
        assert o.device == device and o.dtype == dtype
    root = sum(((o * (o.detach() * 0.0 + 1.5) + o * o).sum() for o in outs), tg.tensor(0.0, dtype=dtype).to(device))
    root.backward()
    return [o.numpy() for o in outs], [None if x.grad is None else x.grad.numpy() for x in leaves]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(OPS))
def test_op_on_cuda_equals_cpu(name, dtype):
    fn, arrays = OPS[name]
    tol = dict(rtol=1e-9, atol=1e-10) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-5)
    cpu_out, cpu_grad = _run(fn, arrays, "cpu", dtype)
    gpu_out, gpu_grad = _run(fn, arrays, "cuda", dtype)
    assert [g is None for g in cpu_grad] == [g is None for g in gpu_grad]
    for a, b in zip(cpu_out + cpu_grad, gpu_out + gpu_grad, strict=True):
        if a is not None:
            np.testing.assert_allclose(b, a, **tol)


def test_gradient_flows_back_across_to():
    x = tg.tensor(A, requires_grad=True)
    y = x.to("cuda")
    assert y.device == "cuda" and backend.is_cupy(y.data)
    (y * y).sum().backward()
    assert x.grad.device == "cpu"
    np.testing.assert_allclose(x.grad.numpy(), 2 * A)
    back = y.to("cpu")
    assert back.device == "cpu"
    np.testing.assert_array_equal(back.numpy(), A)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_kernel_on_cuda_equals_plain_cpu(dtype, smoothing):
    cp = backend.cupy()
    rng = np.random.default_rng(1)
    M, C = 256, 1000
    x = (3 * rng.standard_normal((M, C))).astype(dtype)
    t = rng.integers(0, C, M)
    t[::7] = -100
    w = (rng.random(C) + 0.5).astype(dtype)
    g = rng.standard_normal(M).astype(dtype)
    tol = dict(rtol=1e-10, atol=1e-10) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-5)
    fwd, bwd = (backend.kernel(n, "cuda") for n in ("cross_entropy_forward", "cross_entropy_backward"))
    loss, lse = fwd(cp.asarray(x), cp.asarray(t), cp.asarray(w), -100, smoothing)
    grad = bwd(cp.asarray(x), lse, cp.asarray(t), cp.asarray(w), -100, smoothing, cp.asarray(g))
    ref_loss, ref_lse = backend.kernel("cross_entropy_forward", impl="plain")(x, t, w, -100, smoothing)
    ref_grad = backend.kernel("cross_entropy_backward", impl="plain")(x, ref_lse, t, w, -100, smoothing, g)
    for ours, ref in ((loss, ref_loss), (lse, ref_lse), (grad, ref_grad)):
        np.testing.assert_allclose(cp.asnumpy(ours), ref, **tol)


def test_model_and_optimizer_on_cuda_match_cpu():
    def train(device):
        tg.manual_seed(0)
        model = tg.nn.Sequential(tg.nn.Linear(4, 8), tg.nn.ReLU(), tg.nn.Dropout(0.0), tg.nn.Linear(8, 3)).double()
        model.to(device)
        opt = tg.optim.Adam(model.parameters(), lr=0.01, amsgrad=True)
        x, y = tg.tensor(A[:, :4].repeat(2, 0)).to(device), tg.tensor(np.array([0, 1, 2, 0, 1, 2])).to(device)
        for _ in range(5):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            tg.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            opt.step()
        assert all(p.device == device for p in model.parameters())
        return model.state_dict()

    cpu, gpu = train("cpu"), train("cuda")
    for k in cpu:
        np.testing.assert_allclose(gpu[k], cpu[k], rtol=1e-9, atol=1e-10)


def test_dropout_on_cuda_seeded_like_cpu():
    tg.manual_seed(5)
    a = F.dropout(tg.ones(1000, dtype=tg.float64), 0.3).numpy()
    tg.manual_seed(5)
    b = F.dropout(tg.ones(1000, dtype=tg.float64).to("cuda"), 0.3).numpy()
    np.testing.assert_array_equal(a, b)
