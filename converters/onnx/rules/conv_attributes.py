"""Conv and pooling attributes in one spelling.

tf2onnx writes "same" padding as ``auto_pad="SAME_UPPER"`` where it does not
know the spatial size and as explicit ``pads`` where it does, and it may or
may not spell out unit strides and dilations. With static spatial dims,
``auto_pad`` becomes explicit ``pads``; then all-zero pads, unit strides and
dilations, and a ``kernel_shape`` equal to the weight's are dropped (they are
the defaults).
"""

from __future__ import annotations

import math

from onnxscript.rewriter import MatchResult, pattern

from . import _common

OP_TYPES = ("Conv", "MaxPool", "AveragePool")


def normalized_attributes(node):
    """The canonical attribute dict of a Conv/pool node, or a reason string."""
    x = node.inputs[0]
    r = _common.rank(x)
    if r is None or r < 3:
        return "the input rank is unknown"
    spatial = r - 2
    attrs = {name: attr for name, attr in node.attributes.items()}
    kernel = _common.ints_attr(node, "kernel_shape")
    if node.op_type == "Conv":
        weight = node.inputs[1]
        if kernel is None and weight is not None and weight.shape is not None:
            dims = weight.shape.dims[2:]
            if all(isinstance(d, int) for d in dims):
                kernel = list(dims)
    if kernel is None:
        return "the kernel shape is unknown"
    strides = _common.ints_attr(node, "strides") or [1] * spatial
    dilations = _common.ints_attr(node, "dilations") or [1] * spatial
    pads = _common.ints_attr(node, "pads") or [0] * (2 * spatial)
    auto_pad = attrs.get("auto_pad")
    mode = auto_pad.as_string() if auto_pad is not None else "NOTSET"
    if mode == "VALID":
        pads = [0] * (2 * spatial)
    elif mode in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for i in range(spatial):
            size = _common.dim(x, 2 + i)
            if size[1]:
                return "SAME padding over a dynamic spatial size"
            n = size[0]
            out = math.ceil(n / strides[i])
            total = max((out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - n, 0)
            small, large = total // 2, total - total // 2
            begin.append(small if mode == "SAME_UPPER" else large)
            end.append(large if mode == "SAME_UPPER" else small)
        pads = begin + end
    elif mode != "NOTSET":
        return f"unknown auto_pad {mode}"
    result = {
        k: v
        for k, v in attrs.items()
        if k not in ("auto_pad", "pads", "strides", "dilations", "kernel_shape")
    }
    values = {}
    if any(pads):
        values["pads"] = pads
    if any(s != 1 for s in strides):
        values["strides"] = strides
    if any(d != 1 for d in dilations):
        values["dilations"] = dilations
    weight_kernel = None
    if node.op_type == "Conv" and node.inputs[1] is not None and node.inputs[1].shape is not None:
        dims = node.inputs[1].shape.dims[2:]
        if all(isinstance(d, int) for d in dims):
            weight_kernel = list(dims)
    if weight_kernel != kernel:
        values["kernel_shape"] = kernel
    return result, values


class ConvAttributes(pattern.RewriteRuleClassBase):
    def __init__(self, op_type):
        super().__init__(f"{op_type}Attributes")
        self.op_type = op_type

    def pattern(self, op, x):
        return getattr(op, self.op_type)(
            x, _allow_other_inputs=True, _allow_other_attributes=True, _outputs=["y"]
        )

    def check(self, context, x, y, **_) -> MatchResult:
        result = MatchResult()
        node = y.producer()
        if len(node.outputs) != 1:
            return result.fail("the node has several outputs")
        normalized = normalized_attributes(node)
        if isinstance(normalized, str):
            return result.fail(normalized)
        kept, values = normalized
        current = {k for k in node.attributes if k not in kept}
        if current == set(values) and all(
            _common.ints_attr(node, k) == v for k, v in values.items()
        ):
            return result.fail("the attributes are already canonical")
        return result

    def rewrite(self, op, x, y, **_):
        node = y.producer()
        kept, values = normalized_attributes(node)
        return op.op(self.op_type, *node.inputs, **kept, **values)


rules = [ConvAttributes.rule(op_type) for op_type in OP_TYPES]
