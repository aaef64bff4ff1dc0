"""A whole recurrent sequence as one node (D3.F3 Elman, D3.F4 LSTM, D3.F5 GRU): forward through time
and backward through time each run in one fused kernel (kernels/recurrent.py)."""
from __future__ import annotations

from ..autograd import Function
from ..backend import device_of, kernel, xp

MODES = ("rnn_tanh", "rnn_relu", "lstm", "gru")
GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


class Recurrence(Function):
    """One layer-direction of a recurrent network over T steps, given the input projections.

    Inputs: xw (T, B, G) = x_t W_ih^T + b_ih for every t (one matmul, done by the caller), W_hh (G, H),
    b_hh (G,) or None, h0 (B, H), and for the LSTM c0 (B, H). Output: ``packed`` (T + 1, B, H) = the
    outputs h_1..h_T (0 on padded steps), then the final h; the LSTM adds the final c as row T + 1.

    Forward (per step, gates in PyTorch's order; m the variational mask on h, D1.T2):
        RNN   h_t = act(xw_t + (m h_{t-1}) W_hh^T + b_hh)
        LSTM  [i f g o] = [sigma sigma tanh sigma](xw_t + (m h_{t-1}) W_hh^T + b_hh),
              c_t = f c_{t-1} + i g,  h_t = o tanh(c_t)
        GRU   u = (m h_{t-1}) W_hh^T + b_hh,  r, z = sigma(xw_{r,z} + u_{r,z}),  n = tanh(xw_n + r u_n),
              h_t = (1 - z) n + z h_{t-1}
    Backward through time (the kernel) gives dL/dxw_t and dL/du_t for every t, then
        dL/dW_hh = sum_t du_t^T (m h_{t-1}),  dL/db_hh = sum_t du_t    (one matmul over all steps).
    ``mask`` (T, B) marks real steps (padded steps hold the state); ``reverse`` walks t = T-1..0.
    """

    saves_inputs = (1,)
    operands = ("input", "weight_hh", "bias_hh", "h_0", "c_0")

    def forward(self, xw, w_hh, b_hh, h0, c0=None, mode="lstm", mask=None, hmask=None, reverse=False):
        if mode not in MODES:
            raise ValueError(f"recurrence: mode must be one of {MODES}, got {mode!r}")
        m = xp(xw)
        T, B, G = xw.shape
        H = w_hh.shape[1]
        if G != GATES[mode] * H or w_hh.shape[0] != G:
            raise ValueError(f"recurrence ({mode}): input projections of shape {tuple(xw.shape)} do not fit "
                             f"W_hh of shape {tuple(w_hh.shape)} (need {GATES[mode]} x {H} = "
                             f"{GATES[mode] * H} gate rows)")
        if tuple(h0.shape) != (B, H):
            raise ValueError(f"recurrence: h0 has shape {tuple(h0.shape)}, expected {(B, H)}")
        mask = m.ones((T, B), dtype=bool) if mask is None else mask.astype(bool, copy=False)
        self.dropped = hmask is not None
        hmask = m.ones((B, H), dtype=xw.dtype) if hmask is None else hmask.astype(xw.dtype, copy=False)
        b = m.zeros(G, dtype=xw.dtype) if b_hh is None else b_hh
        self.device, self.mode, self.mask, self.hmask, self.reverse = device_of(xw), mode, mask, hmask, reverse
        self.w_hh, self.has_bias = w_hh, b_hh is not None
        kind, args = self._kind()
        if mode == "lstm":
            packed, self.saved = kernel(f"{kind}_forward", self.device)(xw, w_hh, b, h0, c0, mask, hmask, reverse)
        else:
            packed, self.saved = kernel(f"{kind}_forward", self.device)(xw, w_hh, b, h0, mask, hmask, reverse, *args)
        return packed

    def _kind(self):
        if self.mode.startswith("rnn"):
            return "rnn", (self.mode[4:],)
        return self.mode, ()

    def backward(self, g):
        kind, args = self._kind()
        grads = kernel(f"{kind}_backward", self.device)(g, self.saved, self.w_hh, self.mask, self.hmask,
                                                         self.reverse, *args)
        dxw, du, dh0 = grads[:3]
        hprev = self.saved[0] * self.hmask if self.dropped else self.saved[0]
        G, H = self.w_hh.shape
        dw = du.reshape(-1, G).T @ hprev.reshape(-1, H) if self.needs_input_grad[1] else None
        db = du.sum(axis=(0, 1)) if self.has_bias and self.needs_input_grad[2] else None
        return (dxw, dw, db, dh0) + tuple(grads[3:])
