"""``Cast(x, to=dtype(x))`` -> ``x``: a cast to the type a value already has."""

from __future__ import annotations

from .. import edit
from . import Rule


class CastNoOp(Rule):
    op_types = ("Cast",)

    def check(self, node, context):
        x = node.inputs[0]
        to = edit.int_attr(node, "to")
        if x is None or x.dtype is None or to is None:
            return "the input type is unknown"
        if int(x.dtype) != to:
            return "the cast changes the type"
        return ""

    def rewrite(self, node, context):
        return [node.inputs[0]]
