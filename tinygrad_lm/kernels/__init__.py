"""Fused kernels behind the ops. Each module registers a plain NumPy twin and a Numba ('cpu')
and/or CuPy ('gpu') version with ``backend.register``; ``backend.kernel`` picks one."""
from . import notice  # noqa: F401  (one line on stderr while Numba compiles)
from . import cross_entropy  # noqa: F401
from . import attention  # noqa: F401,E402
from . import norm  # noqa: F401,E402
from . import batchnorm  # noqa: F401,E402
from . import conv  # noqa: F401,E402
from . import recurrent  # noqa: F401,E402
from . import pool  # noqa: F401,E402
from . import activation  # noqa: F401,E402
from . import optim  # noqa: F401,E402
