"""Shapes of every value, from probes: the graph run through shape inference
with its free dimensions fixed.

tf2onnx computes shapes at run time (``Shape -> Gather -> Concat -> Cast
-> Reshape``) because the batch is dynamic, so the same Reshape comes out
with a constant target in one export and a computed one in another.
`resolve` makes them one:

1. The graph is cloned (weights shared, not copied) twice, each time with
   every free input dim fixed to a probe value (the batch to 7 or 11, other
   free dims to primes above 200), and constant-folded: every shape is then
   concrete and every piece of shape plumbing a constant.
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
FREE_PROBES = ((211, 227, 233, 239, 241, 251), (223, 229, 257, 263, 269, 271))
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


def _probe_graph(model, free, k):
    """A clone of the graph (weights shared) with every free input dim fixed
    to probe `k`, large initializers as inputs (shapes need no weights), and
    no shapes below its inputs."""
    graph = model.graph.clone()
    symbols = {}
    others = iter(FREE_PROBES[k])
    for (i, axis), symbol in sorted(free.items()):
        if symbol not in symbols:
            symbols[symbol] = BATCH_PROBES[k] if axis == 0 else next(others)
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


def _probe(model, free, k):
    """``{value name: (dims, small constant or None, dtype)}`` at probe `k`.

    onnx's shape inference gives every shape it can; the shape plumbing it
    cannot follow (``ReduceProd`` of a ``Shape``, say) is evaluated here
    with numpy, its results given back to the inference as constants, until
    every shape is known.
    """
    from onnx import numpy_helper

    graph = _probe_graph(model, free, k)
    proto = _probe_proto(model, graph)
    consts = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    known = set(consts)
    for _ in range(8):
        try:
            shapes = _infer(proto)
        except Exception:  # noqa: BLE001 - onnx cannot infer this graph
            return None
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
    return found


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
    probes = [_probe(model, free, k) for k in range(2)]
    if any(p is None for p in probes):
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


def _canonical_target(node, folder):
    source, out = node.inputs[0], node.outputs[0]
    target = edit.reshape_target(edit.dims(source), edit.dims(out))
    if target is None:
        return
    current = edit.const_array(node.inputs[1])
    if current is not None and current.tolist() == target and not edit.int_attr(node, "allowzero", 0):
        return
    node.replace_input_with(1, folder.int64(target))
    if "allowzero" in node.attributes:
        del node.attributes["allowzero"]
