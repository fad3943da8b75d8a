"""``Einsum`` of two tensors that is a batched matrix product -> ``MatMul``.

Keras writes the products of attention as einsums (``aecd,abcd->acbe``,
``acbe,aecd->abcd``); jax2onnx keeps them as ``Einsum`` where tf2onnx and
torch.onnx write ``Transpose`` and ``MatMul``. An equation whose every
label is a batch axis (in both operands and the output), a contracted one
(in both operands only) or a free one (in one operand and the output) is
the product

    A -> (batch..., left..., contracted...) -> (batch..., L, K)
    B -> (batch..., contracted..., right...) -> (batch..., K, R)
    MatMul -> (batch..., L, R) -> (batch..., left..., right...) -> output order

(the operands swapped when the output lists B's free axes first)
and the layout and reshape passes place its transposes and reshapes as for
any other spelling of the same product.
"""

from __future__ import annotations

import numpy as np

from .. import edit
from . import Rule
from .einsum_to_matmul import parse


def plan(equation):
    """``(a, b, out, batch, left, contracted, right, swap)``: the label
    strings of a batched-product equation, `swap` when the output lists the
    second operand's free axes first (it is then the product's rows, so
    ``q @ k^T`` is one spelling whichever operand the equation names
    first); None when the equation is no batched product."""
    text = equation.decode() if isinstance(equation, bytes) else str(equation)
    text = text.replace(" ", "")
    if "->" not in text or "..." in text or text.count(",") != 1:
        return None
    lhs, out = text.split("->")
    a, b = lhs.split(",")
    if any(len(set(s)) != len(s) for s in (a, b, out)):
        return None
    if any(ch not in a and ch not in b for ch in out):
        return None
    batch = [ch for ch in out if ch in a and ch in b]
    left = [ch for ch in out if ch in a and ch not in b]
    right = [ch for ch in out if ch in b and ch not in a]
    contracted = [ch for ch in a if ch in b and ch not in out]
    if len(batch) + len(left) + len(contracted) != len(a):
        return None  # an axis summed in one operand alone
    if len(batch) + len(right) + len(contracted) != len(b):
        return None
    free = [ch for ch in out if ch not in batch]
    swap = bool(free) and free[0] in right
    return a, b, out, batch, left, contracted, right, swap


def _size(dims):
    if all(isinstance(d, int) for d in dims):
        return int(np.prod(dims, dtype=np.int64))
    return dims[0] if len(dims) == 1 else None


class EinsumProduct(Rule):
    op_types = ("Einsum",)

    def _steps(self, node, context):
        """The shapes of the rewrite, or a reason it does not apply."""
        if len(node.inputs) != 2 or any(edit.const_array(v) is not None for v in node.inputs):
            return "not a product of two tensors"
        equation = edit.string_attr(node, "equation", "")
        if parse(equation) is not None:
            return "a pointwise map"
        found = plan(equation)
        if found is None:
            return "the equation is not a batched matrix product"
        a, b, out, batch, left, contracted, right, _ = found
        sa, sb = edit.dims(node.inputs[0]), edit.dims(node.inputs[1])
        if sa is None or sb is None or len(sa) != len(a) or len(sb) != len(b):
            return "an operand's shape is unknown"
        dim = {}
        for labels, shape in ((a, sa), (b, sb)):
            for ch, d in zip(labels, shape):
                if ch in dim and dim[ch] != d:
                    return "an axis broadcasts"
                dim[ch] = d
        rows, inner, cols = (_size([dim[c] for c in g]) for g in (left, contracted, right))
        if None in (rows, inner, cols) and any(len(g) > 1 for g in (left, contracted, right)):
            return "merged axes are not static"
        rows = 1 if not left else rows
        cols = 1 if not right else cols
        lead = [dim[c] for c in batch]
        first = [dim[c] for c in batch + left + contracted]
        second = [dim[c] for c in batch + contracted + right]
        product = lead + [rows, cols]
        result = [dim[c] for c in batch + left + right]
        editor = context.editor
        if not (
            editor.can_reshape_dims(first, lead + [rows, inner])
            and editor.can_reshape_dims(second, lead + [inner, cols])
            and editor.can_reshape_dims(product, result)
        ):
            return "a reshape of the product cannot be written"
        return found, dim, lead, (rows, inner, cols)

    def check(self, node, context):
        steps = self._steps(node, context)
        return steps if isinstance(steps, str) else ""

    def rewrite(self, node, context):
        editor = context.editor
        (a, b, out, batch, left, contracted, right, swap), dim, lead, (rows, inner, cols) = (
            self._steps(node, context)
        )
        x, y = node.inputs
        if swap:
            # The output lists the second operand's axes first: it is the rows.
            (x, a, left, rows), (y, b, right, cols) = (y, b, right, cols), (x, a, left, rows)
        x = editor.transpose(x, [a.index(c) for c in batch + left + contracted], before=node)
        x = editor.reshape(x, lead + [rows, inner], before=node)
        y = editor.transpose(y, [b.index(c) for c in batch + contracted + right], before=node)
        y = editor.reshape(y, lead + [inner, cols], before=node)
        h = editor.node(
            "MatMul", [x, y], before=node, shape=lead + [rows, cols], dtype=node.outputs[0].dtype
        )
        order = batch + left + right
        h = editor.reshape(h, [dim[c] for c in order], before=node)
        return [editor.transpose(h, [order.index(c) for c in out], before=node)]
