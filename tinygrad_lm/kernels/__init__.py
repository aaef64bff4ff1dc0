"""Fused kernels behind the ops. Each module registers a plain NumPy twin and a Numba ('cpu')
and/or CuPy ('gpu') version with ``backend.register``; ``backend.kernel`` picks one."""
from . import cross_entropy  # noqa: F401
