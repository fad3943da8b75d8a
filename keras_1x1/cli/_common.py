"""What the subcommands share: argument groups, tolerances, progress lines,
the user-error exception, and keeping native library chatter off stderr."""

import argparse
import contextlib
import os
import sys
import time

from keras_1x1.errors import UserInputError

PROG = "keras-1x1"

# Exit statuses.
OK = 0
FAILED = 1
BAD_INPUT = 2
INTERNAL_ERROR = 3


def say(text):
    print(text, flush=True)


# -- argument groups -------------------------------------------------------------------


def parents():
    """``{name: parser}`` of the argument groups subcommands take as parents."""
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS keeps a subcommand from resetting a --debug given before it.
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS,
        help="show tracebacks and library logs on errors",
    )
    loading = argparse.ArgumentParser(add_help=False)
    loading.add_argument(
        "--unsafe",
        action="store_true",
        help="allow loading models that run arbitrary code (Lambda layers); "
        "only for files you trust",
    )
    writing = argparse.ArgumentParser(add_help=False)
    writing.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    checking = argparse.ArgumentParser(add_help=False)
    checking.add_argument(
        "--provider",
        choices=("cpu", "cuda", "qnn"),
        default="cpu",
        help="onnxruntime execution provider: cpu, cuda (never falls back to cpu) or qnn "
        "(Qualcomm's HTP through onnxruntime-qnn: every node on the HTP, fp16 tolerances)",
    )
    tolerance = argparse.ArgumentParser(add_help=False)
    tolerance.add_argument(
        "--atol", nargs="+", metavar="[OUTPUT:]X",
        help="absolute tolerance, for all outputs or per output",
    )
    tolerance.add_argument(
        "--rtol", nargs="+", metavar="[OUTPUT:]Y",
        help="relative tolerance, for all outputs or per output",
    )
    feeding = argparse.ArgumentParser(add_help=False)
    feeding.add_argument(
        "--inputs", metavar="FILE",
        help="check on these inputs instead of drawn ones: a .npz with one array per "
        "input (by input name, or arr_0, arr_1, ... in input order), or a .npy for a "
        "model with one input",
    )
    return {
        "common": common,
        "feeding": feeding,
        "loading": loading,
        "writing": writing,
        "checking": checking,
        "tolerance": tolerance,
    }


def parse_tolerances(values, what="tolerance"):
    """``["1e-5", "out:1e-3"]`` -> ``{None: 1e-5, "out": 1e-3}`` (None stays None)."""
    if values is None:
        return None
    result = {}
    for value in values:
        name, _, number = str(value).rpartition(":")
        try:
            parsed = float(number)
        except ValueError:
            raise UserInputError(
                f"{what} must be a number or OUTPUT:NUMBER, got {value!r}"
            ) from None
        if not parsed >= 0:
            raise UserInputError(f"{what} must be zero or positive, got {value!r}")
        key = name or None
        if key in result:
            target = f"output '{key}'" if key else "all outputs"
            raise UserInputError(
                f"{what} is given twice for {target} ({result[key]:g} and {parsed:g}); "
                "give one value, or OUTPUT:VALUE per output"
            )
        result[key] = parsed
    return result


def read_inputs(args, model=None):
    """The arrays of ``--inputs`` (None when not given). With a Keras
    ``model``, ``{input name: array}`` for exactly the inputs it takes."""
    if getattr(args, "inputs", None) is None:
        return None
    from keras_1x1 import io

    inputs = io.load_inputs(args.inputs)
    if model is None:
        return inputs
    from keras_1x1.converters.keras import signature

    return signature.named_inputs(model, inputs, what=args.inputs)


# -- progress --------------------------------------------------------------------------


def progress_enabled(stream):
    """Stage lines go to stderr when it is a terminal; ``KERAS_1X1_PROGRESS=1``
    forces them on and ``0`` off."""
    forced = os.environ.get("KERAS_1X1_PROGRESS", "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Progress:
    """Numbered stage lines with elapsed times: ``[2/3   4.1s] converting ...``.

    On stderr and only where someone watches, so scripts, pipes and logs
    keep stdout for results and stderr for the one-line error.
    """

    def __init__(self, stages=None, stream=None):
        self.stages = stages
        self.step = 0
        self.start = time.perf_counter()
        self.stream = stream

    def __call__(self, text):
        self.step += 1
        stream = self.stream or sys.stderr
        if not progress_enabled(stream):
            return
        elapsed = time.perf_counter() - self.start
        total = f"/{self.stages}" if self.stages else ""
        print(f"[{self.step}{total} {elapsed:6.1f}s] {text}", file=stream, flush=True)


# -- native chatter --------------------------------------------------------------------


def quiet_wanted():
    """``TF_CPP_MIN_LOG_LEVEL`` 2 or more (the command line's default)."""
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0")) >= 2
    except ValueError:
        return False


@contextlib.contextmanager
def native_stderr_quiet():
    """Point file descriptor 2 at /dev/null while a command runs.

    TensorFlow, XLA and onnxruntime print from C++ (CUDA probing, CPU
    feature notes, oneDNN banners) before their logging is configured, so
    ``TF_CPP_MIN_LOG_LEVEL`` cannot silence all of it. Python's
    ``sys.stderr`` keeps writing to the terminal through a copy of the
    descriptor, so the one-line error, warnings and progress still show.
    Nothing changes when stderr is not descriptor 2 (captured by a test).
    """
    try:
        sys.stderr.flush()
        python_fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        python_fd = None
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    replaced = None
    if python_fd == 2:
        replaced = sys.stderr
        sys.stderr = os.fdopen(
            os.dup(saved), "w", buffering=1, encoding=replaced.encoding, errors="backslashreplace"
        )
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        yield
    finally:
        if replaced is not None:
            sys.stderr.flush()
            sys.stderr.close()
            sys.stderr = replaced
        os.dup2(saved, 2)
        os.close(null)
        os.close(saved)
