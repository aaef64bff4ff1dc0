"""Layers, containers and losses with PyTorch's names."""
from . import functional, init  # noqa: F401
from .layers import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, Dropout, Dropout2d, Embedding,  # noqa: F401
                     Flatten, GELU, Identity, LeakyReLU, Linear, LogSoftmax, MSELoss, ModuleDict, ModuleList, NLLLoss,
                     ReLU, Sequential, Sigmoid, Softmax, Tanh)
from .module import Module, Parameter  # noqa: F401
from . import utils  # noqa: F401
from .recurrent import (GRU, GRUCell, LSTM, LSTMCell, RNN, RNNBase, RNNCell, ElmanCell,  # noqa: F401,E402
                        LinearRecurrentCell)
from .transformer import (LayerNorm, LearnedPositionalEncoding, MultiheadAttention,  # noqa: F401,E402
                          SinusoidalPositionalEncoding, Transformer, TransformerDecoder, TransformerDecoderLayer,
                          TransformerEncoder, TransformerEncoderLayer)
from .conv import AdaptiveAvgPool2d, AvgPool2d, Conv2d, MaxPool2d  # noqa: F401,E402
from .normalization import BatchNorm1d, BatchNorm2d  # noqa: F401,E402
