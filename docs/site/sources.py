"""What the generator cannot read from the project: where each item is in the source documents, the order of
the chapters, and the small figure that opens each source document's page (executed at build time)."""

# ID -> (sections of its source document, a short name). Read from the Chinese source documents 000..004;
# a range "§5.2–5.4" spans the sections.
SOURCES = {
    "D0.F1": ("§4.1", "single-layer output"),
    "D0.F2": ("§4.1", "squared-error loss"),
    "D0.F3": ("§4.2", "self-attention"),
    "D0.F4": ("§4.3", "next-token distribution over the vocabulary"),
    "D0.M1": ("§5.2–5.4", "the LSTM language model (the source's \"GPT-3\" example)"),
    "D0.T1": ("§3.2", "the pipeline: preprocess, train, optimise, infer"),
    "D0.T2": ("§2.3, §3.2, §9.2", "magnitude pruning"),
    "D0.T3": ("§2.3, §3.2, §9.2", "quantisation"),
    "D0.T4": ("§2.3, §9.2", "knowledge distillation"),
    "D0.T5": ("§9.3", "training-data cleaning"),
    "D1.F1": ("§4.2–4.3", "two-layer network, forward"),
    "D1.F2": ("§3.2, §4.3", "cross-entropy"),
    "D1.F3": ("§4.3", "backpropagation by hand"),
    "D1.F4": ("§3.1, §4.3", "gradient-descent update"),
    "D1.F5": ("§3.1, §4.2", "activations and their derivatives"),
    "D1.F6": ("§3.2", "standardisation and min-max scaling"),
    "D1.M1": ("§5.2–5.4", "LSTM text classifier, Keras style"),
    "D1.T1": ("§3.3, §8.3, §9.5", "overfitting and regularisation"),
    "D1.T2": ("§7.3", "variational dropout in recurrent networks"),
    "D1.T3": ("§7.3", "attention-based translation (Luong)"),
    "D1.T4": ("§7.3", "generative adversarial networks"),
    "D1.T5": ("§2.2", "mini-batches and data-parallel training"),
    "D2.F1": ("§4.1.1", "matrix product, sum, dot product, L2 normalisation"),
    "D2.F2": ("§3.1.1, §4.1.2", "query, key and value projections"),
    "D2.F3": ("§3.1.1, §4.1.2", "scaled dot-product attention"),
    "D2.F4": ("§4.1.2", "multi-head attention"),
    "D2.F5": ("§4.1.2, §4.2.4", "encoder-decoder (cross) attention"),
    "D2.F6": ("§4.2.3", "position-wise feed-forward block"),
    "D2.F7": ("§4.2.5", "greedy decoding"),
    "D2.M1": ("§3.1.2–3.1.3", "Transformer encoder layer"),
    "D2.M2": ("§3.1.3, §3.2, §4.2.4", "Transformer decoder layer"),
    "D2.M3": ("§3.1.3, §5.2", "encoder-decoder Transformer, trained"),
    "D2.M4": ("§3.2, §4.2", "text-generation pipeline"),
    "D2.T1": ("§2.3", "pre-training and fine-tuning"),
    "D2.T2": ("§2.3, §8.3", "data augmentation"),
    "D2.T3": ("§2.3, §8.3", "learning-rate schedules and batch size"),
    "D2.T4": ("§2.3, §8.3", "L1 and L2 regularisation"),
    "D2.T5": ("§7.2.2, §8.3", "training curves and profiling"),
    "D3.F1": ("§3.1.1", "2-D convolution"),
    "D3.F2": ("§3.1.2", "max and average pooling"),
    "D3.F3": ("§3.2.1.1", "the simple recurrent unit"),
    "D3.F4": ("§3.2.1.2", "LSTM cell"),
    "D3.F5": ("§3.2.1.3", "GRU cell"),
    "D3.F6": ("§3.3.1–3.3.5", "embeddings, recurrent language model, self-attention, Transformer"),
    "D3.M1": ("§4.1", "CIFAR-style CNN"),
    "D3.M2": ("§4.2", "RNN classifier"),
    "D3.T1": ("§6", "evaluation: accuracy, precision, recall, F1"),
    "D3.T2": ("§5.1", "distributed and quantised training"),
    "D3.T3": ("§5.2, §6", "robustness and explanation"),
    "D4.F1": ("§3.4", "convolution"),
    "D4.F2": ("§3.2, §3.4", "attention"),
    "D4.M1": ("§4.1", "MNIST-style CNN"),
    "D4.M2": ("§4.2", "GPT-2-style text generation"),
    "D4.T1": ("§3.3, §8", "distributed training"),
    "D4.T2": ("§3.3", "GAN samples as extra training data"),
    "D4.T3": ("§8", "distillation, pruning and quantisation together"),
    "D4.T4": ("§7, §8", "hardware acceleration"),
}

# The learning path: each notebook in order, with the exercise files (tinygrad_lm/exercises/templates) that go
# with it. Exercise chapter 5 covers both text notebooks; 9 and 10 both follow notebook 10.
CHAPTERS = [
    ("01_autograd", ["ch01_autograd"]),
    ("02_mlp_backprop", ["ch02_mlp_backprop"]),
    ("03_cnn", ["ch03_cnn"]),
    ("04_rnn_lstm_gru", ["ch04_rnn_lstm_gru"]),
    ("05_text_classification", []),
    ("06_lstm_language_model", ["ch05_text"]),
    ("07_seq2seq_attention", ["ch06_seq2seq_attention"]),
    ("08_attention_transformer", ["ch07_attention_transformer"]),
    ("09_gpt", ["ch08_gpt"]),
    ("10_compress_and_techniques", ["ch09_compress", "ch10_techniques"]),
]

_FIGURES = {
    0: '''
# D0.F3: the attention map A = softmax(Q K^T / sqrt(d_k)) of six random tokens, by the library
import numpy as np
import matplotlib.pyplot as plt
import tinygrad_lm as tg
from tinygrad_lm.ops.attention import attention_weights, projections

rng = np.random.default_rng(0)
X = tg.tensor(rng.standard_normal((6, 8)))
Q, K, V = projections(X, *(tg.tensor(rng.standard_normal((8, 4))) for _ in range(3)))
A = attention_weights(Q, K).numpy()
assert np.allclose(A.sum(-1), 1.0)
plt.figure(figsize=(3.2, 2.8))
plt.imshow(A, cmap="viridis")
plt.xlabel("key token"); plt.ylabel("query token"); plt.colorbar(); plt.title("D0.F3: rows sum to 1")
plt.show()
''',
    1: '''
# D1.F5: the activations and their derivatives, the derivatives from the engine's backward passes
import numpy as np
import matplotlib.pyplot as plt
import tinygrad_lm as tg

x = np.linspace(-4, 4, 201)
fig, axes = plt.subplots(1, 3, figsize=(9, 2.6))
for ax, name in zip(axes, ["sigmoid", "tanh", "relu"]):
    t = tg.tensor(x, requires_grad=True)
    y = getattr(t, name)()
    y.sum().backward()
    ax.plot(x, y.numpy(), label=name)
    ax.plot(x, t.grad.numpy(), "--", label=f"{name}'")
    ax.legend(fontsize=8); ax.grid(alpha=0.3)
plt.tight_layout(); plt.show()
''',
    2: '''
# D2.T3: learning-rate schedules, stepped by the library's schedulers
import matplotlib.pyplot as plt
import tinygrad_lm as tg
from tinygrad_lm.optim import SGD
from tinygrad_lm.optim.lr_scheduler import CosineAnnealingLR, StepLR, linear_warmup

def curve(make, steps=60):
    opt = SGD([tg.zeros(1, requires_grad=True)], lr=0.1)
    sched, lrs = make(opt), []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step(); sched.step()
    return lrs

plt.figure(figsize=(6, 2.6))
plt.plot(curve(lambda o: StepLR(o, step_size=20, gamma=0.5)), label="StepLR")
plt.plot(curve(lambda o: CosineAnnealingLR(o, T_max=60)), label="CosineAnnealingLR")
plt.plot(curve(lambda o: linear_warmup(o, warmup_steps=10)), label="linear warm-up")
plt.xlabel("step"); plt.ylabel("learning rate"); plt.legend(fontsize=8); plt.tight_layout(); plt.show()
''',
    3: '''
# D3.F1 and D3.F2: a handwritten digit, convolved with an edge kernel, then max-pooled, by the library
import numpy as np
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
import tinygrad_lm as tg
import tinygrad_lm.nn.functional as F

image = load_digits().images[0] / 16.0
edge = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
y = F.conv2d(tg.tensor(image[None, None]), tg.tensor(edge[None, None]), padding=1)
z = F.max_pool2d(y, 2)
fig, axes = plt.subplots(1, 3, figsize=(7, 2.5))
for ax, (title, a) in zip(axes, [("input 8x8", image), ("conv2d, pad 1", y.numpy()[0, 0]),
                                 ("max_pool2d 2", z.numpy()[0, 0])]):
    ax.imshow(a, cmap="gray"); ax.set_title(title, fontsize=9); ax.axis("off")
plt.tight_layout(); plt.show()
''',
    4: '''
# D4.F2: causal attention weights (each token sees itself and the tokens before it), by the library
import numpy as np
import matplotlib.pyplot as plt
import tinygrad_lm as tg
from tinygrad_lm.ops.attention import attention_weights

rng = np.random.default_rng(1)
Q, K = (tg.tensor(rng.standard_normal((8, 4))) for _ in range(2))
A = attention_weights(Q, K, mask=np.tril(np.ones((8, 8), dtype=bool))).numpy()
assert np.allclose(np.triu(A, 1), 0.0) and np.allclose(A.sum(-1), 1.0)
plt.figure(figsize=(3.2, 2.8))
plt.imshow(A, cmap="magma")
plt.xlabel("key position"); plt.ylabel("query position"); plt.colorbar(); plt.title("D4.F2, causal")
plt.show()
''',
}


def chapter_figure(doc: int) -> str:
    return _FIGURES[doc]
