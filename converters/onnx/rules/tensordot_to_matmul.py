"""``Reshape(MatMul(Reshape(x, [-1, Cin]), W), [*x.shape[:-1], Cout])`` -> ``MatMul(x, W)``.

This is how TensorFlow's ``tensordot`` (Keras' Dense on a rank >= 3 input)
comes out of tf2onnx: flatten the leading axes, multiply, restore them. With
a dynamic batch the target shape is computed at run time by a
``Shape -> Gather -> Concat -> Cast`` chain; the check evaluates that chain
over symbolic dims (`_common.shape_vector`) and proves it restores exactly
the leading dims of ``x``. ONNX's MatMul broadcasts over leading axes, so
the chain is one MatMul. A bias Add between MatMul and the final Reshape
stays an Add after it.

When the final shape is something else (EinsumDense on channels_first maps
restores ``(N, H, W, Cout, 1)``, say), the Reshape stays, now applied to
``MatMul(x, W)``: both hold the same numbers in the same row-major order,
so any target shape without 0 entries means the same. The reshape rules
then take it apart.
"""

from __future__ import annotations

from onnxscript.rewriter import MatchResult, pattern

from . import _common


class TensordotToMatMul(pattern.RewriteRuleClassBase):
    with_bias = False

    def pattern(self, op, x, s1, w, s2):
        h = op.MatMul(op.Reshape(x, s1, _allow_other_attributes=True), w)
        return op.Reshape(h, s2, _allow_other_attributes=True, _outputs=["y"])

    def check(self, context, x, s1, w, s2, y, b=None, **_) -> MatchResult:
        result = MatchResult()
        weight = _common.const_array(w)
        if weight is None or weight.ndim != 2:
            return result.fail("the MatMul weight is not a 2-D constant")
        cin, cout = weight.shape
        if self.with_bias and _common.broadcast_row(_common.const_array(b), 2, cout) is None:
            return result.fail("the bias is not a constant row of Cout entries")
        xdims = _common.dims(x)
        if xdims is None or len(xdims) < 2:
            return result.fail("the rank of the input is unknown")
        if not _common.is_static(xdims[-1], cin):
            return result.fail(f"the input's last axis is not Cin={cin}")
        for node in context.nodes:
            if node.op_type == "Reshape" and _common.int_attr(node, "allowzero", 0):
                return result.fail("allowzero Reshape")
        lead = _common.product(xdims[:-1])
        first = _common.shape_vector(s1)
        if first is None or first[0] or len(first[1]) != 2:
            return result.fail("the flattening shape cannot be evaluated to two entries")
        a, c = first[1]
        minus = (-1, ())
        if not ((a in (minus, lead) and c == (cin, ())) or (a == lead and c == minus)):
            return result.fail(f"the flattening shape {first[1]} is not [-1, {cin}]")
        self._keep_reshape = True
        second = _common.shape_vector(s2)
        if second is not None and not second[0]:
            got = second[1]
            if any(d == (0, ()) for d in got):
                return result.fail(f"the restoring shape {got} copies dims (0 entries)")
            want = xdims[:-1] + [(cout, ())]
            wildcards = [i for i, d in enumerate(got) if d == minus]
            if (
                len(got) == len(want)
                and len(wildcards) <= 1
                and all(g == w_ for i, (g, w_) in enumerate(zip(got, want)) if i not in wildcards)
            ):
                self._keep_reshape = False
            return result
        array = _common.const_array(s2)
        if array is None or 0 in array.tolist():
            return result.fail("the restoring shape may copy dims (0 entries)")
        return result

    def rewrite(self, op, x, s1, w, s2, y, b=None, **_):
        h = op.MatMul(x, w)
        if self.with_bias:
            cout = _common.const_array(w).shape[1]
            h = op.Add(
                h, _common.initializer(op, _common.broadcast_row(_common.const_array(b), 2, cout))
            )
        if self._keep_reshape:
            return op.Reshape(h, s2)
        return h


class TensordotBiasToMatMul(TensordotToMatMul):
    """The same chain with the bias added before the final Reshape."""

    with_bias = True

    def pattern(self, op, x, s1, w, b, s2):
        h = op.MatMul(op.Reshape(x, s1, _allow_other_attributes=True), w)
        h = op.Add(h, b)
        return op.Reshape(h, s2, _allow_other_attributes=True, _outputs=["y"])


rule = TensordotToMatMul.rule()
rule_with_bias = TensordotBiasToMatMul.rule()
