"""The exercise system: the student's workflow through the CLI, error reporting, and chapters 01-05's checks
(each reference solution passes, each stub is "not attempted", and classic wrong answers, the source's own
first, fail, an erratum answer naming its erratum)."""
import numpy as np
import pytest

from tinygrad_lm.cli import main
from tinygrad_lm.exercises import check, list_exercises
from tinygrad_lm.exercises.core import TEMPLATES, check_ids, discover, load_student_file, render, run_check

MINE = [e.id for e in discover().values() if e.key[0] <= 5]


@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    d = tmp_path_factory.mktemp("solved")
    assert main(["exercises", "solve", str(d)]) == 0
    return d


@pytest.fixture(scope="module")
def R(solved):
    """The reference solutions of chapters 1-5, by name."""
    ns = {}
    for path in sorted(solved.glob("ch0[1-5]_*.py")):
        ns.update(load_student_file(path))
    return ns


def test_list_has_one_line_per_exercise_starting_with_its_id(capsys):
    assert main(["exercises", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    exercises = list_exercises()
    assert len(lines) == len(exercises) and len(MINE) >= 15
    for line, ex in zip(lines, exercises, strict=True):
        assert line.split()[0] == ex.id and ex.title in line and all(i in line for i in ex.ids)
    assert len({i for e in exercises if e.key[0] <= 5 for i in e.ids}) >= 22


def test_start_fails_everything_as_not_attempted_and_solve_passes_everything(tmp_path, capsys):
    assert main(["exercises", "start", str(tmp_path / "s")]) == 0
    capsys.readouterr()
    assert main(["exercises", "check", "--all", "--dir", str(tmp_path / "s")]) == 1
    out = capsys.readouterr().out.splitlines()
    n = len(discover())
    assert out[-1] == f"exercises: 0 passed, {n} failed"
    assert all(line.startswith("FAIL") and "not attempted" in line for line in out[:-1]) and len(out) == n + 1
    # solve over the unchanged stubs: rewritten silently
    assert main(["exercises", "solve", str(tmp_path / "s")]) == 0
    capsys.readouterr()
    assert main(["exercises", "check", "--all", "--dir", str(tmp_path / "s")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == f"exercises: {n} passed, 0 failed", "\n".join(out)


def test_check_by_id_defaults_to_the_current_directory(solved, monkeypatch, capsys):
    monkeypatch.chdir(solved)
    assert main(["exercises", "check", "3.2", "1.1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("PASS 3.2") and out[1].startswith("PASS 1.1") and out[-1] == "exercises: 2 passed, 0 failed"
    assert main(["exercises", "check", "9.99"]) == 2
    assert main(["exercises", "check"]) == 2


def test_start_refuses_to_overwrite_a_changed_file_and_force_overrides(tmp_path, capsys):
    d = tmp_path / "s"
    assert main(["exercises", "start", str(d)]) == 0
    assert main(["exercises", "start", str(d)]) == 0  # unchanged stubs: rewritten silently
    student = d / "ch03_cnn.py"
    student.write_text(student.read_text() + "\n# my work\n")
    capsys.readouterr()
    assert main(["exercises", "start", str(d)]) == 1
    assert main(["exercises", "solve", str(d)]) == 1
    err = capsys.readouterr().err
    assert "refusing to overwrite" in err and "ch03_cnn.py" in err and "--force" in err
    assert student.read_text().endswith("# my work\n")
    assert main(["exercises", "start", str(d), "--force"]) == 0
    assert "# my work" not in student.read_text()


def test_syntax_error_and_exception_are_reported_with_the_students_line(tmp_path, capsys):
    d = tmp_path / "s"
    main(["exercises", "start", str(d)])
    path = d / "ch01_autograd.py"
    lines = path.read_text().splitlines()
    n = next(i for i, line in enumerate(lines) if "exercise 1.2" in line)  # MatMul.forward's stub line
    indent = lines[n][:len(lines[n]) - len(lines[n].lstrip())]
    for code, error in (("return (((", "SyntaxError"), ("return self.nonexistent", "AttributeError")):
        lines[n] = indent + code
        path.write_text("\n".join(lines) + "\n")
        capsys.readouterr()
        assert main(["exercises", "check", "1.2", "--dir", str(d)]) == 1
        out = capsys.readouterr().out
        assert f"ch01_autograd.py, line {n + 1}" in out and error in out and "Traceback" not in out, out


def test_student_files_are_loaded_afresh_on_every_check(tmp_path):
    d = tmp_path / "s"
    main(["exercises", "solve", str(d)])
    assert check_ids(["3.4"], d)[0].passed
    path = d / "ch03_cnn.py"
    text = path.read_text()
    path.write_text(text.replace("// stride + 1", "// stride"))  # same length class of edit, same second
    assert not check_ids(["3.4"], d)[0].passed
    path.write_text(text)
    assert check_ids(["3.4"], d)[0].passed


def test_notebook_api(R, capsys):
    assert check("3.2", R["maxpool2d"], R["maxpool2d_backward"]) is True
    assert check("3.4", lambda size, kernel, stride=1, padding=0, dilation=1: size) is False
    out = capsys.readouterr().out
    assert "PASS 3.2" in out and "FAIL 3.4" in out and out.rstrip().endswith("exercises: 0 passed, 1 failed")
    with pytest.raises(TypeError, match="takes 2"):
        check("3.2", R["maxpool2d"])


def test_render_keeps_indentation_and_rejects_broken_markers():
    text = "def f():\n    ### BEGIN SOLUTION (9.9) hint: think\n    return 1\n    ### END SOLUTION\n"
    assert render(text, False) == "def f():\n    raise NotImplementedError('exercise 9.9: think')\n"
    assert render(text, True) == "def f():\n    return 1\n"
    with pytest.raises(ValueError, match="never closed"):
        render(text.replace("    ### END SOLUTION\n", ""), False)
    for path in TEMPLATES.glob("ch0[1-5]_*.py"):  # every block names its exercise and gives a hint
        for line in path.read_text().splitlines():
            if "### BEGIN SOLUTION" in line:
                assert "(" in line and "hint:" in line, f"{path.name}: {line}"


# ---- wrong variants: each must fail; an erratum answer must name its erratum -------------------------------

def _v11(R):
    class Mul(R["Mul"]):
        def backward(self, grad):  # no unbroadcast
            return grad * self.b, grad * self.a
    return {"Mul": Mul}


def _v11b(R):
    class Sum(R["Sum"]):
        def backward(self, grad):  # ignores the summed axes
            return np.broadcast_to(grad, self.shape) if self.keepdim else np.ones(self.shape) * grad.mean()
    return {"Sum": Sum}


def _v12(R):
    class MatMul(R["MatMul"]):
        def backward(self, grad):  # missing transposes
            return grad @ self.B, self.A @ grad
    return {"MatMul": MatMul}


def _v13(R):
    class Sigmoid(R["Sigmoid"]):
        def backward(self, grad):  # divides by sigma' (the source's D1.F3 slip)
            return grad / (self.y * (1 - self.y))
    return {"Sigmoid": Sigmoid}


def _v14(R):
    class Normalize(R["Normalize"]):
        def forward(self, x, eps=1e-12):  # the source's v / |v|
            self.n = np.sqrt((x * x).sum(axis=-1, keepdims=True))
            self.clamped = self.n < 0
            self.y = x / self.n
            return self.y
    return {"Normalize": Normalize}


def _v24_hidden(R):
    return {"hidden_error": lambda dz3, W2, a2: (dz3 @ W2) / (a2 * (1 - a2))}


def _maxpool_all_ties(x, grad_out, k, s):
    dx = np.zeros_like(x)
    for i in range(grad_out.shape[2]):
        for j in range(grad_out.shape[3]):
            win = x[:, :, i * s:i * s + k, j * s:j * s + k]
            hit = win == win.max(axis=(2, 3), keepdims=True)
            dx[:, :, i * s:i * s + k, j * s:j * s + k] += hit * grad_out[:, :, i, j][:, :, None, None]
    return dx


def _maxpool_no_stride(x, k, s):
    return np.max([x[:, :, n:x.shape[2] - k + 1 + n, m:x.shape[3] - k + 1 + m] for n in range(k) for m in range(k)], 0)


def _im2col_wrong_order(R):
    def im2col(x, kh, kw, stride=1, padding=0, dilation=1):  # rows ordered (n, m, c) instead of (c, n, m)
        cols = R["im2col"](x, kh, kw, stride, padding, dilation)
        B, C = x.shape[:2]
        return cols.reshape(B, C, kh * kw, -1).transpose(0, 2, 1, 3).reshape(B, C * kh * kw, -1)
    return {"im2col": im2col}


def _lstm_sigmoid_candidate(R):
    def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
        i, f, g, o = np.split(R["sigmoid"](x @ W_ih.T + b_ih + h @ W_hh.T + b_hh), 4, axis=1)
        c = f * c + i * g
        return o * np.tanh(c), c
    return {"lstm_cell": lstm_cell}


def _lstm_backward_no_h_path(R):
    def lstm_cell_backward(x, h, c, W_ih, W_hh, b_ih, b_hh, grad_h, grad_c):
        return R["lstm_cell_backward"](x, h, c, W_ih, W_hh, b_ih, b_hh, grad_h, grad_c) | {"c": grad_c * 0.5}
    return {"lstm_cell_backward": lstm_cell_backward}


def _gru_swapped_z(R):
    def gru_cell(x, h, W_ih, W_hh, b_ih, b_hh):
        new = R["gru_cell"](x, h, W_ih, W_hh, b_ih, b_hh)  # (1-z) n + z h  ->  z n + (1-z) h
        z = R["sigmoid"](np.split(x @ W_ih.T + b_ih, 3, axis=1)[1] + np.split(h @ W_hh.T + b_hh, 3, axis=1)[1])
        n = (new - z * h) / (1 - z)
        return z * n + (1 - z) * h
    return {"gru_cell": gru_cell}


def _gru_reset_before(R):
    def gru_cell(x, h, W_ih, W_hh, b_ih, b_hh):
        H = h.shape[1]
        xr, xz, xn = np.split(x @ W_ih.T + b_ih, 3, axis=1)
        hr, hz, _ = np.split(h @ W_hh.T + b_hh, 3, axis=1)
        r, z = R["sigmoid"](xr + hr), R["sigmoid"](xz + hz)
        n = np.tanh(xn + (r * h) @ W_hh[2 * H:].T + b_hh[2 * H:])
        return (1 - z) * n + z * h
    return {"gru_cell": gru_cell}


def _rnn_per_step(R):
    def rnn_classifier(x, W_ih, W_hh, b_ih, b_hh, W_fc, b_fc):
        h, out = np.zeros((x.shape[0], W_hh.shape[1])), []
        for t in range(x.shape[1]):
            h = np.tanh(x[:, t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
            out.append(h @ W_fc.T + b_fc)
        return np.stack(out, axis=1)
    return {"rnn_classifier": rnn_classifier}


def _dropout_per_step(x, p, rng):
    return x if p == 0 else x * (rng.random(x.shape) >= p) / (1 - p)


def _dropout_one_mask_for_batch(x, p, rng):
    return x if p == 0 else x * (rng.random((1, 1, x.shape[2])) >= p) / (1 - p)


def _sequences_le(R):
    def texts_to_sequences(texts, word_index, num_words=None):
        out = R["texts_to_sequences"](texts, word_index, None)
        return [[i for i in s if num_words is None or i <= num_words] for s in out]
    return {"texts_to_sequences": texts_to_sequences}


def _index_alphabetical(R):
    def fit_word_index(texts):
        index = R["fit_word_index"](texts)
        return {w: i for i, w in enumerate(sorted(index, key=lambda w: (index[w] > 3, w)), start=1)}
    return {"fit_word_index": fit_word_index}


def _pad_post_default(R):
    def pad_sequences(sequences, maxlen=None, padding="post", truncating="post", value=0):
        return R["pad_sequences"](sequences, maxlen, padding, truncating, value)
    return {"pad_sequences": pad_sequences}


def _perplexity_with_pads(R):
    return {"perplexity": lambda logits, targets, pad_id: R["perplexity"](logits, targets, -1)}


def _embedding_assign(indices, grad_out, n, padding_idx=None):
    dE = np.zeros((n, grad_out.shape[-1]))
    dE[np.asarray(indices).reshape(-1)] = grad_out.reshape(-1, grad_out.shape[-1])
    if padding_idx is not None:
        dE[padding_idx] = 0
    return dE


def _bad(**entries):
    return lambda R: entries


WRONG = [  # (id, make(R) -> {entry: wrong object}, what the FAIL line must contain)
    ("1.1", _v11, "Mul backward"),
    ("1.1", _v11b, "Sum(dim="),
    ("1.1", lambda R: {"Exp": type("Exp", (R["Exp"],), {"backward": lambda self, g: g})}, "Exp backward"),
    ("1.2", _v12, "FAIL 1.2"),
    ("1.3", _v13, "Sigmoid backward"),
    ("1.4", _v14, "erratum D2.F1"),
    ("1.5", _bad(chain_rule_numbers=lambda: (np.exp(-1.5) * -2.0, np.exp(-1.5) * 4 - 2, np.exp(-1.5) * 2)), "dL/da"),
    ("2.1", _bad(two_layer_forward=lambda x, W1, b1, W2, b2: (x @ W1, x, x, x)), "FAIL 2.1"),
    ("2.2", lambda R: {"softmax_cross_entropy": lambda z, t, eps: (R["softmax_cross_entropy"](z, t, eps * 0.9))},
     "label_smoothing"),
    ("2.2", lambda R: {"softmax_cross_entropy": lambda z, t, eps: (R["softmax_cross_entropy"](z, t, eps)[0],
                                                                     R["softmax_cross_entropy"](z, t, eps)[1] * len(z))},
     "gradient"),
    ("2.3", lambda R: {"backprop_numbers": lambda: R["backprop_numbers"]() | {"z3": R["source_output_error"](
        R["two_layer_forward"](R["X"], R["W1"], R["B1"], R["W2"], R["B2"])[3], R["Y"])}}, "erratum D1.F3"),
    ("2.4", lambda R: {"output_error": R["source_output_error"]}, "erratum D1.F3"),
    ("2.4", _v24_hidden, "hidden error"),
    ("2.5", _bad(standardize_split=lambda a, b: ((a - a.mean(0)) / (a.std(0, ddof=1) + (a.std(0) == 0)),
                                                 (b - a.mean(0)) / (a.std(0, ddof=1) + (a.std(0) == 0)))), "training split"),
    ("2.5", _bad(standardize_split=lambda a, b: ((a - a.mean(0)) / np.where(a.std(0) == 0, 1, a.std(0)),
                                                 (b - b.mean(0)) / np.where(b.std(0) == 0, 1, b.std(0)))), "test split"),
    ("2.5", _bad(sgd_l2_step=lambda w, g, lr, wd: w - lr * (g + wd / 2 * w)), "SGD step"),
    ("3.1", lambda R: {"conv2d_loops": lambda x, w, b, s=1, p=0, d=1: R["conv2d_loops"](x, w[:, :, ::-1, ::-1], b, s, p, d)},
     "flipped the kernel"),
    ("3.1", lambda R: {"conv2d_loops": lambda x, w, b, s=1, p=0, d=1: R["conv2d_loops"](x, w, b, s, p, 1)}, "dilation"),
    ("3.2", lambda R: {"maxpool2d_backward": _maxpool_all_ties}, "with ties"),
    ("3.2", lambda R: {"maxpool2d": _maxpool_no_stride}, "erratum D3.F2"),
    ("3.3", _im2col_wrong_order, "im2col"),
    ("3.4", _bad(conv_output_size=lambda n, k, s=1, p=0, d=1: (n + 2 * p - d * (k - 1) - 1) // s), "FAIL 3.4"),
    ("3.4", _bad(conv_output_size=lambda n, k, s=1, p=0, d=1: n + 2 * p - d * (k - 1)), "erratum D3.F2"),
    ("3.4", _bad(conv_output_size=lambda n, k, s=1, p=0, d=1: (n + 2 * p - k) // s + 1), "dilation"),
    ("3.5", _bad(mnist_flatten_size=lambda h, w: 64 * 7 * 7), "erratum D4.M1"),
    ("3.5", _bad(cifar_flatten_size=lambda h, w: 64 * (h // 4) * (w // 4) if h % 4 == 0 else 64 * round(h / 4) * round(w / 4)),
     "CIFAR"),
    ("4.1", _lstm_sigmoid_candidate, "erratum D3.F4"),
    ("4.2", _lstm_backward_no_h_path, "dL/dc"),
    ("4.3", _gru_swapped_z, "FAIL 4.3"),
    ("4.3", _gru_reset_before, "FAIL 4.3"),
    ("4.4", _rnn_per_step, "erratum D3.M2"),
    ("4.5", _bad(variational_dropout=_dropout_per_step), "changes over time"),
    ("4.5", _bad(variational_dropout=_dropout_one_mask_for_batch), "same mask"),
    ("5.1", _sequences_le, "num_words"),
    ("5.1", _index_alphabetical, "word index"),
    ("5.2", _pad_post_default, "pad_sequences"),
    ("5.3", _bad(next_token_accuracy=lambda z, t: float((z.argmax(axis=1) == t).mean())), "erratum D0.M1"),
    ("5.3", lambda R: {"lm_inputs_targets": lambda tok, L: (R["lm_inputs_targets"](tok, L)[0],) * 2}, "targets"),
    ("5.4", _perplexity_with_pads, "perplexity"),
    ("5.4", lambda R: {"perplexity": lambda z, t, p: np.log2(R["perplexity"](z, t, p))}, "perplexity"),
    ("5.5", _bad(embedding_backward=_embedding_assign), "repeated indices"),
]


@pytest.mark.parametrize("exercise_id", MINE)
def test_reference_passes_and_stub_is_not_attempted(exercise_id, R, tmp_path):
    ex = discover()[exercise_id]
    result = run_check(ex, [R[e] for e in ex.entry])
    assert result.passed, result.reason
    assert result.seconds < 5
    stub = {}
    exec(compile(render((TEMPLATES / f"{ex.file}.py").read_text(), False), ex.file, "exec"), stub)
    result = run_check(ex, [stub[e] for e in ex.entry])
    assert not result.passed and result.reason.startswith("not attempted"), result.reason


@pytest.mark.parametrize("exercise_id,make,expected", WRONG, ids=[f"{w[0]}-{i}" for i, w in enumerate(WRONG)])
def test_wrong_variant_fails(exercise_id, make, expected, R):
    ex = discover()[exercise_id]
    objects = dict(zip(ex.entry, (R[e] for e in ex.entry), strict=True)) | make(R)
    assert set(objects) == set(ex.entry)
    result = run_check(ex, [objects[e] for e in ex.entry])
    assert not result.passed
    assert expected in result.line(), result.line()
    if "erratum" not in expected:
        assert "source's mistake" not in result.reason, result.reason


def test_every_exercise_of_chapters_1_to_5_has_a_wrong_variant_and_every_erratum_one_names_it():
    assert {w[0] for w in WRONG} == set(MINE)
    for ex in discover().values():
        if ex.key[0] <= 5 and ex.kind == "erratum":
            assert any(w[0] == ex.id and "erratum" in w[2] for w in WRONG), ex.id
