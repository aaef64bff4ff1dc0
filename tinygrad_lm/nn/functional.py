"""``tinygrad_lm.nn.functional``: the ops as functions, with torch.nn.functional's names."""
from ..ops import (binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, dropout,  # noqa: F401
                   embedding, gelu, leaky_relu, linear, log_softmax, mse_loss, nll_loss, relu, sigmoid, softmax,
                   tanh)
from ..ops.attention import scaled_dot_product_attention  # noqa: F401,E402
from ..ops.norm import batch_norm, layer_norm  # noqa: F401,E402
from ..ops import dropout2d  # noqa: F401,E402
from .recurrent import variational_dropout  # noqa: F401,E402
from ..ops.conv import conv2d  # noqa: F401,E402
from ..ops.pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d  # noqa: F401,E402
from ..ops import normalize  # noqa: F401,E402
from ..ops.pad import pad  # noqa: F401,E402
from ..ops.shape import one_hot  # noqa: F401,E402
