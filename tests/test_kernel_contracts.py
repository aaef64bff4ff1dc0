"""Every kernel checks its arguments at its Python entry (backend.contract): a Numba or CUDA kernel has no
bounds checks, so an array of the wrong shape would read or write outside a buffer. Each case below hands
one implementation good arguments with one of them broken and expects a clear error naming the kernel."""
import numpy as np
import pytest

from tinygrad_lm import backend
from tinygrad_lm.kernels import optim as optim_kernels

rng = np.random.default_rng(0)


def f64(*shape):
    return rng.standard_normal(shape)


def recurrence(gates, T=3, B=2, H=4):
    states = (f64(B, H),) * (2 if gates == 4 else 1)
    return (f64(T, B, gates * H), f64(gates * H, H), f64(gates * H), *states, np.ones((T, B), bool), np.ones((B, H)))


ADAM = optim_kernels.constants(np.dtype(np.float64), 1, 0.1, 0.9, 0.999, 1e-8, 0.0, False)
GEOM = (1, 1, 0, 0, 1, 1)
# kernel -> (arguments that work, {what is broken: arguments with it broken}), or a function of the
# implementation giving them (backward kernels take what their forward saved)
CASES = {
    "gelu_forward": ((f64(3, 4),), {"int input": (np.ones((3, 4), int),)}),
    "gelu_backward": ((f64(3, 4), f64(3, 4), f64(3, 4)), {"g too short": (f64(3, 4), f64(3, 4), f64(2, 4))}),
    "adam_step": ((f64(2, 3), f64(2, 3), f64(2, 3), np.abs(f64(2, 3)), None, ADAM),
                  {"state of another parameter": (f64(2, 3000), f64(2, 3000), f64(2, 3), f64(2, 3), None, ADAM),
                   "float32 state": (f64(2, 3), f64(2, 3), f64(2, 3).astype(np.float32), f64(2, 3), None, ADAM)}),
    "layer_norm_forward": ((f64(5, 4), f64(4), f64(4), 1e-5), {"weight too long": (f64(5, 4), f64(6), f64(4), 1e-5)}),
    "layer_norm_backward": ((f64(5, 4), f64(4), f64(5), f64(5), f64(5, 4)),
                            {"mean of 3 rows": (f64(5, 4), f64(4), f64(3), f64(5), f64(5, 4))}),
    "batch_norm_forward": ((f64(4, 3, 5), f64(3), f64(3), 1e-5),
                           {"weight of 4 channels": (f64(4, 3, 5), f64(4), f64(3), 1e-5),
                            "2-D input": (f64(4, 3), f64(3), f64(3), 1e-5)}),
    "batch_norm_backward": ((f64(4, 3, 5), f64(3), f64(3), f64(3), f64(4, 3, 5), True),
                            {"invstd of 2 channels": (f64(4, 3, 5), f64(3), f64(3), f64(2), f64(4, 3, 5), True),
                             "g one value short": (f64(4, 3, 5), f64(3), f64(3), f64(3), f64(4, 3, 4), True)}),
    "cross_entropy_forward": ((f64(4, 3), np.array([0, 2, 1, -100]), np.ones(3), -100, 0.0),
                              {"target 3 of 3 classes": (f64(4, 3), np.array([0, 3, 1, 1]), np.ones(3), -100, 0.0),
                               "negative target": (f64(4, 3), np.array([0, -1, 1, 1]), np.ones(3), -100, 0.0),
                               "float target": (f64(4, 3), np.zeros(4), np.ones(3), -100, 0.0),
                               "short target": (f64(4, 3), np.array([0, 1]), np.ones(3), -100, 0.0)}),
    "attention_forward": ((f64(2, 3, 4), f64(2, 5, 4), f64(2, 5, 6), None, 0.5, False, None),
                          {"k of another width": (f64(2, 3, 4), f64(2, 5, 3), f64(2, 5, 6), None, 0.5, False, None),
                           "mask of another length": (f64(2, 3, 4), f64(2, 5, 4), f64(2, 5, 6), f64(1, 3, 4), 0.5,
                                                      False, None)}),
    "conv2d_forward": ((f64(2, 3, 6, 6), f64(4, 3, 3, 3), GEOM, 1),
                       {"channels": (f64(2, 2, 6, 6), f64(4, 3, 3, 3), GEOM, 1),
                        "stride 0": (f64(2, 3, 6, 6), f64(4, 3, 3, 3), (0, 1, 0, 0, 1, 1), 1),
                        "kernel larger than input": (f64(2, 3, 2, 2), f64(4, 3, 3, 3), GEOM, 1),
                        "bias of 3 channels": (f64(2, 3, 6, 6), f64(4, 3, 3, 3), GEOM, 1, f64(3))}),
    "max_pool2d_forward": ((f64(2, 3, 6, 6), GEOM, (2, 2), (5, 5)),
                           {"output too large": (f64(2, 3, 6, 6), (1, 1, 0, 0, 1, 1), (2, 2), (9, 9))}),
    "max_pool2d_backward": ((f64(2, 3, 3, 3), np.zeros((2, 3, 3, 3), np.int32), (2, 3, 6, 6)),
                            {"index past the plane": (f64(2, 3, 3, 3), np.full((2, 3, 3, 3), 36, np.int32),
                                                      (2, 3, 6, 6)),
                             "indices of another shape": (f64(2, 3, 3, 3), np.zeros((2, 3, 2, 3), np.int32),
                                                          (2, 3, 6, 6))}),
    "avg_pool2d_forward": ((f64(2, 3, 6, 6), (2, 2, 0, 0, 1, 1), (2, 2), (3, 3), True),
                           {"3-D input": (f64(3, 6, 6), (2, 2, 0, 0, 1, 1), (2, 2), (3, 3), True)}),
    "avg_pool2d_backward": ((f64(2, 3, 3, 3), (2, 3, 6, 6), (2, 2, 0, 0, 1, 1), (2, 2), True),
                            {"g of another batch": (f64(1, 3, 3, 3), (2, 3, 6, 6), (2, 2, 0, 0, 1, 1), (2, 2), True)}),
    "adaptive_avg_pool2d_forward": ((f64(2, 3, 6, 6), (2, 2)), {"output size 0": (f64(2, 3, 6, 6), (0, 2))}),
    "adaptive_avg_pool2d_backward": ((f64(2, 3, 2, 2), (2, 3, 6, 6)), {"g of 2 channels": (f64(2, 2, 2, 2),
                                                                                         (2, 3, 6, 6))}),
    "rnn_forward": ((*recurrence(1), False, "tanh"), {"h0 of another batch": (
        *recurrence(1)[:3], f64(3, 4), *recurrence(1)[4:], False, "tanh")}),
    "lstm_forward": ((*recurrence(4), False), {"c0 of another width": (*recurrence(4)[:4], f64(2, 5),
                                                                      *recurrence(4)[5:], False),
                                               "W_hh of 3 gates": (recurrence(4)[0], f64(12, 4),
                                                                   *recurrence(4)[2:], False)}),
    "gru_forward": ((*recurrence(3), False), {"mask of floats": (*recurrence(3)[:4], np.ones((3, 2)),
                                                                 recurrence(3)[5], False)}),
}


def _recurrent_backward(kind, gates):
    def case(impl):
        args = recurrence(gates)
        extra = ("tanh",) if kind == "rnn" else ()
        packed, saved = backend.kernel(f"{kind}_forward", impl=impl)(*args, False, *extra)
        good = (np.ones_like(packed), saved, args[1], args[-2], args[-1], False, *extra)
        return good, {"g one step short": (np.ones_like(packed[1:]), *good[1:]),
                      "saved of another batch": (good[0], tuple(a[:, :1] for a in saved), *good[2:])}
    return case


def _attention_backward(impl):
    q, k, v = f64(2, 3, 4), f64(2, 5, 4), f64(2, 5, 6)
    out, p = backend.kernel("attention_forward", impl=impl)(q, k, v, None, 0.5, False, None)
    good = (q, k, v, p, None, 0.5, np.ones_like(out), False, False)
    return good, {"g of another width": (q, k, v, p, None, 0.5, np.ones((2, 3, 4)), False, False),
                  "p of another length": (q, k, v, p[:, :, :4], None, 0.5, np.ones_like(out), False, False)}


def _conv_backward(impl):
    x, w = f64(2, 3, 6, 6), f64(4, 3, 3, 3)
    y, saved = backend.kernel("conv2d_forward", impl=impl)(x, w, GEOM, 1)
    good = (np.ones_like(y), x, w, saved, GEOM, 1, True, True)
    return good, {"g of another size": (np.ones((2, 4, 5, 5)), *good[1:])}


def _cross_entropy_backward(impl):
    x, t, w = f64(4, 3), np.array([0, 2, 1, -100]), np.ones(3)
    _, lse = backend.kernel("cross_entropy_forward", impl=impl)(x, t, w, -100, 0.0)
    good = (x, lse, t, w, -100, 0.0, np.ones(4))
    return good, {"lse of 3 rows": (x, lse[:3], t, w, -100, 0.0, np.ones(4)),
                  "target out of range": (x, lse, np.array([0, 7, 1, 1]), w, -100, 0.0, np.ones(4))}


CASES.update({"rnn_backward": _recurrent_backward("rnn", 1), "lstm_backward": _recurrent_backward("lstm", 4),
              "gru_backward": _recurrent_backward("gru", 3), "attention_backward": _attention_backward,
              "conv2d_backward": _conv_backward, "cross_entropy_backward": _cross_entropy_backward})


def test_every_kernel_has_a_contract_and_a_case():
    names = {name for name, _ in backend._KERNELS}
    assert names == set(backend._CONTRACTS), names ^ set(backend._CONTRACTS)
    assert names == set(CASES), names ^ set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("impl", ["plain", "cpu"])
def test_broken_arguments_are_refused_by_name(name, impl):
    good, broken = CASES[name](impl) if callable(CASES[name]) else CASES[name]
    fn = backend.kernel(name, impl=impl)
    fn(*good)  # the good arguments pass the contract and run
    for what, args in broken.items():
        with pytest.raises((ValueError, TypeError, IndexError), match=f"kernel {name}: ") as info:
            fn(*args)
        assert "Numba" not in str(info.value) and "numba" not in type(info.value).__module__, what
