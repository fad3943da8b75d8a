"""What an op computes, read from its attributes, shapes and constants.

Shared by the rules that rewrite these ops and the ones that undo them
(a pointwise Conv to a MatMul and back, a Slice that is a conv's strides).
"""

from __future__ import annotations

import numpy as np

from . import edit


def pointwise_reason(node):
    """Why a Conv node is not a pointwise map ("" when it is)."""
    inputs = node.inputs
    weight = edit.const_array(inputs[1]) if len(inputs) > 1 else None
    if weight is None:
        return "the weight is not a constant"
    if weight.ndim not in (3, 4, 5):
        return f"the weight has rank {weight.ndim}, expected 3 to 5"
    if any(d != 1 for d in weight.shape[2:]):
        return f"the kernel is {tuple(weight.shape[2:])}, not all ones"
    if edit.rank(inputs[0]) != weight.ndim or edit.dims(node.outputs[0]) is None:
        return "the input rank or the output shape is unknown"
    if any(edit.ints_attr(node, "pads", [])):
        return "the conv pads its input"
    auto_pad = edit.string_attr(node, "auto_pad", "NOTSET")
    if auto_pad not in ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"):
        return f"unknown auto_pad {auto_pad}"
    group = edit.int_attr(node, "group", 1)
    if group < 1 or weight.shape[0] % group:
        return "group does not divide the output channels"
    if len(inputs) > 2 and inputs[2] is not None:
        bias = edit.const_array(inputs[2])
        if bias is None or bias.shape != (weight.shape[0],):
            return "the bias is not a constant of shape (Cout,)"
    strides = edit.ints_attr(node, "strides")
    if strides is not None and len(strides) != weight.ndim - 2:
        return "strides do not match the spatial rank"
    return ""


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


def subsampling_steps(node):
    """``{axis: step}`` of a Slice that keeps every s-th element from the
    start to the end of some axes (a strided 1x1 conv's or pool's
    subsampling), or None."""
    canonical = canonical_slice(node)
    if isinstance(canonical, str):
        return None
    starts, ends, axes, steps = canonical
    if not axes or any(v != 0 for v in starts) or any(v != edit.INT64_MAX for v in ends):
        return None
    if any(v < 1 for v in steps):
        return None
    return dict(zip(axes, steps))


def channel_row(array, r, cout):
    """The ``(cout,)`` row a constant broadcasts to along the last of `r`
    axes, when it varies along that axis only; else None."""
    if array is None or array.ndim > r or array.dtype.kind != "f":
        return None
    if array.ndim and any(d != 1 for d in array.shape[:-1]):
        return None
    row = array.reshape(-1)
    if row.size == 1:
        return np.full((cout,), row[0], dtype=array.dtype)
    return row if row.size == cout else None
