"""Training curves (D2.T5): one panel per metric, train and validation on the same axes, the x axis in the
unit the points are (epoch or step), markers when the points are few, the title wrapped to the figure."""
from __future__ import annotations

import textwrap

FEW_POINTS = 30  # up to this many points a marker shows each one (a single point is otherwise invisible)


def plot_history(history: dict, path=None, title: str = "", unit: str = "epoch", x=None):
    """Plot ``history`` ({'loss': [...], 'val_loss': [...], 'accuracy': [...], ...}) against ``x`` (the epoch or
    step of each row; 1, 2, ... by default) labelled ``unit``; save to ``path`` (atomically) if given.
    Returns the matplotlib figure."""
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    names = [k for k in history if not k.startswith("val_") and history[k]]
    names += [k for k in history if k.startswith("val_") and history[k] and k[4:] not in names]  # no train twin
    panels = max(1, len(names))
    fig, axes = plt.subplots(1, panels, figsize=(4.5 * panels, 3.6), squeeze=False)
    for ax, name in zip(axes[0], names, strict=False):  # one empty panel when there is nothing to plot
        base = name.removeprefix("val_")
        for key, label in ((base, f"train {base}"), (f"val_{base}", f"validation {base}")):
            values = history.get(key) or []
            if values:
                at = list(x)[-len(values):] if x is not None and len(x) >= len(values) else range(1, len(values) + 1)
                ax.plot(at, values, marker="o" if len(values) <= FEW_POINTS else None, label=label)
        ax.set_xlabel(unit)
        lo, hi = ax.get_xlim()
        if hi - lo < 2:  # one row: a span of a few whole units, or the locator falls back to fractions
            ax.set_xlim((lo + hi) / 2 - 1, (lo + hi) / 2 + 1)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs and steps are whole numbers
        ax.set_ylabel(base)
        ax.legend()
        ax.grid(alpha=0.3)
    if title:  # wrapped to the figure's width (about 11 characters an inch at the default size)
        fig.suptitle("\n".join(textwrap.wrap(title, width=int(11 * fig.get_figwidth()))), fontsize=11)
    fig.tight_layout()
    if path is not None:
        from ..atomicfile import atomic_write

        with atomic_write(path) as f:
            fig.savefig(f, dpi=110, format="png")
    return fig
