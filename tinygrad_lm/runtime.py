"""The process-wide settings tinygrad_lm applies when it is imported, in one place.

``import tinygrad_lm`` calls ``apply_process_settings()`` once, before NumPy is loaded. Two settings change
the whole process, not only tinygrad_lm's arrays, so they are named here and can be switched off with the
environment variable ``TINYGRAD_LM_PROCESS_SETTINGS=0`` (set before the import):

- ``OPENBLAS_THREAD_TIMEOUT=4``: OpenBLAS's worker threads otherwise spin for about 0.1 s after every
  matrix product and hold the cores the next Numba kernel needs (a GPT step 387 -> 220 ms on 2 cores).
  OpenBLAS reads it when NumPy first loads it, so it only takes effect when tinygrad_lm is imported
  before NumPy; a value the user set is kept.
- glibc ``mallopt``: mmap threshold 64 MB and trim threshold 256 MB. By default glibc hands every large
  freed block straight back to the OS, so each training step maps its multi-megabyte activations and
  gradients afresh and pays a page fault per 4 KiB page touched; with the thresholds raised, freed
  blocks are kept for the next step, as PyTorch's caching allocators do (a GPT step 142 -> 111 ms, a
  Transformer step 99 -> 81 ms, conv2d 34 -> ~24 ms on 2 cores; docs/benchmarks.md). Skipped off
  glibc, or if the user set glibc's own ``MALLOC_MMAP_THRESHOLD_`` or ``MALLOC_TRIM_THRESHOLD_``.
"""
from __future__ import annotations

import ctypes
import os
import sys

SWITCH = "TINYGRAD_LM_PROCESS_SETTINGS"

applied: tuple[str, ...] = ()  # what the last apply_process_settings() changed, for the curious and the tests


def apply_process_settings() -> tuple[str, ...]:
    """Apply the settings above unless ``TINYGRAD_LM_PROCESS_SETTINGS=0``; returns the names of those applied."""
    global applied
    done = []
    if os.environ.get(SWITCH, "1") != "0":
        if "OPENBLAS_THREAD_TIMEOUT" not in os.environ:
            os.environ["OPENBLAS_THREAD_TIMEOUT"] = "4"
            done.append("OPENBLAS_THREAD_TIMEOUT")
        if _keep_freed_memory():
            done.append("mallopt")
    applied = tuple(done)
    return applied


def _keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds (see the module docstring); False where it is not done."""
    if not sys.platform.startswith("linux") or any(v in os.environ for v in ("MALLOC_MMAP_THRESHOLD_",
                                                                            "MALLOC_TRIM_THRESHOLD_")):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - present only in glibc
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_trim_threshold, 256 << 20)
    libc.mallopt(m_mmap_threshold, 64 << 20)
    return True
