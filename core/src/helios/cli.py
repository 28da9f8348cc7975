"""The ``helios`` command (also ``python -m helios``).

``helios plugins list | check [IDS...] | validate PATH... | new NAME`` (PATH: a manifest, a
source tree, a wheel or an sdist); ``check --core/--python/--device/--wheel`` judges against a
hypothetical environment or an uninstalled wheel, changing nothing. Only the torch-free
floor is imported here: listing and checking never import torch or any plug-in (``check
--import`` does, on purpose). ``helios demo`` imports :mod:`helios.demo` (torch, Optuna, ...) only to run.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from helios.plugins._host.whatif import WhatIf
    from helios.plugins._host.wheel_manifest import WheelCandidate

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILED = 1
#: A bad command line: an option's value (``--core abc``) or a file it names (``--wheel``).
EXIT_USAGE = 2
#: Stdout's reader went away (``helios plugins list --json | head``): what a shell reports for a
#: Unix tool that SIGPIPE ended (128 + 13), so ``set -o pipefail`` sees it the same way.
EXIT_BROKEN_PIPE = 141


class _Version(argparse.Action):
    """``--version``, looked up only when asked for."""

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        import helios

        print(f"helios-trainer {helios.__version__}")
        parser.exit()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="helios", description="Helios: a PyTorch training core with checked plug-ins."
    )
    parser.add_argument("--version", action=_Version, nargs=0, help="show the version and exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    plugins = commands.add_parser("plugins", help="list, check, validate and create plug-ins")
    actions = plugins.add_subparsers(dest="action", required=True, metavar="ACTION")

    def selection(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--json", action="store_true", help="print the full report as JSON")
        sub.add_argument(
            "--only",
            metavar="IDS",
            help="comma-separated ids; all others are not selected (like HELIOS_PLUGINS_ONLY)",
        )
        sub.add_argument(
            "--disable",
            metavar="IDS",
            default="",
            help="comma-separated ids to disable (added to HELIOS_PLUGINS_DISABLE)",
        )
        sub.add_argument(
            "--strict",
            action="store_true",
            help="warnings and broken or incompatible "
            "installed plug-ins fail the command (like HELIOS_PLUGINS_STRICT=1)",
        )

    listing = actions.add_parser("list", help="report every installed plug-in (never imports one)")
    selection(listing)
    check = actions.add_parser(
        "check", help="check plug-ins before use; exit 1 if one of them fails"
    )
    check.add_argument(
        "ids",
        nargs="*",
        metavar="ID",
        help="plug-in ids, or paths of uninstalled wheels (*.whl) (default: all installed)",
    )
    _what_if_options(check)
    check.add_argument(
        "--import",
        dest="load",
        action="store_true",
        help="also import the plug-ins that pass and verify their classes",
    )
    selection(check)
    validate = actions.add_parser(
        "validate",
        help="validate manifest files, plug-in source trees, or built wheels and sdists "
        "(no import)",
    )
    validate.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    validate.add_argument("--json", action="store_true", help="print the results as JSON")
    new = actions.add_parser("new", help="create a new plug-in project (helios-NAME/)")
    new.add_argument("name", metavar="NAME", help="the plug-in id, e.g. my_plugin")
    new.add_argument(
        "--dest",
        type=Path,
        default=Path("."),
        metavar="DIR",
        help="create DIR/helios-NAME/ (default: the current folder)",
    )
    new.add_argument("--author", metavar="NAME", help="the authors entry of pyproject.toml")
    new.add_argument("--email", metavar="ADDRESS", help="the author's email address")
    new.add_argument("--url", metavar="URL", help="the project's home page ([project.urls])")
    _demo_parser(commands)
    return parser


def _what_if_options(check: argparse.ArgumentParser) -> None:
    """``check``'s what-if options: judge against another environment, change nothing."""
    group = check.add_argument_group(
        "what if",
        "judge the manifests against a hypothetical environment or an uninstalled wheel; "
        "nothing is installed, changed or imported",
    )
    group.add_argument(
        "--core", metavar="VERSION", help="a helios-trainer version, e.g. 0.4.0, in place of ours"
    )
    group.add_argument(
        "--python", metavar="VERSION", help="a Python version, e.g. 3.13, in place of this one"
    )
    group.add_argument(
        "--device",
        metavar="JSON",
        help="the machine's device, as HELIOS_FAKE_DEVICE describes one, e.g. "
        '\'{"torch_cuda": "12.1", "gpus": ["8.0"]}\'',
    )
    group.add_argument(
        "--wheel",
        dest="wheels",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="an uninstalled plug-in's wheel, judged as if installed (repeatable)",
    )


def _positive_int(text: str) -> int:
    digits = text.strip()
    value = int(digits) if digits.isascii() and digits.isdigit() and len(digits) <= 20 else 0
    if value < 1:
        longest = " of at most 20 digits" if len(digits) > 20 else ""
        raise argparse.ArgumentTypeError(
            f"expected a positive integer{longest}, found {_echo(text)}"
        )
    return value


def _echo(text: str) -> str:
    """A command-line value in an error: quoted, escaped and cut (it may be anything)."""
    from helios.plugins._host.echo import quote

    return quote(text, limit=40, quote_char="'")


#: The most processes ``helios demo --workers`` starts (helios.demo.workers.MAX_WORKERS, here
#: too so that the parser does not import the demo).
MAX_DEMO_WORKERS = 32


def _workers(text: str) -> int:
    value = _positive_int(text)
    if value > MAX_DEMO_WORKERS:
        raise argparse.ArgumentTypeError(
            f"at most {MAX_DEMO_WORKERS} worker processes, found {_echo(text)}: each one is a "
            "Python process with its own torch (hundreds of MB of memory), and more workers "
            "than CPU cores only take turns; pass --workers "
            f"{MAX_DEMO_WORKERS} or fewer (one per CPU core is fastest)"
        )
    return value


def _demo_parser(commands: Any) -> None:
    """``helios demo``: its options are here so that ``helios.demo`` is imported only to run."""
    demo = commands.add_parser(
        "demo",
        help="tune a small digit classifier with helios-optuna (needs helios-trainer[demo])",
        description="Tune a small classifier of scikit-learn's digit images with helios-optuna: "
        "several trials with pruning, a SQLite study in --run-dir, pictures at the end. Running "
        "it again resumes the study.",
    )
    demo.add_argument(
        "--trials",
        type=_positive_int,
        default=20,
        metavar="N",
        help="finished trials the study should hold; a rerun adds only the missing ones "
        "(default: 20)",
    )
    demo.add_argument(
        "--run-dir",
        type=Path,
        default=Path("helios-demo"),
        metavar="PATH",
        help="folder for the study, checkpoints and pictures (default: ./helios-demo)",
    )
    demo.add_argument(
        "--fresh", action="store_true", help="start over: remove the previous study and checkpoints"
    )
    demo.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="auto: cuda when the CUDA plug-in applies here (default: auto)",
    )
    demo.add_argument(
        "--epochs",
        type=_positive_int,
        default=15,
        metavar="N",
        help="epochs per trial (default: 15)",
    )
    demo.add_argument(
        "--seed", type=int, default=0, help="seed of the sampler and the training (default: 0)"
    )
    demo.add_argument(
        "--workers",
        type=_workers,
        default=1,
        metavar="N",
        help="run the trials in N worker processes that share the study, one progress bar "
        f"here (at most {MAX_DEMO_WORKERS}; default: 1, in this process)",
    )
    demo.add_argument(
        "--storage",
        metavar="URL",
        help="the study's database: sqlite:///PATH, postgresql://USER:PASSWORD@HOST/DB or "
        "mysql://... (default: the SQLite file study.db in --run-dir)",
    )


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2) if args.json else text)


class _UsageError(Exception):
    """A bad value on the command line: reported on stderr with :data:`EXIT_USAGE`."""


def _what_if(
    args: argparse.Namespace, ids: Sequence[str] | None
) -> tuple[WhatIf, list[WheelCandidate], list[str] | None]:
    """``check``'s what-if, the wheels it names (as options or among the ids) and the ids left.

    Only wheels named: only they are judged (``ids`` becomes an empty selection).
    """
    from helios.plugins._host.whatif import (
        WhatIf,
        device_option,
        parse_core_version,
        parse_python_version,
    )
    from helios.plugins._host.wheel_manifest import read_wheel

    if args.action != "check":
        return WhatIf(), [], list(ids) if ids is not None else None
    paths = [*args.wheels, *(Path(i) for i in ids or () if i.endswith(".whl"))]
    named = [i for i in ids or () if not i.endswith(".whl")]
    try:
        what_if = WhatIf(
            core=parse_core_version(args.core) if args.core is not None else None,
            python=parse_python_version(args.python) if args.python is not None else None,
            device=device_option(args.device) if args.device is not None else None,
        )
        if args.load and (what_if.hypothetical or paths):
            raise ValueError(
                "--import cannot be combined with --core, --python, --device or a wheel: a "
                "what-if is judged from manifests and imports nothing; drop --import"
            )
        wheels = [read_wheel(path) for path in dict.fromkeys(paths)]
    except ValueError as exc:
        raise _UsageError(str(exc)) from None
    return what_if, wheels, named if named or paths else None


def _report(args: argparse.Namespace, ids: Sequence[str] | None) -> int:
    from helios.plugins._host.host import build_report, probe_device
    from helios.plugins._host.settings import Settings, parse_ids
    from helios.plugins._host.verdicts import Kind

    what_if, wheels, ids = _what_if(args, ids)
    settings = Settings.from_env().merged(
        only=parse_ids(args.only) if args.only else None,
        disable=parse_ids(args.disable),
        strict=args.strict,
    )
    report = build_report(
        ids,
        settings=settings,
        device=what_if.device if what_if.device is not None else probe_device(),
        load=getattr(args, "load", False),
        what_if=what_if,
        wheels=wheels,
    )
    _emit(args, report.to_json(), report.render())
    if ids is not None:  # asked for by name (or wheel): every one of them must be usable
        failed = report.failures()
    elif args.action == "check" or settings.strict:
        failed = report.failures(Kind.INCOMPATIBLE, Kind.BROKEN)
    else:
        failed = []
    if settings.strict and report.warnings:
        return EXIT_FAILED
    return EXIT_FAILED if failed else EXIT_OK


def _new(args: argparse.Namespace) -> int:
    import os
    import shlex

    from helios.plugins.authoring.scaffold import create_plugin_project

    made = create_plugin_project(
        args.name, args.dest, author=args.author, email=args.email, url=args.url
    )
    root = str(made.root)
    if not made.root.is_absolute() and not root.startswith(os.pardir):
        root = os.curdir + os.sep + root  # so that pip takes it for a path, not a name
    quoted = shlex.quote(root)
    names = made.names
    lines = [
        f"created {root} (plug-in {names.plugin_id!r}, class {names.class_path}, "
        f"requires helios-trainer{made.helios_range}):",
        *(f"  {shlex.quote(os.path.join(root, f))}" for f in made.files),
        "next:",
        f"  helios plugins validate {quoted}",
        f"  pip install {quoted}    # or pip install -e {shlex.quote(root + '[test]')}",
        f"  helios plugins check {names.plugin_id} --import",
        f"  pytest {shlex.quote(os.path.join(root, 'tests'))}",
    ]
    if made.metadata.missing:
        pyproject = shlex.quote(os.path.join(root, "pyproject.toml"))
        lines.append(
            f"before publishing: complete {' and '.join(made.metadata.unfilled)} in {pyproject}"
            f" (or pass {', '.join(made.metadata.missing)} to helios plugins new)"
        )
    print("\n".join(lines))
    return EXIT_OK


def _validate(args: argparse.Namespace) -> int:
    from helios.plugins._host.echo import escape
    from helios.plugins.authoring.built import validate

    results = [validate(path) for path in args.paths]
    lines = []
    for result in results:
        if result.ok:
            assert result.manifest is not None
            lines.append(
                f"ok: {escape(str(result.path))} (plug-in {result.manifest.id!r}, class "
                f"{result.manifest.class_path})"
            )
        else:
            lines.append(f"invalid: {escape(str(result.path))}")
            lines += ["  " + p.render() for p in result.problems]
    _emit(args, [r.to_json() for r in results], "\n".join(lines))
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    When the reader of stdout goes away early (``helios plugins list --json | head``), the
    command stops quietly with :data:`EXIT_BROKEN_PIPE` instead of a traceback.
    """
    try:
        try:
            code = _run(argv)
        except SystemExit:  # --help, --version and usage errors have printed too
            sys.stdout.flush()
            raise
        sys.stdout.flush()  # a pipe's last block is written here, not at interpreter exit
    except BrokenPipeError:
        if not _stdout_reader_gone():
            raise  # some other pipe broke: that is a real error, keep its traceback
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    return code


def _stdout_reader_gone() -> bool:
    """True when stdout is a pipe whose reading end is closed."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    if not hasattr(select, "poll"):  # Windows: no poll(); a broken pipe there is stdout's
        return True
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & select.POLLERR for _, events in poller.poll(0))


def _silence_stdout() -> None:
    """Point stdout at the null device, so that the interpreter's final flush stays quiet."""
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, sys.stdout.fileno())
    finally:
        os.close(null)


def _run(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    from helios.plugins.errors import PluginError

    if args.command == "demo":
        from helios.demo import DemoError
        from helios.demo.run import main as demo

        try:  # only the demo's own errors are one line; a bug deep in training keeps its trace
            return demo(args)
        except (PluginError, DemoError) as exc:
            print(f"helios: error: {exc}", file=sys.stderr)
            return EXIT_FAILED
    try:
        if args.action == "validate":
            return _validate(args)
        if args.action == "new":
            return _new(args)
        ids = args.ids if args.action == "check" and args.ids else None
        return _report(args, ids)
    except _UsageError as exc:
        print(f"helios: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (PluginError, ValueError) as exc:
        print(f"helios: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
