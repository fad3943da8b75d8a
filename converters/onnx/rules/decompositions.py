"""One spelling of the normalizations and activations exporters write
either as one op or as their decomposition.

torch.onnx writes Keras' LayerNormalization as the ``LayerNormalization``
op and jax2onnx writes GELU as the ``Gelu`` op, where tf2onnx writes their
decompositions; and each exporter decomposes in its own words (jax2onnx
takes a mean as ``ReduceSum / n``, a variance with ``ReduceSumSquare``, a
reciprocal as ``1 / y``; tf2onnx an exact GELU through ``erfc(-x /
sqrt(2))``). The canonical graph writes each the way Keras computes it:

- `LayerNormExpand`: ``LayerNormalization(x, gamma, beta)`` -> Keras'
  ``x * inv + (-mean * inv + beta)`` with ``inv = gamma / sqrt(var + eps)``
  (the mean and variance over the normalized axes, kept);
- `GeluExpand`: exact ``Gelu(x)`` -> ``(x * 0.5) * (erf(x * sqrt(1/2)) + 1)``,
  its tanh approximation -> ``(x * 0.5) * (tanh((x + x^3 * 0.044715) *
  sqrt(2/pi)) + 1)``;
- `SumToMean`: ``ReduceSum(x) / n`` -> ``ReduceMean(x)`` where ``n`` is the
  count of the reduced elements; `SumSquareToSum`: ``ReduceSumSquare(x)``
  -> ``ReduceSum(x * x)``;
- `OneOver`: ``1 / y`` -> ``Reciprocal(y)``;
- `ConstantWhere`: ``Where(c, a, b)`` with a constant ``c`` that is all
  true (all false) -> ``a`` (``b``), where that has the output's shape;
- `NegOut`, `ErfOfNeg`, `OneMinusNeg`: ``Neg`` moved out of a product
  with a constant and out of ``Erf`` (an odd function), and ``c - (-e)``
  -> ``e + c``: so ``1 - erf(-x * k)`` is ``erf(x * k) + 1``.

Each is the same function of its inputs up to rounding (the expanded ops
are what the decomposing exporters write for the same Keras layer).
"""

from __future__ import annotations

import numpy as np

from .. import edit
from . import Rule

_SQRT_HALF = np.float32(np.sqrt(0.5))
_SQRT_TWO_OVER_PI = np.float32(np.sqrt(2 / np.pi))


def _scalar(value, wanted=None):
    array = edit.const_array(value)
    if array is None or array.size != 1:
        return None
    if wanted is not None and float(array.reshape(())) != wanted:
        return None
    return array


def _const(editor, value, like):
    return editor.constant(np.asarray(value, dtype=like.dtype.numpy()))


def _op(editor, op, inputs, out, *, before, shape=None, attributes=None):
    return editor.node(
        op, inputs, attributes, before=before, shape=edit.dims(out) if shape is None else shape,
        dtype=out.dtype,
    )


class LayerNormExpand(Rule):
    op_types = ("LayerNormalization",)

    def check(self, node, context):
        if len(node.inputs) < 2 or any(v.uses() for v in node.outputs[1:]):
            return "no scale, or its mean and inverse deviation are read"
        shape = edit.dims(node.inputs[0])
        if shape is None or node.inputs[0].dtype is None:
            return "the input shape is unknown"
        if edit.int_attr(node, "stash_type", 1) != 1 or node.inputs[0].dtype.numpy() != np.float32:
            return "not float32"
        return ""

    def rewrite(self, node, context):
        editor, version = context.editor, context.version
        x, out = node.inputs[0], node.outputs[0]
        shape = edit.dims(x)
        r = len(shape)
        axis = edit.int_attr(node, "axis", -1)
        axes = list(range(axis % r, r))
        epsilon = node.attributes["epsilon"].as_float() if "epsilon" in node.attributes else 1e-5
        kept = [1 if i in axes else d for i, d in enumerate(shape)]
        mean = edit.reduce_node(editor, "ReduceMean", x, axes, 1, version, before=node)
        centered = _op(editor, "Sub", [x, mean], x, before=node, shape=shape)
        square = _op(editor, "Mul", [centered, centered], x, before=node, shape=shape)
        variance = edit.reduce_node(editor, "ReduceMean", square, axes, 1, version, before=node)
        h = _op(editor, "Add", [variance, _const(editor, epsilon, x)], x, before=node, shape=kept)
        h = _op(editor, "Sqrt", [h], x, before=node, shape=kept)
        inv = _op(editor, "Reciprocal", [h], x, before=node, shape=kept)
        inv = _op(editor, "Mul", [inv, node.inputs[1]], x, before=node, shape=shape)
        negative = _op(editor, "Neg", [mean], x, before=node, shape=kept)
        rest = _op(editor, "Mul", [negative, inv], x, before=node, shape=shape)
        if len(node.inputs) > 2 and node.inputs[2] is not None:
            rest = _op(editor, "Add", [rest, node.inputs[2]], x, before=node, shape=shape)
        scaled = _op(editor, "Mul", [x, inv], x, before=node, shape=shape)
        return [_op(editor, "Add", [scaled, rest], out, before=node)]


class GeluExpand(Rule):
    op_types = ("Gelu",)

    def check(self, node, context):
        if edit.string_attr(node, "approximate", "none") not in ("none", "tanh"):
            return "another approximation"
        if node.inputs[0].dtype is None or edit.dims(node.inputs[0]) is None:
            return "the input type is unknown"
        return ""

    def rewrite(self, node, context):
        editor = context.editor
        x, out = node.inputs[0], node.outputs[0]
        half = _op(editor, "Mul", [x, _const(editor, 0.5, x)], out, before=node)
        if edit.string_attr(node, "approximate", "none") == "tanh":
            cube = _op(editor, "Pow", [x, _const(editor, 3.0, x)], out, before=node)
            cube = _op(editor, "Mul", [cube, _const(editor, 0.044715, x)], out, before=node)
            z = _op(editor, "Add", [x, cube], out, before=node)
            z = _op(editor, "Mul", [z, _const(editor, _SQRT_TWO_OVER_PI, x)], out, before=node)
            e = _op(editor, "Tanh", [z], out, before=node)
        else:
            z = _op(editor, "Mul", [x, _const(editor, _SQRT_HALF, x)], out, before=node)
            e = _op(editor, "Erf", [z], out, before=node)
        e = _op(editor, "Add", [e, _const(editor, 1.0, x)], out, before=node)
        return [_op(editor, "Mul", [half, e], out, before=node)]


class SumToMean(Rule):
    op_types = ("Div",)

    def _parts(self, node, context):
        total = node.inputs[0].producer()
        if total is None or total.op_type != "ReduceSum" or not edit.sole(node.inputs[0]):
            return None
        count = _scalar(node.inputs[1])
        shape = edit.dims(total.inputs[0])
        if count is None or shape is None:
            return None
        axes = edit.reduce_axes(total, len(shape), context.version)
        sizes = [shape[a] for a in axes or []]
        if not axes or not all(isinstance(d, int) for d in sizes):
            return None
        if float(count.reshape(())) != float(np.prod(sizes)):
            return None
        return total, axes

    def check(self, node, context):
        return "" if self._parts(node, context) is not None else "not a sum over n divided by n"

    def rewrite(self, node, context):
        total, axes = self._parts(node, context)
        return [
            edit.reduce_node(
                context.editor, "ReduceMean", total.inputs[0], axes,
                edit.int_attr(total, "keepdims", 1), context.version, before=node,
            )
        ]


class SumSquareToSum(Rule):
    op_types = ("ReduceSumSquare",)

    def check(self, node, context):
        shape = edit.dims(node.inputs[0])
        if shape is None or edit.reduce_axes(node, len(shape), context.version) is None:
            return "the axes are unknown"
        return ""

    def rewrite(self, node, context):
        x = node.inputs[0]
        shape = edit.dims(x)
        square = _op(context.editor, "Mul", [x, x], x, before=node, shape=shape)
        return [
            edit.reduce_node(
                context.editor, "ReduceSum", square, edit.reduce_axes(node, len(shape), context.version),
                edit.int_attr(node, "keepdims", 1), context.version, before=node,
            )
        ]


class OneOver(Rule):
    op_types = ("Div",)

    def check(self, node, context):
        if _scalar(node.inputs[0], 1.0) is None:
            return "not one over a tensor"
        if edit.dims(node.inputs[1]) != edit.dims(node.outputs[0]):
            return "the one broadcasts"
        return ""

    def rewrite(self, node, context):
        return [_op(context.editor, "Reciprocal", [node.inputs[1]], node.outputs[0], before=node)]


class ConstantWhere(Rule):
    op_types = ("Where",)

    def check(self, node, context):
        condition = edit.const_array(node.inputs[0])
        if condition is None or not (condition.all() or not condition.any()):
            return "the condition is not constant"
        chosen = node.inputs[1] if condition.all() else node.inputs[2]
        if edit.dims(chosen) is None or edit.dims(chosen) != edit.dims(node.outputs[0]):
            return "the chosen operand broadcasts"
        if chosen.dtype != node.outputs[0].dtype:
            return "the types differ"
        return ""

    def rewrite(self, node, context):
        condition = edit.const_array(node.inputs[0])
        return [node.inputs[1] if condition.all() else node.inputs[2]]


def _negated(value):
    """`x` when `value` is ``Neg(x)`` read only here, else None."""
    node = value.producer()
    if node is None or node.op_type != "Neg" or not edit.sole(value):
        return None
    return node.inputs[0]


class NegOut(Rule):
    op_types = ("Mul",)

    def check(self, node, context):
        if _negated(node.inputs[0]) is None or edit.const_array(node.inputs[1]) is None:
            return "not a negated tensor times a constant"
        if edit.dims(node.inputs[0]) != edit.dims(node.outputs[0]):
            return "the constant broadcasts"
        return ""

    def rewrite(self, node, context):
        editor, out = context.editor, node.outputs[0]
        h = _op(editor, "Mul", [_negated(node.inputs[0]), node.inputs[1]], out, before=node)
        return [_op(editor, "Neg", [h], out, before=node)]


class ErfOfNeg(Rule):
    op_types = ("Erf",)

    def check(self, node, context):
        return "" if _negated(node.inputs[0]) is not None else "not the erf of a negation"

    def rewrite(self, node, context):
        editor, out = context.editor, node.outputs[0]
        h = _op(editor, "Erf", [_negated(node.inputs[0])], out, before=node)
        return [_op(editor, "Neg", [h], out, before=node)]


class OneMinusNeg(Rule):
    op_types = ("Sub",)

    def check(self, node, context):
        if edit.const_array(node.inputs[0]) is None or _negated(node.inputs[1]) is None:
            return "not a constant minus a negation"
        if edit.dims(node.inputs[1]) != edit.dims(node.outputs[0]):
            return "the constant broadcasts"
        return ""

    def rewrite(self, node, context):
        editor = context.editor
        return [
            _op(editor, "Add", [_negated(node.inputs[1]), node.inputs[0]], node.outputs[0], before=node)
        ]
