"""Training: the one loop (Trainer), checkpoints, run folders, history plots, Keras-style fit, metrics."""
from .checkpoint import load_checkpoint, save_checkpoint  # noqa: F401
from .history import plot_history  # noqa: F401
from .loop import Callback, Trainer  # noqa: F401
from .keras import History, KerasModel  # noqa: F401,E402
from . import metrics  # noqa: F401,E402
from .profiler import profile  # noqa: F401,E402
from .regularization import EarlyStopping, l1_penalty, l2_penalty  # noqa: F401,E402
from .saliency import saliency  # noqa: F401,E402
