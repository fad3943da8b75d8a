"""Canonical ONNX graphs: one spelling for every pointwise op, and its hash.

The conv form and the dense form of one trained model export to different
ONNX graphs (tf2onnx writes ``Transpose -> Conv(1x1) -> Transpose`` for the
first and a ``Shape/Gather/Concat -> Reshape -> MatMul -> Reshape`` chain
for the second, and places its transposes differently around them).
`canonicalize` rewrites both to one graph:

- every pointwise op (1x1 Conv at any strides, groups and spatial rank,
  Gemm, tensordot chains, MatMul on the last axis) is ``MatMul(x, W[Cin,
  Cout])`` on a channels-last tensor plus ``Add(b[Cout])``; strides are a
  ``Slice`` with steps, groups a block-diagonal ``W``; per-channel scales
  and offsets that follow are folded into ``W`` and ``b``;
- transposes are in a normal form: pushed toward the outputs through
  elementwise ops and slices, merged, dropped when they cancel;
- shape plumbing is folded, constants have one spelling, no-ops and
  attributes equal to their defaults are removed, and names are replaced by
  deterministic ones (graph inputs and outputs keep theirs).

`fingerprint` hashes the canonical graph Merkle-style (ops, domains,
attributes, wiring by input position, initializer dtype/shape/bytes, graph
input dtypes/shapes by position, outputs in order), so it depends neither on
names nor on node order. `graph_diff` says where two graphs differ.

>>> from keras_1x1 import converters
>>> converters.fingerprint(conv_form) == converters.fingerprint(dense_form)  # doctest: +SKIP
True
"""

from __future__ import annotations

import hashlib
import os

import numpy as np
import onnx

from keras_1x1.errors import UserInputError

__all__ = [
    "canonicalize",
    "fingerprint",
    "graph_diff",
    "to_form",
    "FORMS",
]

FORMS = ("raw", "matmul", "conv")

# Rewrites stop when a round changes nothing; this only guards against a
# rule set that would cycle.
_MAX_ROUNDS = 12
_MAX_PASSES = 64
_LARGE = 1 << 40


# -- loading ---------------------------------------------------------------------------


def _to_ir(model):
    """A fresh ``onnx_ir.Model`` from a ModelProto, ir.Model, bytes or path."""
    import onnx_ir as ir

    if isinstance(model, ir.Model):
        model = ir.serde.serialize_model(model)
    elif isinstance(model, (bytes, bytearray)):
        from .runtime import load_onnx_bytes

        model = load_onnx_bytes(bytes(model))
    elif isinstance(model, (str, os.PathLike)):
        from .runtime import load_onnx

        model = load_onnx(model)
    else:
        if not isinstance(model, onnx.ModelProto):
            raise UserInputError(
                f"expected an ONNX model (onnx.ModelProto or a path), got {type(model).__name__}"
            )
        # The IR wraps the proto's tensors; renaming them would write
        # through to the caller's model, so work on a copy.
        copy = onnx.ModelProto()
        copy.CopyFrom(model)
        model = copy
    return ir.serde.deserialize_model(model)


# -- the rewrite loop ------------------------------------------------------------------


def _passes():
    import onnx_ir.passes.common as common

    return common


def _prepare(model):
    common = _passes()
    import onnxscript.optimizer

    onnxscript.optimizer.inline(model)
    common.RemoveInitializersFromInputsPass()(model)
    common.LiftConstantsToInitializersPass(lift_all_constants=True, size_limit=0)(model)
    common.RemoveUnusedNodesPass()(model)


def _size(model):
    return sum(1 for _ in model.graph)


def _fold(model):
    import onnxscript.optimizer

    onnxscript.optimizer.fold_constants(
        model,
        onnx_shape_inference=True,
        input_size_limit=_LARGE,
        output_size_limit=_LARGE,
    )
    common = _passes()
    common.LiftConstantsToInitializersPass(lift_all_constants=True, size_limit=0)(model)


def _tidy(model):
    common = _passes()
    common.IdentityEliminationPass()(model)
    common.RemoveUnusedNodesPass()(model)


def _merge_duplicates(model):
    common = _passes()
    common.DeduplicateHashedInitializersPass(size_limit=_LARGE)(model)
    common.CommonSubexpressionEliminationPass(size_limit=0)(model)
    common.RemoveUnusedNodesPass()(model)


def _apply(model, rule_set):
    """Apply a rule set until it stops matching; returns the rewrite count."""
    total = 0
    for _ in range(_MAX_PASSES):
        count = rule_set.apply_to_model(model)
        _tidy(model)
        total += count
        if not count:
            break
    return total


def _normalize(model, rule_list):
    """Fold, rewrite and merge until nothing changes."""
    from onnxscript.rewriter import RewriteRuleSet
    from onnxscript.rewriter import _rewrite_rule

    # The rewriter records the rules that made each node in its metadata,
    # joining the names at every rewrite; canonical graphs drop metadata,
    # so that bookkeeping is only cost.
    _rewrite_rule.merge_metadata = False

    rule_set = RewriteRuleSet(rule_list)
    for _ in range(_MAX_ROUNDS):
        before = _size(model)
        _fold(model)
        count = _apply(model, rule_set)
        _merge_duplicates(model)
        if count == 0 and _size(model) == before:
            break


def _canonical_ir(model):
    from . import rules

    _prepare(model)
    _normalize(model, rules.canonical_rules())
    return model


def _conv_form_ir(model):
    from onnxscript.rewriter import RewriteRuleSet

    from . import rules

    _canonical_ir(model)
    _fold(model)
    _apply(model, RewriteRuleSet(rules.conv_form_rules()))
    layout = rules.cleanup_rules() + rules.layout_rules()
    _normalize(model, layout)
    _apply(model, RewriteRuleSet(rules.conv_strides_rules()))
    _normalize(model, layout)
    return model


# -- finishing -------------------------------------------------------------------------

_DEFAULTS = {}


def _schema_default(domain, op_type, name, version):
    key = (domain, op_type, name, version)
    if key not in _DEFAULTS:
        value = None
        try:
            schema = onnx.defs.get_schema(op_type, version, domain)
            attr = schema.attributes.get(name)
            if attr is not None and attr.default_value.type:
                value = onnx.helper.get_attribute_value(attr.default_value)
        except Exception:  # noqa: BLE001 - unknown op or domain
            value = None
        _DEFAULTS[key] = value
    return _DEFAULTS[key]


def _attr_python(attr):
    import onnx_ir as ir

    kind = attr.type
    if kind == ir.AttributeType.INT:
        return attr.as_int()
    if kind == ir.AttributeType.FLOAT:
        return attr.as_float()
    if kind == ir.AttributeType.STRING:
        return attr.as_string()
    if kind == ir.AttributeType.INTS:
        return list(attr.as_ints())
    if kind == ir.AttributeType.FLOATS:
        return list(attr.as_floats())
    return None


# Ops whose `axis` may be written negative, positive or left to its default:
# one spelling (non-negative, always written) when the input rank is known.
_AXIS_OPS = {"Softmax", "LogSoftmax", "Hardmax", "Concat", "Flatten", "Gather", "ArgMax", "ArgMin"}


def _normalize_axes(model):
    import onnx_ir as ir

    versions = dict(model.opset_imports)
    nodes = model.graph.all_nodes() if hasattr(model.graph, "all_nodes") else model.graph
    for node in nodes:
        if (node.domain or "") != "" or node.op_type not in _AXIS_OPS or not node.inputs:
            continue
        value = node.inputs[0]
        shape = value.shape if value is not None else None
        if shape is None:
            continue
        rank = len(shape)
        if node.op_type == "Concat":
            rank = len(node.outputs[0].shape) if node.outputs[0].shape is not None else rank
        attr = node.attributes.get("axis")
        if attr is None:
            axis = _schema_default("", node.op_type, "axis", versions.get("", 1))
        else:
            axis = attr.as_int()
        if axis is None or rank == 0:
            continue
        node.attributes["axis"] = ir.AttrInt64("axis", int(axis) % rank)


def _strip_default_attributes(model):
    versions = dict(model.opset_imports)
    for node in model.graph.all_nodes() if hasattr(model.graph, "all_nodes") else model.graph:
        domain = node.domain or ""
        version = versions.get(domain, versions.get("ai.onnx", 1))
        for name in list(node.attributes):
            attr = node.attributes[name]
            default = _schema_default(domain, node.op_type, name, version)
            if default is None:
                continue
            value = _attr_python(attr)
            if isinstance(default, bytes):
                default = default.decode()
            if value is not None and (
                value == default
                or (
                    isinstance(value, float)
                    and isinstance(default, float)
                    and np.float32(value) == np.float32(default)
                )
            ):
                del node.attributes[name]


def _finish(model, producer="keras-1x1 canonical"):
    common = _passes()
    common.LiftConstantsToInitializersPass(lift_all_constants=True, size_limit=0)(model)
    common.RemoveUnusedNodesPass()(model)
    common.DeduplicateHashedInitializersPass(size_limit=_LARGE)(model)
    common.RemoveUnusedOpsetsPass()(model)
    _normalize_axes(model)
    _strip_default_attributes(model)
    common.TopologicalSortPass()(model)
    _reinfer_shapes(model)
    common.ClearMetadataAndDocStringPass()(model)
    _rename(model)
    model.producer_name = producer
    model.producer_version = ""
    model.graph.name = "canonical"
    return model


def _reinfer_shapes(model):
    """Shapes of every intermediate value and output, inferred afresh.

    The rewrites leave some values with the shapes tf2onnx gave them (with
    its own symbolic names) and new ones with none; inferring them again
    from the graph inputs gives the same shapes whatever form the graph came
    from. When inference fails, the outputs keep the shapes they had.
    """
    import onnx_ir as ir

    common = _passes()
    outputs = [(v, v.shape) for v in model.graph.outputs]
    for node in model.graph:
        for value in node.outputs:
            value.shape = None
    try:
        common.ShapeInferencePass(strict_mode=False, data_prop=True)(model)
    except Exception:  # noqa: BLE001 - inference is a nicety here
        pass
    for value, shape in outputs:
        if value.shape is None and shape is not None:
            value.shape = ir.Shape(shape.dims)


def _rename(model):
    """Deterministic names: inputs and outputs keep theirs, the rest by position."""
    graph = model.graph
    reserved = {v.name for v in graph.inputs} | {v.name for v in graph.outputs}
    outputs = {id(v) for v in graph.outputs}
    inputs = {id(v) for v in graph.inputs}

    def pick(prefix, i):
        name = f"{prefix}{i}"
        while name in reserved:
            name = "_" + name
        return name

    initializers = list(graph.initializers.values())
    order = {}
    for node in graph:
        for value in node.inputs:
            if value is not None and value.is_initializer() and id(value) not in order:
                order[id(value)] = len(order)
    initializers.sort(key=lambda v: order.get(id(v), len(order)))
    graph.initializers.clear()
    for i, value in enumerate(initializers):
        value.name = pick("w", i)
        if value.const_value is not None:
            try:
                value.const_value.name = value.name
            except AttributeError:
                pass
        graph.initializers[value.name] = value
    n = 0
    dim_names = {}
    for i, node in enumerate(graph):
        node.name = f"n{i}_{node.op_type}"
        for value in node.outputs:
            if id(value) not in outputs and id(value) not in inputs:
                value.name = pick("t", n)
                n += 1
    done = set()
    for value in (
        list(graph.inputs) + list(graph.outputs) + [v for node in graph for v in node.outputs]
    ):
        if id(value) not in done:
            done.add(id(value))
            _rename_dims(value, dim_names)


def _rename_dims(value, dim_names):
    import onnx_ir as ir

    shape = value.shape
    if shape is None:
        return
    changed = False
    new = []
    for d in shape.dims:
        if isinstance(d, ir.SymbolicDim) and d.value is not None:
            if d.value not in dim_names:
                dim_names[d.value] = f"N{len(dim_names)}" if len(dim_names) else "N"
            new.append(dim_names[d.value])
            changed = True
        else:
            new.append(d)
    if changed:
        value.shape = ir.Shape(new)


# -- public ----------------------------------------------------------------------------


def canonicalize(onnx_model):
    """Rewrite an ONNX model to its canonical form; returns a new ModelProto.

    Every pointwise op becomes ``MatMul(x_channels_last, W[Cin, Cout])`` plus
    ``Add(b[Cout])``; transposes are normalized, shape plumbing folded and
    names replaced. The canonical graph computes the same outputs as the
    input (same input and output names), and canonicalizing it again
    changes nothing.

    Args:
        onnx_model: an ``onnx.ModelProto``, an ``onnx_ir.Model``, or a path
            to an ``.onnx`` file. It is not modified.

    >>> canonical = canonicalize(export_onnx(model))            # doctest: +SKIP
    >>> sorted({n.op_type for n in canonical.graph.node})       # doctest: +SKIP
    ['Add', 'Conv', 'MatMul', 'Relu', 'Transpose']
    """
    import onnx_ir as ir

    model = _canonical_ir(_to_ir(onnx_model))
    _finish(model)
    return ir.serde.serialize_model(model)


def to_form(onnx_model, form):
    """The model in a deployment form: "raw" (as is), "matmul" or "conv".

    "matmul" is the canonical graph (pointwise ops as MatMul + Add on the
    channel axis, what CPU/GPU compilers prefer). "conv" is the canonical
    graph with every pointwise MatMul on a rank 3-5 tensor as an NCHW
    ``Conv`` 1x1 (``group`` for block-diagonal kernels, strides from
    subsampling slices), what neural accelerators prefer; the transposes
    between neighbouring convs cancel.
    """
    import onnx_ir as ir

    if form not in FORMS:
        raise UserInputError(f"form must be one of {', '.join(FORMS)}, got {form!r}")
    if form == "raw":
        if isinstance(onnx_model, onnx.ModelProto):
            return onnx_model
        return ir.serde.serialize_model(_to_ir(onnx_model))
    if form == "matmul":
        return canonicalize(onnx_model)
    model = _conv_form_ir(_to_ir(onnx_model))
    _finish(model, producer="keras-1x1 conv form")
    return ir.serde.serialize_model(model)


# -- hashing ---------------------------------------------------------------------------


def _h(*parts):
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, bytes):
            data = part
        else:
            data = repr(part).encode()
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def _tensor_bytes(tensor):
    array = tensor.numpy()
    return np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()


def _shape_key(value):
    shape = value.shape
    if shape is None:
        return None
    return tuple(d if isinstance(d, int) else "?" for d in shape.dims)


def _dtype_key(value):
    return None if value.dtype is None else str(value.dtype)


def _attr_key(attr, outer):
    import onnx_ir as ir

    kind = attr.type
    if kind == ir.AttributeType.TENSOR:
        t = attr.value
        return ("tensor", str(t.dtype), tuple(t.shape.dims), _h(_tensor_bytes(t)))
    if kind == ir.AttributeType.TENSORS:
        return ("tensors", tuple(_h(_tensor_bytes(t)) for t in attr.value))
    if kind == ir.AttributeType.GRAPH:
        return ("graph", _graph_hashes(attr.value, outer)[0])
    if kind == ir.AttributeType.GRAPHS:
        return ("graphs", tuple(_graph_hashes(g, outer)[0] for g in attr.value))
    if kind == ir.AttributeType.FLOAT:
        return ("float", float(np.float32(attr.value)))
    if kind == ir.AttributeType.FLOATS:
        return ("floats", tuple(float(np.float32(v)) for v in attr.value))
    value = attr.value
    if isinstance(value, (list, tuple)):
        value = tuple(value)
    return (str(kind), value)


def _graph_hashes(graph, outer=None):
    """``(graph hash, {id(value): hash}, {id(value): value})`` for a graph."""
    hashes = dict(outer or {})
    for i, value in enumerate(graph.inputs):
        hashes[id(value)] = _h("input", i, _dtype_key(value), _shape_key(value))
    for value in graph.initializers.values():
        t = value.const_value
        hashes[id(value)] = _h("const", str(t.dtype), tuple(t.shape.dims), _tensor_bytes(t))
    for node in graph:
        ins = []
        for value in node.inputs:
            if value is None:
                ins.append("none")
            else:
                key = hashes.get(id(value))
                if key is None:
                    key = _h("unknown", value.name)
                ins.append(key)
        attrs = tuple(
            (name, _attr_key(node.attributes[name], hashes)) for name in sorted(node.attributes)
        )
        node_key = _h("node", node.domain or "", node.op_type, attrs, tuple(ins), len(node.outputs))
        for k, value in enumerate(node.outputs):
            hashes[id(value)] = _h(node_key, k)
    outputs = tuple(hashes.get(id(v), _h("unknown", v.name)) for v in graph.outputs)
    return _h("graph", outputs), hashes


def _fingerprint_ir(model):
    return _graph_hashes(model.graph)[0]


def canonical_ir(onnx_model):
    """The canonical graph as an ``onnx_ir.Model`` (for repeated hashing/diffing)."""
    model = _canonical_ir(_to_ir(onnx_model))
    _finish(model)
    return model


def fingerprint_of_canonical(model):
    """The fingerprint of an ``onnx_ir.Model`` that `canonical_ir` returned."""
    return _fingerprint_ir(model)


def fingerprint(onnx_model):
    """A hex SHA-256 of the canonical graph of `onnx_model`.

    Equal for the conv form and the dense form of the same trained model;
    any change of a weight or of the structure changes it. Names, node order,
    metadata and the opset version do not count (graph input dtypes and
    shapes do, by position, with dynamic dims as "?").

    >>> a = fingerprint(export_onnx(conv_model))                # doctest: +SKIP
    >>> a == fingerprint(export_onnx(dense_model))              # doctest: +SKIP
    True
    """
    return _fingerprint_ir(canonical_ir(onnx_model))


# -- diff ------------------------------------------------------------------------------


def _describe_node(node):
    attrs = ", ".join(
        f"{name}={_attr_text(node.attributes[name])}" for name in sorted(node.attributes)
    )
    return f"{node.op_type}({attrs})" if attrs else node.op_type


def _attr_text(attr):
    value = _attr_python(attr)
    if value is None:
        return str(attr.type).split(".")[-1].lower()
    return str(value)


def _describe_value(value):
    if value.is_initializer():
        t = value.const_value
        return f"weight {tuple(t.shape.dims)} {t.dtype}"
    if value.producer() is None:
        return f"graph input '{value.name}' {_dtype_key(value)} {_shape_key(value)}"
    return f"output of {value.producer().op_type}"


def graph_diff(a, b, *, canonical=True):
    """Where two graphs differ, as text; ``None`` when they are the same.

    Both are canonicalized first (unless `canonical=False` says they
    already are). The walk starts at the first output whose hashes differ
    and goes up to the first node whose own op, attributes or weights
    differ: it reports that node's ops and attributes, or the weight and
    its max difference.
    """
    if canonical:
        ma, mb = canonical_ir(a), canonical_ir(b)
    else:
        ma, mb = _to_ir(a), _to_ir(b)
    return diff_canonical(ma, mb)


def diff_canonical(ma, mb):
    """`graph_diff` for two ``onnx_ir.Model`` graphs taken as they are."""
    ga, ha = _graph_hashes(ma.graph)
    gb, hb = _graph_hashes(mb.graph)
    if ga == gb:
        return None
    oa, ob = list(ma.graph.outputs), list(mb.graph.outputs)
    if len(oa) != len(ob):
        return f"the graphs have {len(oa)} and {len(ob)} outputs"
    for i, (va, vb) in enumerate(zip(oa, ob)):
        if ha[id(va)] != hb[id(vb)]:
            return _diff_values(va, vb, ha, hb, where=f"output {i} ('{va.name}' / '{vb.name}')")
    return "the graphs differ"


def _diff_values(va, vb, ha, hb, where):
    path = []
    for _ in range(100000):
        na, nb = va.producer(), vb.producer()
        if na is None or nb is None:
            return _leaf_diff(va, vb, where, path)
        path.append(na.op_type)
        if (na.domain, na.op_type) != (nb.domain, nb.op_type) or len(na.inputs) != len(nb.inputs):
            return (
                f"{where}: first difference at node {_describe_node(na)} vs "
                f"{_describe_node(nb)}{_path_text(path)}"
            )
        attrs_a = {k: _attr_key(na.attributes[k], ha) for k in na.attributes}
        attrs_b = {k: _attr_key(nb.attributes[k], hb) for k in nb.attributes}
        if attrs_a != attrs_b:
            return (
                f"{where}: first difference at node {na.op_type}: attributes "
                f"{_describe_node(na)} vs {_describe_node(nb)}{_path_text(path)}"
            )
        for k, (xa, xb) in enumerate(zip(na.inputs, nb.inputs)):
            key_a = "none" if xa is None else ha.get(id(xa))
            key_b = "none" if xb is None else hb.get(id(xb))
            if key_a != key_b:
                if xa is None or xb is None:
                    return (
                        f"{where}: {na.op_type} input {k} is missing on one side{_path_text(path)}"
                    )
                if (
                    xa.is_initializer()
                    or xb.is_initializer()
                    or xa.producer() is None
                    or xb.producer() is None
                ):
                    return _leaf_diff(xa, xb, f"{where}: {_describe_node(na)} input {k}", path)
                va, vb = xa, xb
                break
        else:
            return (
                f"{where}: node {_describe_node(na)} differs in its output count{_path_text(path)}"
            )
    return f"{where}: the graphs differ"


def _path_text(path):
    if len(path) <= 1:
        return ""
    shown = path[-6:]
    more = "... <- " if len(path) > 6 else ""
    return (
        f" (reached from the output through {more}{' <- '.join(reversed(shown[:-1]))})"
        if shown[:-1]
        else ""
    )


def _leaf_diff(va, vb, where, path):
    if va.is_initializer() and vb.is_initializer():
        ta, tb = va.const_value.numpy(), vb.const_value.numpy()
        if ta.shape != tb.shape or ta.dtype != tb.dtype:
            return (
                f"{where}: weight {ta.shape} {ta.dtype} vs {tb.shape} {tb.dtype}{_path_text(path)}"
            )
        diff = np.abs(ta.astype(np.float64) - tb.astype(np.float64))
        index = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.size else ()
        count = int(np.count_nonzero(ta != tb))
        return (
            f"{where}: weight {ta.shape} {ta.dtype} differs in {count} of {ta.size} "
            f"entries, max difference {float(diff.max()) if diff.size else 0.0:.3g} "
            f"at {tuple(int(i) for i in index)}{_path_text(path)}"
        )
    return f"{where}: {_describe_value(va)} vs {_describe_value(vb)}{_path_text(path)}"
