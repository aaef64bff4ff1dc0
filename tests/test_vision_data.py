"""Image data (MNIST IDX files, CIFAR-10 pickled batches, generated shapes, digits at 28x28) and the
D2.T2 transforms. The loaders are tested on small files the tests write in the real formats."""
import gzip
import hashlib
import pickle

import numpy as np
import pytest
import torch

import tinygrad_lm as tg
from tinygrad_lm.data import transforms, vision
from tinygrad_lm.data.datasets import digits


def write_idx(path, array, gz=False):
    """An IDX file as the MNIST distribution has them: magic, big-endian sizes, raw bytes."""
    code = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}[array.dtype]
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
    with pytest.raises(ValueError, match="magic"):
        vision.read_idx(tmp_path / "bad")
    write_idx(tmp_path / "short", np.zeros(4, np.uint8))
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-1])
    with pytest.raises(ValueError, match="promises"):
        vision.read_idx(tmp_path / "short")
    with pytest.raises(FileNotFoundError, match="download_missing"):
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
    with pytest.raises(pickle.UnpicklingError, match=r"print, which is not allowed"):
        vision.load_cifar_batch(tmp_path / "evil")


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
    flipped = [np.array_equal(o, xi[..., ::-1]) for o, xi in zip(out, x)]
    assert all(f or np.array_equal(o, xi) for f, o, xi in zip(flipped, out, x)) and 0 < sum(flipped) < 8
    chain = transforms.Compose([transforms.Resize(8), transforms.Normalize([0.5], [0.25])])
    np.testing.assert_allclose(chain(x), (transforms.Resize(8)(x) - 0.5) / 0.25)
    with pytest.raises(ValueError, match="p must be"):
        transforms.RandomHorizontalFlip(p=2)
