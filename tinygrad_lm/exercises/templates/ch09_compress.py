"""Chapter 09 exercises: compression, pruning, int8 quantisation, distillation (notebook 10_compress_and_techniques).

Plain Python and NumPy, float64. Check one exercise with ``tinygrad-lm exercises check 9.1 --dir DIR``.
"""
import numpy as np


# ---- 9.1 magnitude pruning masks (D0.T2, D4.T3) -----------------------------------------------------------------------
def magnitude_prune_mask(w, amount):
    """A 0/1 float mask of w's shape that prunes a fraction ``amount`` (in [0, 1]) of w by magnitude, as
    torch.nn.utils.prune.l1_unstructured: k = round(amount * w.size) (Python's round: halves to even), and
    exactly the k entries of smallest |w| get 0. Among equal magnitudes the entry with the smaller flat
    (row-major) index is pruned first."""
    ### BEGIN SOLUTION (9.1) hint: exactly k zeros, even with ties: rank |w| with a stable sort instead of comparing with a threshold
    k = int(round(amount * w.size))
    mask = np.ones(w.size)
    mask[np.argsort(np.abs(w).reshape(-1), kind="stable")[:k]] = 0.0
    return mask.reshape(w.shape)
    ### END SOLUTION


def global_prune_masks(weights, amount):
    """Global pruning: one ranking over all the arrays in ``weights`` (a list) together, k = round(amount * total
    size), the k smallest |w| overall get 0 (ties: smaller index in the concatenation of the flattened arrays,
    in list order). Returns a list of masks, one per array, each of its array's shape."""
    ### BEGIN SOLUTION (9.1) hint: flatten and concatenate, prune once, then cut the mask back into the arrays' shapes
    flat = np.concatenate([w.reshape(-1) for w in weights])
    mask = magnitude_prune_mask(flat, amount)
    bounds = np.cumsum([0] + [w.size for w in weights])
    return [mask[a:b].reshape(w.shape) for w, a, b in zip(weights, bounds[:-1], bounds[1:], strict=True)]
    ### END SOLUTION


# ---- 9.2 int8 affine quantisation (D0.T3, D3.T2, D4.T3) ---------------------------------------------------------------
def int8_qparams(x, qmin=-128, qmax=127):
    """Asymmetric (affine) parameters (scale, zero_point) for the array x, as PyTorch's MinMaxObserver: the range
    is widened to hold 0, lo = min(x.min(), 0), hi = max(x.max(), 0);
    scale = max((hi - lo) / (qmax - qmin), eps) with eps = np.finfo(np.float32).eps (about 1.19e-07, so an
    all-zero x still gets a valid scale);
    zero_point = qmin - round(lo / scale) (np.round: halves to even), clipped to [qmin, qmax], an int."""
    ### BEGIN SOLUTION (9.2) hint: widen the range to hold 0 first, so that 0.0 is exactly representable
    lo, hi = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
    scale = max((hi - lo) / (qmax - qmin), float(np.finfo(np.float32).eps))
    zero_point = int(np.clip(qmin - np.round(lo / scale), qmin, qmax))
    return scale, zero_point
    ### END SOLUTION


def quantize(x, scale, zero_point, qmin=-128, qmax=127):
    """q = clamp(round(x / scale) + zero_point, qmin, qmax) as int64 (np.round: halves to even)."""
    ### BEGIN SOLUTION (9.2) hint: round, shift by the zero point, then clamp
    return np.clip(np.round(x / scale) + zero_point, qmin, qmax).astype(np.int64)
    ### END SOLUTION


def dequantize(q, scale, zero_point):
    """x_hat = scale (q - zero_point), float64."""
    ### BEGIN SOLUTION (9.2) hint: subtract the zero point before scaling
    return scale * (np.asarray(q, dtype=np.float64) - zero_point)
    ### END SOLUTION


# ---- 9.3 the distillation loss (D0.T4, D4.T3) --------------------------------------------------------------------------
def distillation_loss(student_logits, teacher_logits, labels, T, alpha):
    """Hinton's loss, a float: alpha T^2 KL(p || q) + (1 - alpha) CE(student_logits, labels), where
    p = softmax(teacher_logits / T), q = softmax(student_logits / T), KL(p || q) = sum_c p_c (log p_c - log q_c)
    averaged over the batch, and CE the mean cross-entropy of the student's logits (temperature 1) on the integer
    labels. Logits (N, C), labels (N,)."""
    ### BEGIN SOLUTION (9.3) hint: soften BOTH distributions with T, and multiply the KL term by T^2 (its gradient shrinks as 1/T^2)
    def log_softmax(z):
        z = z - z.max(axis=-1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))

    log_p, log_q = log_softmax(teacher_logits / T), log_softmax(student_logits / T)
    kl = (np.exp(log_p) * (log_p - log_q)).sum(axis=-1).mean()
    ce = -log_softmax(student_logits)[np.arange(len(labels)), labels].mean()
    return float(alpha * T * T * kl + (1 - alpha) * ce)
    ### END SOLUTION


# ---- 9.4 erratum hunt: what compression saves (D4.T3, D0.T2, D0.T3) ------------------------------------------------------
# The source lists quantisation (with distillation and pruning) as a way to reduce a model's number of parameters.
# Its claim, as a function: quantising n float32 weights to b bits leaves n * b / 32 parameters.
def compressed_footprint(num_params, prune_amount, bits):
    """A float32 weight tensor of ``num_params`` entries, magnitude-pruned by ``prune_amount`` (unstructured, the
    zeros stored in place: dense storage) and then quantised to ``bits`` bits per weight. Returns
    (stored_parameters, nonzero_parameters, storage_bytes): the entries stored, how many of them are not zero
    (k = round(prune_amount * num_params) are), and bytes = stored_parameters * bits / 8 (a float)."""
    ### BEGIN SOLUTION (9.4) hint: quantisation keeps every parameter and stores each in fewer bits; dense pruning keeps them too
    zeros = int(round(prune_amount * num_params))
    return num_params, num_params - zeros, num_params * bits / 8
    ### END SOLUTION
