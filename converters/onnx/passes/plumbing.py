"""Shape plumbing evaluated with numpy: what onnx's shape inference does not
follow (a ``ReduceProd`` of a ``Shape``, a ``Range`` to a computed limit).

`evaluate` runs, in order, every node of a small set of integer and shape
ops whose inputs are known (constants, or for ``Shape`` and ``Size`` the
input's shape), and adds their outputs to the constants. It is only ever
given graphs whose free dims are fixed (`shapes`' probes), where all such
plumbing is constant.
"""

from __future__ import annotations

import numpy as np
from onnx import helper, numpy_helper

# Only small tensors are evaluated: shapes, axes, indices.
_LIMIT = 4096


def _attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _axes(node, inputs, index, attrs):
    if len(inputs) > index and inputs[index] is not None:
        return [int(a) for a in np.asarray(inputs[index]).reshape(-1)]
    return attrs.get("axes")


def _reduce(op):
    def run(node, inputs, attrs):
        axes = _axes(node, inputs, 1, attrs)
        keep = bool(attrs.get("keepdims", 1))
        x = inputs[0]
        if not axes:
            axes = None if not attrs.get("noop_with_empty_axes", 0) else []
        if axes == []:
            return [x]
        return [np.asarray(op(x, axis=None if axes is None else tuple(axes), keepdims=keep))]

    return run


def _binary(op):
    return lambda node, inputs, attrs: [np.asarray(op(inputs[0], inputs[1]))]


def _div(a, b):
    if np.issubdtype(np.asarray(a).dtype, np.integer):
        return (np.trunc(np.asarray(a) / np.asarray(b))).astype(np.asarray(a).dtype)
    return np.asarray(a) / np.asarray(b)


def _mod(node, inputs, attrs):
    """ONNX's Mod: the sign of the divisor (Python's %), or of the dividend
    with ``fmod=1`` (C's fmod). tf2onnx's Roll wraps its shift with it."""
    a, b = np.asarray(inputs[0]), np.asarray(inputs[1])
    if np.issubdtype(a.dtype, np.integer) and np.any(b == 0):
        raise ZeroDivisionError("Mod by zero")
    return [np.fmod(a, b) if attrs.get("fmod", 0) else np.mod(a, b)]


def _slice(node, inputs, attrs):
    data = inputs[0]
    starts = np.asarray(inputs[1]).reshape(-1)
    ends = np.asarray(inputs[2]).reshape(-1)
    axes = np.asarray(inputs[3]).reshape(-1) if len(inputs) > 3 and inputs[3] is not None else range(len(starts))
    steps = np.asarray(inputs[4]).reshape(-1) if len(inputs) > 4 and inputs[4] is not None else [1] * len(starts)
    index = [slice(None)] * data.ndim
    for s, e, a, st in zip(starts, ends, axes, steps):
        index[int(a)] = slice(int(s), int(e), int(st))
    return [data[tuple(index)]]


def _shape(node, inputs, attrs, shape):
    dims = np.asarray(shape, dtype=np.int64)
    start, end = attrs.get("start", 0), attrs.get("end", None)
    return [dims[start:end]]


OPS = {
    "Cast": lambda node, inputs, attrs: [
        inputs[0].astype(helper.tensor_dtype_to_np_dtype(attrs["to"]))
    ],
    "Concat": lambda node, inputs, attrs: [np.concatenate(inputs, axis=attrs["axis"])],
    "Gather": lambda node, inputs, attrs: [
        np.take(inputs[0], inputs[1], axis=attrs.get("axis", 0))
    ],
    "Identity": lambda node, inputs, attrs: [inputs[0]],
    "Squeeze": lambda node, inputs, attrs: [
        np.squeeze(inputs[0], axis=tuple(_axes(node, inputs, 1, attrs)) if _axes(node, inputs, 1, attrs) else None)
    ],
    "Unsqueeze": lambda node, inputs, attrs: [
        np.expand_dims(inputs[0], tuple(_axes(node, inputs, 1, attrs)))
    ],
    "Reshape": lambda node, inputs, attrs: [
        inputs[0].reshape([d if d != 0 else inputs[0].shape[i] for i, d in enumerate(inputs[1].tolist())])
    ],
    "Slice": _slice,
    "ReduceProd": _reduce(np.prod),
    "ReduceSum": _reduce(np.sum),
    "ReduceMax": _reduce(np.max),
    "ReduceMin": _reduce(np.min),
    "Add": _binary(np.add),
    "Sub": _binary(np.subtract),
    "Mul": _binary(np.multiply),
    "Div": _binary(_div),
    "Mod": _mod,
    "Max": lambda node, inputs, attrs: [np.maximum.reduce([np.asarray(i) for i in inputs])],
    "Min": lambda node, inputs, attrs: [np.minimum.reduce([np.asarray(i) for i in inputs])],
    "Equal": _binary(np.equal),
    "Less": _binary(np.less),
    "Greater": _binary(np.greater),
    "LessOrEqual": _binary(np.less_equal),
    "GreaterOrEqual": _binary(np.greater_equal),
    "And": _binary(np.logical_and),
    "Or": _binary(np.logical_or),
    "Xor": _binary(np.logical_xor),
    "Where": lambda node, inputs, attrs: [np.where(inputs[0], inputs[1], inputs[2])],
    "Not": lambda node, inputs, attrs: [np.logical_not(inputs[0])],
    "Neg": lambda node, inputs, attrs: [np.negative(inputs[0])],
    "Abs": lambda node, inputs, attrs: [np.abs(inputs[0])],
    "Floor": lambda node, inputs, attrs: [np.floor(inputs[0])],
    "Ceil": lambda node, inputs, attrs: [np.ceil(inputs[0])],
    "Range": lambda node, inputs, attrs: [
        np.arange(inputs[0], inputs[1], inputs[2]).astype(np.asarray(inputs[0]).dtype)
    ],
    "ConstantOfShape": lambda node, inputs, attrs: [
        np.full(
            [int(d) for d in inputs[0].reshape(-1)],
            numpy_helper.to_array(attrs["value"]).reshape(-1)[0] if "value" in attrs else np.float32(0),
        )
    ],
    "Tile": lambda node, inputs, attrs: [np.tile(inputs[0], inputs[1].tolist())],
    "Expand": lambda node, inputs, attrs: [
        inputs[0] * np.ones(inputs[1].tolist(), dtype=inputs[0].dtype)
    ],
}


def _too_large(op_type, inputs):
    """Whether an op that makes a tensor of a shape it reads (a mask over
    long probes) would make one past `_LIMIT` entries: it is not evaluated."""
    if op_type == "ConstantOfShape":
        wanted = [int(d) for d in inputs[0].reshape(-1)]
    elif op_type == "Expand":
        try:
            wanted = list(np.broadcast_shapes(inputs[0].shape, tuple(int(d) for d in inputs[1].reshape(-1))))
        except ValueError:
            return False  # the op itself fails, and says so
    elif op_type == "Tile":
        wanted = [a * int(r) for a, r in zip(inputs[0].shape, inputs[1].reshape(-1))]
    else:
        return False
    return any(d < 0 for d in wanted) or int(np.prod(wanted, dtype=np.float64)) > _LIMIT


def evaluate(nodes, shapes, consts):
    """Evaluate the plumbing among `nodes` into `consts`; True when it grew."""
    grown = False
    for node in nodes:
        if node.domain not in ("", "ai.onnx") or any(o in consts for o in node.output if o):
            continue
        attrs = None
        if node.op_type in ("Shape", "Size"):
            shape = shapes.get(node.input[0], (None,))[0]
            if shape is None and node.input[0] in consts:
                shape = list(consts[node.input[0]].shape)
            if shape is None:
                continue
            attrs = _attrs(node)
            outputs = _shape(node, [], attrs, shape) if node.op_type == "Shape" else [
                np.asarray(int(np.prod(shape)), dtype=np.int64)
            ]
        elif node.op_type in OPS:
            if any(i and i not in consts for i in node.input):
                continue
            inputs = [consts[i] if i else None for i in node.input]
            if any(i is not None and i.size > _LIMIT for i in inputs):
                continue
            if _too_large(node.op_type, inputs):
                continue
            attrs = _attrs(node)
            try:
                outputs = OPS[node.op_type](node, inputs, attrs)
            except Exception:  # noqa: BLE001 - something this evaluator does not know
                continue
        else:
            continue
        for name, value in zip(node.output, outputs):
            if name and np.asarray(value).size <= _LIMIT:
                consts[name] = np.asarray(value)
                grown = True
    return grown
