"""Layers, containers and losses with PyTorch's names."""
from . import functional, init  # noqa: F401
from .layers import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, Dropout, Embedding, Flatten, GELU,  # noqa: F401
                     Identity, LeakyReLU, Linear, LogSoftmax, MSELoss, ModuleDict, ModuleList, NLLLoss, ReLU,
                     Sequential, Sigmoid, Softmax, Tanh)
from .module import Module, Parameter  # noqa: F401
from . import utils  # noqa: F401
