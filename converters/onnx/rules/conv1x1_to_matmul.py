"""``Conv(x, W[Cout, Cin/g, 1, ..], B)`` -> Transpose -> MatMul -> Add -> Transpose.

A 1x1 convolution is a matrix multiply over the channel axis at every
position. Channels first (ONNX's Conv layout), it becomes: move channels
last, ``MatMul(x, W[Cin, Cout])``, ``Add(B)``, move channels back. Strides
become a ``Slice`` with steps on the spatial axes (a 1x1 window at stride s
reads ``x[..., ::s]``; "same" and "valid" padding agree for k=1), and
``group=g`` becomes a block-diagonal ``W[Cin, Cout]`` (what a grouped conv
is as a Dense). The transposes are cancelled later by the layout rules.
"""

from __future__ import annotations

from onnxscript.rewriter import MatchResult, pattern

from keras_1x1.kernels import from_onnx_weight

from . import _common


def pointwise_conv_reason(node):
    """Why a Conv node is not a pointwise conv this package rewrites (or "")."""
    inputs = node.inputs
    weight = _common.const_array(inputs[1]) if len(inputs) > 1 else None
    if weight is None:
        return "the weight is not a constant"
    if weight.ndim not in (3, 4, 5):
        return f"the weight has rank {weight.ndim}, expected 3 to 5"
    if any(d != 1 for d in weight.shape[2:]):
        return f"the kernel is {tuple(weight.shape[2:])}, not all ones"
    r = _common.rank(inputs[0])
    if r is not None and r != weight.ndim:
        return "the input rank does not match the weight"
    kernel_shape = _common.ints_attr(node, "kernel_shape")
    if kernel_shape is not None and any(k != 1 for k in kernel_shape):
        return "kernel_shape is not all ones"
    pads = _common.ints_attr(node, "pads")
    if pads is not None and any(pads):
        return "the conv pads its input"
    auto_pad = node.attributes.get("auto_pad")
    if auto_pad is not None and auto_pad.as_string() not in (
        "NOTSET",
        "VALID",
        "SAME_UPPER",
        "SAME_LOWER",
    ):
        return f"unknown auto_pad {auto_pad.as_string()}"
    group = _common.int_attr(node, "group", 1)
    cout = weight.shape[0]
    if group < 1 or cout % group:
        return "group does not divide the output channels"
    if len(inputs) > 2 and inputs[2] is not None:
        bias = _common.const_array(inputs[2])
        if bias is None or bias.shape != (cout,):
            return "the bias is not a constant of shape (Cout,)"
    strides = _common.ints_attr(node, "strides")
    if strides is not None and len(strides) != weight.ndim - 2:
        return "strides do not match the spatial rank"
    return ""


class Conv1x1ToMatMul(pattern.RewriteRuleClassBase):
    """Pointwise Conv (any strides, groups, spatial rank) -> MatMul on the last axis."""

    def pattern(self, op, x, w):
        return op.Conv(x, w, _allow_other_inputs=True, _allow_other_attributes=True, _outputs=["y"])

    def check(self, context, x, w, y, **_) -> MatchResult:
        result = MatchResult()
        reason = pointwise_conv_reason(y.producer())
        if reason:
            return result.fail(reason)
        return result

    def rewrite(self, op, x, w, y, **_):
        node = y.producer()
        weight = _common.const_array(w)
        r = weight.ndim
        group = _common.int_attr(node, "group", 1)
        strides = _common.ints_attr(node, "strides") or [1] * (r - 2)
        h = x
        strided = [(a + 2, s) for a, s in enumerate(strides) if s != 1]
        if strided:
            h = op.Slice(
                h,
                _common.int64(op, [0] * len(strided)),
                _common.int64(op, [_common.INT64_MAX] * len(strided)),
                _common.int64(op, [a for a, _ in strided]),
                _common.int64(op, [s for _, s in strided]),
            )
        to_last = [0] + list(range(2, r)) + [1]
        back = [0, r - 1] + list(range(1, r - 1))
        h = op.Transpose(h, perm=to_last)
        h = op.MatMul(h, _common.initializer(op, from_onnx_weight(weight, group)))
        if len(node.inputs) > 2 and node.inputs[2] is not None:
            h = op.Add(h, _common.initializer(op, _common.const_array(node.inputs[2])))
        return op.Transpose(h, perm=back)


rule = Conv1x1ToMatMul.rule()
