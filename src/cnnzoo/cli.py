"""The ``cnnzoo`` command: argument parsing only; every command calls the Python API.

Any :class:`~cnnzoo.errors.CnnzooError` (and a bad argument) becomes one line on stderr
and exit status 2, never a traceback. Each command has an ``_add_<command>`` function that
declares its arguments and a ``_cmd_<command>`` function that runs it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["main", "build_parser"]


class CliError(Exception):
    """A usage error found after parsing (reported like argparse's own)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line and exit status 2, as argparse does
        self.exit(2, f"{self.prog}: error: {message}\n")


# ---------------------------------------------------------------- list / models
def _add_list(sub: Any) -> None:
    p = sub.add_parser("list", help="list the registered models",
                       description="List registered models matching a shell wildcard.")
    p.add_argument("pattern", nargs="?", default="*", help="wildcard, e.g. 'resnet*'")
    p.add_argument("--family", help="only this family (resnet, vgg, ...)")
    p.add_argument("--pretrained", action="store_true", help="only models with weights")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_list)


def _cmd_list(args: argparse.Namespace) -> int:
    import cnnzoo

    names = cnnzoo.list_models(args.pattern, family=args.family)
    if args.pretrained:
        from . import weights

        names = [n for n in names if weights.list_tags(n)]
    if not names:
        raise CliError(f"no model matches '{args.pattern}' (cnnzoo list shows every model)")
    if args.json:
        print(json.dumps(names))
    else:
        print("\n".join(names))
    return 0


# ---------------------------------------------------------------- entry point
def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cnnzoo", description=(
        "The landmark convolutional networks: list and inspect them, train them, load "
        "their published weights."))
    from . import __version__

    parser.add_argument("--version", action="version", version=f"cnnzoo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    _add_list(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 bad input, 1 unexpected failure)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from .errors import CnnzooError

    try:
        return int(args.func(args) or 0)
    except (CnnzooError, CliError) as e:
        print(f"cnnzoo {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"cnnzoo {args.command}: interrupted", file=sys.stderr)
        return 130
