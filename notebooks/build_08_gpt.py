"""Build notebooks/08_gpt.ipynb (committed without outputs): python notebooks/build_08_gpt.py"""
from pathlib import Path

import nbformat as nbf

md, code = nbf.v4.new_markdown_cell, nbf.v4.new_code_cell
cells = [
    md("# 08 · A small GPT on CPython's documentation (D4.M2)\n\n"
       "The inventory's document 004 loads a pretrained GPT-2 and calls `generate`. No weights can be downloaded "
       "here, so we build every piece ourselves: a **byte-level BPE tokenizer**, a **decoder-only Transformer** "
       "(pre-LayerNorm, tied embeddings), and **`generate`** with a key-value cache and the usual sampling "
       "strategies. The corpus is the documentation text that ships with Python (`pydoc_data.topics`)."),
    code("import os, time\nimport numpy as np\nimport matplotlib.pyplot as plt\nimport tinygrad_lm as tg\n"
         "from tinygrad_lm.data.bpe import ByteLevelBPETokenizer\nfrom tinygrad_lm.data.text import pydoc_corpus\n"
         "from tinygrad_lm.models.gpt import (GPT, GPTConfig, evaluate, get_batch, make_optimizer, prepare_tokens,\n"
         "                                    top_k_filter, top_p_filter, train_step)\n"
         "FAST = os.environ.get('TINYGRAD_LM_FAST') == '1'\ntg.manual_seed(0)"),
    md("## 1. Byte-level BPE\n\nStart from the 256 byte values (so any string can be encoded), then repeatedly "
       "merge the most frequent adjacent pair into a new token. Pre-tokenization keeps merges inside words."),
    code("text = pydoc_corpus('train')\nprint(f'{len(text):,} characters of training text')\n"
         "tok = ByteLevelBPETokenizer.train(text, vocab_size=384 if FAST else 1024)\nprint(tok)\n"
         "print('first merges:', [tok.token_str(i) for i in range(256, 276)])\n"
         "s = 'The assert statement raises AssertionError — naïve café 🐍'\nids = tok.encode(s)\n"
         "print(len(s.encode()), 'bytes ->', len(ids), 'tokens:', [tok.token_str(i) for i in ids])\n"
         "assert tok.decode(ids) == s"),
    code("sizes = [300, 384, 512] if FAST else [300, 512, 1024, 2048]\nsample = text[:50000]\nratios = []\n"
         "for v in sizes:\n    t = ByteLevelBPETokenizer.train(text, vocab_size=v)\n"
         "    ratios.append(len(sample.encode()) / len(t.encode(sample)))\n"
         "plt.plot(sizes, ratios, 'o-'); plt.xlabel('vocabulary size'); plt.ylabel('bytes per token')\n"
         "plt.title('BPE compression of the documentation'); plt.show()"),
    md("## 2. Training\n\n$h_0 = E_{tok}[x_t] + E_{pos}[t]$; each block computes $h + \\mathrm{Attn}(\\mathrm{LN}(h))$ "
       "then $+\\,\\mathrm{MLP}(\\mathrm{LN}(\\cdot))$; the next-token distribution is "
       "$\\mathrm{softmax}(\\mathrm{LN}(h_L) E_{tok}^T)$ (D0.F4, tied weights). AdamW, gradient clipping at 1."),
    code("tok, train_ids, val_ids = prepare_tokens(0, tok)\n"
         "cfg = GPTConfig(vocab_size=tok.vocab_size, block_size=32 if FAST else 128, n_layer=2 if FAST else 4,\n"
         "                n_head=2 if FAST else 4, n_embd=48 if FAST else 128, dropout=0.0)\n"
         "model = GPT(cfg)\noptimizer = make_optimizer(model, 3e-3 if FAST else 1e-3)\n"
         "steps, every = (60, 20) if FAST else (1500, 100)\nrng = np.random.default_rng(0)\n"
         "history = {'loss': [], 'val_loss': []}\nrunning, t0 = [], time.time()\n"
         "print(f'{model.num_parameters():,} parameters; untrained validation loss {evaluate(model, val_ids, cfg.block_size):.3f}')\n"
         "for step in range(steps):\n    x, y = get_batch(train_ids, 16, cfg.block_size, rng)\n"
         "    running.append(train_step(model, optimizer, x, y))\n    if (step + 1) % every == 0:\n"
         "        history['loss'].append(np.mean(running)); running = []\n"
         "        history['val_loss'].append(evaluate(model, val_ids, cfg.block_size))\n"
         "        print(f\"step {step + 1}: train {history['loss'][-1]:.3f}  validation {history['val_loss'][-1]:.3f}  \"\n"
         "              f'({time.time() - t0:.0f}s)')"),
    code("plt.plot(np.arange(1, len(history['loss']) + 1) * every, history['loss'], label='train')\n"
         "plt.plot(np.arange(1, len(history['val_loss']) + 1) * every, history['val_loss'], label='validation')\n"
         "plt.xlabel('step'); plt.ylabel('cross-entropy (nats/token)'); plt.legend(); plt.show()"),
    md("## 3. Sampling strategies\n\n* **greedy**: argmax at each step (D2.F7) — deterministic, tends to loop;\n"
       "* **temperature** $T$: sample from $\\mathrm{softmax}(z/T)$ — low $T$ sharpens, high $T$ flattens;\n"
       "* **top-k**: keep the $k$ most likely tokens;\n* **top-p** (nucleus): keep the fewest tokens whose "
       "probabilities sum to at least $p$."),
    code("z = np.log(np.array([[0.45, 0.25, 0.15, 0.1, 0.05]]))\nfig, axes = plt.subplots(1, 4, figsize=(14, 2.6))\n"
         "def probs(l):\n    e = np.exp(l - l.max()); return (e / e.sum())[0]\n"
         "for ax, (name, l) in zip(axes, [('T = 1', z), ('T = 0.5', z / 0.5), ('top-k = 2', top_k_filter(z, 2)),\n"
         "                                 ('top-p = 0.8', top_p_filter(z, 0.8))]):\n"
         "    ax.bar(range(5), probs(l)); ax.set_title(name); ax.set_ylim(0, 1)\nplt.show()"),
    code("prompt = np.array([tok.encode('The ')])\nstrategies = {'greedy': {}, 'temperature 0.7': dict(do_sample=True, temperature=0.7),\n"
         "              'temperature 1.3': dict(do_sample=True, temperature=1.3), 'top-k 20': dict(do_sample=True, top_k=20),\n"
         "              'top-p 0.9': dict(do_sample=True, top_p=0.9)}\n"
         "for name, kw in strategies.items():\n    tg.manual_seed(1)\n"
         "    out = model.generate(prompt, max_length=50, eos_token_id=tok.eos_token_id, **kw)\n"
         "    print(f'--- {name}\\n{tok.decode(out.numpy()[0], skip_special_tokens=True)}\\n')"),
    md("## 4. The key-value cache\n\nWithout a cache every new token re-runs the whole prefix; with it each step "
       "computes one position and appends its keys and values. The tokens are identical:"),
    code("tokens = {}\nfor use_cache in (False, True):\n    tg.manual_seed(3); t0 = time.time()\n"
         "    out = model.generate(prompt, max_length=40 if FAST else 120, use_cache=use_cache)\n"
         "    print(f'use_cache={use_cache}: {(out.shape[1] - 2) / (time.time() - t0):.0f} tokens/s')\n"
         "    tokens[use_cache] = out.numpy()\nassert (tokens[True] == tokens[False]).all()"),
    md("**About document 004's example.** It loads `GPT2Model`, the Transformer *without* its language-modelling "
       "head, and calls `generate` on it; generation needs next-token logits, i.e. `GPT2LMHeadModel` (our "
       "`GPT.lm_head`). `max_length=50` also counts the prompt's tokens, as here."),
    md("""## Exercises

Exercise chapter 7 practises this notebook (in `ch07_gpt.py`):

- **7.1** one byte-pair-encoding merge (D4.M2)
- **7.2** top-k and top-p (nucleus) filtering (D4.M2, D2.F7)
- **7.3** one attention step with a key-value cache (D4.M2, D2.F3)
- **7.4** LayerNorm forward and backward (D2.M1, D4.M2)

Write the student files into a folder, fill in the functions, then check them:

```bash
tinygrad-lm exercises start DIR
tinygrad-lm exercises check 7.1 --dir DIR     # or: check --all --dir DIR
```

or from a notebook: `from tinygrad_lm.exercises import check; check("7.1", bpe_merge_step)`. All the exercises, and how they are checked: [docs/exercises.md](../docs/exercises.md)."""),
]
nb = nbf.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                "language": "python"}})
nbf.write(nb, Path(__file__).with_name("08_gpt.ipynb"))
