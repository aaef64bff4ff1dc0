"""Image data (MNIST IDX files, CIFAR-10 pickled batches, generated shapes, digits at 28x28) and the
D2.T2 transforms. The loaders are tested on small files the tests write in the real formats."""
import gzip
import hashlib
import http.client
import io
import pickle

import numpy as np
import pytest
import torch

import tinygrad_lm as tg
from tinygrad_lm.data import DatasetError, transforms, vision
from tinygrad_lm.data.datasets import digits


def write_idx(path, array, gz=False):
    """An IDX file as the MNIST distribution has them: magic, big-endian sizes, raw bytes."""
    code = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D}[array.dtype]
    raw = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">i4").tobytes() + array.tobytes()
    with (gzip.open(f"{path}.gz", "wb") if gz else open(path, "wb")) as f:
        f.write(raw)


def test_mnist_reads_idx_files_gzipped_or_not(tmp_path):
    rng = np.random.default_rng(0)
    sets = {}
    for i, prefix in enumerate(("train", "t10k")):
        images = rng.integers(0, 256, (5 + i, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, 5 + i, dtype=np.uint8)
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte", images, gz=(i == 0))
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", labels)
        sets[prefix] = images, labels
    split = vision.mnist(tmp_path)
    assert split.x_train.shape == (5, 1, 28, 28) and split.x_test.shape == (6, 1, 28, 28)
    assert split.x_train.dtype == np.float32 and split.y_train.dtype == np.int64
    np.testing.assert_allclose(split.x_train[:, 0] * 255, sets["train"][0], atol=1e-4)
    np.testing.assert_array_equal(split.y_test, sets["t10k"][1])


def test_idx_and_missing_file_errors(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01")
    with pytest.raises(DatasetError, match="bad: not an IDX file"):
        vision.read_idx(tmp_path / "bad")
    write_idx(tmp_path / "short", np.zeros(4, np.uint8))
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-1])
    with pytest.raises(DatasetError, match="short: header promises shape"):
        vision.read_idx(tmp_path / "short")
    (tmp_path / "cut").write_bytes(bytes([0, 0, 0x08, 3, 0, 0]))  # three sizes announced, half of one given
    with pytest.raises(DatasetError, match="cut: IDX header cut short"):
        vision.read_idx(tmp_path / "cut")
    write_idx(tmp_path / "odd", np.zeros(3, ">f4"))
    (tmp_path / "odd").write_bytes((tmp_path / "odd").read_bytes() + b"\x00")  # not a whole number of floats
    with pytest.raises(DatasetError, match="odd: header promises"):
        vision.read_idx(tmp_path / "odd")
    write_idx(tmp_path / "truncated", np.zeros((2, 28, 28), np.uint8), gz=True)
    gz = (tmp_path / "truncated.gz").read_bytes()
    for name, raw in (("truncated.gz", gz[:len(gz) // 2]), ("notgzip.gz", b"plain bytes")):
        (tmp_path / name).write_bytes(raw)
        with pytest.raises(DatasetError, match=f"{name}: not a readable gzip file"):
            vision.read_idx(tmp_path / name)
    with pytest.raises(FileNotFoundError, match=r"not found in .*pass download_missing=True .*use digits28\(\) offline"):
        vision.mnist(tmp_path)


def write_mnist(root, images=None, labels=None, test_images=None, test_labels=None):
    """The four MNIST files in ``root``: small valid ones, unless replaced."""
    rng = np.random.default_rng(0)
    defaults = {"train-images-idx3-ubyte": images, "train-labels-idx1-ubyte": labels,
                "t10k-images-idx3-ubyte": test_images, "t10k-labels-idx1-ubyte": test_labels}
    for name, array in defaults.items():
        if array is None:
            array = rng.integers(0, 256, (4, 28, 28), dtype=np.uint8) if "images" in name else \
                rng.integers(0, 10, 4, dtype=np.uint8)
        write_idx(root / name, array)


@pytest.mark.parametrize("files, message", [
    (dict(images=np.zeros(784, np.uint8)), r"train-images-idx3-ubyte: holds an array of shape \(784,\), expected "
                                           r"images \(N, 28, 28\)"),
    (dict(images=np.zeros((4, 32, 32), np.uint8)), r"train-images-idx3-ubyte: holds an array of shape \(4, 32, 32\)"),
    (dict(test_images=np.zeros((4, 28, 28), ">f4")), r"t10k-images-idx3-ubyte: holds float32 pixels"),
    (dict(images=np.zeros((0, 28, 28), np.uint8), labels=np.zeros(0, np.uint8)),
     r"train-images-idx3-ubyte: holds no images"),
    (dict(labels=np.zeros(3, np.uint8)), r"train-labels-idx1-ubyte: 3 labels for the 4 images of .*train-images"),
    (dict(test_labels=np.zeros(5, np.uint8)), r"t10k-labels-idx1-ubyte: 5 labels for the 4 images"),
    (dict(labels=np.array([1, 2, 10, 3], np.uint8)),
     r"train-labels-idx1-ubyte: label 10 at index 2 is outside the 10 classes 0..9"),
    (dict(labels=np.zeros((2, 2), np.uint8)), r"train-labels-idx1-ubyte: labels must be a 1-D array"),
], ids=["1-D images", "32x32", "float pixels", "no images", "fewer labels", "more labels", "label 10", "2-D labels"])
def test_malformed_mnist_is_refused_naming_the_file(tmp_path, files, message):
    write_mnist(tmp_path, **files)
    with pytest.raises(DatasetError, match=message):
        vision.mnist(tmp_path)


def write_cifar_batch(path, data, labels):
    """A batch as CIFAR-10's python version stores it: a pickled dict with bytes keys."""
    batch = {b"batch_label": b"testing", b"labels": list(map(int, labels)), b"data": data,
             b"filenames": [b"x.png"] * len(labels)}
    path.write_bytes(pickle.dumps(batch, protocol=2))


def test_cifar10_reads_pickled_batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data, labels = rng.integers(0, 256, (3, 3072), dtype=np.uint8), rng.integers(0, 10, 3)
        write_cifar_batch(folder / name, data, labels)
        batches[name] = data, labels
    split = vision.cifar10(tmp_path)
    assert split.x_train.shape == (15, 3, 32, 32) and split.x_test.shape == (3, 3, 32, 32)
    np.testing.assert_allclose(split.x_train[3] * 255, batches["data_batch_2"][0][0].reshape(3, 32, 32), atol=1e-4)
    np.testing.assert_array_equal(split.y_test, batches["test_batch"][1])


def test_cifar_unpickler_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "evil").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}, protocol=2))
    with pytest.raises(DatasetError, match=r"evil: not a CIFAR-10 batch .*print, which is not allowed"):
        vision.load_cifar_batch(tmp_path / "evil")


def _cifar_bytes(data, labels):
    return pickle.dumps({b"labels": labels, b"data": data}, protocol=2)


@pytest.mark.parametrize("raw, message", [
    (b"", r"not a CIFAR-10 batch \(EOFError"),
    (_cifar_bytes(np.zeros((2, 3072), np.uint8), [0, 1])[:40], "not a CIFAR-10 batch"),
    (bytes(range(256)) * 4, "not a CIFAR-10 batch"),
    (pickle.dumps([1, 2, 3]), r"expected a dict with b'data' and b'labels'"),
    (_cifar_bytes(np.zeros(3072, np.uint8), [0]), r"data of shape \(3072,\), expected \(N, 3072\)"),
    (_cifar_bytes(np.zeros((2, 1024), np.uint8), [0, 1]), r"data of shape \(2, 1024\)"),
    (_cifar_bytes(np.zeros((0, 3072), np.uint8), []), "holds no images"),
    (_cifar_bytes(np.zeros((2, 3072), np.uint8), [0]), "1 labels for the 2 images"),
    (_cifar_bytes(np.zeros((2, 3072), np.uint8), [0, 1, 2]), "3 labels for the 2 images"),
    (_cifar_bytes(np.zeros((2, 3072), np.uint8), [0, -1]), r"label -1 at index 1 is outside the 10 classes"),
    (_cifar_bytes(np.full((2, 3072), 300), [0, 1]), r"pixels must be integers in 0..255, got int64 from 300 to 300"),
    (_cifar_bytes(np.zeros((2, 3072), np.float32), [0, 1]), "pixels must be integers"),
    (_cifar_bytes([[1, 2], [3]], [0, 1]), "data or labels are not arrays"),
], ids=["empty", "truncated", "random bytes", "a list", "1-D images", "wrong size", "no images", "fewer labels",
        "more labels", "negative label", "pixel 300", "float pixels", "ragged"])
def test_malformed_cifar_batch_is_refused_naming_the_file(tmp_path, raw, message):
    (tmp_path / "data_batch_1").write_bytes(raw)
    with pytest.raises(DatasetError, match="data_batch_1: .*" + message):
        vision.load_cifar_batch(tmp_path / "data_batch_1")


def test_missing_cifar_batches_are_named(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    write_cifar_batch(folder / "data_batch_1", np.zeros((1, 3072), np.uint8), [0])
    with pytest.raises(FileNotFoundError, match=r"data_batch_2, .*test_batch not found .*pass download_missing=True .*use shapes\(\) offline"):
        vision.cifar10(tmp_path)


def test_download_checks_the_checksum(tmp_path):
    src = tmp_path / "file.gz"
    src.write_bytes(b"some bytes")
    good = hashlib.md5(b"some bytes").hexdigest()
    assert vision.download(src.as_uri(), tmp_path / "out" / "a.gz", good).read_bytes() == b"some bytes"
    with pytest.raises(RuntimeError, match="MD5 mismatch"):
        vision.download(src.as_uri(), tmp_path / "out" / "b.gz", "0" * 32)
    assert not (tmp_path / "out" / "b.gz").exists()
    with pytest.raises(RuntimeError, match="could not download"):
        vision.download((tmp_path / "missing").as_uri(), tmp_path / "out" / "c.gz", good)


class _BrokenResponse(io.BytesIO):
    """A response whose body read fails with ``error``."""

    def __init__(self, error):
        super().__init__()
        self.error = error

    def read(self, n=-1):
        raise self.error


@pytest.mark.parametrize("error, raised", [(http.client.IncompleteRead(b"abc", 10), RuntimeError),
                                           (KeyboardInterrupt(), KeyboardInterrupt)], ids=["cut short", "ctrl-c"])
def test_an_interrupted_download_leaves_no_partial_file(tmp_path, monkeypatch, error, raised):
    monkeypatch.setattr(vision.urllib.request, "urlopen", lambda url, timeout: _BrokenResponse(error))
    with pytest.raises(raised):
        vision.download("https://example.invalid/a.gz", tmp_path / "a.gz", "0" * 32)
    assert list(tmp_path.iterdir()) == []


def test_generated_shapes_are_balanced_and_reproducible():
    a, b = vision.shapes(300, 100, seed=1), vision.shapes(300, 100, seed=1)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert a.x_train.shape == (300, 3, 32, 32) and a.x_train.dtype == np.float32
    assert 0 <= a.x_train.min() and a.x_train.max() <= 1
    assert set(np.unique(a.y_train)) == set(range(10)) and len(vision.SHAPES_CLASSES) == 10
    assert not np.array_equal(vision.shapes(300, 100, seed=2).x_train, a.x_train)


def test_digits28_is_digits_resized():
    split, base = vision.digits28(), digits()
    assert split.x_train.shape == (len(base.x_train), 1, 28, 28)
    np.testing.assert_array_equal(split.y_test, base.y_test)
    ref = torch.nn.functional.interpolate(torch.tensor(base.x_test[:5].reshape(-1, 1, 8, 8) / 16), size=(28, 28),
                                          mode="bilinear", align_corners=False)
    np.testing.assert_allclose(split.x_test[:5], ref.numpy(), atol=1e-6)


# ---------------------------------------------------------------- D2.T2 transforms
@pytest.mark.parametrize("size", [(28, 28), (5, 13), (3, 3)])
def test_resize_is_torch_bilinear(size):
    x = np.random.default_rng(0).random((2, 3, 8, 11)).astype(np.float32)
    ref = torch.nn.functional.interpolate(torch.tensor(x), size=size, mode="bilinear", align_corners=False)
    out = transforms.Resize(size)(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, ref.numpy(), atol=1e-6)
    np.testing.assert_allclose(transforms.Resize(size)(x[0]), ref.numpy()[0], atol=1e-6)


def test_normalize_per_channel():
    x = np.random.default_rng(0).random((4, 3, 5, 5)).astype(np.float32)
    out = transforms.Normalize([0.1, 0.2, 0.3], [0.5, 1.0, 2.0])(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[:, 2], (x[:, 2] - 0.3) / 2.0, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="positive std"):
        transforms.Normalize([0.0], [0.0])


def test_random_crop_takes_a_window_of_the_padded_image():
    x = np.arange(2 * 1 * 6 * 6, dtype=np.float32).reshape(2, 1, 6, 6) + 1
    tg.manual_seed(3)
    out = transforms.RandomCrop(6, padding=2)(x)
    assert out.shape == x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    for n in range(2):  # each output is some 6x6 window of its own padded image
        windows = [padded[n, :, i:i + 6, j:j + 6] for i in range(5) for j in range(5)]
        assert any(np.array_equal(out[n], w) for w in windows)
    np.testing.assert_array_equal(transforms.RandomCrop(6)(x), x)
    tg.manual_seed(3)
    np.testing.assert_array_equal(transforms.RandomCrop(6, padding=2)(x), out)  # reproducible from the seed
    with pytest.raises(ValueError, match="larger"):
        transforms.RandomCrop(9)(x)


def test_random_horizontal_flip_and_compose():
    x = np.random.default_rng(0).random((8, 3, 4, 5))
    np.testing.assert_array_equal(transforms.RandomHorizontalFlip(p=1.0)(x), x[..., ::-1])
    np.testing.assert_array_equal(transforms.RandomHorizontalFlip(p=0.0)(x), x)
    out = transforms.RandomHorizontalFlip(p=0.5, rng=np.random.default_rng(1))(x)
    flipped = [np.array_equal(o, xi[..., ::-1]) for o, xi in zip(out, x, strict=True)]
    assert all(f or np.array_equal(o, xi) for f, o, xi in zip(flipped, out, x, strict=True)) and 0 < sum(flipped) < 8
    chain = transforms.Compose([transforms.Resize(8), transforms.Normalize([0.5], [0.25])])
    np.testing.assert_allclose(chain(x), (transforms.Resize(8)(x) - 0.5) / 0.25)
    with pytest.raises(ValueError, match="p must be"):
        transforms.RandomHorizontalFlip(p=2)
