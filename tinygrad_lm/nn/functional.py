"""``tinygrad_lm.nn.functional``: the ops as functions, with torch.nn.functional's names."""
from ..ops import (binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, dropout,  # noqa: F401
                   embedding, gelu, leaky_relu, linear, log_softmax, mse_loss, nll_loss, relu, sigmoid, softmax,
                   tanh)
