"""Shapes of every value, from probes: the graph run through shape inference
with its free dimensions fixed.

tf2onnx computes shapes at run time (``Shape -> Gather -> Concat -> Cast
-> Reshape``) because the batch is dynamic, so the same Reshape comes out
with a constant target in one export and a computed one in another.
`resolve` makes them one:

1. The graph goes through onnx's shape inference twice, each time with
   every free input dim fixed to a probe value (the batch to 7 or 11, other
   free dims to primes), the shape plumbing it cannot follow evaluated with
   numpy (`plumbing`): every shape is then concrete and every piece of
   plumbing a constant. Free dims other than the batch must suit the model
   (a sequence no longer than its position table, an image no smaller than
   its receptive field, the same length for a model's token ids and its
   mask): a distinct large prime for every free dim is tried first, then
   one value per axis (so the inputs' sequences match), smaller and
   smaller, until every shape is known.
2. A dim equal in both probes is static; one that differs is symbolic, and
   named by its pair of probe values, so two dims are equal exactly when
   their names are (the batch is ``N``, a dim merging the batch with 64
   other entries is named by ``(448, 704)``).
3. Values that are the same constant in both probes are constants, and are
   folded; every Reshape target becomes its canonical spelling
   (`edit.reshape_target`) computed from its input and output shapes, so
   the plumbing that built it is left unused.

Shapes are written onto every value of the graph; the passes after this
keep them (see `edit`).
"""

from __future__ import annotations

import numpy as np
import onnx_ir as ir

from .. import edit
from . import plumbing

BATCH_PROBES = (7, 11)
# Values for the free dims other than the batch, in each of the two probes,
# tried in this order: one value per free dim (by_axis False) or one per
# axis position, shared by every input (by_axis True).
FREE_PROBES = (
    (((211, 227, 233, 239, 241, 251), (223, 229, 257, 263, 269, 271)), False),
    (((211, 227, 233, 239, 241, 251), (223, 229, 257, 263, 269, 271)), True),
    (((31, 41, 43, 47, 53, 59), (37, 61, 67, 71, 73, 79)), True),
    (((13, 17, 19, 23, 29, 83), (5, 3, 89, 97, 101, 103)), True),
)
# Plumbing is small: larger constants are never folded by the probes.
_SMALL = 4096


def _free_dims(graph):
    """``{(input index, axis): symbol}`` for every input dim that is not fixed."""
    found = {}
    for i, value in enumerate(graph.inputs):
        if value.shape is None:
            continue
        for axis, d in enumerate(value.shape.dims):
            if not isinstance(d, int):
                found[(i, axis)] = (d.value if d.value else f"?{i}.{axis}")
    return found


def _probe_graph(model, free, k, family):
    """A clone of the graph (weights shared) with every free input dim fixed
    to probe `k` of `family`, and no shapes below its inputs."""
    graph = model.graph.clone()
    values, by_axis = FREE_PROBES[family]
    symbols = {}
    others = iter(values[k])
    for (i, axis), symbol in sorted(free.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        key = ("axis", axis) if by_axis else symbol
        if key not in symbols:
            symbols[key] = BATCH_PROBES[k] if axis == 0 else next(others)
        symbols[symbol] = symbols[key]
    for i, value in enumerate(graph.inputs):
        if value.shape is None:
            continue
        shape = [
            symbols[free[(i, axis)]] if (i, axis) in free else d
            for axis, d in enumerate(value.shape.dims)
        ]
        value.shape = ir.Shape(shape)
    for node in graph:
        for value in node.outputs:
            value.shape = None
    return graph


def _probe_proto(model, graph):
    """The probe graph as a proto: nodes, inputs, small initializers; the
    large ones as inputs (shapes need no weights)."""
    from onnx import helper

    inputs = [ir.serde.serialize_value(v) for v in graph.inputs]
    small = []
    for value in graph.initializers.values():
        tensor = value.const_value
        if tensor is not None and tensor.size <= _SMALL:
            small.append(ir.serde.serialize_tensor(tensor))
            small[-1].name = value.name
        else:
            shape = [d if isinstance(d, int) else None for d in value.shape.dims]
            inputs.append(helper.make_tensor_value_info(value.name, int(value.dtype), shape))
    return helper.make_model(
        helper.make_graph(
            [ir.serde.serialize_node(node) for node in graph],
            "probe",
            inputs,
            [ir.serde.serialize_value(v) for v in graph.outputs],
            small,
        ),
        opset_imports=[helper.make_opsetid(d, v) for d, v in graph.opset_imports.items()],
        ir_version=model.ir_version,
    )


def _infer(proto):
    """``{name: (dims, elem type)}`` of every value onnx infers a static shape for."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(proto, data_prop=True)
    shapes = {}
    for info in list(inferred.graph.value_info) + list(inferred.graph.output) + list(inferred.graph.input):
        tensor = info.type.tensor_type
        if not tensor.HasField("shape"):
            continue
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
        if None not in dims:
            shapes[info.name] = (dims, tensor.elem_type)
    return shapes


def _probe(model, free, k, family):
    """``{value name: (dims, small constant or None, dtype)}`` at probe `k`
    of `family`, and whether every value got a shape.

    onnx's shape inference gives every shape it can; the shape plumbing it
    cannot follow (``ReduceProd`` of a ``Shape``, say) is evaluated here
    with numpy, its results given back to the inference as constants, until
    every shape is known.
    """
    from onnx import numpy_helper

    graph = _probe_graph(model, free, k, family)
    proto = _probe_proto(model, graph)
    consts = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    known = set(consts)
    for _ in range(8):
        try:
            shapes = _infer(proto)
        except Exception:  # noqa: BLE001 - onnx cannot infer this graph
            return None, False
        grown = plumbing.evaluate(proto.graph.node, shapes, consts)
        missing = [o for n in proto.graph.node for o in n.output if o and o not in shapes]
        if not missing or not grown:
            break
        # Give what was evaluated to the inference as constants.
        fresh = [name for name in consts if name not in known]
        known.update(fresh)
        used = {i for n in proto.graph.node for i in n.input}
        for name in fresh:
            if name in used:
                proto.graph.initializer.append(numpy_helper.from_array(consts[name], name))
        keep = [n for n in proto.graph.node if not all(o in consts for o in n.output)]
        del proto.graph.node[:]
        proto.graph.node.extend(keep)
    found = {}
    for value in list(graph.inputs) + [v for node in graph for v in node.outputs]:
        if value.name in consts and consts[value.name].size <= _SMALL:
            array = consts[value.name]
            found[value.name] = (list(array.shape) if value.name not in shapes else shapes[value.name][0], array, value.dtype)
        elif value.name in shapes:
            dims, elem = shapes[value.name]
            found[value.name] = (dims, None, ir.DataType(elem) if elem else value.dtype)
        elif value.is_graph_input():
            found[value.name] = (edit.dims(value), None, value.dtype)
    complete = all(v.name in found for node in graph for v in node.outputs)
    return found, complete


def _symbol(pair):
    if tuple(pair) == BATCH_PROBES:
        return "N"
    return f"d{pair[0]}_{pair[1]}"


def concrete(d, k):
    """Dim `d` at probe `k` (0 or 1): itself when static; None when it is a
    symbol the probes did not name."""
    if isinstance(d, int):
        return d
    if d == "N":
        return BATCH_PROBES[k]
    if d.startswith("d") and "_" in d:
        try:
            return int(d[1:].split("_")[k])
        except (ValueError, IndexError):
            return None
    return None


def _combine(first, second):
    """One shape from the two probes' (None when either is unknown)."""
    if first is None or second is None or len(first) != len(second):
        return None
    if not (edit.is_static(first) and edit.is_static(second)):
        return None
    return [a if a == b else _symbol((a, b)) for a, b in zip(first, second)]


def resolve(model):
    """Write shapes on every value; fold constants and canonical Reshape targets."""
    graph = model.graph
    free = _free_dims(graph)
    families = range(len(FREE_PROBES)) if any(axis for _, axis in free) else range(1)
    probes, best = None, -1
    for family in families:
        found = [_probe(model, free, k, family) for k in range(2)]
        if any(f is None for f, _ in found):
            continue
        known = sum(len(f) for f, _ in found)
        if known > best:
            probes, best = [f for f, _ in found], known
        if all(complete for _, complete in found):
            break
    if probes is None:
        return
    folder = edit.Editor(graph)
    for value in graph.inputs:
        seen = [p.get(value.name) for p in probes]
        if all(s is not None for s in seen):
            edit.set_type(value, _combine(seen[0][0], seen[1][0]), None)
    for node in list(graph):
        for value in node.outputs:
            seen = [p.get(value.name) for p in probes]
            if any(s is None for s in seen):
                continue
            (dims_a, const_a, dtype), (dims_b, const_b, _) = seen
            shape = _combine(dims_a, dims_b)
            if dtype is None and const_a is not None:
                dtype = ir.DataType.from_numpy(const_a.dtype)
            edit.set_type(value, shape, value.dtype or dtype)
            if (
                const_a is not None
                and const_b is not None
                and const_a.shape == const_b.shape
                and np.array_equal(const_a, const_b)
                and node.op_type != "Constant"
                and (value.uses() or value.is_graph_output())
                and not value.is_graph_output()
            ):
                folder.replace(value, folder.constant(const_a.astype(const_a.dtype)))
    for node in list(graph):
        if node.op_type == "Reshape":
            _canonical_target(node, folder)
    _canonical_plumbing(graph, probes, folder)


# Inputs of ops that take a shape, sizes, indices or bounds: what the batch
# or another free dim can flow into.
SHAPE_INPUTS = {
    "Expand": (1,),
    "Tile": (1,),
    "ConstantOfShape": (0,),
    "Slice": (1, 2, 3, 4),
    "Range": (0, 1, 2),
    "Resize": (2, 3),
    "Pad": (1,),
    "Split": (1,),
    "TopK": (1,),
    "OneHot": (1,),
}


def _canonical_plumbing(graph, probes, editor):
    """Shape plumbing that stays dynamic, written one way.

    A shape, size or bound computed at run time from a free dim (the length
    of a sequence) is, at both probes, a vector of dims; each is static or a
    dim of a graph input. Such a vector is rebuilt from the inputs' shapes
    (``Shape(input, start=axis, end=axis + 1)`` for each free entry,
    constants for the others, one Concat), whatever arithmetic the exporter
    wrote for it.
    """
    where = {}
    for i, value in enumerate(graph.inputs):
        for axis, d in enumerate(edit.dims(value) or []):
            if not isinstance(d, int):
                where.setdefault(d, (value, axis))
    if not where:
        return
    for node in list(graph):
        for index in SHAPE_INPUTS.get(node.op_type, ()):
            if index >= len(node.inputs) or node.inputs[index] is None:
                continue
            value = node.inputs[index]
            if value.is_initializer() or value.is_graph_input():
                continue
            seen = [p.get(value.name) for p in probes]
            if any(s is None or s[1] is None for s in seen):
                continue
            first, second = seen[0][1], seen[1][1]
            if first.shape != second.shape or first.ndim > 1 or first.dtype.kind not in "iu":
                continue
            entries = [a if a == b else _symbol((int(a), int(b))) for a, b in zip(first.reshape(-1), second.reshape(-1))]
            if all(isinstance(e, int) or e in where for e in entries) and not all(isinstance(e, int) for e in entries):
                rebuilt = _from_input_shapes(entries, where, editor, node, first)
                node.replace_input_with(index, rebuilt)


def _from_input_shapes(entries, where, editor, before, like):
    pieces, static = [], []
    for entry in entries:
        if isinstance(entry, int):
            static.append(int(entry))
            continue
        if static:
            pieces.append(editor.int64(static))
            static = []
        source, axis = where[entry]
        pieces.append(
            editor.node(
                "Shape", [source], {"start": axis, "end": axis + 1}, before=before,
                shape=[1], dtype=ir.DataType.INT64,
            )
        )
    if static:
        pieces.append(editor.int64(static))
    value = pieces[0] if len(pieces) == 1 else editor.node(
        "Concat", pieces, {"axis": 0}, before=before, shape=[len(entries)], dtype=ir.DataType.INT64
    )
    if like.ndim == 0:
        value = editor.node(
            "Reshape", [value, editor.int64([])], before=before, shape=[], dtype=ir.DataType.INT64
        )
    if like.dtype != np.int64:
        value = editor.node(
            "Cast", [value], {"to": int(ir.DataType.from_numpy(like.dtype))}, before=before,
            shape=list(like.shape), dtype=ir.DataType.from_numpy(like.dtype),
        )
    return value


def _canonical_target(node, folder):
    source, out = node.inputs[0], node.outputs[0]
    if edit.dims(source) is None or edit.dims(out) is None:
        return
    wanted = folder.target_spec(source, edit.dims(out))
    if wanted is None:
        return
    current = edit.read_target(node.inputs[1])
    if edit.same_spec(current, wanted) and not edit.int_attr(node, "allowzero", 0):
        return
    node.replace_input_with(1, folder.build_target(wanted, before=node))
    if "allowzero" in node.attributes:
        del node.attributes["allowzero"]
