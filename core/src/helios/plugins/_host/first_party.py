"""This project's own plug-ins, in one table: what the core knows of them without installing them.

Every place that names a first-party plug-in reads this table: the install hints for a plug-in
that is not installed, the class names ``helios.plugins`` (and the seed modules) hand on, and
the ids ``helios plugins new`` refuses. Each row is checked against the plug-in's own manifest
and pyproject by the test suite, so the table cannot drift from the distributions it names.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FIRST_PARTY", "FirstParty", "by_class", "by_id", "documented_in", "helper_of"]


@dataclass(frozen=True)
class FirstParty:
    """One first-party plug-in distribution."""

    id: str  # manifest id = entry-point name = Plugin.plugin_id
    distribution: str  # what pip installs
    class_name: str  # the plug-in class, as users name it
    package: str  # the top-level import package
    topic: str  # what it is about, in messages: "the first-party CUDA plug-in"
    needs: str  # what it needs beyond the core, for people deciding to install it
    #: The documented module (besides ``helios.plugins``) that hands the class on.
    module: str
    #: Further names of ``package`` that ``module`` hands on (upstream's helpers), once the
    #: plug-in passed its checks.
    helpers: tuple[str, ...] = ()

    @property
    def entry_value(self) -> str:
        """The entry point's value (= the manifest's ``class``)."""
        return f"{self.package}.plugin:{self.class_name}"


FIRST_PARTY: tuple[FirstParty, ...] = (
    FirstParty(
        id="cuda",
        distribution="helios-cuda",
        class_name="CUDAPlugin",
        package="helios_cuda",
        topic="CUDA",
        needs="an NVIDIA GPU and a CUDA build of torch",
        module="helios.plugins.plugin",  # the seed documents helios.plugins.plugin.CUDAPlugin
    ),
    FirstParty(
        id="optuna",
        distribution="helios-optuna",
        class_name="OptunaPlugin",
        package="helios_optuna",
        topic="Optuna",
        needs="Optuna 4 or newer",
        module="helios.plugins.optuna",
        helpers=(
            "StudyArgs",
            "checkpoint_sampler",
            "create_or_load_study",
            "create_study_starting_from_trial",
            "restore_sampler",
        ),
    ),
)


def by_id(plugin_id: str) -> FirstParty | None:
    """The first-party plug-in with this id, if there is one."""
    return next((p for p in FIRST_PARTY if p.id == plugin_id), None)


def by_class(class_name: str) -> FirstParty | None:
    """The first-party plug-in with this class name, if there is one."""
    return next((p for p in FIRST_PARTY if p.class_name == class_name), None)


def documented_in(module: str) -> tuple[str, ...]:
    """The class names the documented ``module`` hands on."""
    return tuple(p.class_name for p in FIRST_PARTY if p.module == module)


def helper_of(module: str, name: str) -> FirstParty | None:
    """The first-party plug-in whose helper ``name`` the documented ``module`` hands on."""
    return next((p for p in FIRST_PARTY if p.module == module and name in p.helpers), None)
