"""The demo's pictures, drawn from the study in SQLite (so a resumed study shows every trial).

Matplotlib is used without pyplot (a bare :class:`~matplotlib.figure.Figure` renders with Agg),
so no global backend is chosen and no window can open. Files are written atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from optuna.trial import FrozenTrial, TrialState

from helios.atomic import write_atomic

__all__ = ["CURVES", "HISTORY", "ZOOM", "plot_curves", "plot_history", "save"]

CURVES = "validation-curves.png"
HISTORY = "optimisation-history.png"

ZOOM = 0.9  # the close-up's lower edge: where the good trials race
_COMPLETE, _PRUNED, _BEST = "tab:blue", "tab:red", "tab:green"


def save(figure: Figure, path: Path) -> Path:
    """Write ``figure`` as a PNG to ``path`` atomically (see :mod:`helios.atomic`)."""
    return write_atomic(path, lambda handle: figure.savefig(handle, format="png", dpi=110))


def _curve(trial: FrozenTrial) -> tuple[list[int], list[float]]:
    """Epochs (from 1) and the accuracy reported after each; steps are cycles, from 0."""
    steps = sorted(trial.intermediate_values)
    return [s + 1 for s in steps], [trial.intermediate_values[s] for s in steps]


def plot_curves(
    trials: Sequence[FrozenTrial], best: FrozenTrial | None, epochs: int, path: Path
) -> Path:
    """Validation accuracy per epoch of every trial, in full and as a close-up of the top.

    Completed trials are blue lines, pruned ones dashed red lines ending in a red ✕ where the
    pruner stopped them, the best trial a thick green line.
    """
    figure = Figure(figsize=(12, 5.2), layout="constrained")
    pruned = [t for t in trials if t.state is TrialState.PRUNED and t.intermediate_values]
    completed = [t for t in trials if t.state is TrialState.COMPLETE and t.intermediate_values]
    panels = figure.subplots(1, 2)
    for axes, bottom, title in (
        (panels[0], None, "every trial"),
        (panels[1], ZOOM, f"close-up: accuracy {ZOOM:g} to 1"),
    ):
        for trial in completed:
            axes.plot(*_curve(trial), color=_COMPLETE, alpha=0.45, linewidth=1.2)
        for trial in pruned:
            steps, values = _curve(trial)
            axes.plot(steps, values, color=_PRUNED, alpha=0.6, linewidth=1.2, linestyle="--")
            axes.plot(steps[-1:], values[-1:], color=_PRUNED, marker="X", markersize=9)
        if best is not None:
            axes.plot(*_curve(best), color=_BEST, linewidth=2.8)
        axes.set_xlim(0.5, epochs + 0.5)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_ylim(bottom=bottom, top=1.0)
        axes.set_xlabel("epoch")
        axes.set_ylabel("validation accuracy")
        axes.set_title(title)
        axes.grid(alpha=0.3)
    handles = [
        Line2D([], [], color=_COMPLETE, label=f"completed: trained all epochs ({len(completed)})"),
        Line2D(
            [],
            [],
            color=_PRUNED,
            linestyle="--",
            marker="X",
            label=f"pruned: stopped at the ✕ ({len(pruned)})",
        ),
    ]
    if best is not None:
        label = f"best: trial {best.number} ({_curve(best)[1][-1]:.3f})"
        handles.append(Line2D([], [], color=_BEST, linewidth=2.8, label=label))
    # Failed and running trials are not drawn, so they are not counted either.
    drawn = len(completed) + len(pruned)
    figure.suptitle(
        f"Validation accuracy epoch by epoch: {drawn} trials ({len(completed)} completed, "
        f"{len(pruned)} pruned)"
    )
    figure.legend(handles=handles, loc="outside lower center", ncols=len(handles))
    return save(figure, path)


def plot_history(trials: Sequence[FrozenTrial], path: Path) -> Path:
    """Each trial's final validation accuracy in trial order, with the best so far."""
    figure = Figure(figsize=(8, 5), layout="constrained")
    axes = figure.add_subplot()
    completed = sorted(
        (t.number, t.value)
        for t in trials
        if t.state is TrialState.COMPLETE and t.value is not None
    )
    pruned = [t for t in trials if t.state is TrialState.PRUNED and t.intermediate_values]
    axes.scatter(
        [number for number, _ in completed],
        [value for _, value in completed],
        color=_COMPLETE,
        label="completed: final accuracy",
        zorder=3,
    )
    axes.scatter(
        [t.number for t in pruned],
        [_curve(t)[1][-1] for t in pruned],
        color=_PRUNED,
        marker="X",
        label="pruned: accuracy when stopped",
        zorder=3,
    )
    best_so_far: list[tuple[int, float]] = []
    for number, value in completed:
        if not best_so_far or value > best_so_far[-1][1]:
            best_so_far.append((number, value))
    if best_so_far:
        last = max(t.number for t in trials)
        xs = [n for n, _ in best_so_far] + [last]
        ys = [v for _, v in best_so_far] + [best_so_far[-1][1]]
        axes.step(xs, ys, where="post", color=_BEST, linewidth=2, label="best so far")
    axes.set_ylim(top=1.0)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("trial")
    axes.set_ylabel("validation accuracy")
    axes.set_title("Optimisation history: what each trial reached, and the best so far")
    axes.grid(alpha=0.3)
    figure.legend(loc="outside lower center", ncols=3)
    return save(figure, path)
