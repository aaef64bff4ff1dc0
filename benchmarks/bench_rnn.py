"""Recurrent layers and the recurrent models' training steps, beside PyTorch (float32, CPU)."""
from __future__ import annotations

import numpy as np

from .common import Case


def _lstm_layer(T, B, D, H):
    def ours():
        import tinygrad_lm as tg

        lstm = tg.nn.LSTM(D, H)
        x = tg.tensor(np.random.default_rng(0).standard_normal((T, B, D)).astype(np.float32), requires_grad=True)

        def step():
            out, _ = lstm(x)
            out.sum().backward()
        return step

    def theirs():
        import torch

        lstm = torch.nn.LSTM(D, H)
        x = torch.randn(T, B, D, requires_grad=True)

        def step():
            out, _ = lstm(x)
            out.sum().backward()
        return step
    return ours, theirs


def _model_step(module_name, framework):
    def build():
        import importlib

        return importlib.import_module(f"tinygrad_lm.models.{module_name}").benchmark_step(framework)
    return build


CASES = [
    Case("lstm layer T=100 B=32 in=16 H=32 fwd+bwd", *_lstm_layer(100, 32, 16, 32)),
    Case("lstm layer T=35 B=32 in=256 H=512 fwd+bwd", *_lstm_layer(35, 32, 256, 512)),
    Case("D1.M1 lstm classifier train step", _model_step("lstm_classifier", "tinygrad"),
         _model_step("lstm_classifier", "torch")),
    Case("D0.M1 lstm language model train step", _model_step("lstm_lm", "tinygrad"), _model_step("lstm_lm", "torch")),
    Case("D3.M2 rnn classifier train step", _model_step("rnn", "tinygrad"), _model_step("rnn", "torch")),
]
