"""``MaxPool``/``AveragePool`` with a 1x1 window -> ``Slice`` with steps.

A pooling window of one element reads ``x[..., ::s]``: it is the
subsampling a strided 1x1 conv does (``MaxPooling2D(1, strides=s)`` is one
way to write it in Keras). Without strides it is nothing at all.
"""

from __future__ import annotations

from onnxscript.rewriter import MatchResult, pattern

from . import _common

OP_TYPES = ("MaxPool", "AveragePool")


class Pool1x1ToSlice(pattern.RewriteRuleClassBase):
    def __init__(self, op_type):
        super().__init__(f"{op_type}1x1ToSlice")
        self.op_type = op_type

    def pattern(self, op, x):
        return getattr(op, self.op_type)(x, _allow_other_attributes=True, _outputs=["y"])

    def check(self, context, x, y, **_) -> MatchResult:
        result = MatchResult()
        node = y.producer()
        if len(node.outputs) != 1:
            return result.fail("the pool also returns indices")
        kernel = _common.ints_attr(node, "kernel_shape")
        if not kernel or any(k != 1 for k in kernel):
            return result.fail("the window is not 1x1")
        pads = _common.ints_attr(node, "pads")
        if pads is not None and any(pads):
            return result.fail("the pool pads its input")
        auto_pad = node.attributes.get("auto_pad")
        if auto_pad is not None and auto_pad.as_string() not in (
            "NOTSET",
            "VALID",
            "SAME_UPPER",
            "SAME_LOWER",
        ):
            return result.fail("unknown auto_pad")
        if _common.int_attr(node, "ceil_mode", 0):
            return result.fail("ceil_mode is set")
        if _common.rank(x) != len(kernel) + 2:
            return result.fail("the input rank is unknown")
        return result

    def rewrite(self, op, x, y, **_):
        node = y.producer()
        kernel = _common.ints_attr(node, "kernel_shape")
        strides = _common.ints_attr(node, "strides") or [1] * len(kernel)
        axes = [i + 2 for i, s in enumerate(strides) if s != 1]
        if not axes:
            return op.Identity(x)
        steps = [s for s in strides if s != 1]
        return op.Slice(
            x,
            _common.int64(op, [0] * len(axes)),
            _common.int64(op, [_common.INT64_MAX] * len(axes)),
            _common.int64(op, axes),
            _common.int64(op, steps),
        )


rules = [Pool1x1ToSlice.rule(op_type) for op_type in OP_TYPES]
