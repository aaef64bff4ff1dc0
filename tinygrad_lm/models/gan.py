"""D1.T4 generative adversarial networks (Goodfellow et al. 2014) and D4.T2 generated samples as
extra training data.

A generator G maps noise z ~ N(0, I) to samples; a discriminator D maps a sample to a logit, the
log-odds that it is real. They play the minimax game

    min_G max_D  V(D, G) = E_{x ~ p_data}[log sigma(D(x))] + E_z[log(1 - sigma(D(G(z))))]

trained by alternating steps: D ascends V (binary cross-entropy with real -> 1, fake -> 0), then G
descends the *non-saturating* loss -E_z[log sigma(D(G(z)))] instead of E_z[log(1 - sigma(D(G(z))))],
whose gradient vanishes exactly when G is poor and D confident, early in training. Both losses
are computed from logits (BCE-with-logits) so nothing overflows. With ``num_classes`` both
networks also see a one-hot label (a conditional GAN, Mirza & Osindero 2014), so samples of a
chosen class can be drawn and labelled for D4.T2. Their training (two optimizers, alternating steps)
is ``tinygrad_lm.recipes.gan``.
"""
from __future__ import annotations

import numpy as np

from .. import nn, ops
from ..autograd import no_grad
from ..backend import rng
from ..tensor import Tensor


def _one_hot(labels, num_classes, dtype):
    y = labels.numpy() if isinstance(labels, Tensor) else np.asarray(labels)
    out = np.zeros((len(y), num_classes), dtype=dtype)
    out[np.arange(len(y)), y] = 1
    return Tensor(out)


class _ConditionalMLP(nn.Module):
    """Linear -> LeakyReLU(0.2) -> ... -> Linear on the input, concatenated with a one-hot label
    when ``num_classes`` is set."""

    def __init__(self, in_features, hidden, out_features, num_classes=None, output=None):
        super().__init__()
        if output not in (None, "tanh"):
            raise ValueError(f"output must be None or 'tanh', got {output!r}")
        self.num_classes, self.output = num_classes, output
        sizes = [in_features + (num_classes or 0), *hidden]
        layers = []
        for a, b in zip(sizes, sizes[1:], strict=False):
            layers += [nn.Linear(a, b), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*layers, nn.Linear(sizes[-1], out_features))

    def forward(self, x, labels=None):
        if self.num_classes:
            if labels is None:
                raise ValueError(f"{type(self).__name__}: a conditional network needs labels")
            x = ops.cat([x, _one_hot(labels, self.num_classes, x.dtype)], dim=1)
        out = self.net(x)
        return ops.tanh(out) if self.output == "tanh" else out


class Generator(_ConditionalMLP):
    """z (N, latent_dim) [+ labels] -> samples (N, data_dim); tanh output for data scaled to [-1, 1]."""

    def __init__(self, latent_dim, data_dim, hidden=(64, 64), num_classes=None, output=None):
        super().__init__(latent_dim, hidden, data_dim, num_classes, output)
        self.latent_dim = latent_dim

    def noise(self, n):
        """n draws of z ~ N(0, I) from the library's seeded generator, in the parameters' dtype."""
        dtype = next(iter(self.parameters())).dtype
        return Tensor(rng().standard_normal((n, self.latent_dim)).astype(dtype))

    def sample(self, n, labels=None) -> np.ndarray:
        """n samples (of the classes ``labels`` for a conditional generator) as an array, in eval mode."""
        was_training = self.training
        self.eval()
        with no_grad():
            out = self(self.noise(n), labels).numpy()
        self.train(was_training)
        return out


class Discriminator(_ConditionalMLP):
    """samples (N, data_dim) [+ labels] -> logits (N,) of being real."""

    def __init__(self, data_dim, hidden=(64, 64), num_classes=None):
        super().__init__(data_dim, hidden, 1, num_classes)

    def forward(self, x, labels=None):
        return super().forward(x, labels)[:, 0]


def discriminator_loss(real_logits, fake_logits):
    """-[log sigma(D(x)) + log(1 - sigma(D(G(z))))], each averaged over its batch."""
    bce = ops.binary_cross_entropy_with_logits
    return bce(real_logits, np.ones(real_logits.shape, real_logits.dtype)) + \
        bce(fake_logits, np.zeros(fake_logits.shape, fake_logits.dtype))


def generator_loss(fake_logits):
    """Non-saturating: -log sigma(D(G(z))), averaged."""
    return ops.binary_cross_entropy_with_logits(fake_logits, np.ones(fake_logits.shape, fake_logits.dtype))
