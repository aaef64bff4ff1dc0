"""Start-up: ``import tinygrad_lm`` leaves the heavy libraries alone, and the digits data are read
without scikit-learn yet split exactly as scikit-learn splits them."""
import subprocess
import sys

import numpy as np
import pytest

from tinygrad_lm.data.datasets import digits


def _modules_after(code: str) -> set:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def _heavy(modules: set) -> list:
    """scikit-learn, matplotlib and SciPy's subpackages. The bare ``scipy`` package is left out:
    Numba imports it to check its version (a few milliseconds, none of its subpackages)."""
    return sorted(m for m in modules if m.split(".")[0] in ("sklearn", "matplotlib")
                  or (m.startswith("scipy.") and not m.startswith(("scipy._", "scipy.version", "scipy.__"))))


def test_heavy_is_a_check_that_can_fail():
    assert _heavy({"numpy", "scipy", "scipy._lib", "scipy.special", "sklearn", "matplotlib.pyplot"}) == [
        "matplotlib.pyplot", "scipy.special", "sklearn"]


def test_import_tinygrad_lm_imports_no_sklearn_scipy_or_matplotlib():
    assert _heavy(_modules_after("import tinygrad_lm")) == []


def test_the_digits_data_load_without_sklearn():
    assert _heavy(_modules_after("import tinygrad_lm; tinygrad_lm.data.datasets.digits()")) == []


@pytest.mark.parametrize("test_size,seed", [(0.25, 0), (0.25, 7), (0.1, 1), (0.33, 42), (0.8, 3)])
def test_the_digits_split_is_sklearns(test_size, seed):
    load_digits = pytest.importorskip("sklearn.datasets").load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x, y = bunch.data.astype(np.float32), bunch.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_size, random_state=seed, stratify=y)
    ours = digits(test_size, seed)
    for a, b in zip(ours, (x_train, y_train, x_test, y_test), strict=True):
        np.testing.assert_array_equal(a, b)
