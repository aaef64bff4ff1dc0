"""The functional surface of every op, re-exported: plain functions over tensors, shared by ``Tensor``
methods, ``tinygrad_lm.*`` and ``tinygrad_lm.nn.functional``. Each family module holds its Functions
(forward and backward side by side) and ends with its functional wrappers; functions marked *composite*
are built from other ops and differentiated by the engine."""
from .activation import gelu, leaky_relu, log_softmax, relu, sigmoid, softmax, tanh
from .elementwise import (abs, add, clamp, clip, clone, compare, div, dropout, dropout2d, eq, exp, log, masked_fill,
                          mul, neg, pow, sqrt, sub, to, where)
from .embedding import embedding
from .loss import binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, mse_loss, nll_loss
from .matmul import linear, matmul
from .norm import normalize
from .reduce import MaxResult, amax, amin, argmax, argmin, max, mean, min, std, sum, var
from .shape import (cat, chunk, concat, expand, flatten, gather, getitem, index_arrays, index_select, permute,
                    reshape, split, squeeze, stack, transpose, unsqueeze, view)
