"""A ``Reshape`` that only inserts size-1 axes -> ``Unsqueeze``.

Keras' ``Reshape((1, 1, C))`` after a global pooling (the squeeze-and-
excitation branch of EfficientNet) exports as a Reshape from ``(N, C)`` to
``(N, 1, 1, C)``, or to ``(N, C, 1, 1)`` where tf2onnx merged the NCHW
transpose into it; and the dense form restores ``(N, 1, 1, Cout)`` after
its MatMul with a Reshape computed at run time. As Unsqueezes they take part
in the layout normal form: they sink below elementwise ops and MatMul
(`unsqueeze_sink`) and absorb the transposes that only move their unit
axes (`transpose_after_unsqueeze`), so every spelling ends up the same.
The target shape may be computed at run time: it is evaluated over
symbolic dims. The inserted axes are read greedily (a size-1 axis of the
input matches the first size-1 axis of the target it can), which is one
spelling for the one tensor the Reshape makes.
"""

from __future__ import annotations

from onnxscript.rewriter import MatchResult, pattern

from . import _common
from .reshape_as_transpose import target_dims

ONE = (1, ())


def inserted_axes(xdims, out):
    """The axes of `out` that are inserted ones around `xdims`, or None."""
    if len(out) <= len(xdims):
        return None
    axes = []
    j = 0
    for i, d in enumerate(out):
        if j < len(xdims) and d == xdims[j]:
            j += 1
        elif d == ONE:
            axes.append(i)
        else:
            return None
    return axes if j == len(xdims) else None


class ReshapeAsUnsqueeze(pattern.RewriteRuleClassBase):
    def pattern(self, op, x, shape):
        return op.Reshape(x, shape, _allow_other_attributes=True, _outputs=["y"])

    def check(self, context, x, shape, y, **_) -> MatchResult:
        result = MatchResult()
        dims = target_dims(y.producer())
        if dims is None:
            return result.fail("the target shape cannot be related to the input dims")
        if inserted_axes(*dims) is None:
            return result.fail("the Reshape does more than insert size-1 axes")
        self._version = _common.opset(context)
        return result

    def rewrite(self, op, x, shape, y, **_):
        axes = inserted_axes(*target_dims(y.producer()))
        return _common.axes_node(op, "Unsqueeze", x, axes, self._version)


rule = ReshapeAsUnsqueeze.rule()
