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
   smaller, then odd numbers times 32 (maps that a feature pyramid halves
   and doubles again; then longer ones, for a front end of strided convs
   over audio samples), until every shape is known and no conv or pool has
   an empty output (a probe shorter than its window).
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

import itertools

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
    # Maps halved and doubled again (a feature pyramid adds a map to the
    # one below it, upsampled): odd primes times 32, so five halvings (a
    # backbone's stride of 32) stay exact and no two axes or probes meet.
    (((352, 416, 544, 608, 736, 928), (992, 1184, 1312, 1376, 1504, 1696)), True),
    # Long inputs a front end of strided convs needs (audio samples).
    (((2272, 2336, 2528, 2656, 2848, 3104), (3232, 3424, 3488, 3616, 3872, 3936)), True),
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


def _sizes(free, k, family):
    """``{symbol: size}`` of every free dim at probe `k` of `family`: the
    batch at ``BATCH_PROBES[k]``, the others from ``FREE_PROBES[family]``."""
    values, by_axis = FREE_PROBES[family]
    keyed = {}
    sizes = {}
    # More free dims than the family lists: primes past it, further apart
    # in the second probe, so each dim still gets two values of its own.
    others = itertools.chain(values[k], _primes(307 if k == 0 else 401))
    for (i, axis), symbol in sorted(free.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        key = ("axis", axis) if by_axis else symbol
        if key not in keyed:
            keyed[key] = BATCH_PROBES[k] if axis == 0 else next(others)
        sizes[symbol] = keyed[key]
    return sizes


def _primes(start):
    """The primes from `start` on."""
    n = start
    while True:
        if n > 1 and all(n % d for d in range(2, int(n ** 0.5) + 1)):
            yield n
        n += 1


def _probe_graph(model, free, sizes):
    """A clone of the graph (weights shared) with every free input dim fixed
    to its size in `sizes`, and no shapes below its inputs."""
    graph = model.graph.clone()
    for i, value in enumerate(graph.inputs):
        if value.shape is None:
            continue
        shape = [
            sizes[free[(i, axis)]] if (i, axis) in free else d
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


def _probe(model, free, sizes, seen=None):
    """``{value name: (dims, small constant or None, dtype)}`` with the free
    dims at `sizes`, and whether every value got a shape. `seen`, a dict,
    receives the probe graph, the evaluated constants and inferred shapes.

    onnx's shape inference gives every shape it can; the shape plumbing it
    cannot follow (``ReduceProd`` of a ``Shape``, say) is evaluated here
    with numpy, its results given back to the inference as constants, until
    every shape is known.
    """
    from onnx import numpy_helper

    graph = _probe_graph(model, free, sizes)
    proto = _probe_proto(model, graph)
    consts = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    known = set(consts)
    if seen is not None:
        seen.update(graph=graph, consts=consts, shapes={})
    for _ in range(8):
        try:
            shapes = _infer(proto)
        except Exception:  # noqa: BLE001 - onnx cannot infer this graph
            return None, False
        if seen is not None:
            seen["shapes"] = shapes
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
    complete = all(v.name in found for node in graph for v in node.outputs) and not _empty_window(graph, found)
    return found, complete


# Ops with a window over their input: an empty output says the probe is
# shorter than the window (shape inference writes 0, or less, and goes on).
_WINDOWED = frozenset({"Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool"})


def _empty_window(graph, found):
    """Whether a windowed op's output at these probes is empty."""
    for node in graph:
        if node.op_type in _WINDOWED and node.outputs and node.outputs[0].name in found:
            dims = found[node.outputs[0].name][0]
            if dims is not None and any(isinstance(d, int) and d <= 0 for d in dims):
                return True
    return False


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


def _limits(model, free):
    """``{symbol: DimLimit}`` of the free non-batch dims: the constant
    tables they size and the constant dims they must equal (`limits`), read
    at the first probe, where every free dim has a size of its own."""
    from .. import limits

    if not any(axis for _, axis in free):
        return {}
    sizes = _sizes(free, 0, 0)
    seen = {}
    _probe(model, free, sizes, seen)
    if "graph" not in seen:
        return {}
    others = {symbol: sizes[symbol] for (_, axis), symbol in free.items() if axis}
    found = limits.table_reads(seen["graph"], seen["consts"], others)
    for symbol, limit in limits.broadcasts(seen["graph"], seen["shapes"], others).items():
        found[symbol] = limit.merge(found.get(symbol))
    return found


def input_dim_limits(model):
    """``{(input name, axis): DimLimit}`` for the free non-batch dims of the
    graph's inputs that a constant table bounds or a constant's dim fixes."""
    graph = model.graph
    free = _free_dims(graph)
    found = _limits(model, free)
    return {
        (graph.inputs[i].name, axis): found[symbol]
        for (i, axis), symbol in free.items()
        if symbol in found
    }


# Probe sizes for dims a table bounds, primes first (largest first), then
# the others; none of them a batch probe (a product of the batch and such a
# dim must differ between the two probes).
_PRIMES = (251, 241, 239, 233, 229, 227, 223, 211, 199, 197, 193, 191, 181, 179, 173, 167,
           163, 157, 151, 149, 139, 137, 131, 127, 113, 109, 107, 103, 101, 97, 89, 83, 79,
           73, 71, 67, 61, 59, 53, 47, 43, 41, 37, 31, 29, 23, 19, 17, 13, 5, 3, 2)
_BOUNDED = tuple(p for p in _PRIMES if p not in BATCH_PROBES) + tuple(
    n for n in range(256, 1, -1) if n not in _PRIMES and n not in BATCH_PROBES
)


def _static_dims(model):
    """The static dims of the graph's inputs and initializers."""
    found = set()
    for value in list(model.graph.inputs) + list(model.graph.initializers.values()):
        for d in edit.dims(value) or ():
            if isinstance(d, int):
                found.add(d)
    return found


def _within_limits(model, free, found):
    """Sizes for both probes with every free dim within what it accepts:
    one size per axis (the inputs' sequences match), the bounded ones the
    largest primes within their bound that no other dim of the graph has,
    two different ones for the two probes (a dim equal in both would read
    as static, unless one size is all the table takes); a dim that must
    equal a constant's gets it in both."""
    by_axis = {}
    for (_, axis), symbol in free.items():
        if axis:
            limit = found.get(symbol)
            by_axis[axis] = limit.merge(by_axis.get(axis)) if limit is not None else by_axis.get(axis)
    taken = _static_dims(model) | set(BATCH_PROBES)
    plain = iter(zip(*FREE_PROBES[1][0]))
    pairs = {}
    for axis in sorted(by_axis):
        limit = by_axis[axis]
        if limit is None:
            pairs[axis] = next(plain)
        elif limit.equal is not None:
            pairs[axis] = (limit.equal, limit.equal)
        else:
            fits = [p for p in _BOUNDED if p <= limit.high]
            fresh = [p for p in fits if p not in taken] + [p for p in fits if p in taken]
            if not fresh:
                return None
            # A table of 2 rows leaves one size: the dim reads as static.
            pairs[axis] = tuple(fresh[:2]) if len(fresh) > 1 else (fresh[0], fresh[0])
        taken.update(pairs[axis])
    return [
        {symbol: BATCH_PROBES[k] if not axis else pairs[axis][k] for (_, axis), symbol in free.items()}
        for k in range(2)
    ]


def _families(model, free):
    """The sizes of both probes, family by family, in the order they are tried."""
    found = _limits(model, free)
    if found:
        within = _within_limits(model, free, found)
        if within is not None:
            yield within
    families = range(len(FREE_PROBES)) if any(axis for _, axis in free) else range(1)
    for family in families:
        yield [_sizes(free, k, family) for k in range(2)]


def resolve(model):
    """Write shapes on every value; fold constants and canonical Reshape targets."""
    graph = model.graph
    free = _free_dims(graph)
    probes, best = None, -1
    for sizes in _families(model, free):
        found = [_probe(model, free, sizes[k]) for k in range(2)]
        if any(f is None for f, _ in found):
            continue
        known = sum(len(f) for f, _ in found)
        if all(complete for _, complete in found):
            probes = [f for f, _ in found]
            break
        if known > best:
            probes, best = [f for f, _ in found], known
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
            if first.shape != second.shape or first.ndim > 1 or first.dtype.kind not in "iuf":
                continue
            # A float bound (a Range's limit) is a dim only when whole.
            if first.dtype.kind == "f" and not all(
                np.all(np.isfinite(v)) and np.all(np.mod(v, 1) == 0) for v in (first, second)
            ):
                continue
            entries = [
                int(a) if a == b else _symbol((int(a), int(b)))
                for a, b in zip(first.reshape(-1), second.reshape(-1))
            ]
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
