"""keras-1x1: move trained Keras models between 1x1 convolutions and per-pixel
Dense layers, export them to ONNX and prove both forms are the same map.

Exit status: 0 success (PASSED), 1 a check failed (FAILED), 2 bad input or
usage. Errors are one line on stderr; --debug shows the traceback.
"""

import argparse
import os
import re
import sys

PROG = "keras-1x1"


def _version():
    from keras_1x1 import __version__

    return __version__


class _Parser(argparse.ArgumentParser):
    """argparse with the product's one-line error format and exit status 2."""

    def error(self, message):
        if "arguments are required" in message and self.prog.split()[-1] in ("compare", "validate"):
            message += " (--atol and --rtol take one or more values: give them after the files)"
        print(f"{PROG}: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        sys.exit(2)


def build_parser():
    # --debug is accepted before or after the command; SUPPRESS keeps a
    # subcommand from resetting a --debug given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS,
        help="show tracebacks on errors",
    )
    loading = argparse.ArgumentParser(add_help=False)
    loading.add_argument(
        "--unsafe",
        action="store_true",
        help="allow loading models that run arbitrary code (Lambda layers); "
        "only for files you trust",
    )
    writing = argparse.ArgumentParser(add_help=False)
    writing.add_argument(
        "--overwrite", action="store_true", help="replace OUT if it exists"
    )
    checking = argparse.ArgumentParser(add_help=False)
    checking.add_argument(
        "--provider",
        choices=("cpu", "cuda"),
        default="cpu",
        help="onnxruntime execution provider (cuda never falls back to cpu)",
    )
    tolerance = argparse.ArgumentParser(add_help=False)
    tolerance.add_argument(
        "--atol",
        nargs="+",
        metavar="[OUTPUT:]X",
        help="absolute tolerance, for all outputs or per output",
    )
    tolerance.add_argument(
        "--rtol",
        nargs="+",
        metavar="[OUTPUT:]Y",
        help="relative tolerance, for all outputs or per output",
    )

    parser = _Parser(
        prog=PROG,
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n")[1],
        parents=[common],
    )
    parser.add_argument(
        "--version", action="version", version=f"{PROG} {_version()}"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser(
        "convert",
        parents=[common, loading, writing],
        help="rewrite a trained model between the conv and dense forms",
        description="Rewrite a trained Keras model: every pointwise conv to a "
        "per-pixel Dense (--to dense), every per-pixel Dense to a 1x1 conv "
        "(--to conv), or a Flatten/GlobalPooling -> Dense classifier head to "
        "convolutions that slide over larger images (--to fcn). Prints the "
        "report of every candidate layer and verifies the outputs match.",
    )
    p.add_argument("input", metavar="IN", help="model file (.keras or .h5)")
    p.add_argument("output", metavar="OUT", help="model file to write (.keras or .h5)")
    p.add_argument("--to", required=True, choices=("dense", "conv", "fcn"))
    p.add_argument(
        "--target",
        choices=("keras", "keras_1x1"),
        default="keras",
        help="keras: built-in layers only; keras_1x1: Conv1x1/PixelDense",
    )
    p.add_argument(
        "--no-verify",
        dest="verify",
        action="store_false",
        help="skip comparing the outputs of the old and new model",
    )
    p.set_defaults(func=_cmd_convert)

    p = sub.add_parser(
        "export",
        parents=[common, loading, writing],
        help="export a Keras model to ONNX",
        description="Export a Keras model to ONNX with tf2onnx. --form raw "
        "writes tf2onnx's graph; matmul writes the canonical graph with every "
        "pointwise op as MatMul+Add on the channel axis; conv writes it with "
        "every pointwise op as an NCHW Conv 1x1. The written file is checked "
        "in onnxruntime against Keras.",
    )
    p.add_argument("input", metavar="IN", help="model file (.keras or .h5)")
    p.add_argument("output", metavar="OUT", help="ONNX file to write")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (<= 18)")
    p.add_argument("--form", choices=("raw", "matmul", "conv"), default="raw")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser(
        "compare",
        parents=[common, loading, checking, tolerance],
        help="compare two models: canonical ONNX graph and outputs",
        description="Compare two models (.keras, .h5 or .onnx, in any "
        "pairing): whether their canonical ONNX graphs are identical, and "
        "their outputs on the same random inputs. Ends with PASSED or FAILED.",
    )
    p.add_argument("a", metavar="A")
    p.add_argument("b", metavar="B")
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser(
        "validate",
        parents=[common, loading, checking, tolerance],
        help="check a model's conv and dense forms are the same map",
        description="Convert a model to both forms, export each to ONNX, and "
        "check that the canonical graphs are identical and the onnxruntime "
        "outputs match Keras. Ends with PASSED or FAILED.",
    )
    p.add_argument("input", metavar="IN", help="model file (.keras or .h5)")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser(
        "demo",
        parents=[common, loading],
        help="show the whole job on the shipped reference model",
        description="Show what the package is for: the seed example, then "
        "conv -> dense -> conv on a trained reference model, ONNX fingerprints "
        "and outputs, and a convolutionalized classifier's score map.",
    )
    p.add_argument("--model", metavar="PATH", help="a .keras model to use instead")
    p.set_defaults(func=_cmd_demo)
    return parser


def _cmd_convert(args):
    from keras_1x1.commands import run_convert

    return run_convert(args)


def _cmd_export(args):
    from keras_1x1._cmd_onnx import run_export

    return run_export(args)


def _cmd_compare(args):
    from keras_1x1._cmd_onnx import run_compare

    return run_compare(args)


def _cmd_validate(args):
    from keras_1x1.commands import run_validate

    return run_validate(args)


def _cmd_demo(args):
    from keras_1x1.demo import run_demo

    return run_demo(args)


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _one_line(error):
    """The error as one line: whitespace folded, terminal colour codes dropped."""
    text = " ".join(_ANSI.sub("", str(error)).split())
    if not text:
        text = type(error).__name__
    return text if len(text) <= 400 else text[:397] + "..."


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    args.debug = getattr(args, "debug", False)
    try:
        from keras_1x1.errors import ConversionError, UserInputError
    except ImportError as error:  # pragma: no cover - broken installation
        print(f"{PROG}: error: cannot import keras-1x1: {error}", file=sys.stderr)
        return 2
    try:
        from keras_1x1._quiet import probe_devices

        probe_devices()
        return int(args.func(args) or 0)
    except ConversionError as error:
        if args.debug:
            raise
        # The verdict goes where PASSED would have gone; stderr keeps one line.
        print("FAILED", flush=True)
        print(f"{PROG}: error: {_one_line(error)}", file=sys.stderr)
        return 1
    except UserInputError as error:
        if args.debug:
            raise
        print(f"{PROG}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; nothing was written", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - the CLI's last line of defence
        if args.debug:
            raise
        print(
            f"{PROG}: error: {type(error).__name__}: {_one_line(error)} "
            "(run with --debug for the traceback)",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
