"""Every plug-in hook, declared once as data.

The trainer's dispatch, the registration and import-time class checks, the AST checks of
``helios plugins validate``, the scaffold and the hook table in docs/plugins.md all read
:data:`HOOKS`. Importing this module imports nothing but the standard library.

A hook is either *exclusive* (guarded by a :class:`~helios.plugins.plugin.UniquePluginOverrides`
flag: only the one plug-in that claims the flag receives it) or *shared* (every registered
plug-in receives it, in registration order, before the model's hook of the same name).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "FOREIGN_HOOKS",
    "GUARDED_HOOKS",
    "HOOKS",
    "HOOKS_BY_NAME",
    "HOOK_PREFIXES",
    "STEP_HOOKS",
    "Hook",
    "Phase",
    "closest_hook",
    "lookalike_hooks",
    "related_hooks",
]


class Phase(enum.Enum):
    """When a hook runs."""

    CONFIGURE = "configure"  # once per trainer / model, before setup
    TRAINING = "training"
    VALIDATION = "validation"
    TESTING = "testing"
    CHECKPOINT = "checkpoint"


@dataclass(frozen=True)
class Hook:
    """One plug-in hook.

    :param name: the method name on :class:`~helios.plugins.plugin.Plugin`.
    :param args: its parameters after ``self``.
    :param phase: when it runs.
    :param when: one line saying exactly when the trainer calls it.
    :param flag: the unique override that guards it (exclusive hook), or None (shared).
    :param does: for an exclusive hook, what owning its flag lets a plug-in do (messages).
    :param per_step: called once per batch or optimiser step (the hot path).
    :param seed: documented by the seed API (False: added by Helios).
    """

    name: str
    args: tuple[str, ...]
    phase: Phase
    when: str
    flag: str | None = None
    does: str = ""
    per_step: bool = False
    seed: bool = True

    @property
    def exclusive(self) -> bool:
        """Whether only the plug-in that claims :attr:`flag` receives it."""
        return self.flag is not None

    @property
    def signature(self) -> str:
        """``name(arg, ...)``, as the docs show it."""
        return f"{self.name}({', '.join(self.args)})"


_C, _T, _V, _X, _K = (
    Phase.CONFIGURE,
    Phase.TRAINING,
    Phase.VALIDATION,
    Phase.TESTING,
    Phase.CHECKPOINT,
)

#: Every hook, in the order a fit then a test calls them.
HOOKS: tuple[Hook, ...] = (
    Hook("configure_trainer", ("trainer",), _C, "once per trainer, at the first fit/test"),
    Hook("configure_model", ("model",), _C, "once per model, at the first fit/test with it"),
    Hook("setup", (), _C, "once, after the trainer has placed the plug-in on its device"),
    Hook("load_state_dict", ("state_dict",), _K, "when a run resumes from a checkpoint"),
    Hook("on_training_start", (), _T, "once, before the first training batch"),
    Hook("on_training_epoch_start", ("epoch",), _T, "at the start of each epoch", seed=False),
    Hook(
        "process_training_batch",
        ("batch", "state"),
        _T,
        "each training batch, before the model sees it; returns the batch",
        flag="training_batch",
        does="process training batches",
        per_step=True,
    ),
    Hook(
        "on_training_batch_start",
        ("state",),
        _T,
        "each training batch, after process_training_batch, before train_step",
        per_step=True,
        seed=False,
    ),
    Hook(
        "on_optimizer_step_start",
        ("state",),
        _T,
        "each optimiser step, gradients ready, before the model's optimizer_step",
        per_step=True,
        seed=False,
    ),
    Hook(
        "on_optimizer_step_end",
        ("state",),
        _T,
        "each optimiser step, after the model's optimizer_step (weights updated)",
        per_step=True,
        seed=False,
    ),
    Hook(
        "on_training_batch_end",
        ("state",),
        _T,
        "each training batch, after train_step (and the optimiser step, if one was due)",
        per_step=True,
        seed=False,
    ),
    Hook(
        "should_training_stop",
        (),
        _T,
        "after every optimiser step and every validation; True stops training there",
        flag="should_training_stop",
        does="decide when training stops",
        per_step=True,
    ),
    Hook("on_training_epoch_end", ("epoch",), _T, "at the end of each epoch", seed=False),
    Hook("on_validation_start", ("validation_cycle",), _V, "before each validation cycle (from 0)"),
    Hook(
        "process_validation_batch",
        ("batch", "step"),
        _V,
        "each validation batch, before valid_step; returns the batch",
        flag="validation_batch",
        does="process validation batches",
        per_step=True,
    ),
    Hook("on_validation_end", ("validation_cycle",), _V, "after each validation cycle"),
    Hook("state_dict", (), _K, "at every checkpoint; values must load with weights_only"),
    Hook("on_training_end", (), _T, "once, after the last training batch and validation"),
    Hook("on_testing_start", (), _X, "once, before the first testing batch"),
    Hook(
        "process_testing_batch",
        ("batch", "step"),
        _X,
        "each testing batch, before test_step; returns the batch",
        flag="testing_batch",
        does="process testing batches",
        per_step=True,
    ),
    Hook("on_testing_end", (), _X, "once, after the last testing batch"),
)

HOOKS_BY_NAME: dict[str, Hook] = {hook.name: hook for hook in HOOKS}

#: The hook each unique override guards: a class that defines the hook must claim the flag.
GUARDED_HOOKS: dict[str, str] = {hook.flag: hook.name for hook in HOOKS if hook.flag}

#: The shared hooks the trainer calls once per batch or optimiser step.
STEP_HOOKS: tuple[str, ...] = tuple(h.name for h in HOOKS if h.per_step and not h.exclusive)

#: Public method names with these prefixes must be hooks (a typo would never be called).
HOOK_PREFIXES: tuple[str, ...] = ("on_", "process_", "should_")


def lookalike_hooks(names: Iterable[str]) -> list[tuple[str, str | None]]:
    """The names that look like hooks but are not, each with the closest hook (or None).

    A public name (no leading underscore) starting with ``on_``, ``process_`` or ``should_``
    that is not in :data:`HOOKS` is one the trainer would never call.
    """
    return [
        (name, closest_hook(name))
        for name in names
        if name not in HOOKS_BY_NAME and name.startswith(HOOK_PREFIXES)
    ]


#: Words other trainers use in hook names, as this table spells them (``on_train_begin`` is
#: read as ``on_training_start`` before it is compared with the hooks).
SYNONYMS: dict[str, str] = {
    "begin": "start",
    "train": "training",
    "fit": "training",
    "test": "testing",
    "val": "validation",
    "valid": "validation",
    "eval": "validation",
    "evaluation": "validation",
    "optimiser": "optimizer",
    "optim": "optimizer",
}

#: Hooks of other trainers (PyTorch Lightning, Keras, Hugging Face) whose name alone does not
#: lead to ours, after :data:`SYNONYMS`: the hook that runs at the same point here.
FOREIGN_HOOKS: dict[str, str] = {
    "on_before_optimizer_step": "on_optimizer_step_start",  # Lightning
    "on_pre_optimizer_step": "on_optimizer_step_start",  # Hugging Face
    "on_optimizer_step": "on_optimizer_step_end",  # Hugging Face: after the step
    "on_after_optimizer_step": "on_optimizer_step_end",
    "on_after_backward": "on_optimizer_step_start",  # Lightning: gradients ready
    "on_before_zero_grad": "on_optimizer_step_end",  # Lightning: right after the step
    "on_step_start": "on_training_batch_start",  # Hugging Face
    "on_step_end": "on_optimizer_step_end",  # Hugging Face: after the optimiser step
    "on_substep_end": "on_training_batch_end",  # Hugging Face: an accumulation step
    "on_batch_start": "on_training_batch_start",  # Keras
    "on_batch_end": "on_training_batch_end",  # Keras
    "on_epoch_start": "on_training_epoch_start",  # Keras, Hugging Face
    "on_epoch_end": "on_training_epoch_end",  # Keras, Hugging Face
    "on_validation_epoch_start": "on_validation_start",  # Lightning
    "on_validation_epoch_end": "on_validation_end",  # Lightning
    "on_validation_batch_start": "process_validation_batch",  # Lightning
    "on_testing_epoch_start": "on_testing_start",  # Lightning
    "on_testing_epoch_end": "on_testing_end",  # Lightning
    "on_testing_batch_start": "process_testing_batch",  # Lightning, Keras
    "on_evaluate": "on_validation_end",  # Hugging Face
    "on_save_checkpoint": "state_dict",  # Lightning
    "on_save": "state_dict",  # Hugging Face
    "on_load_checkpoint": "load_state_dict",  # Lightning
    "process_batch": "process_training_batch",
}

#: The words that place a hook-like name in a phase, most specific first.
_PHASE_WORDS: tuple[tuple[str, Phase], ...] = (
    ("validation", Phase.VALIDATION),
    ("testing", Phase.TESTING),
    ("checkpoint", Phase.CHECKPOINT),
    ("state", Phase.CHECKPOINT),
    ("save", Phase.CHECKPOINT),
    ("load", Phase.CHECKPOINT),
    ("configure", Phase.CONFIGURE),
    ("setup", Phase.CONFIGURE),
    ("training", Phase.TRAINING),
    ("epoch", Phase.TRAINING),
    ("optimizer", Phase.TRAINING),
    ("stop", Phase.TRAINING),
)


def _normalised(name: str) -> str:
    return "_".join(SYNONYMS.get(word, word) for word in name.split("_"))


def _phase(name: str) -> Phase | None:
    words = set(name.split("_"))
    return next((phase for word, phase in _PHASE_WORDS if word in words), None)


def closest_hook(name: str) -> str | None:
    """The hook a hook-like ``name`` most likely means, or None when none is close.

    Another trainer's spelling (:data:`SYNONYMS`, :data:`FOREIGN_HOOKS`) is mapped first;
    otherwise the closest name among the hooks of the same phase (all hooks when the name
    names no phase), by :func:`difflib.get_close_matches`.
    """
    import difflib  # only when a class is checked

    normalised = _normalised(name)
    for candidate in (name, normalised):
        if candidate in FOREIGN_HOOKS:
            return FOREIGN_HOOKS[candidate]
    if normalised in HOOKS_BY_NAME:
        return normalised
    phase = _phase(normalised)
    pool = [h.name for h in HOOKS if phase is None or h.phase is phase]
    close = difflib.get_close_matches(normalised, pool, n=1, cutoff=0.6)
    return close[0] if close else None


def related_hooks(name: str) -> tuple[Hook, ...]:
    """The hooks to list for a hook-like ``name`` with no close match.

    Those of the phase its words name (``on_validation_x``: the validation hooks), else those
    with the same prefix (``should_x``: ``should_training_stop``).
    """
    phase = _phase(_normalised(name))
    if phase is not None:
        return tuple(h for h in HOOKS if h.phase is phase)
    prefix = next((p for p in HOOK_PREFIXES if name.startswith(p)), "")
    return tuple(h for h in HOOKS if h.name.startswith(prefix))
