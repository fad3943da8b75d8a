"""Scalar factors of a product of two tensors, gathered after it.

- `ScalarOutOfProduct`: ``MatMul(Mul(a, s), Mul(b, t))`` -> ``Mul(MatMul(a,
  b), s * t)`` when neither operand of the MatMul is a constant and ``s``,
  ``t`` are scalar constants, read through the Reshapes and Transposes
  between them and the MatMul (a scalar factor commutes with both);
- `ScalarProduct`: ``Mul(Mul(x, s), t)`` -> ``Mul(x, s * t)`` for scalars.

Attention scales its scores once, and exporters place that scale
differently: tf2onnx and jax2onnx multiply the scores by ``1/sqrt(d)``
after ``q @ k^T``; torch.onnx's scaled_dot_product_attention multiplies
``q`` and ``k`` each by ``sqrt(1/sqrt(d))`` before it. Gathered after the
product, the two spellings meet. The product of two float32 factors is
not the float32 scale it was split from (``sqrt(0.5)`` rounded to float32
and squared is ``0.49999998``), so it is written as the scale it rounds
from: ``1/sqrt(n)``, ``sqrt(n)``, ``1/n`` or ``n`` in float32, for the
integer ``n`` that is within two units in the last place of it, and
otherwise as the nearest float32.
The fusion rules leave such a factor where it is (`feeds_product`), so it
is never folded into the weights of one operand's projection.
"""

from __future__ import annotations

import numpy as np

from .. import edit
from . import Rule

# Ops between a scalar factor and the product that commute with it.
_THROUGH = frozenset({"Reshape", "Transpose"})


def _scalar(value):
    array = edit.const_array(value)
    if array is None or array.size != 1 or array.dtype.kind != "f":
        return None
    return array


def _factor(value):
    """The ``Mul(x, scalar)`` node that `value` is, read through sole-use
    Reshapes and Transposes; None when there is none."""
    while value is not None and edit.sole(value):
        node = value.producer()
        if node is None or node.domain not in ("", "ai.onnx"):
            return None
        if node.op_type == "Mul" and len(node.inputs) == 2 and _scalar(node.inputs[1]) is not None:
            if edit.const_array(node.inputs[0]) is None:
                return node
            return None
        if node.op_type not in _THROUGH:
            return None
        value = node.inputs[0]
    return None


def _is_product(node):
    return (
        node.op_type == "MatMul"
        and node.domain in ("", "ai.onnx")
        and len(node.inputs) == 2
        and all(v is not None and edit.const_array(v) is None for v in node.inputs)
    )


def feeds_product(mul):
    """Whether `mul` (a Mul by a scalar) is a factor `ScalarOutOfProduct` moves."""
    value = mul.outputs[0]
    while edit.sole(value):
        use = next(iter(value.uses())).node
        if _is_product(use):
            return _factor(use.inputs[0]) is mul or _factor(use.inputs[1]) is mul
        if use.op_type not in _THROUGH or use.domain not in ("", "ai.onnx"):
            return False
        value = use.outputs[0]
    return False


def _named(exact):
    """The float32 spellings of the scales the exact product may round from:
    ``1/sqrt(n)``, ``sqrt(n)``, ``1/n`` and ``n`` for the integer ``n``
    nearest to what `exact` gives."""
    if not np.isfinite(exact) or exact <= 0:
        return []
    found = []
    for inverse, root in ((True, True), (False, True), (True, False), (False, False)):
        x = 1.0 / exact if inverse else exact
        n = round(x * x) if root else round(x)
        if n < 1 or n > 1 << 24:
            continue
        value = np.sqrt(float(n)) if root else float(n)
        found.append(np.float32(1.0 / value if inverse else value))
    return found


def simplest_product(a, b):
    """``a * b`` for scalars. For float32: the scale the exact product
    rounds from (``1/sqrt(n)``, ``sqrt(n)``, ``1/n`` or ``n``, in float32)
    when one is within two units in the last place of it, else the nearest
    float32 (see the module docstring); the plain product for other dtypes."""
    a, b = np.asarray(a).reshape(()), np.asarray(b).reshape(())
    if a.dtype != np.float32 or b.dtype != np.float32:
        return (a * b).astype(np.result_type(a, b))
    exact = float(a) * float(b)
    nearest = np.float32(exact)
    ulp = float(np.spacing(nearest))
    for named in _named(exact):
        if abs(float(named) - exact) <= 2 * ulp:
            return np.asarray(named, np.float32)
    return np.asarray(nearest, np.float32)


class ScalarOutOfProduct(Rule):
    op_types = ("MatMul",)

    def check(self, node, context):
        if not _is_product(node):
            return "an operand is a constant (a pointwise map)"
        if _factor(node.inputs[0]) is None and _factor(node.inputs[1]) is None:
            return "no scalar factor on either operand"
        return ""

    def rewrite(self, node, context):
        editor = context.editor
        scale = None
        for i in (0, 1):
            mul = _factor(node.inputs[i])
            if mul is None:
                continue
            factor = edit.const_array(mul.inputs[1])
            scale = factor if scale is None else simplest_product(scale, factor)
            editor.replace(mul.outputs[0], mul.inputs[0])
            if not mul.outputs[0].uses():
                context.graph.remove(mul, safe=True)
        out = node.outputs[0]
        product = editor.node(
            "MatMul", list(node.inputs), before=node, shape=edit.dims(out), dtype=out.dtype
        )
        return [
            editor.node(
                "Mul", [product, editor.constant(np.asarray(scale).reshape(()))], before=node,
                shape=edit.dims(out), dtype=out.dtype,
            )
        ]


class ScalarProduct(Rule):
    op_types = ("Mul",)

    def check(self, node, context):
        if len(node.inputs) != 2 or _scalar(node.inputs[1]) is None:
            return "not a Mul by a scalar"
        first = node.inputs[0].producer()
        if first is None or first.op_type != "Mul" or not edit.sole(node.inputs[0]):
            return "not after another Mul read only here"
        if len(first.inputs) != 2 or _scalar(first.inputs[1]) is None:
            return "the first Mul is not by a scalar"
        if edit.dims(first.inputs[0]) != edit.dims(node.outputs[0]):
            return "the scalars broadcast"
        return ""

    def rewrite(self, node, context):
        first = node.inputs[0].producer()
        scale = simplest_product(edit.const_array(first.inputs[1]), edit.const_array(node.inputs[1]))
        out = node.outputs[0]
        return [
            context.editor.node(
                "Mul", [first.inputs[0], context.editor.constant(scale)], before=node,
                shape=edit.dims(out), dtype=out.dtype,
            )
        ]
