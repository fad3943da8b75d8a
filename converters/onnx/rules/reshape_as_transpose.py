"""A ``Reshape`` that only moves size-1 axes -> ``Transpose`` (or nothing).

tf2onnx's transpose optimizer writes a Transpose of a tensor whose spatial
dims are 1 (``(N, 1, 1, C) -> (N, C, 1, 1)``) as a Reshape, and only where
it knows the spatial size is 1. As a Transpose it takes part in the layout
normal form like any other. The unit axes keep their relative order, which
gives the usual NHWC <-> NCHW perms. A Reshape to the shape its input
already has is dropped. The target shape may be computed at run time
(``Shape -> Gather -> Concat``): it is evaluated over symbolic dims.
"""

from __future__ import annotations

from onnxscript.rewriter import MatchResult, pattern

from . import _common

ONE = (1, ())


def _divide(total, known):
    """``total / known`` for symbolic products, or None when it does not divide."""
    coef, symbols = total
    if known[0] == 0 or coef % known[0]:
        return None
    rest = list(symbols)
    for s in known[1]:
        if s not in rest:
            return None
        rest.remove(s)
    return (coef // known[0], tuple(rest))


def target_dims(node):
    """The Reshape's output dims over the symbolic dims of its input, or None."""
    x, shape = node.inputs[0], node.inputs[1]
    xdims = _common.dims(x)
    target = _common.shape_vector(shape)
    if xdims is None or target is None or target[0]:
        return None
    allowzero = _common.int_attr(node, "allowzero", 0)
    out = []
    wildcard = None
    for i, v in enumerate(target[1]):
        if v == (-1, ()):
            if wildcard is not None:
                return None
            wildcard = i
            out.append(None)
        elif v == (0, ()) and not allowzero:
            if i >= len(xdims):
                return None
            out.append(xdims[i])
        elif v[0] < 0:
            return None
        else:
            out.append(v)
    if wildcard is not None:
        known = _common.product([d for d in out if d is not None])
        rest = _divide(_common.product(xdims), known)
        if rest is None:
            return None
        out[wildcard] = rest
    return xdims, out


def unit_perm(xdims, out):
    """The perm of a Transpose doing this reshape, or None if it is not one."""
    if len(xdims) != len(out):
        return None
    if [d for d in xdims if d != ONE] != [d for d in out if d != ONE]:
        return None
    real = [i for i, d in enumerate(xdims) if d != ONE]
    units = [i for i, d in enumerate(xdims) if d == ONE]
    perm = []
    for d in out:
        perm.append(units.pop(0) if d == ONE else real.pop(0))
    return perm


class ReshapeAsTranspose(pattern.RewriteRuleClassBase):
    def pattern(self, op, x, shape):
        return op.Reshape(x, shape, _allow_other_attributes=True, _outputs=["y"])

    def check(self, context, x, shape, y, **_) -> MatchResult:
        result = MatchResult()
        dims = target_dims(y.producer())
        if dims is None:
            return result.fail("the target shape cannot be related to the input dims")
        if unit_perm(*dims) is None:
            return result.fail("the Reshape does more than move size-1 axes")
        return result

    def rewrite(self, op, x, shape, y, **_):
        perm = unit_perm(*target_dims(y.producer()))
        if perm == list(range(len(perm))):
            return op.Identity(x)
        return op.Transpose(x, perm=perm)


rule = ReshapeAsTranspose.rule()
