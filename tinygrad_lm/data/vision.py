"""Image data sets for the CNNs, honest about where they come from.

* ``mnist(root)`` reads the four standard IDX files (gzipped or not) from ``root``;
* ``cifar10(root)`` reads the standard pickled batches (``cifar-10-batches-py``) from ``root``,
  through an unpickler that accepts nothing but NumPy arrays, lists, dicts and bytes;
* both download the official archives when asked and a network is there, and check each file's
  MD5 before using it;
* ``shapes()`` is a **generated** ten-class 3x32x32 task (coloured shapes at random places, sizes
  and colours) for the CIFAR-shaped network when CIFAR-10 is absent; it says so in its name;
* ``digits28()`` is scikit-learn's 8x8 digits resized to 28x28, for the MNIST-shaped network offline.

Every loader returns a :class:`~tinygrad_lm.data.datasets.Split` of (N, C, H, W) float32 images in
[0, 1] and int64 labels. A file that does not hold that (wrong size, 1-D images, no images, as many
labels as images or labels outside the classes, corrupt) is refused when it is read, with a
:class:`~tinygrad_lm.data.datasets.DatasetError` naming the file.
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import math
import os
import pickle
import tarfile
import urllib.request
import zlib
from pathlib import Path

import numpy as np

from .datasets import DatasetError, Split, digits
from .transforms import Resize

MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
MNIST_FILES = {  # name -> MD5 of the gzipped file, as published with the data set's mirrors
    "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
}
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SHAPES_CLASSES = ("disc", "square", "triangle", "diamond", "ring", "plus", "cross", "frame",
                  "horizontal bars", "vertical bars")


def md5(path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download(url: str, path: Path, checksum: str) -> Path:
    """Fetch ``url`` to ``path`` (through a temporary file) and check its MD5; a clear error if offline."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    try:
        with urllib.request.urlopen(url, timeout=30) as r, open(tmp, "wb") as f:
            while block := r.read(1 << 20):
                f.write(block)
    except (OSError, http.client.HTTPException) as e:  # offline, refused, cut short
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"could not download {url} ({e}); put the file at {path} by hand, or train on the "
                           "offline data sets (digits28, shapes)") from None
    except BaseException:  # Ctrl-C: no half file left behind
        tmp.unlink(missing_ok=True)
        raise
    if md5(tmp) != checksum:
        tmp.unlink()
        raise RuntimeError(f"{url}: MD5 mismatch (expected {checksum}); the download is corrupt or the file changed")
    os.replace(tmp, path)
    return path


def check_labelled_images(images: np.ndarray, labels: np.ndarray, image_shape: tuple, n_classes: int,
                          images_file, labels_file) -> None:
    """Refuse, naming the file, images and labels a network would fail on or learn wrongly from:
    images not (N, *image_shape) of bytes, no images, a label count that is not N, labels outside
    0..n_classes-1."""
    expected = "(N, " + ", ".join(map(str, image_shape)) + ")"
    if images.ndim != 1 + len(image_shape) or images.shape[1:] != tuple(image_shape):
        raise DatasetError(f"{images_file}: holds an array of shape {images.shape}, expected images {expected}")
    if images.dtype != np.uint8:
        raise DatasetError(f"{images_file}: holds {images.dtype.name} pixels, expected unsigned bytes (0..255)")
    if len(images) == 0:
        raise DatasetError(f"{images_file}: holds no images (shape {images.shape})")
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DatasetError(f"{labels_file}: labels must be a 1-D array of integers, got {labels.dtype} of shape "
                           f"{labels.shape}")
    if len(labels) != len(images):
        where = "" if labels_file == images_file else f" of {images_file}"
        raise DatasetError(f"{labels_file}: {len(labels)} labels for the {len(images)} images{where}")
    bad = np.flatnonzero((labels < 0) | (labels >= n_classes))
    if len(bad):
        raise DatasetError(f"{labels_file}: label {labels[bad[0]]} at index {bad[0]} is outside the {n_classes} "
                           f"classes 0..{n_classes - 1} ({len(bad)} such labels)")


# ---------------------------------------------------------------- MNIST (IDX files)
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path) -> np.ndarray:
    """An IDX file (optionally gzipped): magic 0x0000 <dtype code> <ndim>, then big-endian int32 sizes, then data."""
    with open(path, "rb") as f:
        raw = f.read()
    if str(path).endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:  # not gzip, truncated, corrupt
            raise DatasetError(f"{path}: not a readable gzip file ({e})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DatasetError(f"{path}: not an IDX file (bad magic number)")
    if raw[2] not in IDX_DTYPES:
        raise DatasetError(f"{path}: unknown IDX data type code {raw[2]:#x}")
    ndim, dtype = raw[3], np.dtype(IDX_DTYPES[raw[2]])
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path}: IDX header cut short ({ndim} sizes need {header} bytes, the file has {len(raw)})")
    shape = tuple(int(v) for v in np.frombuffer(raw, ">i4", count=ndim, offset=4))
    if min(shape, default=0) < 0 or len(raw) - header != math.prod(shape) * dtype.itemsize:
        raise DatasetError(f"{path}: header promises shape {shape} of {dtype.name} but the file holds "
                           f"{len(raw) - header} bytes of data")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape)


def mnist(root="~/.tinygrad_lm/mnist", download_missing: bool = False) -> Split:
    """MNIST from the four IDX files in ``root`` (``.gz`` or unpacked); with ``download_missing`` the
    missing ones are downloaded and checked first. Images (N, 1, 28, 28) float32 in [0, 1]."""
    root = Path(root).expanduser()
    files = {}
    for name, checksum in MNIST_FILES.items():
        found = [p for p in (root / name, root / f"{name}.gz") if p.exists()]
        if not found:
            if not download_missing:
                # the CLI rewrites these API words into its flags (cli._API_TO_FLAGS): keep them as they are
                raise FileNotFoundError(f"MNIST: {name}(.gz) not found in {root}; pass download_missing=True "
                                        "(needs a network) or use digits28() offline")
            found = [download(MNIST_URL + name + ".gz", root / f"{name}.gz", checksum)]
        files[name] = found[0]
    parts = []
    for prefix in ("train", "t10k"):
        images_file, labels_file = files[f"{prefix}-images-idx3-ubyte"], files[f"{prefix}-labels-idx1-ubyte"]
        images, labels = read_idx(images_file), read_idx(labels_file)
        check_labelled_images(images, labels, (28, 28), 10, images_file, labels_file)
        parts += [(images[:, None] / np.float32(255)).astype(np.float32), labels.astype(np.int64)]
    return Split(*parts)


# ---------------------------------------------------------------- CIFAR-10 (pickled batches)
class _ArrayUnpickler(pickle.Unpickler):
    """Builds only NumPy arrays and plain containers: any other global (code) is refused."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
               ("__builtin__", "bytes"), ("builtins", "bytes")}  # protocol 2 writes b"" (an empty array) so

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"it refers to {module}.{name}, which is not allowed")


def load_cifar_batch(path):
    """(images (N, 3, 32, 32) uint8, labels (N,) int64) from one pickled batch file."""
    with open(path, "rb") as f:
        try:
            batch = _ArrayUnpickler(f, encoding="bytes").load()
        except Exception as e:  # truncated, random bytes or code: whatever the unpickler trips on
            raise DatasetError(f"{path}: not a CIFAR-10 batch ({type(e).__name__}: {e})") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DatasetError(f"{path}: not a CIFAR-10 batch (expected a dict with b'data' and b'labels')")
    try:
        data, labels = np.asarray(batch[b"data"]), np.asarray(batch[b"labels"])
    except (ValueError, TypeError) as e:  # ragged lists, odd objects
        raise DatasetError(f"{path}: data or labels are not arrays ({e})") from None
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DatasetError(f"{path}: data of shape {data.shape}, expected (N, 3072): N images of 3x32x32 bytes")
    if data.dtype.kind not in "iu" or (data.size and (data.min() < 0 or data.max() > 255)):
        raise DatasetError(f"{path}: pixels must be integers in 0..255, got {data.dtype.name}"
                           + (f" from {data.min()} to {data.max()}" if data.size and data.dtype.kind in "iuf" else ""))
    data = data.astype(np.uint8).reshape(-1, 3, 32, 32)
    check_labelled_images(data, labels, (3, 32, 32), len(CIFAR10_CLASSES), path, path)
    return data, labels.astype(np.int64)


def cifar10(root="~/.tinygrad_lm/cifar10", download_missing: bool = False) -> Split:
    """CIFAR-10 from ``root/cifar-10-batches-py`` (data_batch_1..5, test_batch); with ``download_missing``
    the official archive is downloaded, checked and unpacked first. Images (N, 3, 32, 32) float32 in [0, 1]."""
    root = Path(root).expanduser()
    folder = root / "cifar-10-batches-py"
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    if not all((folder / n).exists() for n in names):
        if not download_missing:
            missing = [n for n in names if not (folder / n).exists()]
            raise FileNotFoundError(f"CIFAR-10: {', '.join(missing)} not found in {folder}; pass "
                                    "download_missing=True (needs a network) or use shapes() offline")
        archive = root / "cifar-10-python.tar.gz"
        if not archive.exists() or md5(archive) != CIFAR10_MD5:
            download(CIFAR10_URL, archive, CIFAR10_MD5)
        with tarfile.open(archive) as tar:
            folder.mkdir(parents=True, exist_ok=True)
            for m in tar.getmembers():  # only the batch files, by base name: no path from the archive is trusted
                if m.isfile() and Path(m.name).name in names:
                    (folder / Path(m.name).name).write_bytes(tar.extractfile(m).read())
    train = [load_cifar_batch(folder / n) for n in names[:5]]
    x_test, y_test = load_cifar_batch(folder / "test_batch")
    scale = np.float32(255)
    return Split(np.concatenate([x for x, _ in train]).astype(np.float32) / scale,
                 np.concatenate([y for _, y in train]), x_test.astype(np.float32) / scale, y_test)


# ---------------------------------------------------------------- generated shapes (3x32x32, ten classes)
def _shape_mask(kind: int, yy, xx, cy, cx, r):
    """Boolean mask of shape ``kind`` centred at (cy, cx) with radius r on the grid (yy, xx)."""
    dy, dx = yy - cy, xx - cx
    ay, ax = np.abs(dy), np.abs(dx)
    t = max(1.5, r / 3)  # stroke width
    if kind == 0:
        return dy ** 2 + dx ** 2 <= r ** 2
    if kind == 1:
        return (ay <= r * 0.8) & (ax <= r * 0.8)
    if kind == 2:
        return (dy <= r * 0.7) & (dy >= -r) & (ax <= (dy + r) * 0.6)
    if kind == 3:
        return ay + ax <= r
    if kind == 4:
        d = np.sqrt(dy ** 2 + dx ** 2)
        return (d <= r) & (d >= r - t)
    if kind == 5:
        return ((ay <= t / 2) & (ax <= r)) | ((ax <= t / 2) & (ay <= r))
    if kind == 6:
        return (np.abs(dy - dx) <= t * 0.7) & (ay <= r) | (np.abs(dy + dx) <= t * 0.7) & (ay <= r)
    if kind == 7:
        return (ay <= r * 0.8) & (ax <= r * 0.8) & ((ay >= r * 0.8 - t) | (ax >= r * 0.8 - t))
    if kind == 8:
        return (ax <= r) & (ay <= r) & (np.floor((dy + r) / t) % 2 == 0)
    return (ax <= r) & (ay <= r) & (np.floor((dx + r) / t) % 2 == 0)


def shapes(n_train: int = 5000, n_test: int = 1000, seed: int = 0, noise: float = 0.05) -> Split:
    """GENERATED data, not photographs: ten classes of coloured shapes (``SHAPES_CLASSES``) on 3x32x32
    images, each at a random place and size, in a random colour on a random background, with pixel
    noise. A stand-in with CIFAR-10's shapes and label count for when CIFAR-10 is absent."""
    for name, v in (("n_train", n_train), ("n_test", n_test)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
            raise ValueError(f"shapes: {name} must be a positive int, got {v!r}")
    if not noise >= 0:
        raise ValueError(f"shapes: noise must be >= 0, got {noise!r}")
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float64)
    labels = rng.integers(0, 10, size=n)
    images = np.empty((n, 3, 32, 32), dtype=np.float32)
    for i, kind in enumerate(labels):
        r = rng.uniform(6, 12)
        cy, cx = rng.uniform(r, 32 - r, size=2)
        fg = rng.uniform(0, 1, 3)
        bg = rng.uniform(0, 1, 3)
        while np.abs(fg - bg).sum() < 0.8:  # keep the shape visible
            bg = rng.uniform(0, 1, 3)
        mask = _shape_mask(int(kind), yy, xx, cy, cx, r)
        img = np.where(mask[None], fg[:, None, None], bg[:, None, None]) + rng.normal(0, noise, (3, 32, 32))
        images[i] = np.clip(img, 0, 1)
    return Split(images[:n_train], labels[:n_train].astype(np.int64), images[n_train:], labels[n_train:].astype(np.int64))


# ---------------------------------------------------------------- digits at MNIST's size
def digits28(test_size: float = 0.25, seed: int = 0) -> Split:
    """scikit-learn's 8x8 digits (``datasets.digits``, same fixed split) as (N, 1, 28, 28) float32 images in
    [0, 1], bilinearly resized: the MNIST-shaped network's offline task."""
    split = digits(test_size=test_size, seed=seed)
    resize = Resize(28)

    def images(x):
        return resize((x / np.float32(16)).reshape(-1, 1, 8, 8))
    return Split(images(split.x_train), split.y_train, images(split.x_test), split.y_test)
