"""D3.T3 explanation by input-gradient saliency (Simonyan et al. 2014): how much does each input
feature (pixel) move the score of a class?

    S_i = | d z_c(x) / d x_i |      z_c: the logit of class c (the predicted class unless given)

Each sample's map is the gradient of its own class score, taken in one backward pass over the
batch (samples do not interact in eval mode). The model is put in eval mode for the pass and
its mode restored; no parameter gradient is left behind.
"""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor


def saliency(model, x, target=None, absolute: bool = True) -> np.ndarray:
    """Input gradients of the class scores, shape of ``x``; ``target`` holds one class per sample
    (default: the model's prediction)."""
    data = x.data if isinstance(x, Tensor) else np.asarray(x)
    if data.dtype.kind != "f":
        data = data.astype(np.float32)
    inp = Tensor(data.copy(), requires_grad=True)
    was_training = model.training
    model.eval()
    try:
        scores = model(inp)
    finally:
        model.train(was_training)
    if scores.ndim != 2 or scores.shape[0] != data.shape[0]:
        raise ValueError(f"saliency: the model must map a batch of shape {tuple(data.shape)} to scores (N, C), "
                         f"got {scores.shape}")
    n, c = scores.shape
    t = scores.numpy().argmax(1) if target is None else np.asarray(
        target.numpy() if isinstance(target, Tensor) else target).reshape(-1)
    if t.shape != (n,) or t.min() < 0 or t.max() >= c:
        raise ValueError(f"saliency: target must hold {n} class indices in [0, {c}), got {t.tolist()}")
    pick = np.zeros((n, c), dtype=scores.dtype)
    pick[np.arange(n), t] = 1
    (scores * Tensor(pick)).sum().backward()
    for p in model.parameters():
        p.grad = None
    grad = inp.grad.numpy()
    return np.abs(grad) if absolute else grad
