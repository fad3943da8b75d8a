"""Editing onnx_ir graphs while every value keeps a shape and a dtype.

The canonical passes read shapes everywhere (which axes are ones, which
dims are the batch), so a value they create is never left without one.
Dimensions are Python ints, or strings for symbolic ones: two symbolic
dims with the same name are provably equal (see `shapes`).
"""

from __future__ import annotations

import itertools

import numpy as np
import onnx_ir as ir

INT64_MAX = int(np.iinfo(np.int64).max)

_names = itertools.count()


# -- reading ---------------------------------------------------------------------------


def const_array(value):
    """A constant value's contents (initializer or Constant node), or None."""
    if value is None:
        return None
    tensor = ir.convenience.get_const_tensor(value)
    if tensor is None:
        return None
    try:
        return tensor.numpy()
    except Exception:  # noqa: BLE001 - a tensor numpy cannot hold (strings, say)
        return None


def dims(value):
    """The value's dims as ints and strings, or None when its shape is unknown."""
    if value is None or value.shape is None:
        return None
    return [d if isinstance(d, int) else (d.value or "?") for d in value.shape.dims]


def rank(value):
    shape = dims(value)
    return None if shape is None else len(shape)


def is_static(shape):
    return shape is not None and all(isinstance(d, int) for d in shape)


def int_attr(node, name, default=None):
    attr = node.attributes.get(name)
    return default if attr is None else attr.as_int()


def ints_attr(node, name, default=None):
    attr = node.attributes.get(name)
    return default if attr is None else list(attr.as_ints())


def string_attr(node, name, default=None):
    attr = node.attributes.get(name)
    return default if attr is None else attr.as_string()


def opset(model, domain=""):
    return dict(model.opset_imports).get(domain, 1)


# -- permutations ----------------------------------------------------------------------
#
# ``Transpose(x, perm)`` has ``shape[j] = x.shape[perm[j]]`` (numpy's
# ``transpose(x, axes)`` convention).


def identity(r):
    return tuple(range(r))


def is_identity(perm):
    return perm is None or all(i == p for i, p in enumerate(perm))


def inverse(perm):
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


def compose(first, second):
    """The perm of ``Transpose(Transpose(x, first), second)``."""
    return tuple(first[p] for p in second)


def permuted(shape, perm):
    return [shape[p] for p in perm]


def moves_memory(shape, perm):
    """Whether ``Transpose(x, perm)`` moves data, for x of `shape`: it does
    not when the axes of size other than 1 keep their order (only unit axes
    move, which a Reshape does for free). Symbolic dims count as not 1."""
    order = [p for p in perm if shape[p] != 1]
    return order != sorted(order)


# -- writing ---------------------------------------------------------------------------


def sole(value):
    """Whether exactly one node reads `value` (and it is no graph output)."""
    return len(value.uses()) == 1 and not value.is_graph_output()


def through_transpose(value):
    """``(source, perm)`` when `value` is a Transpose read only here, else
    ``(value, None)``: ops that need channels first may sit one Transpose
    after what they fold."""
    producer = value.producer()
    if producer is not None and producer.op_type == "Transpose" and sole(value):
        perm = ints_attr(producer, "perm")
        if perm is not None:
            return producer.inputs[0], perm
    return value, None


def set_type(value, shape, dtype):
    """Give `value` a shape (ints and strings) and a dtype."""
    if shape is not None:
        value.shape = ir.Shape([d if isinstance(d, int) else ir.SymbolicDim(d) for d in shape])
    if dtype is not None:
        value.dtype = dtype


class Editor:
    """Adds nodes and constants to one graph, each output with its shape."""

    def __init__(self, graph):
        self.graph = graph

    def constant(self, array, name=None):
        """A new initializer holding `array`."""
        array = np.asarray(array, order="C")
        name = name or f"k1x1_const_{next(_names)}"
        while name in self.graph.initializers:
            name = f"k1x1_const_{next(_names)}"
        value = ir.Value(name=name, const_value=ir.tensor(array, name=name))
        set_type(value, list(array.shape), value.const_value.dtype)
        self.graph.register_initializer(value)
        return value

    def int64(self, values):
        return self.constant(np.asarray(values, dtype=np.int64))

    def like(self, node, inputs, *, before, attributes=None, shape=None):
        """A node of `node`'s op and attributes (some replaced by
        `attributes`) on other `inputs`; its output has `shape` (default:
        `node`'s output shape)."""
        out = node.outputs[0]
        new = self.node(
            node.op_type, inputs, None, before=before,
            shape=dims(out) if shape is None else shape, dtype=out.dtype, domain=node.domain,
        )
        for key, attr in node.attributes.items():
            new.producer().attributes[key] = attr
        for key, value in (attributes or {}).items():
            new.producer().attributes[key] = value if isinstance(value, ir.Attr) else _attr(key, value)
        return new

    def node(self, op_type, inputs, attributes=None, *, before, shape, dtype, domain=""):
        """Insert ``op_type(inputs)`` before node `before` (None: at the end);
        its one output gets `shape` and `dtype`."""
        attrs = []
        for key, value in (attributes or {}).items():
            attrs.append(_attr(key, value))
        node = ir.Node(domain, op_type, inputs, attrs, num_outputs=1)
        set_type(node.outputs[0], shape, dtype)
        if before is None:
            self.graph.append(node)
        else:
            self.graph.insert_before(before, node)
        return node.outputs[0]

    def transpose(self, value, perm, *, before):
        """``Transpose(value, perm)``, or a Reshape when only unit axes move
        (one spelling for a move that does not touch memory)."""
        shape = dims(value)
        out = permuted(shape, perm)
        if not moves_memory(shape, perm):
            return self.reshape(value, out, before=before)
        return self.node(
            "Transpose", [value], {"perm": list(perm)}, before=before, shape=out, dtype=value.dtype
        )

    def target_spec(self, value, shape):
        """How a Reshape of `value` to `shape` writes its target (`TargetSpec`),
        or None when it cannot."""
        static = reshape_target(dims(value), shape)
        if static is not None:
            return ("static", tuple(static))
        sources = [value] + [v for v in self.graph.inputs if v is not value]
        entries = []
        for d in shape:
            if isinstance(d, int):
                entries.append(d)
                continue
            found = None
            for source in sources:
                own = dims(source) or []
                if d != "?" and d in own:
                    found = (source, own.index(d))
                    break
            if found is None:
                # One dim no value has (heads merged into a free batch): the
                # one the others leave, -1.
                if -1 in entries:
                    return None
                found = -1
            entries.append(found)
        return ("dynamic", tuple(entries))

    def can_reshape(self, value, shape):
        return self.can_reshape_dims(dims(value), shape)

    def can_reshape_dims(self, source, shape):
        """Whether a Reshape from `source` dims to `shape` can be written."""
        if source is None or shape is None:
            return False
        if reshape_target(source, shape) is not None:
            return True
        known = set(d for d in source if not isinstance(d, int)) - {"?"}
        for value in self.graph.inputs:
            known.update(d for d in (dims(value) or []) if not isinstance(d, int) and d != "?")
        return sum(1 for d in shape if not isinstance(d, int) and d not in known) <= 1 and -1 not in shape

    def build_target(self, spec, *, before):
        """The target value of a `target_spec`: a constant, or the dims read
        with ``Shape(source, start=axis, end=axis + 1)`` and one Concat."""
        kind, entries = spec
        if kind == "static":
            return self.int64(list(entries))
        pieces, static = [], []
        for entry in entries:
            if isinstance(entry, int):
                static.append(entry)
                continue
            if static:
                pieces.append(self.int64(static))
                static = []
            source, axis = entry
            pieces.append(
                self.node(
                    "Shape", [source], {"start": axis, "end": axis + 1}, before=before,
                    shape=[1], dtype=ir.DataType.INT64,
                )
            )
        if static:
            pieces.append(self.int64(static))
        if len(pieces) == 1:
            return pieces[0]
        return self.node(
            "Concat", pieces, {"axis": 0}, before=before, shape=[len(entries)], dtype=ir.DataType.INT64
        )

    def reshape(self, value, shape, *, before):
        """``Reshape(value)`` to `shape` (ints and symbolic names), its target
        in its one spelling (`target_spec`)."""
        spec = self.target_spec(value, shape)
        if spec is None:
            raise ValueError(f"no Reshape target from {dims(value)} to {shape}")
        target = self.build_target(spec, before=before)
        return self.node("Reshape", [value, target], before=before, shape=shape, dtype=value.dtype)

    def replace(self, old, new):
        """Every use of `old` (a graph output too) now reads `new`."""
        outputs = self.graph.outputs
        for i, value in enumerate(outputs):
            if value is old:
                if new.is_graph_output() or new.is_graph_input():
                    # A graph output must be its own value: copy it once.
                    new = self.node(
                        "Identity", [new], before=None, shape=dims(new), dtype=new.dtype
                    )
                name = old.name
                old.name = f"{name}_replaced_{next(_names)}"
                new.name = name
                outputs[i] = new
        old.replace_all_uses_with(new)


def read_target(value):
    """The `Editor.target_spec` a Reshape target value is written as, or None
    for a target spelled another way."""
    array = const_array(value)
    if array is not None:
        return ("static", tuple(int(v) for v in array.reshape(-1)))
    node = value.producer()
    parts = [value] if node is None or node.op_type != "Concat" else list(node.inputs)
    entries = []
    for part in parts:
        array = const_array(part)
        producer = part.producer()
        if array is not None:
            entries += [int(v) for v in array.reshape(-1)]
        elif producer is not None and producer.op_type == "Shape":
            start, end = int_attr(producer, "start", 0), int_attr(producer, "end")
            if end != start + 1:
                return None
            entries.append((producer.inputs[0], start))
        else:
            return None
    return ("dynamic", tuple(entries))


def same_spec(a, b):
    if a is None or b is None or a[0] != b[0] or len(a[1]) != len(b[1]):
        return False
    for x, y in zip(a[1], b[1]):
        if isinstance(x, tuple) != isinstance(y, tuple):
            return False
        if isinstance(x, tuple) and (x[0] is not y[0] or x[1] != y[1]):
            return False
        if not isinstance(x, tuple) and x != y:
            return False
    return True


def reshape_target(source, shape):
    """The canonical target of a Reshape from `source` to `shape` dims, or None.

    Static dims are written as they are. One symbolic dim is written -1. With
    several, those equal to the source dim at the same index are written 0
    (copied) and the one left, if any, -1. None when that cannot be done (or
    a static dim is 0, where 0 would mean "copy").
    """
    if source is None or shape is None or any(d == 0 for d in shape):
        return None
    dynamic = [i for i, d in enumerate(shape) if not isinstance(d, int)]
    target = [d if isinstance(d, int) else -1 for d in shape]
    if len(dynamic) <= 1:
        return target
    left = []
    for i in dynamic:
        if i < len(source) and source[i] == shape[i]:
            target[i] = 0
        else:
            left.append(i)
    return target if len(left) <= 1 else None


def _attr(key, value):
    if isinstance(value, bool):
        return ir.AttrInt64(key, int(value))
    if isinstance(value, int):
        return ir.AttrInt64(key, value)
    if isinstance(value, float):
        return ir.AttrFloat32(key, value)
    if isinstance(value, str):
        return ir.AttrString(key, value)
    if isinstance(value, (list, tuple)):
        if all(isinstance(v, int) for v in value):
            return ir.AttrInt64s(key, [int(v) for v in value])
        return ir.AttrFloat32s(key, [float(v) for v in value])
    raise TypeError(f"attribute {key}: {type(value).__name__}")


# -- reductions ------------------------------------------------------------------------

REDUCE_OPS = frozenset(
    {
        "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
        "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare",
    }
)


def axes_as_input(op_type, version):
    """Whether `op_type` takes its axes as an input (else an attribute) at `version`."""
    if op_type in ("ReduceSum", "Squeeze", "Unsqueeze"):
        return version >= 13
    return version >= 18


def reduce_axes(node, r, version):
    """The sorted non-negative axes a reduction reduces, or None when unknown."""
    if axes_as_input(node.op_type, version):
        value = node.inputs[1] if len(node.inputs) > 1 else None
        axes = None if value is None else const_array(value)
        if value is not None and axes is None:
            return None
        axes = [] if axes is None else [int(a) for a in axes.reshape(-1)]
    else:
        axes = ints_attr(node, "axes", [])
    if not axes:
        return None if int_attr(node, "noop_with_empty_axes", 0) else list(range(r))
    return sorted({a + r if a < 0 else a for a in axes})


def reduce_node(editor, op_type, x, axes, keepdims, version, *, before):
    """``op_type(x, axes, keepdims)`` spelled as `version` wants."""
    shape = dims(x)
    out = [1 if i in axes else d for i, d in enumerate(shape)]
    if not keepdims:
        out = [d for i, d in enumerate(shape) if i not in axes]
    attributes = {"keepdims": int(keepdims)}
    inputs = [x]
    if axes_as_input(op_type, version):
        inputs.append(editor.int64(sorted(axes)))
    else:
        attributes["axes"] = sorted(axes)
    return editor.node(op_type, inputs, attributes, before=before, shape=out, dtype=x.dtype)
