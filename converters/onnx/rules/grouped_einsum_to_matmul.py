"""A grouped matmul ``Einsum(Reshape(x, [.., g, Cin/g]), W)`` -> ``MatMul(x, K)``.

``keras_1x1``'s dense form of a grouped pointwise layer (and any per-group
Dense) multiplies each group of channels by its own block: einsum
``...gc,cgd->...gd`` over ``x`` split as ``(.., g, Cin/g)``. That is one
MatMul with the block-diagonal kernel ``K (Cin, Cout)`` (the same kernel a
grouped 1x1 conv becomes), followed by a reshape of its output to
``(.., g, Cout/g)``, which holds the same numbers in the same order.
"""

from __future__ import annotations

import numpy as np
from onnxscript.rewriter import MatchResult, pattern

from . import _common


def parse(equation):
    """``(layout, prefix)`` for a grouped-matmul equation, or None.

    layout is "cgd" for ``..gc,cgd->..gd`` and "gcd" for ``..gc,gcd->..gd``.
    """
    text = equation.decode() if isinstance(equation, bytes) else str(equation)
    text = text.replace(" ", "")
    if "->" not in text or text.count(",") != 1:
        return None
    lhs, out = text.split("->")
    a, b = lhs.split(",")
    if len(a) < 2 or len(b) != 3:
        return None
    g, c = a[-2], a[-1]
    prefix = a[:-2]
    d = b[2]
    if len({g, c, d}) != 3 or any(ch in prefix for ch in (g, c, d)):
        return None
    if out != prefix + g + d:
        return None
    if b[:2] == c + g:
        return "cgd", prefix
    if b[:2] == g + c:
        return "gcd", prefix
    return None


def block_kernel(weight, layout):
    if layout == "cgd":
        weight = np.transpose(weight, (1, 0, 2))  # -> (g, c, d)
    groups, cin_g, cout_g = weight.shape
    kernel = np.zeros((groups * cin_g, groups * cout_g), dtype=weight.dtype)
    for k in range(groups):
        kernel[k * cin_g : (k + 1) * cin_g, k * cout_g : (k + 1) * cout_g] = weight[k]
    return kernel


class GroupedEinsumToMatMul(pattern.RewriteRuleClassBase):
    def pattern(self, op, x, split, w):
        r = op.Reshape(x, split, _allow_other_attributes=True, _outputs=["r"])
        return op.Einsum(r, w, _allow_other_attributes=True, _outputs=["y"])

    def check(self, context, x, split, w, r, y, **_) -> MatchResult:
        result = MatchResult()
        attr = y.producer().attributes.get("equation")
        parsed = parse(attr.as_string()) if attr is not None else None
        if parsed is None:
            return result.fail("the equation is not a grouped matmul")
        weight = _common.const_array(w)
        if weight is None or weight.ndim != 3:
            return result.fail("the weight is not a 3-D constant")
        layout, _ = parsed
        groups, cin_g = (weight.shape[1], weight.shape[0]) if layout == "cgd" else weight.shape[:2]
        xdims = _common.dims(x)
        if xdims is None or not _common.is_static(xdims[-1], groups * cin_g):
            return result.fail("the input's last axis is not g * Cin/g")
        target = _common.shape_vector(split)
        if target is None or target[0] or len(target[1]) < 3:
            return result.fail("the split shape cannot be evaluated")
        lead, tail = target[1][:-2], target[1][-2:]
        if tail != [(groups, ()), (cin_g, ())]:
            return result.fail("the split shape does not split the channels into groups")
        if _common.int_attr(r.producer(), "allowzero", 0) or (0, ()) in lead:
            return result.fail("the split shape copies dims (0 entries)")
        if not (lead == [(-1, ())] or _common.product(lead) == _common.product(xdims[:-1])):
            return result.fail("the split shape changes the leading axes")
        return result

    def rewrite(self, op, x, split, w, r, y, **_):
        layout, _ = parse(y.producer().attributes["equation"].as_string())
        weight = _common.const_array(w)
        kernel = block_kernel(weight, layout)
        groups = weight.shape[1] if layout == "cgd" else weight.shape[0]
        cout_g = weight.shape[2]
        h = op.MatMul(x, _common.initializer(op, kernel))
        lead = op.Slice(
            split, _common.int64(op, [0]), _common.int64(op, [-2]), _common.int64(op, [0])
        )
        shape = op.Concat(lead, _common.int64(op, [groups, cout_g]), axis=0)
        return op.Reshape(h, shape)


rule = GroupedEinsumToMatMul.rule()
