"""Conv and pooling attributes in one spelling.

"same" padding comes out as ``auto_pad="SAME_UPPER"`` where the exporter
does not know the spatial size and as explicit ``pads`` where it does, and
unit strides and dilations may or may not be spelled out. With static
spatial dims ``auto_pad`` becomes explicit ``pads``; all-zero pads, unit
strides and dilations, and a ``kernel_shape`` equal to the weight's are
dropped (they are the defaults).
"""

from __future__ import annotations

import math

from .. import edit
from . import Rule

_SHAPE_ATTRIBUTES = ("auto_pad", "pads", "strides", "dilations", "kernel_shape")


def normalized(node):
    """``{attribute: value}`` the node should carry for its shape attributes,
    or a reason string."""
    shape = edit.dims(node.inputs[0])
    if shape is None or len(shape) < 3:
        return "the input shape is unknown"
    spatial = len(shape) - 2
    kernel = edit.ints_attr(node, "kernel_shape")
    weight_kernel = None
    if node.op_type == "Conv" and edit.dims(node.inputs[1]) is not None:
        weight_kernel = edit.dims(node.inputs[1])[2:]
        if not edit.is_static(weight_kernel):
            weight_kernel = None
    kernel = kernel or weight_kernel
    if kernel is None:
        return "the kernel shape is unknown"
    strides = edit.ints_attr(node, "strides") or [1] * spatial
    dilations = edit.ints_attr(node, "dilations") or [1] * spatial
    pads = edit.ints_attr(node, "pads") or [0] * (2 * spatial)
    mode = edit.string_attr(node, "auto_pad", "NOTSET")
    if mode == "VALID":
        pads = [0] * (2 * spatial)
    elif mode in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for i in range(spatial):
            n = shape[2 + i]
            if not isinstance(n, int):
                return "SAME padding over a dynamic spatial size"
            out = math.ceil(n / strides[i])
            total = max((out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - n, 0)
            small, large = total // 2, total - total // 2
            begin.append(small if mode == "SAME_UPPER" else large)
            end.append(large if mode == "SAME_UPPER" else small)
        pads = begin + end
    elif mode != "NOTSET":
        return f"unknown auto_pad {mode}"
    values = {}
    if any(pads):
        values["pads"] = pads
    if any(s != 1 for s in strides):
        values["strides"] = strides
    if any(d != 1 for d in dilations):
        values["dilations"] = dilations
    if weight_kernel != kernel:
        values["kernel_shape"] = kernel
    return values


class ConvAttributes(Rule):
    op_types = ("Conv", "MaxPool", "AveragePool")

    def check(self, node, context):
        values = normalized(node)
        if isinstance(values, str):
            return values
        current = {k: edit.ints_attr(node, k) for k in _SHAPE_ATTRIBUTES if k in node.attributes and k != "auto_pad"}
        if "auto_pad" not in node.attributes and current == values:
            return "already canonical"
        return ""

    def rewrite(self, node, context):
        values = normalized(node)
        for key in _SHAPE_ATTRIBUTES:
            if key in node.attributes:
                del node.attributes[key]
        for key, value in values.items():
            node.attributes[key] = edit._attr(key, value)
        return list(node.outputs)
