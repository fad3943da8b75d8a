"""``Slice`` with constant parameters -> one canonical spelling.

tf2onnx writes the same subsampling ``x[:, ::2, ::2, :]`` in several ways
(negative axes, ends of 2**31-1, INT64_MAX or the exact size, unsorted axes,
no-op axes, missing optional inputs). The canonical Slice lists only the
axes it changes, in increasing order, with ``INT64_MAX`` for "to the end",
and every optional input present. A Slice that changes nothing is removed.
"""

from __future__ import annotations

import numpy as np
from onnxscript.rewriter import MatchResult, pattern

from . import _common

# tf2onnx spells "to the end" as 2**31-1, 1e9 or INT64_MAX; an end this
# large is past the end of any real axis.
_TO_END = 10**9


def canonical_slice(node):
    """``(starts, ends, axes, steps)`` lists, or a reason string."""
    inputs = list(node.inputs) + [None] * (5 - len(node.inputs))
    x = inputs[0]
    r = _common.rank(x)
    if r is None:
        return "the input rank is unknown"
    starts = _common.const_array(inputs[1])
    ends = _common.const_array(inputs[2])
    if starts is None or ends is None:
        return "starts or ends are not constants"
    starts = [int(v) for v in starts.reshape(-1)]
    ends = [int(v) for v in ends.reshape(-1)]
    if inputs[3] is None:
        axes = list(range(len(starts)))
    else:
        axes = _common.const_array(inputs[3])
        if axes is None:
            return "axes are not constant"
        axes = [int(v) for v in axes.reshape(-1)]
    if inputs[4] is None:
        steps = [1] * len(starts)
    else:
        steps = _common.const_array(inputs[4])
        if steps is None:
            return "steps are not constant"
        steps = [int(v) for v in steps.reshape(-1)]
    if not len(starts) == len(ends) == len(axes) == len(steps):
        return "the slice parameters have different lengths"
    entries = {}
    for start, end, axis, step in zip(starts, ends, axes, steps):
        axis = axis + r if axis < 0 else axis
        if not 0 <= axis < r or axis in entries or step == 0:
            return "invalid axes or steps"
        size = _common.dim(x, axis)
        static = size[0] if not size[1] else None
        if step > 0 and end >= _TO_END or (static is not None and step > 0 and end >= static):
            end = _common.INT64_MAX
        if step > 0 and static is not None and start < 0 and start <= -static:
            start = 0
        if start == 0 and step == 1 and end == _common.INT64_MAX:
            continue
        entries[axis] = (start, end, step)
    order = sorted(entries)
    return (
        [entries[a][0] for a in order],
        [entries[a][1] for a in order],
        order,
        [entries[a][2] for a in order],
    )


class SliceNormalize(pattern.RewriteRuleClassBase):
    def pattern(self, op, x):
        return op.Slice(x, _allow_other_inputs=True, _outputs=["y"])

    def check(self, context, x, y, **_) -> MatchResult:
        result = MatchResult()
        node = y.producer()
        canonical = canonical_slice(node)
        if isinstance(canonical, str):
            return result.fail(canonical)
        if canonical[2] and len(node.inputs) == 5:
            current = [_common.const_array(v) for v in node.inputs[1:]]
            if all(a is not None and a.dtype == np.int64 and a.ndim == 1 for a in current) and [
                a.tolist() for a in current
            ] == list(canonical):
                return result.fail("the Slice is already canonical")
        return result

    def rewrite(self, op, x, y, **_):
        starts, ends, axes, steps = canonical_slice(y.producer())
        if not axes:
            return op.Identity(x)
        return op.Slice(
            x,
            _common.int64(op, starts),
            _common.int64(op, ends),
            _common.int64(op, axes),
            _common.int64(op, steps),
        )


rule = SliceNormalize.rule()
