"""``Conv1x1(Slice(x, steps=s on spatial axes))`` -> ``Conv1x1(x, strides=s)``.

The reverse of what `conv1x1_to_matmul` does to a strided 1x1 conv: a
subsampling slice that only feeds a pointwise conv becomes its strides.
"""

from __future__ import annotations

from onnxscript.rewriter import MatchResult, pattern

from . import _common
from .conv1x1_to_matmul import pointwise_conv_reason
from .slice_normalize import canonical_slice


class SliceIntoConv(pattern.RewriteRuleClassBase):
    def pattern(self, op, x, w):
        s = op.Slice(x, _allow_other_inputs=True, _outputs=["s"])
        return op.Conv(s, w, _allow_other_inputs=True, _allow_other_attributes=True, _outputs=["y"])

    def check(self, context, x, w, s, y, **_) -> MatchResult:
        result = MatchResult()
        conv = y.producer()
        reason = pointwise_conv_reason(conv)
        if reason:
            return result.fail(reason)
        strides = _common.ints_attr(conv, "strides")
        if strides is not None and any(v != 1 for v in strides):
            return result.fail("the conv is already strided")
        canonical = canonical_slice(s.producer())
        if isinstance(canonical, str):
            return result.fail(canonical)
        starts, ends, axes, steps = canonical
        r = _common.rank(x)
        if not axes or any(a < 2 or a >= r for a in axes):
            return result.fail("the slice is not on spatial axes only")
        if any(v != 0 for v in starts) or any(v != _common.INT64_MAX for v in ends):
            return result.fail("the slice does not start at 0 and run to the end")
        if any(v < 1 for v in steps):
            return result.fail("the slice steps backwards")
        return result

    def rewrite(self, op, x, w, s, y, **_):
        conv = y.producer()
        _, _, axes, steps = canonical_slice(s.producer())
        r = _common.rank(x)
        strides = [1] * (r - 2)
        for a, step in zip(axes, steps):
            strides[a - 2] = step
        attributes = {k: v for k, v in conv.attributes.items() if k != "strides"}
        return op.Conv(x, *conv.inputs[1:], strides=strides, **attributes)


rule = SliceIntoConv.rule()
