"""``Slice`` with constant parameters -> one spelling.

An exporter writes the same ``x[:, ::2, ::2, :]`` many ways (negative
axes, ends of 2**31-1, INT64_MAX or the exact size, unsorted axes, no-op
axes, missing optional inputs). The canonical Slice lists only the axes it
changes, in increasing order, with ``INT64_MAX`` for "to the end" and every
input present. A Slice that changes nothing is removed.
"""

from __future__ import annotations

import numpy as np

from .. import edit
from . import Rule

# "To the end" is spelled 2**31-1, 1e9 or INT64_MAX; an end this large is
# past the end of any real axis.
_TO_END = 10**9


def canonical_slice(node):
    """``(starts, ends, axes, steps)`` lists, or a reason string."""
    inputs = list(node.inputs) + [None] * (5 - len(node.inputs))
    shape = edit.dims(inputs[0])
    if shape is None:
        return "the input shape is unknown"
    r = len(shape)
    starts, ends = edit.const_array(inputs[1]), edit.const_array(inputs[2])
    if starts is None or ends is None:
        return "starts or ends are not constants"
    starts = [int(v) for v in starts.reshape(-1)]
    ends = [int(v) for v in ends.reshape(-1)]
    axes = list(range(len(starts))) if inputs[3] is None else edit.const_array(inputs[3])
    steps = [1] * len(starts) if inputs[4] is None else edit.const_array(inputs[4])
    if axes is None or steps is None:
        return "axes or steps are not constants"
    axes = [int(v) for v in np.asarray(axes).reshape(-1)]
    steps = [int(v) for v in np.asarray(steps).reshape(-1)]
    if not len(starts) == len(ends) == len(axes) == len(steps):
        return "the slice parameters have different lengths"
    entries = {}
    for start, end, axis, step in zip(starts, ends, axes, steps):
        axis = axis + r if axis < 0 else axis
        if not 0 <= axis < r or axis in entries or step == 0:
            return "invalid axes or steps"
        size = shape[axis] if isinstance(shape[axis], int) else None
        if step > 0 and (end >= _TO_END or (size is not None and end >= size)):
            end = edit.INT64_MAX
        if step > 0 and size is not None and start < 0 and start <= -size:
            start = 0
        if start == 0 and step == 1 and end == edit.INT64_MAX:
            continue
        entries[axis] = (start, end, step)
    order = sorted(entries)
    return (
        [entries[a][0] for a in order],
        [entries[a][1] for a in order],
        order,
        [entries[a][2] for a in order],
    )


class SliceNormalize(Rule):
    op_types = ("Slice",)

    def check(self, node, context):
        canonical = canonical_slice(node)
        if isinstance(canonical, str):
            return canonical
        if canonical[2] and len(node.inputs) == 5:
            current = [edit.const_array(v) for v in node.inputs[1:]]
            if all(a is not None and a.dtype == np.int64 and a.ndim == 1 for a in current) and [
                a.tolist() for a in current
            ] == list(canonical):
                return "already canonical"
        return ""

    def rewrite(self, node, context):
        starts, ends, axes, steps = canonical_slice(node)
        x = node.inputs[0]
        if not axes:
            return [x]
        editor = context.editor
        out = node.outputs[0]
        return [
            editor.node(
                "Slice",
                [x, editor.int64(starts), editor.int64(ends), editor.int64(axes), editor.int64(steps)],
                before=node,
                shape=edit.dims(out),
                dtype=out.dtype,
            )
        ]
