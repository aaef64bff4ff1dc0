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
chosen class can be drawn and labelled for D4.T2.
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


class GAN:
    """A generator, a discriminator and their Adam optimizers (lr 2e-4, betas (0.5, 0.999) by
    default, as DCGAN); ``train_step`` makes one discriminator step then one generator step."""

    def __init__(self, generator: Generator, discriminator: Discriminator, lr: float = 2e-4,
                 betas=(0.5, 0.999)):
        from ..optim import Adam

        self.G, self.D = generator, discriminator
        self.opt_g = Adam(generator.parameters(), lr=lr, betas=betas)
        self.opt_d = Adam(discriminator.parameters(), lr=lr, betas=betas)

    def noise(self, n):
        dtype = next(iter(self.G.parameters())).dtype
        return Tensor(rng().standard_normal((n, self.G.latent_dim)).astype(dtype))

    def train_step(self, real, labels=None, z=None):
        """One D step and one G step on a batch of real samples; returns (d_loss, g_loss)."""
        real = real if isinstance(real, Tensor) else Tensor(np.asarray(real))
        z = self.noise(len(real)) if z is None else (z if isinstance(z, Tensor) else Tensor(np.asarray(z)))
        fake = self.G(z, labels)
        d_loss = discriminator_loss(self.D(real, labels), self.D(fake.detach(), labels))
        self.opt_d.zero_grad()
        d_loss.backward()
        self.opt_d.step()
        g_loss = generator_loss(self.D(fake, labels))
        self.opt_g.zero_grad()
        g_loss.backward()
        self.opt_g.step()
        return d_loss.item(), g_loss.item()

    def sample(self, n, labels=None) -> np.ndarray:
        with no_grad():
            self.G.eval()
            out = self.G(self.noise(n), labels).numpy()
            self.G.train()
        return out


def ring_of_gaussians(n, modes=8, radius=2.0, std=0.05, seed=0) -> np.ndarray:
    """A 2-D toy distribution: n points around ``modes`` small Gaussians on a circle (float32)."""
    g = np.random.default_rng(seed)
    angle = 2 * np.pi * g.integers(0, modes, n) / modes
    centres = radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return (centres + std * g.standard_normal((n, 2))).astype(np.float32)


def train_gan(data, labels=None, num_classes=None, steps=2000, batch_size=64, latent_dim=8, hidden=(64, 64),
              output=None, lr=2e-4, seed=0, log_every=0):
    """Train a (conditional, when labels are given) GAN on the rows of ``data`` with random batches;
    returns the GAN and the history {'d_loss': [...], 'g_loss': [...]}."""
    from .. import manual_seed

    manual_seed(seed)
    data = np.asarray(data, dtype=np.float32)
    gan = GAN(Generator(latent_dim, data.shape[1], hidden, num_classes, output),
              Discriminator(data.shape[1], hidden, num_classes), lr=lr)
    g = np.random.default_rng(seed)
    history = {"d_loss": [], "g_loss": []}
    for step in range(steps):
        idx = g.integers(0, len(data), batch_size)
        d, gl = gan.train_step(Tensor(data[idx]), None if labels is None else np.asarray(labels)[idx])
        history["d_loss"].append(d)
        history["g_loss"].append(gl)
        if log_every and (step + 1) % log_every == 0:
            print(f"step {step + 1}: d_loss {d:.3f}  g_loss {gl:.3f}")
    return gan, history


def generated_training_set(gan, num_classes, per_class) -> tuple:
    """D4.T2: ``per_class`` samples of every class from a conditional GAN, with their labels."""
    labels = np.repeat(np.arange(num_classes), per_class)
    return gan.sample(len(labels), labels).astype(np.float32), labels.astype(np.int64)
