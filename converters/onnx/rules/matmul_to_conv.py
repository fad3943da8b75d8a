"""``MatMul(x, W[Cin, Cout])`` (+ ``Add(b)``) on a rank 3-5 tensor -> NCHW ``Conv`` 1x1.

The deployment "conv" form: neural accelerators want pointwise work as a
1x1 convolution in the channels-first layout. The canonical MatMul acts on
a channels-last tensor, so the Conv is wrapped in the two transposes that
move channels first and back; the layout rules then cancel the pairs
between neighbouring convs. A block-diagonal W becomes ``group=g``.
"""

from __future__ import annotations

from onnxscript.rewriter import MatchResult, pattern

from keras_1x1.kernels import detect_groups, onnx_weight

from . import _common


class _MatMulToConvBase(pattern.RewriteRuleClassBase):
    def _check(self, x, w, b=None) -> MatchResult:
        result = MatchResult()
        kernel = _common.const_array(w)
        if kernel is None or kernel.ndim != 2:
            return result.fail("the MatMul weight is not a 2-D constant")
        r = _common.rank(x)
        if r not in (3, 4, 5):
            return result.fail(f"the input rank is {r}, not 3 to 5")
        if b is not None:
            bias = _common.const_array(b)
            if bias is None or bias.shape != (kernel.shape[1],):
                return result.fail("the bias is not a constant of shape (Cout,)")
        return result

    def _rewrite(self, op, x, w, b=None):
        kernel = _common.const_array(w)
        r = _common.rank(x)
        spatial = r - 2
        groups = detect_groups(kernel)
        h = op.Transpose(x, perm=[0, r - 1] + list(range(1, r - 1)))
        inputs = [h, _common.initializer(op, onnx_weight(kernel, groups, spatial))]
        if b is not None:
            inputs.append(_common.initializer(op, _common.const_array(b)))
        h = op.Conv(
            *inputs,
            dilations=[1] * spatial,
            group=groups,
            kernel_shape=[1] * spatial,
            pads=[0] * (2 * spatial),
            strides=[1] * spatial,
        )
        return op.Transpose(h, perm=[0] + list(range(2, r)) + [1])


class MatMulBiasToConv(_MatMulToConvBase):
    def pattern(self, op, x, w, b):
        return op.Add(op.MatMul(x, w), b)

    def check(self, context, x, w, b, **_) -> MatchResult:
        return self._check(x, w, b)

    def rewrite(self, op, x, w, b, **_):
        return self._rewrite(op, x, w, b)


class MatMulToConv(_MatMulToConvBase):
    def pattern(self, op, x, w):
        return op.MatMul(x, w, _outputs=["y"])

    def check(self, context, x, w, y, **_) -> MatchResult:
        result = self._check(x, w)
        if not result:
            return result
        uses = list(y.uses())
        if len(uses) == 1 and uses[0].node.op_type == "Add" and uses[0].idx == 0:
            bias = _common.const_array(uses[0].node.inputs[1])
            if bias is not None and bias.shape == (_common.const_array(w).shape[1],):
                return result.fail("the bias Add is folded in by MatMulBiasToConv")
        return result

    def rewrite(self, op, x, w, y, **_):
        return self._rewrite(op, x, w)


rule_with_bias = MatMulBiasToConv.rule()
rule = MatMulToConv.rule()
