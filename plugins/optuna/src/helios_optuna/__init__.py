"""helios-optuna: hyper-parameter tuning of Helios trainings with Optuna.

The public names are handed on lazily from the modules that hold them (``_HOME``), so importing
this package (or reading its manifest) imports neither torch nor Optuna.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from helios_optuna.plugin import OptunaPlugin, attach_trial
    from helios_optuna.sampler import (
        SamplerCheckpointError,
        checkpoint_sampler,
        restore_sampler,
        sampler_checkpoints,
    )
    from helios_optuna.study import (
        StudyArgs,
        StudyCreationError,
        create_or_load_study,
        create_study_starting_from_trial,
    )

#: Each public name and the module that holds it.
_HOME: dict[str, str] = {
    "OptunaPlugin": "plugin",
    "attach_trial": "plugin",
    "StudyArgs": "study",
    "StudyCreationError": "study",
    "create_or_load_study": "study",
    "create_study_starting_from_trial": "study",
    "SamplerCheckpointError": "sampler",
    "checkpoint_sampler": "sampler",
    "restore_sampler": "sampler",
    "sampler_checkpoints": "sampler",
}

__all__ = [
    "OptunaPlugin",
    "SamplerCheckpointError",
    "StudyArgs",
    "StudyCreationError",
    "attach_trial",
    "checkpoint_sampler",
    "create_or_load_study",
    "create_study_starting_from_trial",
    "restore_sampler",
    "sampler_checkpoints",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'helios_optuna' has no attribute {name!r}")
    return getattr(importlib.import_module(f"helios_optuna.{home}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
