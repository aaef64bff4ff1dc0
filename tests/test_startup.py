"""Start-up: ``import tinygrad_lm`` leaves the heavy libraries alone, the digits data are read
without scikit-learn yet split exactly as scikit-learn splits them, and the first run says it is
compiling the kernels (later runs, from Numba's cache, say nothing)."""
import os
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


# one small kernel (Adam's update of four numbers) compiles in about a second
_ONE_KERNEL = """
import numpy as np, tinygrad_lm as tg
from tinygrad_lm.kernels.optim import constants
p, g, m, v = (np.ones(4, np.float32) for _ in range(4))
tg.backend.kernel("adam_step")(p, g, m, v, None, constants(p.dtype, 1, 1e-3, 0.9, 0.999, 1e-8, 0.0, False))
print("ran")
"""


def test_compile_notice_once_from_an_empty_cache_and_not_from_a_warm_one(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "TINYGRAD_LM_PLAIN": "0"}
    runs = [subprocess.run([sys.executable, "-c", _ONE_KERNEL], env=env, capture_output=True, text=True, check=True)
            for _ in range(2)]
    assert [r.stdout.strip() for r in runs] == ["ran", "ran"]
    assert runs[0].stderr.count("compiling kernels (first run only") == 1, runs[0].stderr
    assert "compiling" not in runs[1].stderr, runs[1].stderr
