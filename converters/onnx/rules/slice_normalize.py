"""``Slice`` with constant parameters -> one spelling.

An exporter writes the same ``x[:, ::2, ::2, :]`` many ways (negative
axes, ends of 2**31-1, INT64_MAX or the exact size, unsorted axes, no-op
axes, missing optional inputs). The canonical Slice lists only the axes it
changes, in increasing order, with ``INT64_MAX`` for "to the end" and every
input present. A Slice that changes nothing is removed.
"""

from __future__ import annotations

import numpy as np

from .. import edit
from ..reading import canonical_slice
from . import Rule

class SliceNormalize(Rule):
    op_types = ("Slice",)

    def check(self, node, context):
        canonical = canonical_slice(node)
        if isinstance(canonical, str):
            return canonical
        if canonical[2] and len(node.inputs) == 5:
            current = [edit.const_array(v) for v in node.inputs[1:]]
            if all(a is not None and a.dtype == np.int64 and a.ndim == 1 for a in current) and [
                a.tolist() for a in current
            ] == list(canonical):
                return "already canonical"
        return ""

    def rewrite(self, node, context):
        starts, ends, axes, steps = canonical_slice(node)
        x = node.inputs[0]
        if not axes:
            return [x]
        editor = context.editor
        out = node.outputs[0]
        return [
            editor.node(
                "Slice",
                [x, editor.int64(starts), editor.int64(ends), editor.int64(axes), editor.int64(steps)],
                before=node,
                shape=edit.dims(out),
                dtype=out.dtype,
            )
        ]
