"""Training curves (D2.T5): one panel per metric, train and validation on the same axes."""
from __future__ import annotations


def plot_history(history: dict, path=None, title: str = ""):
    """Plot ``history`` ({'loss': [...], 'val_loss': [...], 'accuracy': [...], ...}); save to ``path``
    if given. Returns the matplotlib figure."""
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    names = [k for k in history if not k.startswith("val_") and history[k]]
    fig, axes = plt.subplots(1, max(1, len(names)), figsize=(4.5 * max(1, len(names)), 3.4), squeeze=False)
    for ax, name in zip(axes[0], names, strict=False):  # one empty panel when there is nothing to plot
        ax.plot(range(1, len(history[name]) + 1), history[name], label=f"train {name}")
        if history.get(f"val_{name}"):
            ax.plot(range(1, len(history[f"val_{name}"]) + 1), history[f"val_{name}"], label=f"validation {name}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.legend()
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig
