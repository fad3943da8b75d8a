"""Running ``.tflite`` models in the LiteRT interpreter, and what ran where.

`run_tflite` feeds inputs by name (free dims resized to the arrays given)
and returns the outputs by name, through the model's signature. `census`
lists the model's ops and which of them the XNNPACK delegate took: the
nodes of each delegate partition are found by walking back from the
partition's outputs to its inputs, so every op left to LiteRT's own CPU
kernels (shape plumbing XNNPACK does not take) is named.
"""

from __future__ import annotations

import collections
import dataclasses
from pathlib import Path

import numpy as np

from keras_1x1.errors import UserInputError, one_line

from . import litert_internals

__all__ = ["Census", "census", "input_specs", "load_tflite", "run_tflite", "PACKAGE"]

PACKAGE = "ai-edge-litert"
RUNTIME = "LiteRT interpreter (XNNPACK)"


@dataclasses.dataclass
class Census:
    """The ops of a LiteRT model, and what XNNPACK took.

    Attributes:
        ops: ``{op name: count}`` of the model's own nodes.
        left: ``{op name: count}`` of those no delegate took (they run on
            LiteRT's own CPU kernels).
        partitions: how many delegate partitions the model was cut into.
    """

    ops: dict
    left: dict
    partitions: int

    @property
    def nodes(self):
        return sum(self.ops.values())

    @property
    def delegated(self):
        """True when XNNPACK took every node (one partition for all)."""
        return self.nodes > 0 and not self.left

    def census_line(self):
        ops = ", ".join(f"{op} {n}" for op, n in self.ops.items())
        line = f"LiteRT ops: {self.nodes} ({ops}); "
        if self.delegated:
            return line + f"XNNPACK took all of them ({self.partitions} partition(s))"
        left = ", ".join(f"{op} {n}" for op, n in self.left.items())
        taken = self.nodes - sum(self.left.values())
        return line + (
            f"XNNPACK took {taken} in {self.partitions} partition(s); left to LiteRT's "
            f"CPU kernels: {left}"
        )


def _counted(names):
    counts = collections.Counter(names)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as error:
        raise UserInputError(
            f"LiteRT models need the {PACKAGE} package (pip install {PACKAGE}, or "
            f"keras-1x1[litert]); it cannot be imported ({one_line(error)})"
        ) from error
    return Interpreter


def load_tflite(source):
    """The bytes of a LiteRT model from bytes or a path; one line when it is not one."""
    if isinstance(source, (bytes, bytearray)):
        data, where = bytes(source), "LiteRT data"
    else:
        path = Path(source)
        where = str(path)
        try:
            data = path.read_bytes()
        except OSError as error:
            raise UserInputError(f"{path}: cannot be read ({error.strerror})") from None
    # A FlatBuffer with LiteRT's file identifier at bytes 4 to 8.
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise UserInputError(f"{where}: not a LiteRT (.tflite) model")
    return data


def _interpreter(data):
    Interpreter = _interpreter_class()
    try:
        return Interpreter(model_content=data)
    except Exception as error:  # noqa: BLE001 - LiteRT's own exceptions
        raise UserInputError(f"the LiteRT interpreter cannot load the model: {one_line(error)}") from error


def _runner(interpreter):
    signatures = interpreter.get_signature_list()
    if len(signatures) != 1:
        raise UserInputError(
            f"the LiteRT model has {len(signatures)} signatures; keras-1x1 runs models with one"
        )
    (key,) = signatures
    return interpreter.get_signature_runner(key), signatures[key]


def input_specs(source):
    """The model's inputs as `keras_1x1.numeric.InputSpec` (free dims None)."""
    from keras_1x1.numeric import InputSpec

    interpreter = _interpreter(load_tflite(source))
    runner, names = _runner(interpreter)
    details = runner.get_input_details()
    specs = []
    for name in names["inputs"]:
        detail = details[name]
        shape = tuple(None if d < 0 else int(d) for d in detail["shape_signature"])
        specs.append(InputSpec(name, shape, np.dtype(detail["dtype"]).name))
    return specs


def _run(data, feeds):
    interpreter = _interpreter(data)
    runner, names = _runner(interpreter)
    missing = [n for n in names["inputs"] if n not in feeds]
    if missing:
        raise UserInputError(f"no input given for {', '.join(missing)}")
    details = runner.get_input_details()
    inputs = {
        n: np.ascontiguousarray(np.asarray(feeds[n]).astype(details[n]["dtype"], copy=False))
        for n in names["inputs"]
    }
    try:
        outputs = runner(**inputs)
    except Exception as error:  # noqa: BLE001 - LiteRT's own exceptions
        raise UserInputError(f"the LiteRT interpreter cannot run the model: {one_line(error)}") from error
    return {n: np.asarray(outputs[n]) for n in names["outputs"]}, interpreter


def run_tflite(source, feeds):
    """``{output name: array}`` of a LiteRT model run on ``{input name: array}``."""
    return _run(load_tflite(source), feeds)[0]


def run_with_census(source, feeds):
    """``(outputs, Census)``: a run, and what XNNPACK took in it."""
    outputs, interpreter = _run(load_tflite(source), feeds)
    return outputs, _census(interpreter)


def census(source, feeds=None):
    """The `Census` of a LiteRT model, run once on `feeds` (drawn from its
    input specs when None) so that its delegate has taken what it takes."""
    from keras_1x1.numeric import draw_inputs

    data = load_tflite(source)
    if feeds is None:
        feeds = draw_inputs(input_specs(data))
    return _census(_run(data, feeds)[1])


def _census(interpreter):
    nodes = litert_internals.ops_details(interpreter)
    delegates = [n for n in nodes if n["op_name"] == "DELEGATE"]
    own = [n for n in nodes if n["op_name"] != "DELEGATE"]
    producer = {t: n["index"] for n in own for t in n["outputs"]}
    by_index = {n["index"]: n for n in own}
    taken = set()
    for delegate in delegates:
        stop = set(delegate["inputs"])
        stack = [t for t in delegate["outputs"]]
        while stack:
            index = producer.get(stack.pop())
            if index is None or index in taken:
                continue
            taken.add(index)
            stack.extend(t for t in by_index[index]["inputs"] if t >= 0 and t not in stop)
    return Census(
        ops=_counted(n["op_name"] for n in own),
        left=_counted(n["op_name"] for n in own if n["index"] not in taken),
        partitions=len(delegates),
    )
