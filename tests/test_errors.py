"""Bad input gets a clear error that says what is wrong, naming both shapes where two disagree."""
import re

import numpy as np
import pytest

import tinygrad_lm as tg
import tinygrad_lm.nn.functional as F
from tinygrad_lm import backend


def t(*shape, dtype=np.float32):
    return tg.tensor(np.ones(shape, dtype=dtype))


def both(a, b):
    """A regex matching the two shapes in either order."""
    a, b = re.escape(str(a)), re.escape(str(b))
    return f"({a}.*{b}|{b}.*{a})"


@pytest.mark.parametrize("op", [
    lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: a / b, lambda a, b: a ** b,
    lambda a, b: tg.where(np.ones((1,), bool), a, b), lambda a, b: a < b,
])
def test_broadcast_mismatch_names_both_shapes(op):
    with pytest.raises(ValueError, match=both((2, 3), (4,))):
        op(t(2, 3), t(4))


@pytest.mark.parametrize("sa,sb", [((2, 3), (4, 5)), ((3,), (2,)), ((5, 2, 3), (4, 3, 2)), ((2, 3), (2,))])
def test_matmul_mismatch_names_both_shapes(sa, sb):
    with pytest.raises(ValueError, match=both(sa, sb)):
        t(*sa) @ t(*sb)


def test_matmul_scalar_refused():
    with pytest.raises(ValueError, match="at least 1 dimension"):
        tg.matmul(t(), t(3))


def test_cat_and_stack_mismatch_name_shapes():
    with pytest.raises(ValueError, match=both((2, 3), (2, 4))):
        tg.cat([t(2, 3), t(2, 4)], dim=0)
    with pytest.raises(ValueError, match=both((2, 3), (3, 2))):
        tg.stack([t(2, 3), t(3, 2)])


def test_linear_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=both((4, 5), (3, 6))):
        F.linear(t(4, 5), t(3, 6))
    with pytest.raises(ValueError, match=both((4, 5), (2, 3))):
        tg.nn.Linear(3, 2)(t(4, 5))


def test_cross_entropy_bad_targets():
    with pytest.raises(ValueError, match=both((4, 3), (5,))):
        F.cross_entropy(t(4, 3), tg.tensor([0, 1, 2, 0, 1]))
    with pytest.raises(ValueError, match=both((4, 3), (4, 2))):
        F.cross_entropy(t(4, 3), t(4, 2))  # probability targets of the wrong shape
    with pytest.raises(IndexError, match="out of range for 3 classes"):
        F.cross_entropy(t(2, 3), tg.tensor([0, 3]))
    with pytest.raises(TypeError, match="integers"):
        F.nll_loss(t(2, 3), tg.tensor(np.array([0.0, 1.0], dtype=np.float16)))
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(t(2, 3), tg.tensor([0, 1]), label_smoothing=1.5)


def test_mse_and_bce_mismatch_name_both_shapes():
    for fn in (F.mse_loss, F.binary_cross_entropy, F.binary_cross_entropy_with_logits):
        with pytest.raises(ValueError, match=both((4, 1), (4,))):
            fn(t(4, 1), t(4))


@pytest.mark.parametrize("fn", [
    lambda r: F.mse_loss(t(2), t(2), reduction=r),
    lambda r: F.cross_entropy(t(2, 3), tg.tensor([0, 1]), reduction=r),
    lambda r: F.nll_loss(t(2, 3), tg.tensor([0, 1]), reduction=r),
    lambda r: F.binary_cross_entropy(t(2) * 0.5, t(2), reduction=r),
    lambda r: F.binary_cross_entropy_with_logits(t(2), t(2), reduction=r),
    lambda r: tg.nn.CrossEntropyLoss(reduction=r),
    lambda r: tg.nn.BCEWithLogitsLoss(reduction=r),
])
def test_unknown_reduction_refused(fn):
    with pytest.raises(ValueError, match="reduction must be one of"):
        fn("average")


def test_non_scalar_backward_says_so():
    x = tg.tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"scalar output.*\(2, 3\)"):
        (x * 2.0).backward()


def test_int_tensor_requires_grad_says_so():
    with pytest.raises(RuntimeError, match="only floating-point tensors can require gradients.*int64"):
        tg.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match="floating-point"):
        tg.zeros(3, dtype=tg.int32, requires_grad=True)


def test_shape_op_errors_name_shapes():
    with pytest.raises(ValueError, match=re.escape("(2, 3)") + ".*" + re.escape("(4, 2)")):
        t(2, 3).reshape(4, 2)
    with pytest.raises(ValueError, match="not a permutation"):
        t(2, 3).permute(0, 0)
    with pytest.raises(ValueError, match=both((2, 3), (4, 3))):
        t(2, 3).expand(4, 3)
    with pytest.raises(ValueError, match="gather"):
        t(2, 3).gather(1, tg.tensor([0, 1]))
    with pytest.raises(IndexError, match="out of range"):
        F.embedding(tg.tensor([0, 5]), t(5, 2))
    with pytest.raises(TypeError, match="integers"):
        F.embedding(t(2), t(5, 2))


def test_scalar_conversions():
    with pytest.raises(ValueError, match=r"one element.*\(3,\)"):
        t(3).item()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(t(3))
    with pytest.raises(TypeError, match="0-d"):
        len(t())


class FakeGPUArray(np.ndarray):
    """A NumPy array that backend takes for a CuPy one (its type lives in a 'cupy' module)."""


FakeGPUArray.__module__ = "cupy.fake"


def test_mixed_devices_message():
    cpu = tg.tensor(np.ones((2, 3)))
    gpu = tg.Tensor._wrap(np.ones((2, 3)).view(FakeGPUArray))
    assert gpu.device == "cuda" and cpu.device == "cpu"
    for op in (lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a @ b.T):
        with pytest.raises(RuntimeError, match=r"different devices: cpu .*\(2, 3\).* cuda"):
            op(cpu, gpu)


@pytest.mark.skipif(backend.gpu_available(), reason="checks the message shown without a GPU")
def test_cuda_without_gpu_is_a_clear_error():
    with pytest.raises(RuntimeError, match="CuPy or an NVIDIA GPU is not available"):
        t(2).to("cuda")
    with pytest.raises(ValueError, match="unknown device"):
        t(2).to("gpu0")
