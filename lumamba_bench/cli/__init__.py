"""The ``lumamba-bench`` command line (typer + rich): each command parses its options, calls the
library, prints. One module per group of commands; importing them registers the commands.

Exit codes: 0 success; 1 an error (one readable line, no traceback); 2 a usage error;
3 ``prepare`` finished but skipped at least one recording (listed in the summary and manifest).
"""

from __future__ import annotations

import importlib
import sys

from rich.text import Text

from lumamba_bench.cli.common import app, console, err_console
from lumamba_bench.errors import LumambaError

__all__ = ["app", "console", "main"]

for _module in ("data", "training", "inspection", "board"):  # the order `--help` lists them in
    importlib.import_module(f"{__name__}.{_module}")


def plugin_arguments(argv: list[str]) -> tuple[list[str], list[str]]:
    """``--plugin X`` / ``--plugin=X`` anywhere on the command line (every command takes it):
    the plugins, and the arguments without them."""
    plugins, rest, args = [], [], iter(argv)
    for arg in args:
        if arg == "--plugin":
            value = next(args, None)
            if value is None:
                raise LumambaError("--plugin needs a module or a .py file")
            plugins.append(value)
        elif arg.startswith("--plugin="):
            plugins.append(arg.partition("=")[2])
        else:
            rest.append(arg)
    return plugins, rest


def main() -> None:
    from lumamba_bench.plugins import load_plugins

    try:
        specs, sys.argv[1:] = plugin_arguments(sys.argv[1:])
        load_plugins(specs)  # LUMAMBA_BENCH_PLUGINS, then --plugin: they register before any name is read
        app()
    except LumambaError as error:
        err_console.print(Text.assemble(("error: ", "bold red"), str(error)), highlight=False, soft_wrap=True)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        err_console.print(Text.assemble(("interrupted", "yellow"), ": re-run the same command to resume"))
        raise SystemExit(130) from None
