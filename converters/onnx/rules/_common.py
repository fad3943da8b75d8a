"""Helpers shared by the rewrite rules: constants, ranks and symbolic dims.

Nothing here rewrites a graph; the rules in the sibling modules do, each as
an onnxscript `RewriteRuleClassBase` with a `pattern`, a `check` that
returns the reason when it does not apply, and a `rewrite`.

Symbolic dimensions: tf2onnx's graphs compute shapes at run time
(``Shape -> Gather -> Concat -> Reshape``) because the batch dimension is
dynamic. To prove that such a chain only restores the shape it flattened,
`dim` names every dimension of every value by where it comes from (through
Transpose, elementwise ops, MatMul and Conv back to a graph input), and
`shape_vector` evaluates the little integer programs that build shapes over
those names.
"""

from __future__ import annotations

import itertools

import numpy as np
import onnx_ir as ir
from onnxscript.rewriter import pattern

INT64_MAX = int(np.iinfo(np.int64).max)

# Ops that keep the shape of their first input (elementwise, one input or
# several inputs of which the first sets the shape).
UNARY_ELEMENTWISE = frozenset(
    {
        "Abs",
        "Acos",
        "Acosh",
        "Asin",
        "Asinh",
        "Atan",
        "Atanh",
        "Ceil",
        "Celu",
        "Cos",
        "Cosh",
        "Elu",
        "Erf",
        "Exp",
        "Floor",
        "Gelu",
        "HardSigmoid",
        "HardSwish",
        "Identity",
        "IsInf",
        "IsNaN",
        "LeakyRelu",
        "Log",
        "Mish",
        "Neg",
        "Not",
        "Reciprocal",
        "Relu",
        "Round",
        "Selu",
        "Sigmoid",
        "Sign",
        "Sin",
        "Sinh",
        "Softplus",
        "Softsign",
        "Sqrt",
        "Tan",
        "Tanh",
        "ThresholdedRelu",
    }
)
# Unary ops that a Transpose commutes with only with extra conditions.
SHAPE_KEEPING = UNARY_ELEMENTWISE | {"Cast", "Clip", "Dropout", "CastLike"}
BINARY_ELEMENTWISE = frozenset(
    {
        "Add",
        "Sub",
        "Mul",
        "Div",
        "Pow",
        "Max",
        "Min",
        "PRelu",
        "Equal",
        "Greater",
        "Less",
        "GreaterOrEqual",
        "LessOrEqual",
        "And",
        "Or",
        "Xor",
        "Mod",
        "BitShift",
        "Sum",
        "Mean",
    }
)
COMMUTATIVE = frozenset({"Add", "Mul", "Max", "Min", "Sum", "Mean", "And", "Or", "Xor", "Equal"})

_counter = itertools.count()


def fresh_name(prefix="k1x1"):
    """A unique initializer name (names are replaced by canonicalize)."""
    return f"{prefix}_{next(_counter)}"


def const_array(value):
    """The value's constant contents as a numpy array, or None."""
    if value is None:
        return None
    tensor = ir.convenience.get_const_tensor(value)
    if tensor is None:
        return None
    try:
        return tensor.numpy()
    except Exception:  # noqa: BLE001 - a tensor numpy cannot hold
        return None


def initializer(op, array, name=None):
    """Add `array` as a new initializer and return its value."""
    # np.ascontiguousarray would turn a 0-D array into a 1-D one.
    array = np.asarray(array, order="C")
    tensor = ir.tensor(array, name=name or fresh_name())
    return op.initializer(tensor, tensor.name)


def int64(op, values):
    return initializer(op, np.asarray(values, dtype=np.int64))


def ints_attr(node, name, default=None):
    attr = node.attributes.get(name)
    if attr is None:
        return default
    return list(attr.as_ints())


def int_attr(node, name, default=None):
    attr = node.attributes.get(name)
    if attr is None:
        return default
    return attr.as_int()


def transpose_perm(node):
    """The perm of a Transpose node (default: reversed axes), or None."""
    perm = ints_attr(node, "perm")
    if perm is None:
        r = rank(node.inputs[0])
        if r is None:
            return None
        perm = list(range(r))[::-1]
    return perm


def inverse(perm):
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return inv


def compose(first, second):
    """The perm of Transpose(Transpose(x, first), second)."""
    return [first[p] for p in second]


# -- ranks and dims --------------------------------------------------------------------


def rank(value, _depth=0):
    """The rank of `value` if it is known or can be traced, else None."""
    if value is None:
        return None
    if value.shape is not None:
        return len(value.shape)
    array = const_array(value)
    if array is not None:
        return array.ndim
    node = value.producer()
    if node is None or _depth > 64:
        return None
    op = node.op_type
    if op in SHAPE_KEEPING or op in {"Transpose", "Softmax", "LogSoftmax", "BatchNormalization"}:
        return rank(node.inputs[0], _depth + 1)
    if op in BINARY_ELEMENTWISE:
        ranks = [rank(v, _depth + 1) for v in node.inputs]
        return None if any(r is None for r in ranks) else max(ranks)
    if op == "MatMul":
        ranks = [rank(v, _depth + 1) for v in node.inputs]
        if any(r is None for r in ranks) or min(ranks) < 2:
            return None
        return max(ranks)
    if op in {"Conv", "Slice", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"}:
        return rank(node.inputs[0], _depth + 1)
    if op in {"Unsqueeze", "Squeeze"}:
        inner = rank(node.inputs[0], _depth + 1)
        if len(node.inputs) > 1 and node.inputs[1] is not None:
            axes = const_array(node.inputs[1])
            count = None if axes is None else axes.size
        else:
            count = len(ints_attr(node, "axes", []))
        if inner is None or not count:
            return None
        return inner + count if op == "Unsqueeze" else inner - count
    return None


def _symbol(value, axis):
    if value.shape is not None and axis < len(value.shape):
        d = value.shape[axis]
        if isinstance(d, int):
            return (d, ())
        if getattr(d, "value", None):
            return (1, (f"p:{d.value}",))
    return (1, (f"a:{id(value)}:{axis}",))


def dim(value, axis, _depth=0):
    """Dimension `axis` of `value` as ``(coefficient, symbols)``.

    Static dims are ``(n, ())``. A dynamic dim is named by the graph input
    (or the op) it comes from, so two values share a symbol exactly when
    their sizes are provably equal.
    """
    r = rank(value)
    if r is not None and axis < 0:
        axis += r
    if value.shape is not None and 0 <= axis < len(value.shape):
        d = value.shape[axis]
        if isinstance(d, int):
            return (d, ())
    node = value.producer()
    if node is None or _depth > 256:
        return _symbol(value, axis)
    op = node.op_type
    inputs = node.inputs
    if op == "Transpose":
        perm = transpose_perm(node)
        if perm is not None and axis < len(perm):
            return dim(inputs[0], perm[axis], _depth + 1)
    elif op in SHAPE_KEEPING or op in {"Softmax", "LogSoftmax", "BatchNormalization"}:
        return dim(inputs[0], axis, _depth + 1)
    elif op in BINARY_ELEMENTWISE and r is not None:
        found = None
        for v in inputs:
            rv = rank(v)
            if rv is None:
                found = None
                break
            a = axis - (r - rv)
            if a < 0:
                continue
            d = dim(v, a, _depth + 1)
            if d != (1, ()):
                return d
            found = d
        if found is not None:
            return found
    elif op == "MatMul" and r is not None and r >= 2:
        if axis == r - 1:
            return dim(inputs[1], -1, _depth + 1)
        if rank(inputs[0]) == r:
            return dim(inputs[0], axis, _depth + 1)
    elif op == "Conv" and axis == 0:
        return dim(inputs[0], 0, _depth + 1)
    elif op == "Conv" and axis == 1:
        return dim(inputs[1], 0, _depth + 1)
    elif op in {"Slice", "MaxPool", "AveragePool"} and axis == 0:
        # These ops keep the batch axis unless they slice it.
        if op != "Slice" or 0 not in _slice_axes(node):
            return dim(inputs[0], 0, _depth + 1)
    elif op in {"Unsqueeze", "Squeeze"} and r is not None and 0 <= axis < r:
        axes = axes_of(node, r if op == "Unsqueeze" else rank(inputs[0]))
        if axes:
            if op == "Unsqueeze":
                if axis in axes:
                    return (1, ())
                return dim(inputs[0], axis - sum(1 for a in axes if a < axis), _depth + 1)
            kept = [a for a in range(r + len(axes)) if a not in axes]
            return dim(inputs[0], kept[axis], _depth + 1)
    return _symbol(value, axis)


def _slice_axes(node):
    axes = const_array(node.inputs[3]) if len(node.inputs) > 3 else None
    if axes is None:
        r = rank(node.inputs[0])
        return set(range(r or 0)) if len(node.inputs) <= 3 or node.inputs[3] is None else {0}
    r = rank(node.inputs[0]) or 0
    return {int(a) + r if a < 0 else int(a) for a in axes.reshape(-1)}


def dims(value):
    r = rank(value)
    if r is None:
        return None
    return [dim(value, i) for i in range(r)]


def product(entries):
    coef, symbols = 1, ()
    for c, s in entries:
        coef *= c
        symbols += s
    return (coef, tuple(sorted(symbols)))


def is_static(d, n=None):
    return not d[1] and (n is None or d[0] == n)


# -- shape vectors ---------------------------------------------------------------------


def shape_vector(value, _depth=0):
    """Evaluate a 0-D or 1-D integer tensor over symbolic dims.

    Returns ``(is_scalar, [dim, ...])`` or None when it cannot be evaluated.
    """
    if value is None or _depth > 64:
        return None
    array = const_array(value)
    if array is not None:
        if array.dtype.kind not in "iu" or array.ndim > 1:
            return None
        return (array.ndim == 0, [(int(v), ()) for v in array.reshape(-1)])
    node = value.producer()
    if node is None:
        return None
    op = node.op_type
    inputs = node.inputs

    def sub(v):
        return shape_vector(v, _depth + 1)

    if op == "Shape":
        r = rank(inputs[0])
        if r is None:
            return None
        start = int_attr(node, "start", 0)
        end = int_attr(node, "end", r)
        entries = [dim(inputs[0], i) for i in range(r)]
        return (False, entries[slice(start, end)])
    if op in {"Cast", "Identity"}:
        return sub(inputs[0])
    if op == "Gather":
        data = sub(inputs[0])
        indices = const_array(inputs[1])
        if data is None or indices is None or data[0] or int_attr(node, "axis", 0) != 0:
            return None
        n = len(data[1])
        picked = [data[1][int(i) + n if i < 0 else int(i)] for i in indices.reshape(-1)]
        return (indices.ndim == 0, picked)
    if op == "Concat":
        parts = [sub(v) for v in inputs]
        if any(p is None or p[0] for p in parts):
            return None
        return (False, [e for p in parts for e in p[1]])
    if op == "Unsqueeze":
        data = sub(inputs[0])
        if data is None or not data[0]:
            return None
        return (False, data[1])
    if op == "Squeeze":
        data = sub(inputs[0])
        if data is None or len(data[1]) != 1:
            return None
        return (True, data[1])
    if op == "ReduceProd":
        data = sub(inputs[0])
        if data is None:
            return None
        keep = int_attr(node, "keepdims", 1)
        return (not keep, [product(data[1])])
    if op == "Mul":
        a, b = sub(inputs[0]), sub(inputs[1])
        if a is None or b is None:
            return None
        if len(a[1]) == 1:
            return (a[0] and b[0], [product([a[1][0], e]) for e in b[1]])
        if len(b[1]) == 1:
            return (a[0] and b[0], [product([e, b[1][0]]) for e in a[1]])
        if len(a[1]) == len(b[1]):
            return (a[0] and b[0], [product([x, y]) for x, y in zip(a[1], b[1])])
        return None
    if op == "Slice":
        data = sub(inputs[0])
        params = [const_array(v) if v is not None else None for v in inputs[1:5]]
        if data is None or data[0] or params[0] is None or params[1] is None:
            return None
        starts, ends = params[0], params[1]
        steps = params[3] if len(params) > 3 and params[3] is not None else [1]
        if len(starts) != 1:
            return None
        return (False, data[1][int(starts[0]) : int(ends[0]) : int(steps[0])])
    return None


def broadcast_row(array, rank_x, channels):
    """`array` as a row over the last axis (shape ``(channels,)``), or None.

    Only constants that broadcast along the last axis qualify: a scalar, or
    a shape of leading ones ending in 1 or `channels`, no longer than
    `rank_x`.
    """
    if array is None or array.ndim > rank_x:
        return None
    shape = array.shape
    if any(d != 1 for d in shape[:-1]):
        return None
    if array.ndim == 0 or shape[-1] == 1:
        return np.full((channels,), array.reshape(()), dtype=array.dtype)
    if shape[-1] == channels:
        return array.reshape(channels)
    return None


# -- axes inputs and attributes ----------------------------------------------------------

# The opset from which each op takes its axes as an input, not an attribute.
AXES_INPUT_SINCE = {
    "Squeeze": 13,
    "Unsqueeze": 13,
    "ReduceSum": 13,
    "ReduceMean": 18,
    "ReduceMax": 18,
    "ReduceMin": 18,
    "ReduceProd": 18,
    "ReduceL1": 18,
    "ReduceL2": 18,
}


def opset(context, domain=""):
    """The model's opset version for `domain` (ai.onnx by default)."""
    model = getattr(context, "model", None)
    if model is None:
        return None
    imports = model.opset_imports
    return imports.get(domain, imports.get("ai.onnx") if domain == "" else None)


def axes_of(node, rank_=None):
    """The node's axes (from its input or attribute), non-negative; None if unknown.

    Returns [] for "no axes given" (meaning all axes for reductions).
    """
    values = None
    if len(node.inputs) > 1 and node.inputs[1] is not None:
        array = const_array(node.inputs[1])
        if array is None:
            return None
        values = [int(v) for v in array.reshape(-1)]
    else:
        values = ints_attr(node, "axes", [])
    if any(v < 0 for v in values):
        if rank_ is None:
            return None
        values = [v + rank_ if v < 0 else v for v in values]
    return sorted(values)


def axes_node(op, op_type, x, axes, version, **attributes):
    """Build Squeeze/Unsqueeze/Reduce* with `axes` in the form `version` wants."""
    if version is not None and version >= AXES_INPUT_SINCE.get(op_type, 10**6):
        return op.op(op_type, x, int64(op, list(axes)), **attributes)
    return op.op(op_type, x, axes=list(axes), **attributes)


class TransposeInto(pattern.RewriteRuleClassBase):
    """Base of the rules for ``Op(Transpose(x), ...)``: the pattern and the perm.

    Subclasses set `op_type` (or pass it) and write `check` and `rewrite`
    over ``x``, ``t`` (the Transpose's output) and ``y``. The Transpose may have other consumers (remove_nodes=False):
    each branch gets its own copy, and common subexpression elimination
    merges copies that stay identical.
    """

    op_type = None
    name_format = "TransposeThrough{}"

    def __init__(self, op_type=None):
        self.op_type = op_type or self.op_type
        super().__init__(self.name_format.format(self.op_type), remove_nodes=False)

    def pattern(self, op, x):
        t = op.Transpose(x, _allow_other_attributes=True, _outputs=["t"])
        return getattr(op, self.op_type)(
            t, _allow_other_inputs=True, _allow_other_attributes=True, _outputs=["y"]
        )
