"""D0.T2 / D4.T3 magnitude pruning: zero the weights of smallest magnitude and keep them zero.

For a weight tensor W (or all pruned tensors together, ``scope='global'``) with n entries and a
fraction ``amount`` to remove, k = round(amount n) and tau is the k-th smallest |W_ij|:

    M_ij = 1[|W_ij| > tau]   (exactly the k smallest entries get 0),    W <- M * W

as torch.nn.utils.prune.l1_unstructured (per layer) and global_unstructured (global). Per-layer
pruning removes the same fraction from every layer; global pruning removes the globally smallest
weights, so layers whose weights are small lose more. During fine-tuning the mask is applied
again after every optimizer step (momentum or Adam would otherwise revive pruned weights), and
gradients may be masked before the step so the optimizer's state never sees them.
"""
from __future__ import annotations


from ..autograd import increment_version
from ..backend import xp
from ..nn.module import Module

SCOPES = ("global", "layer")


def _default_names(model: Module):
    """Weights worth pruning: every parameter with two or more dimensions (not the biases)."""
    return [name for name, p in model.named_parameters() if p.ndim >= 2]


def _k_smallest_mask(values, k: int):
    """A 0/1 mask (values' dtype) with 0 at the k entries of smallest |value|."""
    m = xp(values)
    mask = m.ones(values.shape, dtype=values.dtype)
    if k > 0:
        flat = mask.reshape(-1)
        flat[m.argpartition(m.abs(values).reshape(-1), k - 1)[:k]] = 0
    return mask


class Pruning:
    """The masks of one pruning: ``apply()`` zeros the pruned weights (call it after every optimizer
    step while fine-tuning), ``mask_gradients()`` zeros their gradients (call it before the step)."""

    def __init__(self, params: dict, masks: dict):
        self.params, self.masks = params, masks

    def apply(self) -> None:
        for name, p in self.params.items():
            p.data *= self.masks[name]
            increment_version(p)  # in place: a graph that saved p must not use it

    def mask_gradients(self) -> None:
        for name, p in self.params.items():
            if p.grad is not None:
                p.grad.data = p.grad.data * self.masks[name]

    def sparsity(self) -> dict:
        """Fraction of zeros in each mask and over all of them ('global')."""
        out = {name: float((mask == 0).mean()) for name, mask in self.masks.items()}
        zeros = sum(int((mask == 0).sum()) for mask in self.masks.values())
        out["global"] = zeros / max(1, sum(mask.size for mask in self.masks.values()))
        return out


def magnitude_prune(model: Module, amount: float, scope: str = "global", names=None) -> Pruning:
    """Prune ``amount`` (a fraction in [0, 1]) of the weights named in ``names`` (default: every
    parameter with ndim >= 2) by magnitude, per layer or globally; applies the mask and returns it.
    Pruning an already pruned model prunes further (zeros are the smallest magnitudes)."""
    if not 0.0 <= amount <= 1.0:
        raise ValueError(f"magnitude_prune: amount must be a fraction in [0, 1], got {amount}")
    if scope not in SCOPES:
        raise ValueError(f"magnitude_prune: scope must be one of {SCOPES}, got {scope!r}")
    named = dict(model.named_parameters())
    names = _default_names(model) if names is None else list(names)
    unknown = [n for n in names if n not in named]
    if unknown or not names:
        raise ValueError(f"magnitude_prune: no parameters named {unknown or names}; known: {list(named)}")
    params = {n: named[n] for n in names}
    if scope == "layer":
        masks = {n: _k_smallest_mask(p.data, int(round(amount * p.numel()))) for n, p in params.items()}
    else:
        m = xp(next(iter(params.values())).data)
        flat = m.concatenate([p.data.reshape(-1).astype(m.float64) for p in params.values()])
        whole = _k_smallest_mask(flat, int(round(amount * flat.size)))
        masks, start = {}, 0
        for n, p in params.items():
            masks[n] = whole[start:start + p.numel()].reshape(p.shape).astype(p.dtype)
            start += p.numel()
    pruning = Pruning(params, masks)
    pruning.apply()
    return pruning


def sparsity(model: Module, names=None) -> dict:
    """Fraction of exact zeros in each named weight (default: every parameter with ndim >= 2) and
    over all of them ('global')."""
    named = dict(model.named_parameters())
    names = _default_names(model) if names is None else list(names)
    out = {n: float((named[n].data == 0).mean()) for n in names}
    total = sum(named[n].numel() for n in names)
    out["global"] = sum(int((named[n].data == 0).sum()) for n in names) / max(1, total)
    return out


__all__ = ["Pruning", "magnitude_prune", "sparsity"]
