"""Where two graphs differ: `graph_diff` names the first difference.

The walk starts at the first graph output whose fingerprint hashes differ
and goes up to the first node whose own op, attributes or weights differ.
"""

from __future__ import annotations

import numpy as np

from .attributes import attr_python
from .fingerprint import dtype_key, graph_hashes, operands, shape_key

__all__ = ["graph_diff", "diff_canonical"]


def _describe_node(node):
    texts = {name: _attr_text(node.attributes[name]) for name in node.attributes}
    inputs, keys = operands(node, {})
    if "axes" in keys and "axes" not in texts:  # constant axes given as an input
        texts["axes"] = str(list(keys["axes"][1]))
    attrs = ", ".join(f"{name}={texts[name]}" for name in sorted(texts))
    return f"{node.op_type}({attrs})" if attrs else node.op_type


def _attr_text(attr):
    value = attr_python(attr)
    if value is None:
        return str(attr.type).split(".")[-1].lower()
    return str(value)


def _describe_value(value):
    if value.is_initializer():
        t = value.const_value
        return f"weight {tuple(t.shape.dims)} {t.dtype}"
    if value.producer() is None:
        return f"graph input '{value.name}' {dtype_key(value)} {shape_key(value)}"
    return f"output of {value.producer().op_type}"


def graph_diff(a, b, *, canonical=True):
    """Where two graphs differ, as text; ``None`` when they are the same.

    Both are canonicalized first (unless `canonical=False` says they
    already are). The walk starts at the first output whose hashes differ
    and goes up to the first node whose own op, attributes or weights
    differ: it reports that node's ops and attributes, or the weight and
    its max difference.
    """
    from .canonical import canonical_ir, to_ir

    if canonical:
        ma, mb = canonical_ir(a), canonical_ir(b)
    else:
        ma, mb = to_ir(a), to_ir(b)
    return diff_canonical(ma, mb)


def diff_canonical(ma, mb):
    """`graph_diff` for two ``onnx_ir.Model`` graphs taken as they are."""
    ga, ha = graph_hashes(ma.graph)
    gb, hb = graph_hashes(mb.graph)
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
        inputs_a, attrs_a = operands(na, ha)
        inputs_b, attrs_b = operands(nb, hb)
        if (na.domain, na.op_type) != (nb.domain, nb.op_type) or len(inputs_a) != len(inputs_b):
            return (
                f"{where}: first difference at node {_describe_node(na)} vs "
                f"{_describe_node(nb)}{_path_text(path)}"
            )
        if attrs_a != attrs_b:
            return (
                f"{where}: first difference at node {na.op_type}: attributes "
                f"{_describe_node(na)} vs {_describe_node(nb)}{_path_text(path)}"
            )
        for k, (xa, xb) in enumerate(zip(inputs_a, inputs_b)):
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
