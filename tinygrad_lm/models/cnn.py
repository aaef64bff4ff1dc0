"""The convolutional networks of documents 003 and 004 (D3.M1, D4.M1) and their losses.

* ``CifarCNN`` (D3.M1) exactly as the inventory gives it: 3x32x32 -> conv 3->32 (3x3, pad 1) -> ReLU
  -> max-pool 2 -> conv 32->64 (3x3, pad 1) -> ReLU -> max-pool 2 -> flatten 64*8*8 -> FC 128 -> ReLU
  -> FC 10 (logits; cross-entropy), SGD lr 1e-3, momentum 0.9.
* ``MnistCNN`` (D4.M1) mended: 1x28x28 -> conv 1->32 (3x3) -> ReLU -> conv 32->64 (3x3) -> ReLU, which
  leaves 64x24x24, then the pooling step the document lacks (adaptive average pooling to 7x7, so its
  flatten size 64*7*7 is right) -> FC 128 -> ReLU -> FC 10 -> log-softmax, trained with the negative
  log-likelihood (log-softmax once, not twice), the inventory's SGD lr 0.01 (the command line trains it
  with the recipe in ``recipes.cnn.SPECS``).

Their training (``tinygrad-lm train cnn-mnist|cnn-cifar``) is ``tinygrad_lm.recipes.cnn``.
"""
from __future__ import annotations

from .. import nn, ops


class CifarCNN(nn.Module):
    """D3.M1, with the document's layer names (conv1, conv2, pool, fc1, fc2); returns logits."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.pool = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(64 * 8 * 8, 128)
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x):
        x = self.pool(self.conv1(x, activation="relu"))  # relu(conv1(x)), fused
        x = self.pool(self.conv2(x, activation="relu"))
        x = ops.flatten(x, 1)
        return self.fc2(ops.relu(self.fc1(x)))


class MnistCNN(nn.Module):
    """D4.M1 mended (see the module docstring); returns log-probabilities, to be scored with nll_loss."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.pool = nn.AdaptiveAvgPool2d(7)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x):
        x = self.conv2(self.conv1(x, activation="relu"), activation="relu")  # relu(conv(x)), fused
        x = ops.flatten(self.pool(x), 1)
        return ops.log_softmax(self.fc2(ops.relu(self.fc1(x))), dim=1)


def cifar_loss(logits, y):
    return ops.cross_entropy(logits, y)


def mnist_loss(log_probs, y):
    return ops.nll_loss(log_probs, y)
