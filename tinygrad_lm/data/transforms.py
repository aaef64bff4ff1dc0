"""Image transforms for data augmentation (D2.T2), with torchvision's names.

Each transform maps an array of images, one (C, H, W) image or a batch (N, C, H, W), to a new
array; the random ones draw from the framework's generator (``tg.manual_seed``) unless given
``rng``, and draw independently for every image of a batch. Apply them to training batches
only; evaluation sees the plain (resized, normalized) images.
"""
from __future__ import annotations

import numpy as np

from .. import backend


def _batch(x):
    """(N, C, H, W) view of ``x`` and a function that gives results back ``x``'s rank."""
    x = np.asarray(x)
    if x.ndim == 3:
        return x[None], lambda y: y[0]
    if x.ndim == 4:
        return x, lambda y: y
    raise ValueError(f"transforms expect an image (C, H, W) or a batch (N, C, H, W), got shape {x.shape}")


def _size(size, name):
    t = (size, size) if isinstance(size, int) else tuple(size)
    if len(t) != 2 or min(t) < 1:
        raise ValueError(f"{name}: size must be a positive int or (height, width), got {size!r}")
    return t


class Compose:
    """Apply ``transforms`` in order."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self):
        return "Compose(" + ", ".join(map(repr, self.transforms)) + ")"


class Normalize:
    """Per channel: (x - mean[c]) / std[c]; the result keeps x's float dtype."""

    def __init__(self, mean, std):
        self.mean, self.std = np.atleast_1d(np.asarray(mean, np.float64)), np.atleast_1d(np.asarray(std, np.float64))
        if self.mean.shape != self.std.shape or (self.std <= 0).any():
            raise ValueError(f"Normalize: mean {mean!r} and std {std!r} need one positive std per mean")

    def __call__(self, x):
        xb, back = _batch(x)
        if self.mean.size not in (1, xb.shape[1]):
            raise ValueError(f"Normalize: {self.mean.size} means for images with {xb.shape[1]} channels")
        dtype = xb.dtype if xb.dtype.kind == "f" else np.dtype(np.float32)
        shape = (1, -1, 1, 1)
        return back(((xb - self.mean.reshape(shape)) / self.std.reshape(shape)).astype(dtype))

    def __repr__(self):
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


class Resize:
    """Bilinear resize to ``size`` (h, w), sampling at pixel centres (align_corners=False, no antialiasing:
    torch.nn.functional.interpolate(mode='bilinear') exactly)."""

    def __init__(self, size):
        self.size = _size(size, "Resize")

    @staticmethod
    def _weights(n_in, n_out):
        """Source indices i0, i1 and the weight of i1 for each output position."""
        src = np.maximum((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0)
        i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, src - i0

    def __call__(self, x):
        xb, back = _batch(x)
        dtype = xb.dtype if xb.dtype.kind == "f" else np.dtype(np.float32)
        r0, r1, wr = self._weights(xb.shape[2], self.size[0])
        c0, c1, wc = self._weights(xb.shape[3], self.size[1])
        rows = xb[:, :, r0] * (1 - wr)[:, None] + xb[:, :, r1] * wr[:, None]
        out = rows[..., c0] * (1 - wc) + rows[..., c1] * wc
        return back(out.astype(dtype))

    def __repr__(self):
        return f"Resize(size={self.size})"


class RandomCrop:
    """Pad each side by ``padding`` (with ``fill``, or 'reflect' / 'edge'), then cut a random ``size`` window
    out of every image."""

    def __init__(self, size, padding=0, fill=0.0, padding_mode="constant", rng=None):
        self.size = _size(size, "RandomCrop")
        pad = (padding, padding) if isinstance(padding, int) else tuple(padding)
        if len(pad) != 2 or min(pad) < 0:
            raise ValueError(f"RandomCrop: padding must be a non-negative int or (pad_h, pad_w), got {padding!r}")
        if padding_mode not in ("constant", "reflect", "edge"):
            raise ValueError(f"RandomCrop: padding_mode must be 'constant', 'reflect' or 'edge', got {padding_mode!r}")
        self.padding, self.fill, self.padding_mode, self.rng = pad, fill, padding_mode, rng

    def __call__(self, x):
        xb, back = _batch(x)
        (ph, pw), (h, w) = self.padding, self.size
        widths = ((0, 0), (0, 0), (ph, ph), (pw, pw))
        kw = dict(constant_values=self.fill) if self.padding_mode == "constant" else {}
        padded = np.pad(xb, widths, mode=self.padding_mode, **kw)
        H, W = padded.shape[2:]
        if h > H or w > W:
            raise ValueError(f"RandomCrop: crop {self.size} is larger than the padded image {(H, W)}")
        rng = self.rng or backend.rng()
        top = rng.integers(0, H - h + 1, size=len(xb))
        left = rng.integers(0, W - w + 1, size=len(xb))
        rows = (top[:, None] + np.arange(h))[:, None, :, None]
        cols = (left[:, None] + np.arange(w))[:, None, None, :]
        n = np.arange(len(xb))[:, None, None, None]
        c = np.arange(xb.shape[1])[None, :, None, None]
        return back(padded[n, c, rows, cols])

    def __repr__(self):
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror each image left-right with probability ``p``."""

    def __init__(self, p=0.5, rng=None):
        if not 0 <= p <= 1:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p, self.rng = p, rng

    def __call__(self, x):
        xb, back = _batch(x)
        flip = (self.rng or backend.rng()).random(len(xb)) < self.p
        out = xb.copy()
        out[flip] = xb[flip][..., ::-1]
        return back(out)

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"
