"""The hook rules of a plug-in class, on the imported class: at registration and at import.

A public ``on_*``/``process_*``/``should_*`` method that is no hook, and a hook that cannot take
the trainer's call, are refused by ``PluginSet.add`` (``Trainer.register_plugin``) with a
``PluginError`` and by the loader's class verification with a ``hook-mismatch`` verdict.
``test_validate.py`` holds the same rules on the source (``helios plugins validate``).
"""

from __future__ import annotations

import json
import textwrap
from typing import Any

import pytest

from helios.plugins import (
    Plugin,
    PluginBrokenError,
    PluginError,
    UniquePluginOverrides,
    load_plugins,
)
from helios.plugins._host.hook_checks import LISTED_PROBLEMS, Params, class_problems
from helios.plugins._host.settings import Settings
from helios.plugins._host.verdicts import Kind, Reason
from helios.plugins.hooks import HOOKS, Hook
from helios.trainer_plugins import PluginSet
from support.plugin_env import PluginEnv

BY_POSITION = "(parameter names are free: the trainer passes hook arguments by position)"


def register(plugin: Plugin) -> None:
    PluginSet().add(plugin)


def refusal(plugin: Plugin) -> str:
    with pytest.raises(PluginError) as caught:
        register(plugin)
    assert type(caught.value) is PluginError
    return str(caught.value)


class Ema(Plugin):
    """The plug-in of issue 12: a Lightning name for the end of a batch."""

    plugin_id = "ema"

    def setup(self) -> None:
        self.updates = 0

    def on_train_batch_end(self, state: Any) -> None:
        self.updates += 1


def test_a_misspelt_hook_is_refused_at_registration() -> None:
    assert refusal(Ema()) == (
        f"plug-in 'ema' ({__name__}.Ema) cannot be registered: Ema.on_train_batch_end is named "
        "like a hook but is none, so the trainer never calls it (did you mean "
        "on_training_batch_end?); rename on_train_batch_end to on_training_batch_end, or make "
        "it private (_on_train_batch_end) if it is a helper"
    )


@pytest.mark.torch
def test_trainer_register_plugin_refuses_it(tmp_path: Any) -> None:
    from helios.trainer import Trainer

    trainer = Trainer(total=1, run_dir=tmp_path, device="cpu", progress=False)
    with pytest.raises(PluginError, match=r"Ema\.on_train_batch_end is named like a hook"):
        trainer.register_plugin(Ema())
    assert trainer.plugins == {}


class Counting(Plugin):
    plugin_id = "counting"

    def setup(self) -> None:
        pass

    def on_log(self) -> None:
        pass


def test_with_no_close_hook_the_hooks_of_the_prefix_are_listed() -> None:
    on_hooks = ", ".join(h.name for h in HOOKS if h.name.startswith("on_"))
    assert refusal(Counting()) == (
        f"plug-in 'counting' ({__name__}.Counting) cannot be registered: Counting.on_log is "
        f"named like a hook but is none, so the trainer never calls it (the hooks named on_*: "
        f"{on_hooks}); rename on_log to one of those hooks, or make it private (_on_log) if it "
        "is a helper"
    )


class Validating(Plugin):
    plugin_id = "validating"

    def setup(self) -> None:
        pass

    def on_val_loss_improved_over_best(self, loss: float) -> None:
        pass


def test_with_no_close_hook_the_hooks_of_the_phase_are_listed() -> None:
    (problem,) = class_problems(Validating)
    assert problem.message == (
        "Validating.on_val_loss_improved_over_best is named like a hook but is none, so the "
        "trainer never calls it (the validation hooks: on_validation_start, "
        "process_validation_batch, on_validation_end)"
    )


class Base(Plugin):
    """Not registered itself: a base of the same author's plug-ins."""

    def setup(self) -> None:
        pass

    def on_epoch_begin(self, epoch: int) -> None:  # Keras's name
        pass


class Derived(Base):
    plugin_id = "derived"


class Mixin:
    def should_stop(self) -> bool:
        return True


class Mixed(Mixin, Plugin):
    plugin_id = "mixed"

    def setup(self) -> None:
        pass


def test_inherited_methods_count() -> None:
    assert refusal(Derived()) == (
        f"plug-in 'derived' ({__name__}.Derived) cannot be registered: Derived.on_epoch_begin "
        "(inherited from Base) is named like a hook but is none, so the trainer never calls it "
        "(did you mean on_training_epoch_start?); rename on_epoch_begin to "
        "on_training_epoch_start, or make it private (_on_epoch_begin) if it is a helper"
    )
    (problem,) = class_problems(Mixed)
    assert problem.message.startswith("Mixed.should_stop (inherited from Mixin) is named like")
    assert "(did you mean should_training_stop?)" in problem.message


class Fixed(Derived):
    """Overrides the base's name with something that is not a method: no longer a method."""

    on_epoch_begin = None  # type: ignore[assignment]


def test_a_name_is_judged_where_it_resolves() -> None:
    assert class_problems(Fixed) == []


class Helpers(Plugin):
    """Hook-like names that are fine: private ones, properties, attributes, other prefixes."""

    plugin_id = "helpers"
    on_gpu = True
    should_log: bool = False

    def setup(self) -> None:
        pass

    def _on_train_batch_end(self, state: Any) -> None:
        pass

    @property
    def on_device(self) -> bool:
        return True

    def suggest(self, name: str) -> None:  # like OptunaPlugin's public methods
        pass

    def report_metrics(self, validation_cycle: int) -> None:
        pass

    def on_validation_end(self, cycle: int, *rest: Any, verbose: bool = False) -> None:
        pass

    @staticmethod
    def on_testing_end() -> None:
        pass

    @classmethod
    def on_training_epoch_end(cls, epoch: int) -> None:
        pass


def test_what_the_rules_leave_alone() -> None:
    assert class_problems(Helpers) == []
    register(Helpers())


def test_the_first_party_plugins_keep_the_rules() -> None:
    pytest.importorskip("torch")
    pytest.importorskip("optuna")
    from helios_cuda.plugin import CUDAPlugin
    from helios_optuna.plugin import OptunaPlugin

    assert class_problems(CUDAPlugin) == []
    assert class_problems(OptunaPlugin) == []


def _define(hook: Hook, params: str) -> type[Plugin]:
    """A plug-in class defining ``hook`` with ``params``, from source as an author writes it."""
    flag = f"{hook.flag}=True" if hook.flag else ""
    setup = "" if hook.name == "setup" else "    def setup(self):\n        pass\n"
    source = (
        "from helios.plugins import Plugin, UniquePluginOverrides\n\n"
        "class Defined(Plugin):\n"
        "    plugin_id = 'defined'\n"
        f"    declared_overrides = UniquePluginOverrides({flag})\n"
        f"{setup}"
        f"    def {hook.name}({params}):\n"
        "        return None\n"
    )
    namespace: dict[str, Any] = {"__name__": "authored"}
    exec(compile(source, f"<{hook.name}>", "exec"), namespace)
    defined: type[Plugin] = namespace["Defined"]
    return defined


def _definition(hook: Hook) -> str:
    return f"def {hook.name}({', '.join(('self', *hook.args))})"


@pytest.mark.parametrize("hook", HOOKS, ids=[h.name for h in HOOKS])
def test_each_hook_with_its_arguments_is_accepted(hook: Hook) -> None:
    cls = _define(hook, ", ".join(("self", *hook.args)))
    assert class_problems(cls) == []
    register(cls())
    renamed = _define(hook, ", ".join(("self", *(f"my_{a}" for a in hook.args))))
    assert class_problems(renamed) == []  # names are free


@pytest.mark.parametrize("hook", HOOKS, ids=[h.name for h in HOOKS])
def test_each_hook_with_one_argument_too_many_is_refused(hook: Hook) -> None:
    params = ", ".join(("self", *hook.args, "extra"))
    count = len(hook.args)
    given = f"{count} positional argument{'' if count == 1 else 's'}" if count else "no argument"
    expected = (
        f"Defined.{hook.name}({params}) cannot take the trainer's call {hook.signature} "
        f"({given} after self): it requires {count + 1} positional argument"
        f"{'' if count + 1 == 1 else 's'}; define it as {_definition(hook)} {BY_POSITION}"
    )
    assert [p.text for p in class_problems(_define(hook, params))] == [expected]
    assert refusal(_define(hook, params)()) == (
        f"plug-in 'defined' (authored.Defined) cannot be registered: {expected}"
    )


@pytest.mark.parametrize(
    "hook", [h for h in HOOKS if h.args], ids=[h.name for h in HOOKS if h.args]
)
def test_each_hook_with_one_argument_too_few_is_refused(hook: Hook) -> None:
    (problem,) = class_problems(_define(hook, ", ".join(("self", *hook.args[:-1]))))
    taken = len(hook.args) - 1
    assert problem.code == "hook-signature"
    assert problem.message.endswith(
        ": it takes none" if not taken else f": it takes at most {taken}"
    )


@pytest.mark.parametrize(
    ("params", "why"),
    [
        ("", "it has no parameter for self"),
        ("self, *, cycle", "it takes none"),
        ("self, cycle, *, extra", "its keyword-only parameter extra has no default"),
        ("self, cycle, *, a, b", "its keyword-only parameters a, b have no default"),
    ],
)
def test_other_shapes_that_cannot_take_the_call(params: str, why: str) -> None:
    hook = next(h for h in HOOKS if h.name == "on_validation_end")
    (problem,) = class_problems(_define(hook, params))
    assert problem.message.endswith(f": {why}")


@pytest.mark.parametrize(
    "params", ["self, *args", "self, cycle=0", "self, cycle, extra=1", "*args", "self, /, c"]
)
def test_shapes_that_take_the_call(params: str) -> None:
    hook = next(h for h in HOOKS if h.name == "on_validation_end")
    assert class_problems(_define(hook, params)) == []


class Awaiting(Plugin):
    plugin_id = "awaiting"

    def setup(self) -> None:
        pass

    async def on_training_start(self) -> None:
        pass


def test_an_async_hook_is_refused() -> None:
    (problem,) = class_problems(Awaiting)
    assert problem.text == (
        "Awaiting.on_training_start(self) cannot take the trainer's call on_training_start() "
        "(no argument after self): it is an async def, and the trainer never awaits a hook; "
        "define it with def, not async def: def on_training_start(self)"
    )


def test_many_problems_are_counted_and_the_first_ones_listed() -> None:
    names = [f"on_thing_{i}" for i in range(LISTED_PROBLEMS + 5)]
    body = {name: lambda self: None for name in names}
    many = type(
        "Many",
        (Plugin,),
        {"__module__": __name__, "plugin_id": "many", "setup": lambda self: None, **body},
    )
    message = refusal(many())
    lines = message.splitlines()
    assert lines[0] == (
        f"plug-in 'many' ({__name__}.Many) cannot be registered ({LISTED_PROBLEMS + 5} problems):"
    )
    assert [line.split(" is named")[0] for line in lines[1:-1]] == [
        f"  - Many.{n}" for n in names[:LISTED_PROBLEMS]
    ]
    assert lines[-1] == "  ... and 5 more"


class Builtin(Plugin):
    plugin_id = "builtin"
    on_training_start = staticmethod(min)  # no signature Python can read

    def setup(self) -> None:
        pass


def test_a_hook_whose_parameters_python_cannot_read_is_not_judged() -> None:
    assert Params.of(vars(Builtin)["on_training_start"]) is None
    assert class_problems(Builtin) == []


# --- at import: the loader's class verification -----------------------------------------------

TYPO_SOURCE = textwrap.dedent("""\
    from helios.plugins import Plugin

    class FixturePlugin(Plugin):
        plugin_id = "typo"

        def setup(self):
            pass

        def on_train_batch_end(self, state):
            pass

        def on_validation_end(self):
            pass
    """)


def test_the_loader_refuses_a_class_that_breaks_the_rules(plugin_env: PluginEnv) -> None:
    plugin_env.add("helios-typo", "typo", module_source=TYPO_SOURCE)
    plugin_env.activate()
    with pytest.raises(PluginBrokenError) as caught:
        load_plugins(["typo"], settings=Settings())
    (verdict,) = caught.value.verdicts
    assert (verdict.reason, verdict.kind) == (Reason.HOOK_MISMATCH, Kind.BROKEN)
    assert verdict.message == (
        "FixturePlugin.on_train_batch_end is named like a hook but is none, so the trainer "
        "never calls it (did you mean on_training_batch_end?); "
        "FixturePlugin.on_validation_end(self) cannot take the trainer's call "
        "on_validation_end(validation_cycle) (1 positional argument after self): it takes none"
    )
    assert verdict.found == "on_train_batch_end, on_validation_end"
    assert verdict.fix == (
        "rename on_train_batch_end to on_training_batch_end, or make it private "
        "(_on_train_batch_end) if it is a helper; define it as def on_validation_end(self, "
        f"validation_cycle) {BY_POSITION}"
    )


def test_check_import_reports_hook_mismatch(plugin_env: PluginEnv) -> None:
    plugin_env.add("helios-typo", "typo", module_source=TYPO_SOURCE)
    code, out, _, _ = plugin_env.cli("plugins", "check", "typo", "--import", "--json")
    assert code == 1
    (verdict,) = json.loads(out)["plugins"]
    assert (verdict["reason"], verdict["kind"]) == ("hook-mismatch", "broken")
    assert "did you mean on_training_batch_end?" in verdict["message"]


def test_check_import_still_passes_a_class_that_keeps_them(plugin_env: PluginEnv) -> None:
    source = TYPO_SOURCE.replace("on_train_batch_end", "_on_train_batch_end").replace(
        "on_validation_end(self)", "on_validation_end(self, cycle)"
    )
    plugin_env.add("helios-typo", "typo", module_source=source)
    code, out, _, _ = plugin_env.cli("plugins", "check", "typo", "--import", "--json")
    assert (code, json.loads(out)["plugins"][0]["reason"]) == (0, "loaded")


def test_unique_overrides_are_still_checked_first() -> None:
    class Unclaimed(Plugin):
        plugin_id = "unclaimed"
        declared_overrides = UniquePluginOverrides()

        def setup(self) -> None:
            pass

        def process_training_batch(self, batch: Any, state: Any) -> Any:
            return batch

    assert class_problems(Unclaimed) == []  # the flag rule is the override check's, not ours
    with pytest.raises(PluginError, match="overrides process_training_batch without claiming"):
        register(Unclaimed())
