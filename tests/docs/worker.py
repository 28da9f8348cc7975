"""Runs one page's python blocks in one namespace, in a process of its own (``python worker.py``).

Requests come on stdin, one JSON object a line: ``{"path", "line", "code", "setup", "cwd"}``;
the code is compiled as the page's own lines (a traceback names the page and the line in it)
and run as ``__main__`` in the folder ``cwd``. Each answer goes back on the original stdout as one JSON line, ``{"error": null}``
or ``{"error": "<traceback>"}``; what the blocks print goes to stderr, like everything else.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any


def main() -> None:
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # prints of the blocks (and of C code) join stderr; fd 1 is not the protocol
    sys.path.insert(0, os.getcwd())  # files the page wrote are importable, as in `python x.py`
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
    for request in sys.stdin:
        task = json.loads(request)
        error = None
        home = os.getcwd()
        try:
            os.chdir(task["cwd"])
            if task["setup"]:
                exec(compile(task["setup"], f"<setup of {task['path']}>", "exec"), namespace)
            padded = "\n" * task["line"] + task["code"]  # line numbers are the page's
            exec(compile(padded, task["path"], "exec"), namespace)
        except BaseException:  # SystemExit too: the block ended the page's process
            error = traceback.format_exc()
        finally:
            os.chdir(home)
        sys.stdout.flush()
        sys.stderr.flush()
        answers.write(json.dumps({"error": error}) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
