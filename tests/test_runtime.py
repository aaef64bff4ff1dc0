"""tinygrad_lm.runtime: the process-wide settings are applied at import, kept when the user set them, and
switched off by TINYGRAD_LM_PROCESS_SETTINGS=0."""
import os
import subprocess
import sys

import pytest

from tinygrad_lm import runtime


def test_applies_the_openblas_timeout_unless_set(monkeypatch):
    monkeypatch.delenv(runtime.SWITCH, raising=False)
    monkeypatch.delenv("OPENBLAS_THREAD_TIMEOUT", raising=False)
    assert "OPENBLAS_THREAD_TIMEOUT" in runtime.apply_process_settings()
    assert os.environ["OPENBLAS_THREAD_TIMEOUT"] == "4"
    monkeypatch.setenv("OPENBLAS_THREAD_TIMEOUT", "7")
    assert "OPENBLAS_THREAD_TIMEOUT" not in runtime.apply_process_settings()
    assert os.environ["OPENBLAS_THREAD_TIMEOUT"] == "7"


def test_mallopt_left_alone_when_glibc_variables_are_set(monkeypatch):
    monkeypatch.delenv(runtime.SWITCH, raising=False)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    assert "mallopt" not in runtime.apply_process_settings()


@pytest.mark.parametrize("switch", ["0", "1"])
def test_switch_at_import(switch):
    """In a fresh interpreter: the import applies the settings before NumPy loads (OpenBLAS reads the timeout then), or
    none of them with 0."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_THREAD_TIMEOUT", "MALLOC_MMAP_THRESHOLD_",
                                                          "MALLOC_TRIM_THRESHOLD_")}
    env[runtime.SWITCH] = switch
    # a finder that notes OPENBLAS_THREAD_TIMEOUT at the moment NumPy (and with it OpenBLAS) is first imported
    code = ("import os, sys, types\n"
            "seen = []\n"
            "def find_spec(name, path=None, target=None):\n"
            "    if name == 'numpy' and not seen: seen.append(os.environ.get('OPENBLAS_THREAD_TIMEOUT'))\n"
            "sys.meta_path.insert(0, types.SimpleNamespace(find_spec=find_spec))\n"
            "import tinygrad_lm.runtime as r\n"
            "print(';'.join(r.applied) + '|' + str(seen[0]))\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    applied, timeout_when_numpy_loaded = out.strip().split('|')
    if switch == "0":
        assert (applied, timeout_when_numpy_loaded) == ("", "None")
    else:
        assert "OPENBLAS_THREAD_TIMEOUT" in applied and timeout_when_numpy_loaded == "4"
        assert ("mallopt" in applied) == sys.platform.startswith("linux")
