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


def _probe(model, free, k):
    """The graph with every free dim fixed to probe `k`, constant-folded:
    ``{value name: (dims, small constant or None, dtype)}``."""
    import onnxscript.optimizer

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
    probe = ir.Model(graph, ir_version=model.ir_version)
    onnxscript.optimizer.fold_constants(
        probe, onnx_shape_inference=True, input_size_limit=_SMALL, output_size_limit=_SMALL
    )
    found = {}
    values = list(graph.inputs) + list(graph.initializers.values())
    values += [v for node in graph for v in node.outputs]
    for value in values:
        small = None
        array = edit.const_array(value) if value.const_value is None or value.const_value.size <= _SMALL else None
        if array is not None and array.size <= _SMALL:
            small = array
        found[value.name] = (edit.dims(value), small, value.dtype)
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
