"""Padding (torch.nn.functional.pad): constant, reflect, replicate and circular, with torch's pad order
(the last dimension first: ``(left, right, top, bottom, ...)``); a negative pad crops."""
from __future__ import annotations

from ..autograd import Function
from ..backend import xp

MODES = ("constant", "reflect", "replicate", "circular")


class ConstantPad(Function):
    """y = x cropped by the negative pads, then surrounded by ``value`` on the positive ones;
    dL/dx = the slice of g that came from x, zeros where x was cropped away."""

    saves_inputs = ()

    def forward(self, x, pads, value=0):
        m = xp(x)
        self.shape = x.shape
        self.crop = tuple(slice(max(-lo, 0), n - max(-hi, 0)) for n, (lo, hi) in zip(x.shape, pads, strict=True))
        self.grow = tuple((max(lo, 0), max(hi, 0)) for lo, hi in pads)
        return m.pad(x[self.crop], self.grow, mode="constant", constant_values=value)

    def backward(self, g):
        inner = g[tuple(slice(lo, g.shape[d] - hi) for d, (lo, hi) in enumerate(self.grow))]
        cropped = tuple((c.start, n - c.stop) for c, n in zip(self.crop, self.shape, strict=True))
        return xp(g).pad(inner, cropped)


class IndexPad(Function):
    """y = x taken at src(j) along each padded axis, the source of output position j (counted from
    -left): reflect mirrors without repeating the edge (j < 0: -j; j >= n: 2(n-1)-j), replicate clamps
    to [0, n-1], circular wraps (j mod n, around what a negative pad leaves, as torch);
    dL/dx_i = the sum of g_j over the j with src(j) = i: one 0/1 matrix product per padded axis
    (the transpose of the gather)."""

    saves_inputs = ()

    def forward(self, x, pads, mode):
        m = xp(x)
        self.sources = []
        y = x
        for axis, (lo, hi) in enumerate(pads):
            if lo == hi == 0:
                continue
            n = x.shape[axis]
            j = m.arange(-lo, n + hi)
            if mode == "circular":  # as torch: crop first, then wrap around what is left
                start, kept = max(-lo, 0), n - max(-lo, 0) - max(-hi, 0)
                src = start + (j - start) % kept
            elif mode == "reflect":
                src = m.where(j < 0, -j, m.where(j >= n, 2 * (n - 1) - j, j))
            else:
                src = m.clip(j, 0, n - 1)
            self.sources.append((axis, n, src))
            y = m.take(y, src, axis=axis)
        return y

    def backward(self, g):
        m = xp(g)
        for axis, n, src in reversed(self.sources):
            scatter = m.zeros((src.size, n), dtype=g.dtype)
            scatter[m.arange(src.size), src] = 1
            g = m.moveaxis(m.moveaxis(g, axis, -1) @ scatter, -1, axis)
        return g


# ------------------------------------------------------------------ functional wrappers
def pad(input, pad, mode: str = "constant", value=None):  # noqa: A002 - torch's names
    """torch.nn.functional.pad: ``pad`` holds (before, after) pairs for the last dimensions, last first.

    constant pads any dimensions with ``value`` (0 by default); reflect, replicate and circular pad the
    last 1, 2 or 3 dimensions of an input with one or two more dimensions (batch and channels), as torch.
    """
    pad = tuple(int(p) for p in pad)
    if mode not in MODES:
        raise NotImplementedError(f"pad: unrecognised padding mode {mode!r}; use one of {', '.join(MODES)}")
    if len(pad) % 2:
        raise RuntimeError(f"pad: padding length must be divisible by 2, got {len(pad)} values {pad}")
    k = len(pad) // 2
    if k > input.ndim:
        raise RuntimeError(f"pad: padding length should be less than or equal to two times the input dimension but "
                           f"got padding length {len(pad)} and input of dimension {input.ndim} (shape {input.shape})")
    pairs = [(0, 0)] * (input.ndim - k) + [(pad[2 * i], pad[2 * i + 1]) for i in reversed(range(k))]
    for d, (n, (lo, hi)) in enumerate(zip(input.shape, pairs, strict=True)):
        if n + lo + hi < 0:
            raise RuntimeError(f"pad: padding {(lo, hi)} would leave dimension {d} of size {n} (shape {input.shape}) "
                               f"with a negative size {n + lo + hi}")
    if mode == "constant":
        return ConstantPad.apply(input, pads=pairs, value=0 if value is None else value)
    if value is not None:
        raise RuntimeError(f'pad: padding mode "{mode}" doesn\'t take in value argument (only "constant" does)')
    if not 1 <= k <= 3 or input.ndim not in (k + 1, k + 2):
        raise NotImplementedError(f"pad: mode {mode!r} pads the last 1, 2 or 3 dimensions of an input with one or two "
                                  f"more (batch, channels), but got padding size {len(pad)} for {input.ndim}D input "
                                  f"of shape {input.shape}")
    for d, (n, (lo, hi)) in enumerate(zip(input.shape, pairs, strict=True)):
        if (lo or hi) and mode == "reflect" and max(lo, hi) >= n:
            raise RuntimeError(f"pad: padding size should be less than the corresponding input dimension (reflect), "
                               f"but got: padding {(lo, hi)} at dimension {d} of input {list(input.shape)}")
        if (lo or hi) and mode == "circular" and max(lo, hi) > n + min(lo, 0) + min(hi, 0):
            raise RuntimeError(f"pad: padding value causes wrapping around more than once (circular): padding "
                               f"{(lo, hi)} at dimension {d} of input {list(input.shape)}")
    sizes = [n + lo + hi for n, (lo, hi) in zip(input.shape[-k:], pairs[-k:], strict=True)]
    if mode in ("reflect", "replicate") and max(sizes) < 1:  # as torch: one padded dimension may be empty
        raise RuntimeError(f"pad: input {list(input.shape)} is too small for mode {mode!r}: padding {pad} leaves "
                           f"its last {k} dimensions the sizes {sizes}")
    return IndexPad.apply(input, pads=pairs, mode=mode)
