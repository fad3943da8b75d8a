"""Fingerprints: a hash of the canonical graph that ignores names and order.

`fingerprint` hashes the canonical graph Merkle-style: every value's hash
is made of its producer's op, domain, attributes and the hashes of its
inputs by position; initializers by dtype, shape and bytes; graph inputs by
position, dtype and shape (dynamic dims as "?"); the graph by its outputs
in order. So it depends neither on names nor on node order, and any change
of a weight, an op, an attribute or the wiring changes it.

>>> import numpy as np, onnx
>>> from onnx import helper, numpy_helper
>>> def tiny(w):
...     graph = helper.make_graph(
...         [helper.make_node("MatMul", ["x", "W"], ["y"])], "tiny",
...         [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 2])],
...         [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 2])],
...         [numpy_helper.from_array(np.asarray(w, "float32"), "W")])
...     return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
>>> fingerprint(tiny([[1, 2], [3, 4]])) == fingerprint(tiny([[1, 2], [3, 4]]))
True
>>> fingerprint(tiny([[1, 2], [3, 4]])) == fingerprint(tiny([[1, 2], [3, 5]]))
False
"""

from __future__ import annotations

import hashlib

import numpy as np


__all__ = ["fingerprint", "fingerprint_of_canonical", "graph_hashes", "operands", "structure_key"]


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


def shape_key(value):
    shape = value.shape
    if shape is None:
        return None
    return tuple(d if isinstance(d, int) else "?" for d in shape.dims)


def dtype_key(value):
    return None if value.dtype is None else str(value.dtype)


def attr_key(attr, outer):
    import onnx_ir as ir

    kind = attr.type
    if kind == ir.AttributeType.TENSOR:
        t = attr.value
        return ("tensor", str(t.dtype), tuple(t.shape.dims), _h(_tensor_bytes(t)))
    if kind == ir.AttributeType.TENSORS:
        return ("tensors", tuple(_h(_tensor_bytes(t)) for t in attr.value))
    if kind == ir.AttributeType.GRAPH:
        return ("graph", graph_hashes(attr.value, outer)[0])
    if kind == ir.AttributeType.GRAPHS:
        return ("graphs", tuple(graph_hashes(g, outer)[0] for g in attr.value))
    if kind == ir.AttributeType.FLOAT:
        return ("float", float(np.float32(attr.value)))
    if kind == ir.AttributeType.FLOATS:
        return ("floats", tuple(float(np.float32(v)) for v in attr.value))
    value = attr.value
    if isinstance(value, (list, tuple)):
        value = tuple(value)
    return (str(kind), value)


# Ops that took their axes as an attribute before an opset and as an input
# since (Reduce* at 18; ReduceSum, Squeeze and Unsqueeze at 13): the same op
# either way. Exporters write different opsets (tf2onnx at most 18, torch.onnx
# 18 and newer, jax2onnx 23), so constant axes count as the attribute.
_AXES_OPERAND = frozenset(
    {
        "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
        "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", "Squeeze", "Unsqueeze",
    }
)


def operands(node, hashes):
    """``(inputs, {attribute: key})`` of a node as the fingerprint sees it:
    constant axes given as an input are the ``axes`` attribute."""
    import onnx_ir as ir

    inputs = list(node.inputs)
    attrs = {name: attr_key(node.attributes[name], hashes) for name in node.attributes}
    if (
        (node.domain or "") == ""
        and node.op_type in _AXES_OPERAND
        and len(inputs) == 2
        and inputs[1] is not None
        and inputs[1].const_value is not None
        and "axes" not in attrs
    ):
        axes = tuple(int(v) for v in np.asarray(inputs[1].const_value.numpy()).reshape(-1))
        attrs["axes"] = (str(ir.AttributeType.INTS), axes)
        inputs = inputs[:1]
    return inputs, attrs


def graph_hashes(graph, outer=None):
    """``(graph hash, {id(value): hash}, {id(value): value})`` for a graph."""
    hashes = dict(outer or {})
    for i, value in enumerate(graph.inputs):
        hashes[id(value)] = _h("input", i, dtype_key(value), shape_key(value))
    for value in graph.initializers.values():
        t = value.const_value
        hashes[id(value)] = _h("const", str(t.dtype), tuple(t.shape.dims), _tensor_bytes(t))
    for node in graph:
        inputs, attributes = operands(node, hashes)
        ins = []
        for value in inputs:
            if value is None:
                ins.append("none")
            else:
                key = hashes.get(id(value))
                if key is None:
                    key = _h("unknown", value.name)
                ins.append(key)
        attrs = tuple((name, attributes[name]) for name in sorted(attributes))
        node_key = _h("node", node.domain or "", node.op_type, attrs, tuple(ins), len(node.outputs))
        for k, value in enumerate(node.outputs):
            hashes[id(value)] = _h(node_key, k)
    outputs = tuple(hashes.get(id(v), _h("unknown", v.name)) for v in graph.outputs)
    return _h("graph", outputs), hashes


def _fingerprint_ir(model):
    return graph_hashes(model.graph)[0]


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
    from .canonical import canonical_ir

    return _fingerprint_ir(canonical_ir(onnx_model))


def structure_key(graph):
    """A cheap key of a graph's structure, to tell whether a pass changed it:
    ops, attributes and wiring, constants by dtype, shape and a sample of
    their bytes (not a fingerprint: two different graphs may share it)."""
    keys = {}
    for i, value in enumerate(graph.inputs):
        keys[id(value)] = ("input", i)
    for value in graph.initializers.values():
        t = value.const_value
        sample = np.asarray(t.numpy()).reshape(-1)[:64]
        keys[id(value)] = ("const", str(t.dtype), tuple(t.shape.dims), sample.tobytes())
    parts = []
    for n, node in enumerate(graph):
        attrs = tuple((name, repr(node.attributes[name].value)) for name in sorted(node.attributes))
        parts.append((node.op_type, attrs, tuple(keys.get(id(v)) for v in node.inputs)))
        for k, value in enumerate(node.outputs):
            keys[id(value)] = ("node", n, k)
    parts.append(tuple(keys.get(id(v)) for v in graph.outputs))
    return _h(*parts)
