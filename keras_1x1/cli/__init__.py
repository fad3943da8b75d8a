"""keras-1x1: move trained Keras models between 1x1 convolutions and per-pixel
Dense layers, export them to ONNX and prove both forms are the same map.

Exit status: 0 success (PASSED), 1 a check failed (FAILED), 2 bad input or
usage, 3 an internal error (a bug in keras-1x1). Errors are one line on
stderr; --debug shows the traceback.

Each subcommand is a module of this package whose docstring is its help,
with ``GROUPS`` (the shared argument groups it takes), ``add_arguments``
and ``run(args) -> exit status``. Building the parser imports none of them
beyond that, so ``--help`` and ``--version`` answer without TensorFlow.
"""

import argparse
import importlib
import os
import re
import sys

from ._common import BAD_INPUT, FAILED, INTERNAL_ERROR, PROG, native_stderr_quiet, parents

COMMANDS = ("convert", "export", "compare", "validate", "demo")


def _version():
    from keras_1x1 import __version__

    return __version__


class _Parser(argparse.ArgumentParser):
    """argparse with the product's one-line error format and exit status 2."""

    def error(self, message):
        if "arguments are required" in message and self.prog.split()[-1] in ("compare", "validate"):
            message += " (--atol and --rtol take one or more values: give them after the files)"
        print(f"{PROG}: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        sys.exit(BAD_INPUT)


def _command(name):
    return importlib.import_module(f"{__name__}.{name}")


def build_parser():
    groups = parents()
    summary, details = __doc__.split("\n\n")[:2]
    parser = _Parser(prog=PROG, description=summary, epilog=details, parents=[groups["common"]])
    parser.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMANDS:
        module = _command(name)
        doc = module.__doc__.strip()
        p = sub.add_parser(
            name,
            parents=[groups[g] for g in ("common", *module.GROUPS)],
            help=doc.splitlines()[0].rstrip("."),
            description=doc,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(p)
        p.set_defaults(run=module.run)
    return parser


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def one_line(error):
    """The error as one line: whitespace folded, terminal colour codes dropped."""
    text = " ".join(_ANSI.sub("", str(error)).split())
    if not text:
        text = type(error).__name__
    return text if len(text) <= 400 else text[:397] + "..."


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    args.debug = getattr(args, "debug", False)
    from keras_1x1.errors import ConversionError, UserInputError

    try:
        if args.debug:
            return int(args.run(args) or 0)
        with native_stderr_quiet():
            return int(args.run(args) or 0)
    except ConversionError as error:
        if args.debug:
            raise
        # The verdict goes where PASSED would have gone; stderr keeps one line.
        print("FAILED", flush=True)
        print(f"{PROG}: error: {one_line(error)}", file=sys.stderr)
        return FAILED
    except UserInputError as error:
        if args.debug:
            raise
        print(f"{PROG}: error: {one_line(error)}", file=sys.stderr)
        return BAD_INPUT
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; nothing was written", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - the command line's last line of defence
        if args.debug:
            raise
        print(
            f"{PROG}: internal error: {type(error).__name__}: {one_line(error)} "
            "(a bug in keras-1x1, not in your input; run with --debug for the "
            "traceback and report it)",
            file=sys.stderr,
        )
        return INTERNAL_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
