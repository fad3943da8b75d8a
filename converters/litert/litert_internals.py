"""The private parts of the LiteRT interpreter keras-1x1 reads, in one place.

The Python interpreter lists its nodes (the ops of the model and, once a
delegate has taken some, the delegate's nodes) only through
``Interpreter._get_ops_details``. When a release drops it, this says so
instead of failing somewhere else.
"""

from __future__ import annotations

__all__ = ["LiteRTInternalsChanged", "ops_details"]


class LiteRTInternalsChanged(RuntimeError):
    """The LiteRT interpreter no longer has an attribute keras-1x1 reads."""


def ops_details(interpreter):
    """``[{"index", "op_name", "inputs", "outputs"}]`` for every node."""
    method = getattr(interpreter, "_get_ops_details", None)
    if method is None:
        raise LiteRTInternalsChanged(
            f"{type(interpreter).__module__}.{type(interpreter).__name__} has no "
            "_get_ops_details; keras-1x1 needs it to list a model's ops"
        )
    return [
        {
            "index": int(op["index"]),
            "op_name": str(op["op_name"]),
            "inputs": [int(t) for t in op["inputs"]],
            "outputs": [int(t) for t in op["outputs"]],
        }
        for op in method()
    ]
