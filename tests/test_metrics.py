"""D3.T1: accuracy, precision, recall, F1 and the confusion matrix equal scikit-learn's."""
import numpy as np
import pytest
import sklearn.metrics as skm
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_lm as tg
from tinygrad_lm.train import metrics


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 40), k=st.integers(1, 6), seed=st.integers(0, 10_000),
       average=st.sampled_from([None, "micro", "macro", "weighted"]),
       subset=st.booleans())
def test_precision_recall_f1_equal_sklearn(n, k, seed, average, subset):
    rng = np.random.default_rng(seed)
    y_true, y_pred = rng.integers(0, k, n), rng.integers(0, k, n)  # some classes may never appear
    labels = None
    if subset:  # a label list that leaves some classes out and names one never seen
        labels = sorted(set(rng.integers(0, k, max(1, k // 2)).tolist()) | {k + 3})
    ours = metrics.precision_recall_fscore_support(y_true, y_pred, labels=labels, average=average)
    ref = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, average=average, zero_division=0.0)
    for a, b, what in zip(ours[:3], ref[:3], ("precision", "recall", "f1"), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12, err_msg=f"{what} average={average}")
    if average is None:
        np.testing.assert_array_equal(ours[3], ref[3])
    np.testing.assert_allclose(metrics.f1_score(y_true, y_pred, labels=labels, average=average),
                               skm.f1_score(y_true, y_pred, labels=labels, average=average, zero_division=0.0))


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 50), k=st.integers(1, 7), seed=st.integers(0, 10_000), given_labels=st.booleans())
def test_confusion_matrix_and_accuracy_equal_sklearn(n, k, seed, given_labels):
    rng = np.random.default_rng(seed)
    y_true, y_pred = rng.integers(0, k, n), rng.integers(0, k, n)
    labels = None
    if given_labels:  # unsorted and partial; scikit-learn wants at least one of them in y_true
        labels = np.array(list(dict.fromkeys(rng.permutation(k + 1)[: max(1, k - 1)].tolist() + [int(y_true[0])])))
    np.testing.assert_array_equal(metrics.confusion_matrix(y_true, y_pred, labels=labels),
                                  skm.confusion_matrix(y_true, y_pred, labels=labels))
    assert metrics.accuracy_score(y_true, y_pred) == skm.accuracy_score(y_true, y_pred)


def test_metrics_take_tensors_and_string_labels():
    y_true, y_pred = tg.tensor([0, 1, 2, 2, 1]), tg.tensor([0, 2, 2, 2, 1])
    assert metrics.accuracy_score(y_true, y_pred) == pytest.approx(0.8)
    np.testing.assert_allclose(metrics.recall_score(y_true, y_pred, average=None), [1.0, 0.5, 1.0])
    a, b = np.array(["cat", "dog", "dog"]), np.array(["cat", "cat", "dog"])
    np.testing.assert_array_equal(metrics.confusion_matrix(a, b), skm.confusion_matrix(a, b))
    assert metrics.precision_score(a, b) == pytest.approx(skm.precision_score(a, b, average="macro"))


def test_micro_average_is_accuracy_and_report_prints():
    rng = np.random.default_rng(1)
    y, p = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    assert metrics.f1_score(y, p, average="micro") == pytest.approx(metrics.accuracy_score(y, p))
    report = metrics.classification_report(y, p)
    assert "macro avg" in report and len(report.splitlines()) == 1 + 4 + 3


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="average"):
        metrics.f1_score([0, 1], [0, 1], average="samples")
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        metrics.accuracy_score([0, 1], [0, 1, 1])
