"""Training a D1.T4 GAN on the one training loop, and D4.T2 generated samples as extra training data.

A GAN step is two optimizer steps: the discriminator ascends V(D, G) on a real batch and a generated one,
then the generator descends the non-saturating loss (``models.gan`` holds the networks and the losses).
``GANTrainer`` is the ``Trainer`` with that step in place of the one-optimizer step; everything else (steps,
history, progress, callbacks) is the loop every recipe uses.
"""
from __future__ import annotations

import numpy as np

from .. import manual_seed, nn
from ..models.gan import Discriminator, Generator, discriminator_loss, generator_loss
from ..optim import Adam
from ..tensor import Tensor
from ..train import Trainer


class GANTrainer(Trainer):
    """A generator, a discriminator and their Adam optimizers (lr 2e-4, betas (0.5, 0.999) by default, as
    DCGAN). ``train_step((real, labels[, z]))`` makes one discriminator step then one generator step and
    returns (d_loss, {'g_loss': g_loss}); ``labels`` is None for an unconditional GAN, ``z`` the noise
    (drawn by the generator when absent)."""

    def __init__(self, generator: Generator, discriminator: Discriminator, lr: float = 2e-4, betas=(0.5, 0.999),
                 **kwargs):
        self.generator, self.discriminator = generator, discriminator
        self.opt_g = Adam(generator.parameters(), lr=lr, betas=betas)
        self.opt_d = Adam(discriminator.parameters(), lr=lr, betas=betas)
        pair = nn.ModuleDict({"generator": generator, "discriminator": discriminator})
        super().__init__(pair, self.opt_d, None, **kwargs)

    def train_step(self, batch):
        real, labels, *z = batch
        real = real if isinstance(real, Tensor) else Tensor(np.asarray(real))
        z = self.generator.noise(len(real)) if not z else (z[0] if isinstance(z[0], Tensor) else Tensor(z[0]))
        self.model.train()
        fake = self.generator(z, labels)
        d_loss = discriminator_loss(self.discriminator(real, labels), self.discriminator(fake.detach(), labels))
        self.opt_d.zero_grad()
        d_loss.backward()
        self.opt_d.step()
        g_loss = generator_loss(self.discriminator(fake, labels))
        self.opt_g.zero_grad()
        g_loss.backward()
        self.opt_g.step()
        self.step += 1
        return d_loss.item(), {"g_loss": g_loss.item()}


def ring_of_gaussians(n, modes=8, radius=2.0, std=0.05, seed=0) -> np.ndarray:
    """A 2-D toy distribution: n points around ``modes`` small Gaussians on a circle (float32)."""
    g = np.random.default_rng(seed)
    angle = 2 * np.pi * g.integers(0, modes, n) / modes
    centres = radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return (centres + std * g.standard_normal((n, 2))).astype(np.float32)


def train_gan(data, labels=None, num_classes=None, steps=2000, batch_size=64, latent_dim=8, hidden=(64, 64),
              output=None, lr=2e-4, seed=0, progress=False):
    """Train a (conditional, when labels are given) GAN on the rows of ``data`` with random batches; returns
    the trainer (``.generator``, ``.discriminator``) and the history {'d_loss': [...], 'g_loss': [...]}, one
    value per step."""
    manual_seed(seed)
    data = np.asarray(data, dtype=np.float32)
    trainer = GANTrainer(Generator(latent_dim, data.shape[1], hidden, num_classes, output),
                         Discriminator(data.shape[1], hidden, num_classes), lr=lr, progress=progress, desc="gan")
    g = np.random.default_rng(seed)

    def batch():
        idx = g.integers(0, len(data), batch_size)
        return Tensor(data[idx]), None if labels is None else np.asarray(labels)[idx]

    history = trainer.fit(batch, steps=steps, eval_every=1)
    return trainer, {"d_loss": history["loss"], "g_loss": history["g_loss"]}


def generated_training_set(generator: Generator, num_classes, per_class) -> tuple:
    """D4.T2: ``per_class`` samples of every class from a conditional generator, with their labels."""
    labels = np.repeat(np.arange(num_classes), per_class)
    return generator.sample(len(labels), labels).astype(np.float32), labels.astype(np.int64)
