"""Build notebooks/09_seq2seq_attention.ipynb (committed without outputs): python notebooks/build_09_seq2seq.py"""
from pathlib import Path

import nbformat as nbf

md, code = nbf.v4.new_markdown_cell, nbf.v4.new_code_cell
cells = [
    md("# 09 · Attention-based translation: Luong attention (D1.T3)\n\n"
       "An encoder-decoder of GRUs with global attention (Luong, Pham & Manning 2015), on a **generated** "
       "translation-like task: an invented source language whose translation maps every word through a fixed "
       "dictionary and **reverses** the word order. The data is synthetic, not a real language pair; the "
       "reversal makes the correct alignment an anti-diagonal that the attention has to discover."),
    code("import os, time\nimport matplotlib.pyplot as plt\n"
         "from tinygrad_lm.models import seq2seq_attention as s2s\n"
         "FAST = os.environ.get('TINYGRAD_LM_FAST') == '1'"),
    md("## 1. The generated task\n\nIds 0, 1, 2 are `<pad>`, `<bos>`, `<eos>`. Sentences have 3 to `max_len` "
       "words; the decoder reads `<bos> y` (teacher forcing) and predicts `y <eos>`."),
    code("task = s2s.ReverseDictionaryTask(vocab_size=12, min_len=3, max_len=6, seed=0)\nb = task.sample(3, seed=1)\n"
         "for i in range(3):\n    print(' '.join(task.decode(b.src[i], task.src_vocab)), ' -> ', ' '.join(task.decode(b.tgt_out[i])))"),
    md("## 2. The model\n\nEncoder states $\\bar h_s$, decoder state $h_t$. Three score functions:\n\n"
       "* dot: $\\mathrm{score}(h_t,\\bar h_s) = h_t^\\top \\bar h_s$\n"
       "* general: $h_t^\\top W_a \\bar h_s$\n"
       "* concat: $v_a^\\top \\tanh(W_a[h_t;\\bar h_s])$\n\n"
       "Then $a_t = \\mathrm{softmax}(\\mathrm{score})$ over the real (unpadded) source words, "
       "$c_t = \\sum_s a_{ts}\\bar h_s$, $\\tilde h_t = \\tanh(W_c[c_t;h_t])$ and "
       "$p(y_t\\mid y_{<t},x) = \\mathrm{softmax}(W_s\\tilde h_t)$. We use no input feeding, so in training "
       "the decoder GRU runs over the whole gold target at once."),
    code("steps = 150 if FAST else 500\nheld_out = task.sample(500, seed=10**6)\nmodels, curves = {}, {}\n"
         "for score in ('dot', 'general', 'concat'):\n"
         "    _, model, opt = s2s.setup(score)  # vocab 12, max_len 6, E 16, H 32, Adam lr 1e-2\n"
         "    t0 = time.time()\n    curves[score] = s2s.fit(model, opt, task, steps, 32)\n    models[score] = model\n"
         "    seq, tok = s2s.accuracy(model, held_out)\n"
         "    print(f'{score:8s} {time.time() - t0:5.1f} s  exact-sequence {seq:.3f}  token {tok:.3f}')\n"
         "for score, c in curves.items():\n    plt.plot(c, label=score)\n"
         "plt.yscale('log'); plt.xlabel('Adam step'); plt.ylabel('cross-entropy'); plt.legend(); plt.show()"),
    md("## 3. Attention maps\n\nGreedy decoding from `<bos>`, feeding back the arg-max word. Each row is one "
       "output word, each column a source word: the weight mass should lie on the anti-diagonal."),
    code("ex = task.sample(1, seed=7)\nsrc_words = task.decode(ex.src[0], task.src_vocab)\n"
         "fig, axes = plt.subplots(1, 3, figsize=(13, 4))\n"
         "for ax, (score, model) in zip(axes, models.items()):\n"
         "    ids, maps = model.greedy_decode(ex.src, ex.src_lengths, ex.tgt_out.shape[1])\n"
         "    out_words = task.decode(ids[0]) + ['<eos>']\n    n = min(len(out_words), maps.shape[1])\n"
         "    ax.imshow(maps[0, :n, :len(src_words)], cmap='viridis', vmin=0, vmax=1)\n"
         "    ax.set_xticks(range(len(src_words)), src_words); ax.set_yticks(range(n), out_words[:n])\n"
         "    ax.set_title(f'{score} score'); ax.set_xlabel('source')\n"
         "axes[0].set_ylabel('output'); plt.tight_layout(); plt.show()\n"
         "print('gold:', ' '.join(task.decode(ex.tgt_out[0])))"),
    md("""## Exercises

Exercise chapter 8 practises this notebook (in `ch08_seq2seq_attention.py`):

- **8.1** Luong's three scores: dot, general, concat (D1.T3)
- **8.2** attention weights over the source, context, attentional state (D1.T3)
- **8.3** teacher forcing: decoder inputs and targets (D1.T3, D2.M3)
- **8.4** the sequence loss over real target words (D1.F2, D1.T3)

Write the student files into a folder, fill in the functions, then check them:

```bash
tinygrad-lm exercises start DIR
tinygrad-lm exercises check 8.1 --dir DIR     # or: check --all --dir DIR
```

or from a notebook: `from tinygrad_lm.exercises import check; check("8.1", dot_score, general_score, concat_score)`. All the exercises, and how they are checked: [docs/exercises.md](../docs/exercises.md)."""),
]
nb = nbf.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                "language": "python"}})
nbf.write(nb, Path(__file__).with_name("09_seq2seq_attention.ipynb"))
