"""Making a trained model smaller (D0.T2-T4, D4.T3): pruning, quantization, distillation."""
from .distill import distillation_loss, kl_div  # noqa: F401
from .prune import magnitude_prune, sparsity  # noqa: F401
from .quantize import (FakeQuantize, QATLinear, QuantizedLinear, calculate_qparams, dequantize_tensor,  # noqa: F401
                       fake_quantize, model_size_bytes, prepare_qat, quantize_dynamic, quantize_tensor)
