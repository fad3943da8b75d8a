"""Unsqueeze sinks below elementwise ops and MatMul; ``Squeeze(Unsqueeze(x, A), A) -> x``.

- ``Unary(Unsqueeze(x, A))`` -> ``Unsqueeze(Unary(x), A)``;
- ``Bin(Unsqueeze(x, A), c)`` -> ``Unsqueeze(Bin(x, c'), A)`` when the
  constant is 1 along the inserted axes;
- ``MatMul(Unsqueeze(x, A), W)`` -> ``Unsqueeze(MatMul(x, W), A)`` for a
  2-D W and inserted axes before the last (MatMul maps the last axis row by
  row);
- ``Bin(Unsqueeze(x, A), Unsqueeze(y, A))`` -> ``Unsqueeze(Bin(x, y), A)``
  for operands of one rank (a swish ``x * sigmoid(x)`` on an unsqueezed x);
- ``Squeeze(Unsqueeze(x, A), A)`` -> ``x``.
"""

from __future__ import annotations

import numpy as np
from onnxscript.rewriter import MatchResult, pattern

from . import _common


class _Base(pattern.RewriteRuleClassBase):
    def _axes(self, context, u):
        r = _common.rank(u)
        axes = _common.axes_of(u.producer(), r)
        self._version = _common.opset(context)
        return axes


class UnsqueezeThroughUnary(_Base):
    def __init__(self, op_type):
        super().__init__(f"UnsqueezeThrough{op_type}", remove_nodes=False)
        self.op_type = op_type

    def pattern(self, op, x):
        u = op.Unsqueeze(x, _allow_other_inputs=True, _allow_other_attributes=True, _outputs=["u"])
        return getattr(op, self.op_type)(
            u, _allow_other_inputs=True, _allow_other_attributes=True, _outputs=["y"]
        )

    def check(self, context, x, u, y, **_) -> MatchResult:
        result = MatchResult()
        if not self._axes(context, u):
            return result.fail("the unsqueezed axes are unknown")
        for extra in y.producer().inputs[1:]:
            array = _common.const_array(extra) if extra is not None else np.zeros(())
            if array is None or array.size != 1:
                return result.fail("an extra input is not a scalar constant")
        return result

    def rewrite(self, op, x, u, y, **_):
        node = y.producer()
        axes = _common.axes_of(u.producer(), _common.rank(u))
        inner = op.op(self.op_type, x, *node.inputs[1:], **node.attributes)
        return _common.axes_node(op, "Unsqueeze", inner, axes, self._version)


class UnsqueezeThroughBinaryConstant(_Base):
    def __init__(self, op_type):
        super().__init__(f"UnsqueezeThrough{op_type}Constant", remove_nodes=False)
        self.op_type = op_type

    def pattern(self, op, x, c):
        u = op.Unsqueeze(x, _allow_other_inputs=True, _allow_other_attributes=True, _outputs=["u"])
        return getattr(op, self.op_type)(u, c, _outputs=["y"])

    def _constant(self, u, c):
        axes = _common.axes_of(u.producer(), _common.rank(u))
        n = _common.rank(u)
        array = _common.const_array(c)
        if array is None or n is None or not axes or array.ndim > n:
            return None
        expanded = array.reshape((1,) * (n - array.ndim) + array.shape)
        if any(expanded.shape[a] != 1 for a in axes):
            return None
        squeezed = expanded.reshape([d for i, d in enumerate(expanded.shape) if i not in axes])
        shape = list(squeezed.shape)
        while shape and shape[0] == 1:
            shape.pop(0)
        return squeezed.reshape(shape), axes

    def check(self, context, x, c, u, y, **_) -> MatchResult:
        result = MatchResult()
        self._axes(context, u)
        if self._constant(u, c) is None:
            return result.fail("the constant is not 1 along the inserted axes")
        return result

    def rewrite(self, op, x, c, u, y, **_):
        constant, axes = self._constant(u, c)
        inner = getattr(op, self.op_type)(x, _common.initializer(op, constant))
        return _common.axes_node(op, "Unsqueeze", inner, axes, self._version)


class UnsqueezeThroughMatMul(_Base):
    def __init__(self):
        super().__init__("UnsqueezeThroughMatMul", remove_nodes=False)

    def pattern(self, op, x, w):
        u = op.Unsqueeze(x, _allow_other_inputs=True, _allow_other_attributes=True, _outputs=["u"])
        return op.MatMul(u, w, _outputs=["y"])

    def check(self, context, x, w, u, y, **_) -> MatchResult:
        result = MatchResult()
        axes = self._axes(context, u)
        weight = _common.const_array(w)
        n = _common.rank(u)
        if weight is None or weight.ndim != 2:
            return result.fail("the MatMul weight is not a 2-D constant")
        # MatMul with a 2-D W maps the last axis row by row; any axis but
        # the last may be inserted before or after it.
        if not axes or n is None or max(axes) >= n - 1 or n - len(axes) < 1:
            return result.fail("the inserted axes include the last (contracted) axis")
        return result

    def rewrite(self, op, x, w, u, y, **_):
        axes = _common.axes_of(u.producer(), _common.rank(u))
        return _common.axes_node(op, "Unsqueeze", op.MatMul(x, w), axes, self._version)


class UnsqueezeThroughBinaryPair(_Base):
    def __init__(self, op_type):
        super().__init__(f"UnsqueezeThrough{op_type}Pair", remove_nodes=False)
        self.op_type = op_type

    def pattern(self, op, x, y):
        a = op.Unsqueeze(x, _allow_other_inputs=True, _allow_other_attributes=True, _outputs=["a"])
        b = op.Unsqueeze(y, _allow_other_inputs=True, _allow_other_attributes=True, _outputs=["b"])
        return getattr(op, self.op_type)(a, b, _outputs=["z"])

    def check(self, context, x, y, a, b, **_) -> MatchResult:
        result = MatchResult()
        axes = self._axes(context, a)
        if not axes or axes != _common.axes_of(b.producer(), _common.rank(b)):
            return result.fail("the two Unsqueezes insert different axes")
        rx, ry = _common.rank(x), _common.rank(y)
        if rx is None or rx != ry:
            return result.fail("the operand ranks are unknown or differ")
        return result

    def rewrite(self, op, x, y, a, b, **_):
        axes = _common.axes_of(a.producer(), _common.rank(a))
        inner = getattr(op, self.op_type)(x, y)
        return _common.axes_node(op, "Unsqueeze", inner, axes, self._version)


class SqueezeUnsqueeze(_Base):
    def pattern(self, op, x):
        u = op.Unsqueeze(x, _allow_other_inputs=True, _allow_other_attributes=True, _outputs=["u"])
        return op.Squeeze(u, _allow_other_inputs=True, _allow_other_attributes=True, _outputs=["y"])

    def check(self, context, x, u, y, **_) -> MatchResult:
        result = MatchResult()
        a = self._axes(context, u)
        b = _common.axes_of(y.producer(), _common.rank(u))
        if not a or a != b:
            return result.fail("the Squeeze does not remove exactly the inserted axes")
        return result

    def rewrite(self, op, x, u, y, **_):
        return op.Identity(x)


UNARY = sorted(_common.UNARY_ELEMENTWISE - {"Identity"} | {"Cast", "Clip"})
BINARY = ("Add", "Sub", "Mul", "Div", "Pow", "Max", "Min")

rules = [
    *[UnsqueezeThroughUnary.rule(t) for t in UNARY],
    *[UnsqueezeThroughBinaryConstant.rule(t) for t in BINARY],
    *[UnsqueezeThroughBinaryPair.rule(t) for t in BINARY],
    UnsqueezeThroughMatMul.rule(),
    SqueezeUnsqueeze.rule(),
]
