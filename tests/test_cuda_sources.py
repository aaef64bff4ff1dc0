"""The CUDA sources of the CuPy kernels compile (nvcc to PTX), so a typo in them fails here even on a
machine without a GPU, where the gpu-marked tests that run them are skipped. Skipped without nvcc."""
import shutil
import subprocess

import pytest

from tinygrad_lm.kernels import attention, conv, pool, recurrent

NVCC = shutil.which("nvcc")

# (source, prefix): conv, pool and recurrent's sources are templated on T, which CuPy's RawModule gets as a typedef
SOURCES = [(f"{mod.__name__.rsplit('.', 1)[1]}-{t}", mod._CUDA_SOURCE, f"typedef {t} T;\n")
           for mod in (conv, pool, recurrent) for t in ("float", "double")] + [("attention", attention._GPU_SOURCE, "")]


@pytest.mark.skipif(NVCC is None, reason="needs nvcc (the CUDA compiler)")
@pytest.mark.parametrize("name, source, prefix", SOURCES, ids=[s[0] for s in SOURCES])
def test_cuda_source_compiles(tmp_path, name, source, prefix):
    src = tmp_path / f"{name}.cu"
    src.write_text(prefix + source)
    done = subprocess.run([NVCC, "--ptx", "-std=c++14", "-o", str(tmp_path / f"{name}.ptx"), str(src)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "__global__" not in done.stderr  # no warnings about the kernels either
    ptx = (tmp_path / f"{name}.ptx").read_text()
    kernels = [line.split("(")[0].split()[-1] for line in source.splitlines()
               if "__global__ void" in line]
    assert kernels and all(k in ptx for k in kernels), f"kernels missing from the PTX: {kernels}"
