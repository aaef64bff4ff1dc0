"""The names a PyTorch user types first, held to PyTorch: from_numpy, device, cuda.is_available,
inference_mode, F.one_hot, F.pad, save/load, state_dict() of tensors, utils.data."""
from __future__ import annotations

import io
import os
import pickle
import zipfile

import hypothesis.strategies as st
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import assume, example, given, settings

import tinygrad_lm as tg
import tinygrad_lm.nn.functional as F
from tinygrad_lm import nn

EPS64 = np.finfo(np.float64).eps


# ------------------------------------------------------------------ from_numpy
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int32, np.int64, np.bool_, np.uint8])
def test_from_numpy_shares_memory_and_keeps_dtype(dtype):
    a = np.arange(6).reshape(2, 3).astype(dtype)
    t = tg.from_numpy(a)
    assert t.dtype == a.dtype == torch.from_numpy(a).numpy().dtype  # kept, as torch keeps it
    assert not t.requires_grad and t.shape == (2, 3)
    a[0, 0] = 1  # a change to one shows in the other, both ways
    assert t[0, 0].item() == a[0, 0]
    with tg.no_grad():
        t[1, 2] = 0
    assert a[1, 2] == 0


def test_from_numpy_refuses_what_torch_refuses():
    for bad in ([1, 2], 3.0, tg.ones(2)):
        with pytest.raises(TypeError, match="expected np.ndarray"):
            tg.from_numpy(bad)
        with pytest.raises(TypeError):
            torch.from_numpy(bad)
    with pytest.raises(TypeError, match="object"):
        tg.from_numpy(np.array([None, 1]))


# ------------------------------------------------------------------ device
@pytest.mark.parametrize("args", [("cpu",), ("cuda",), ("cuda:0",), ("cuda", 1), ("cpu", 0)])
def test_device_like_torch(args):
    ours, theirs = tg.device(*args), torch.device(*args)
    assert (ours.type, ours.index, str(ours), repr(ours)) == (theirs.type, theirs.index, str(theirs), repr(theirs))
    assert ours == tg.device(str(theirs)) and tg.device(ours) is ours
    assert ours == str(theirs)  # unlike torch.device, it also equals its name (t.device == "cpu" keeps working)
    assert pickle.loads(pickle.dumps(ours)) == ours and type(pickle.loads(pickle.dumps(ours))) is tg.device


@pytest.mark.parametrize("bad", ["foo", "cuda:x", "cuda:-1", ""])
def test_device_errors_like_torch(bad):
    with pytest.raises(RuntimeError):
        torch.device(bad)
    with pytest.raises(RuntimeError, match="device"):
        tg.device(bad)
    with pytest.raises(ValueError, match="index"):
        tg.device("cuda:0", 1)


def test_device_is_accepted_wherever_a_device_name_is():
    cpu = tg.device("cpu")
    x = tg.zeros(2, 3, device=cpu)
    assert x.device == cpu and x.device.type == "cpu" and x.device == "cpu" and x.device.index is None
    assert tg.tensor([1.0], device=cpu).to(cpu).device == "cpu"
    assert tg.randn(2, device=cpu).device == tg.device("cpu")
    model = nn.Linear(2, 2).to(cpu)
    assert next(model.parameters()).device.type == "cpu"
    assert repr(x.device) == repr(torch.zeros(1).device)
    if not tg.cuda.is_available():
        with pytest.raises(RuntimeError, match="not available"):
            tg.zeros(2, device=tg.device("cuda"))


def test_cuda_is_available():
    assert tg.cuda.is_available() is tg.cuda_is_available()
    assert isinstance(tg.cuda.device_count(), int)
    assert (tg.cuda.device_count() > 0) == tg.cuda.is_available()


@pytest.mark.gpu
def test_the_names_on_the_gpu(tmp_path):
    """pad (forward and backward), one_hot, device and save/load with CuPy arrays: the same as on the CPU."""
    cuda = tg.device("cuda:0")
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    for mode in ("constant", "reflect", "replicate", "circular"):
        on_cpu, on_gpu = tg.tensor(x, requires_grad=True), tg.tensor(x, requires_grad=True, device=cuda)
        for t in (on_cpu, on_gpu):
            (F.pad(t, (2, 1, -1, 2), mode=mode) * tg.arange(7.0, dtype=tg.float64, device=t.device)).sum().backward()
        assert on_gpu.device == "cuda" and on_gpu.device.type == "cuda"
        # at most 3 x 3 copies per element, each weighted by at most 6: a sum of 9 terms below 54 in all
        np.testing.assert_allclose(on_gpu.grad.numpy(), on_cpu.grad.numpy(), rtol=0, atol=9 * EPS64 * 54)
    hot = F.one_hot(tg.tensor([2, 0], device=cuda), 3)
    assert hot.device == "cuda" and hot.tolist() == [[0, 0, 1], [1, 0, 0]]
    tg.save({"w": tg.ones(2, device=cuda)}, tmp_path / "w.pt")
    assert tg.load(tmp_path / "w.pt")["w"].device == "cpu"
    assert tg.load(tmp_path / "w.pt", map_location="cuda")["w"].device == "cuda"


# ------------------------------------------------------------------ inference_mode
def test_inference_mode_as_context_and_decorator():
    x = tg.ones(3, requires_grad=True)
    with tg.inference_mode():
        assert not (x * 2).requires_grad and not tg.is_grad_enabled()
    assert (x * 2).requires_grad and tg.is_grad_enabled()

    @tg.inference_mode()
    def called(t):
        return t * 2

    @tg.inference_mode
    def bare(t):
        return t * 2

    assert not called(x).requires_grad and not bare(x).requires_grad
    with tg.inference_mode(False):
        assert (x * 2).requires_grad
    with pytest.raises(KeyError), tg.inference_mode():  # restored on an exception
        raise KeyError
    assert tg.is_grad_enabled()
    with tg.no_grad(), tg.inference_mode(False):  # mode=False leaves the outer mode alone, as torch
        assert not (x * 2).requires_grad

    @tg.inference_mode()
    def recurse(n):  # one decorator object, nested calls: each restores what it found
        return recurse(n - 1) if n else tg.is_grad_enabled()

    assert recurse(3) is False and tg.is_grad_enabled()


# ------------------------------------------------------------------ one_hot
@settings(max_examples=30, deadline=None)
@given(shape=st.lists(st.integers(0, 4), max_size=3), classes=st.integers(1, 6), infer=st.booleans(),
       seed=st.integers(0, 2 ** 31))
def test_one_hot_matches_torch(shape, classes, infer, seed):
    idx = np.random.default_rng(seed).integers(0, classes, size=shape)
    if infer and idx.size == 0:
        infer = False
    k = -1 if infer else classes
    ours, theirs = F.one_hot(tg.tensor(idx), k), TF.one_hot(torch.tensor(idx), k)
    assert ours.dtype == np.int64 and ours.shape == tuple(theirs.shape)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.parametrize("values, k, match", [([0, -1], 3, "non-negative"), ([0, 3], 3, "smaller than num_classes"),
                                              ([], -1, "empty"), ([0.0, 1.0], -1, "LongTensor"),
                                              ([0, 1], -2, "smaller than num_classes")])
def test_one_hot_errors_like_torch(values, k, match):
    dtype = np.float32 if isinstance(values[0] if values else 0, float) else np.int64
    with pytest.raises(RuntimeError, match=match):
        F.one_hot(tg.tensor(np.array(values, dtype=dtype)), k)
    with pytest.raises(RuntimeError, match=f"(?i){match.split()[0]}"):
        TF.one_hot(torch.tensor(np.array(values, dtype=dtype)), k)


# ------------------------------------------------------------------ pad
@settings(max_examples=80, deadline=None)
@given(mode=st.sampled_from(["constant", "reflect", "replicate", "circular"]), k=st.integers(1, 3),
       batch=st.booleans(), sizes=st.lists(st.integers(1, 5), min_size=5, max_size=5), seed=st.integers(0, 2 ** 31))
@example(mode="replicate", k=1, batch=False, sizes=[1, 1, 1, 1, 1], seed=9363)  # (1, 1) by (0, -1): torch refuses
def test_pad_matches_torch_forward_and_backward(mode, k, batch, sizes, seed):
    """Pads drawn around each mode's limits, negative (cropping) ones included: where torch refuses, so must we."""
    rng = np.random.default_rng(seed)
    shape = tuple(sizes[:k + 1 + batch])
    pads = tuple(int(p) for n in reversed(shape[-k:]) for p in rng.integers(-min(n, 3), n + 2, size=2))
    # torch's circular mode reads outside its buffer where a pad wraps past what negative pads left (garbage
    # values, or an error): we refuse those (see test_pad_errors_like_torch)
    pairs = zip(reversed(shape[-k:]), zip(pads[::2], pads[1::2], strict=True), strict=True)
    assume(mode != "circular" or all(max(lo, hi) <= n + min(lo, 0) + min(hi, 0) for n, (lo, hi) in pairs))
    x = rng.standard_normal(shape)
    value = {"value": float(rng.standard_normal())} if mode == "constant" else {}
    theirs_x = torch.tensor(x, requires_grad=True)
    ours_x = tg.tensor(x, requires_grad=True)
    try:
        theirs = TF.pad(theirs_x, pads, mode=mode, **value)
    except RuntimeError:
        with pytest.raises(RuntimeError):
            F.pad(ours_x, pads, mode=mode, **value)
        return
    ours = F.pad(ours_x, pads, mode=mode, **value)
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_array_equal(ours.numpy(), theirs.detach().numpy())  # a copy: exact
    g = rng.standard_normal(ours.shape)
    ours.backward(tg.tensor(g))
    theirs.backward(torch.tensor(g))
    # an input gradient sums at most 3 copies per padded axis (itself, a mirror or wrap, an edge): 3**k
    # terms, each addition rounding by eps of the running sum
    terms = 3 ** k
    np.testing.assert_allclose(ours_x.grad.numpy(), theirs_x.grad.numpy(), rtol=0,
                               atol=terms * EPS64 * terms * max(np.abs(g).max(initial=0), 1))


@pytest.mark.parametrize("mode, pads", [("constant", (1, -1, 2, 0)), ("reflect", (2, 1, -1, 2)),
                                        ("replicate", (3, 0, 1, 2)), ("circular", (1, -1, 2, 3))])
def test_pad_gradcheck(mode, pads):
    x = tg.tensor(np.random.default_rng(1).standard_normal((2, 3, 4)), requires_grad=True)
    assert tg.gradcheck(lambda t: F.pad(t, pads, mode=mode), [x])


def test_pad_torch_order_last_dim_first():
    x = tg.ones(2, 3)
    assert F.pad(x, (1, 2)).shape == (2, 6)
    assert F.pad(x, (1, 2, 3, 0)).shape == (5, 6)
    assert F.pad(tg.ones(1, 2, 3), (0, 0, 1, 1), mode="reflect").shape == (1, 4, 3)
    assert F.pad(tg.ones(2, dtype=tg.int64), (1, 1), value=7).tolist() == [7, 1, 1, 7]


@pytest.mark.parametrize("shape, pads, mode, exc, match", [
    ((1, 2, 3), (3, 3), "reflect", RuntimeError, "less than the corresponding input dimension"),
    ((1, 2, 3), (1, 3), "reflect", RuntimeError, "less than the corresponding input dimension"),
    ((1, 1, 5), (6, 0), "circular", RuntimeError, "wrapping around more than once"),
    ((1, 1, 2), (-1, 2), "circular", RuntimeError, "wrapping around more than once"),
    ((1, 1, 1), (-1, 0), "reflect", RuntimeError, "too small"),
    ((1, 3), (0, -3), "replicate", RuntimeError, "too small"),
    ((1, 1, 3, 3), (0, -3, 0, -3), "reflect", RuntimeError, "too small"),
    ((3,), (1, 1), "reflect", NotImplementedError, "1D input"),
    ((1, 1, 2, 3), (1, 1), "replicate", NotImplementedError, "4D input"),
    ((1, 2, 3), (1,), "constant", RuntimeError, "divisible by 2"),
    ((1, 2, 3), (1,) * 8, "constant", RuntimeError, "two times the input dimension"),
    ((1, 2, 3), (1, 1), "wrap", NotImplementedError, "padding mode"),
    ((1, 2, 3), (-2, -2), "constant", RuntimeError, "negative size"),
])
def test_pad_errors_like_torch(shape, pads, mode, exc, match):
    with pytest.raises(exc, match=match):
        F.pad(tg.ones(*shape), pads, mode=mode)
    with pytest.raises((RuntimeError, NotImplementedError)):  # torch refuses it too
        TF.pad(torch.ones(*shape), pads, mode=mode)
    with pytest.raises(RuntimeError, match="value"):
        F.pad(tg.ones(1, 2, 3), (1, 1), mode="reflect", value=1.0)


# ------------------------------------------------------------------ state_dict of tensors
def test_state_dict_holds_detached_tensors_sharing_memory():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    sd = model.state_dict()
    assert list(sd) == list(torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(),
                                                torch.nn.Linear(4, 2)).state_dict())
    assert all(type(v) is tg.Tensor and not v.requires_grad and v.is_leaf for v in sd.values())
    assert sd["0.weight"].numpy().sum() == model[0].weight.numpy().sum()
    with tg.no_grad():
        model[0].weight[0, 0] = 42.0  # the same memory, as torch's state_dict
    assert sd["0.weight"][0, 0].item() == 42.0
    assert model.state_dict(keep_vars=True)["0.weight"] is model[0].weight
    twin = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    twin.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in sd.items()})
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_allclose(model(tg.tensor(x)).numpy(), twin(torch.tensor(x)).detach().numpy(), rtol=1e-6)


@pytest.mark.parametrize("convert", [lambda v: v, lambda v: v.numpy(), lambda v: torch.from_numpy(v.numpy().copy())])
def test_load_state_dict_takes_tensors_arrays_and_torch_tensors(convert):
    a, b = nn.Linear(3, 2), nn.Linear(3, 2)
    b.load_state_dict({k: convert(v) for k, v in a.state_dict().items()})
    for k, v in a.state_dict().items():
        np.testing.assert_array_equal(b.state_dict()[k].numpy(), v.numpy())


# ------------------------------------------------------------------ save / load
def _trained():
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    opt = tg.optim.Adam(model.parameters(), lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        model(tg.randn(5, 3)).sum().backward()
        opt.step()
    return model, opt


def test_save_load_state_dicts_round_trip(tmp_path):
    model, opt = _trained()
    path = tmp_path / "model.pt"
    tg.save({"model": model.state_dict(), "optim": opt.state_dict(), "epoch": 3, "note": None}, path)
    assert sorted(os.listdir(tmp_path)) == ["model.pt"]  # the exact name, no temporary left
    back = tg.load(path)
    assert back["epoch"] == 3 and back["note"] is None
    fresh = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    fresh.load_state_dict(back["model"])
    for k, v in model.state_dict().items():
        assert isinstance(back["model"][k], tg.Tensor) and back["model"][k].dtype == v.dtype
        np.testing.assert_array_equal(back["model"][k].numpy(), v.numpy())
    fresh_opt = tg.optim.Adam(fresh.parameters(), lr=0.5)
    fresh_opt.load_state_dict(back["optim"])  # int keys of 'state', param_groups' lists all come back
    assert fresh_opt.param_groups[0]["lr"] == 0.1 and set(back["optim"]["state"]) == {0, 1, 2, 3}
    with np.load(path, allow_pickle=False) as z:  # plain arrays named by their paths
        assert "model/0.weight" in z.files
        np.testing.assert_array_equal(z["model/0.weight"], model[0].weight.numpy())


def test_save_load_single_tensor_tuple_and_file_object(tmp_path):
    t = tg.tensor([[1, 2], [3, 4]], dtype=tg.int32)
    tg.save(t, tmp_path / "t.pt")
    back = tg.load(tmp_path / "t.pt", map_location=tg.device("cpu"))
    assert back.dtype == np.int32 and back.tolist() == [[1, 2], [3, 4]]
    buf = io.BytesIO()
    tg.save((np.float32(2.5), [t, np.ones(2)], {"requires": tg.ones(2, requires_grad=True)}), buf)
    buf.seek(0)
    scalar, (t2, arr), d = tg.load(buf, weights_only=True)
    assert scalar == np.float32(2.5) and scalar.dtype == np.float32 and isinstance(arr, np.ndarray)
    assert isinstance(t2, tg.Tensor) and d["requires"].requires_grad


def test_save_refuses_what_needs_pickle_and_keeps_the_old_file(tmp_path):
    path = tmp_path / "sd.pt"
    tg.save({"w": tg.ones(2)}, path)
    before = path.read_bytes()
    with pytest.raises(TypeError, match="state_dict"):
        tg.save(nn.Linear(2, 2), path)
    with pytest.raises(TypeError, match="without pickle"):
        tg.save({"w": tg.ones(2), "f": print}, path)
    with pytest.raises(TypeError, match="key"):
        tg.save({("a", 1): tg.ones(2)}, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["sd.pt"]


def test_load_refuses_other_files(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a file written by tinygrad_lm.save"):
        tg.load(junk)
    np.savez(tmp_path / "plain.npz", a=np.ones(2))
    with pytest.raises(ValueError, match="not written by tinygrad_lm.save"):
        tg.load(tmp_path / "plain.npz")
    np.savez(tmp_path / "objects.npz", a=np.array([None, print], dtype=object))
    with pytest.raises(ValueError, match="Python objects"):
        tg.load(tmp_path / "objects.npz")
    with pytest.raises(FileNotFoundError):
        tg.load(tmp_path / "missing.pt")
    with zipfile.ZipFile(tmp_path / "objects.npz") as z:
        assert z.namelist() == ["a.npy"]


def test_load_points_at_load_checkpoint(tmp_path):
    from tinygrad_lm.train import save_checkpoint

    model, opt = _trained()
    save_checkpoint(tmp_path / "checkpoint.npz", model, opt)
    with pytest.raises(ValueError, match="load_checkpoint"):
        tg.load(tmp_path / "checkpoint.npz")


# ------------------------------------------------------------------ utils.data
def test_utils_data_is_torch_utils_data():
    import tinygrad_lm.utils.data as tud
    from tinygrad_lm.utils.data import DataLoader, Dataset, TensorDataset

    assert (DataLoader, Dataset, TensorDataset) == (tg.data.DataLoader, tg.data.Dataset, tg.data.TensorDataset)
    assert tg.utils.data is tud
    x, y = np.arange(20.0).reshape(10, 2).astype(np.float32), np.arange(10)
    ours = list(DataLoader(TensorDataset(tg.from_numpy(x), tg.tensor(y)), batch_size=4))
    theirs = list(torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(x), torch.tensor(y)),
                                              batch_size=4))
    assert len(ours) == len(theirs) == 3
    for (xb, yb), (txb, tyb) in zip(ours, theirs, strict=True):
        assert isinstance(xb, tg.Tensor) and isinstance(yb, tg.Tensor) and yb.dtype == np.int64
        np.testing.assert_array_equal(xb.numpy(), txb.numpy())
        np.testing.assert_array_equal(yb.numpy(), tyb.numpy())

    class Squares(tud.Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return tg.tensor([float(i)]), i * i

    xb, yb = next(iter(DataLoader(Squares(), batch_size=5)))
    assert xb.shape == (5, 1) and yb.tolist() == [0, 1, 4, 9, 16]


# ------------------------------------------------------------------ docs/pytorch_users.md
PAGE = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "pytorch_users.md")
RESOLVE = r'''
import json, re, sys
import numpy as np, torch, torch.nn.functional as TF
import tinygrad_lm as tg
import tinygrad_lm.nn.functional as F
from tinygrad_lm import nn, train, viz  # the page's own import block, nothing more

lin = nn.Linear(2, 2)
ours = dict(tg=tg, nn=nn, F=F, train=train, viz=viz, x=tg.ones(2, 2, requires_grad=True), model=lin,
            opt=tg.optim.SGD(lin.parameters(), lr=0.1),
            loader=tg.utils.data.DataLoader(tg.utils.data.TensorDataset(tg.ones(2)), batch_size=1))
tlin = torch.nn.Linear(2, 2)
theirs = dict(torch=torch, nn=torch.nn, F=TF, x=torch.ones(2, 2, requires_grad=True), model=tlin,
              opt=torch.optim.SGD(tlin.parameters(), lr=0.1),
              loader=torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.ones(2)), batch_size=1))
NAME = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
rows, missing = 0, []
for line in open(sys.argv[1], encoding="utf-8"):
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if not line.startswith("|") or len(cells) != 3 or cells[0] in ("PyTorch", "---"):
        continue
    rows += 1
    for column, roots, strict in ((cells[0], theirs, False), (cells[1], ours, True)):
        for span in re.findall(r"`([^`]+)`", column):
            root, *attrs = NAME.match(span).group(0).split(".")
            if root not in roots:
                if strict:
                    missing.append(f"{span} (unknown root {root!r})")
                continue
            obj = roots[root]
            for a in attrs:
                if not hasattr(obj, a):
                    missing.append(f"{span} ({'torch' if roots is theirs else 'tinygrad_lm'})")
                    break
                obj = getattr(obj, a)
print(json.dumps({"rows": rows, "missing": missing}))
'''


def test_every_name_on_the_pytorch_page_exists_in_both_libraries():
    """Each table row of docs/pytorch_users.md: the PyTorch names exist in torch and ours in tinygrad_lm,
    resolved in a fresh interpreter that imports only what the page's import block does."""
    import json
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", RESOLVE, PAGE], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["rows"] >= 50, result  # the tables were parsed
    assert result["missing"] == [], result["missing"]


@pytest.mark.parametrize("mode", ["reflect", "replicate"])
def test_pad_may_empty_one_of_several_padded_dimensions_as_torch(mode):
    """torch refuses reflect / replicate only when every padded dimension would be empty."""
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    ours = F.pad(tg.tensor(x), (0, 0, 0, -3), mode=mode)
    assert ours.shape == tuple(TF.pad(torch.tensor(x), (0, 0, 0, -3), mode=mode).shape) == (1, 1, 0, 3)
