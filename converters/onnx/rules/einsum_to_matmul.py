"""``Einsum`` with a constant kernel that is a pointwise map -> ``MatMul``.

Two shapes of equation, recognised by what they compute:

- one input axis contracted with a 2-D kernel and replaced in place by the
  kernel's other axis (``...c,cd->...d``, ``bchw,cd->bdhw``): a matrix
  multiply over that axis at every position. It becomes a transpose that
  moves the axis last, ``MatMul``, and the transpose back (the layout pass
  places them);
- a grouped map over the last two axes (``...gc,cgd->...gd`` or
  ``...gc,gcd->...gd``), each group of channels multiplied by its own block:
  one MatMul with the block-diagonal kernel over the merged channels, the
  same kernel a grouped 1x1 conv becomes, between Reshapes that merge and
  split the channel axis.
"""

from __future__ import annotations

import numpy as np

from .. import edit
from . import Rule


def parse(equation):
    """``("axis", position, transposed)`` or ``("grouped", layout)``, or None."""
    text = equation.decode() if isinstance(equation, bytes) else str(equation)
    text = text.replace(" ", "")
    if "->" not in text or text.count(",") != 1 or "..." in text.split("->")[0].split(",")[1]:
        return None
    lhs, out = text.split("->")
    a, b = lhs.split(",")
    letters = a.replace("...", "")
    if len(set(letters)) != len(letters):
        return None
    if len(b) == 2:
        shared = [ch for ch in b if ch in a]
        new = [ch for ch in b if ch not in a]
        if len(shared) != 1 or len(new) != 1 or shared[0] in out:
            return None
        c, d = shared[0], new[0]
        if a.replace(c, d) != out:
            return None
        tokens = a.replace("...", "?")
        position = tokens.index(c)
        if "?" in tokens[position:]:
            return None
        return ("axis", position - len(tokens), b == d + c)
    tensordot = _tensordot(a, b, out)
    if tensordot is not None:
        return tensordot
    if len(b) == 3 and len(letters) >= 2:
        g, c, d = a[-2], a[-1], b[2]
        prefix = a[:-2]
        if len({g, c, d}) != 3 or any(ch in prefix for ch in (g, c, d)) or out != prefix + g + d:
            return None
        if b[:2] == c + g:
            return ("grouped", "cgd")
        if b[:2] == g + c:
            return ("grouped", "gcd")
    return None


def _tensordot(a, b, out):
    """``("tensordot", k, perm)`` for ``PK,K'R'->PR``: the input's last k
    axes contracted with k axes of the kernel, the kernel's other axes
    appended in the output (Keras' EinsumDense of an attention projection:
    ``abc,cde->abde``, ``abcd,cde->abe``, Gemma's ``btd,ndh->btnh``), or
    None. ``perm`` orders the kernel's axes as the contracted ones in the
    input's order, then the others in the output's."""
    if "..." in a or len(set(a)) != len(a) or len(set(b)) != len(b):
        return None
    shared = [ch for ch in a if ch in b]
    k = len(shared)
    if not k or a[len(a) - k:] != "".join(shared) or any(ch in out for ch in shared):
        return None
    rest = [ch for ch in out if ch in b]
    if len(rest) != len(b) - k or not rest or out != a[: len(a) - k] + "".join(rest):
        return None
    if k == 1 and len(rest) == 1:
        return None  # the "axis" case
    return ("tensordot", k, tuple(b.index(ch) for ch in shared + rest))


def block_kernel(weight, layout):
    if layout == "cgd":
        weight = np.transpose(weight, (1, 0, 2))  # -> (g, c, d)
    groups, cin_g, cout_g = weight.shape
    kernel = np.zeros((groups * cin_g, groups * cout_g), dtype=weight.dtype)
    for k in range(groups):
        kernel[k * cin_g : (k + 1) * cin_g, k * cout_g : (k + 1) * cout_g] = weight[k]
    return kernel


class EinsumToMatMul(Rule):
    op_types = ("Einsum",)

    def check(self, node, context):
        if len(node.inputs) != 2:
            return "not one input and one kernel"
        parsed = parse(edit.string_attr(node, "equation", ""))
        if parsed is None:
            return "the equation is not a pointwise map"
        weight = edit.const_array(node.inputs[1])
        shape = edit.dims(node.inputs[0])
        if shape is None:
            return "the input shape is unknown"
        if parsed[0] == "tensordot":
            k = parsed[1]
            weight = None if weight is None else weight.transpose(parsed[2])
            if weight is None or list(weight.shape[:k]) != shape[-k:]:
                return "the kernel is not a constant matching the contracted axes"
            if not edit.is_static(shape[-k:]) or not edit.dims(node.outputs[0]):
                return "the contracted axes are not static"
            return ""
        if weight is None or weight.ndim != (2 if parsed[0] == "axis" else 3):
            return "the kernel is not a constant of the right rank"
        if parsed[0] == "grouped":
            groups, cin_g = (weight.shape[1], weight.shape[0]) if parsed[1] == "cgd" else weight.shape[:2]
            if shape[-2:] != [groups, cin_g]:
                return "the input's last axes are not (groups, channels)"
        return ""

    def rewrite(self, node, context):
        editor = context.editor
        x, out = node.inputs[0], node.outputs[0]
        shape = edit.dims(x)
        weight = edit.const_array(node.inputs[1])
        parsed = parse(edit.string_attr(node, "equation"))
        if parsed[0] == "tensordot":
            k = parsed[1]
            weight = weight.transpose(parsed[2])
            kernel = weight.reshape(int(np.prod(weight.shape[:k])), -1)
            merged = editor.reshape(x, shape[:-k] + [kernel.shape[0]], before=node)
            h = editor.node(
                "MatMul", [merged, editor.constant(np.ascontiguousarray(kernel))], before=node,
                shape=shape[:-k] + [kernel.shape[1]], dtype=out.dtype,
            )
            return [editor.reshape(h, edit.dims(out), before=node)]
        if parsed[0] == "grouped":
            kernel = block_kernel(weight, parsed[1])
            merged = editor.reshape(x, shape[:-2] + [kernel.shape[0]], before=node)
            h = editor.node(
                "MatMul", [merged, editor.constant(kernel)], before=node,
                shape=shape[:-2] + [kernel.shape[1]], dtype=out.dtype,
            )
            return [editor.reshape(h, edit.dims(out), before=node)]
        _, position, transposed = parsed
        kernel = np.ascontiguousarray(weight.T) if transposed else weight
        r = len(shape)
        axis = position + r
        to_last = [i for i in range(r) if i != axis] + [axis]
        h = editor.transpose(x, to_last, before=node) if axis != r - 1 else x
        moved = edit.dims(h)[:-1] + [kernel.shape[1]]
        h = editor.node(
            "MatMul", [h, editor.constant(kernel)], before=node, shape=moved, dtype=out.dtype
        )
        if axis == r - 1:
            return [h]
        return [editor.transpose(h, list(edit.inverse(to_last)), before=node)]
