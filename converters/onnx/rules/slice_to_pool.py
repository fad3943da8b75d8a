"""``Slice(x, steps=s on axes 2..)`` -> ``MaxPool(x, kernel 1, strides=s)``.

The last step of the deployment "conv" form: a subsampling slice that no
pointwise conv took as its strides (ResNetV2's strided shortcut, a pool of
one element) is written as the 1x1 pool Keras and tf2onnx write, which
onnxruntime runs in its blocked channels-first layout beside the convs
(a Slice makes it reorder the tensor to plain NCHW and back). A window of
one element takes no maximum: the two read the same elements.
"""

from __future__ import annotations

from .. import edit
from ..reading import subsampling_steps
from . import Rule

_POOL_DTYPES = {"FLOAT", "FLOAT16", "DOUBLE"}


def _strides(node):
    """The pool strides this slice is, or a reason string."""
    by_axis = subsampling_steps(node)
    r = edit.rank(node.inputs[0])
    if by_axis is None or r not in (3, 4, 5):
        return "not a subsampling slice of a rank 3-5 tensor"
    if any(not 2 <= a < r for a in by_axis):
        return "the slice steps axes other than the spatial ones"
    dtype = node.inputs[0].dtype
    if dtype is None or dtype.name not in _POOL_DTYPES:
        return "MaxPool does not take this dtype"
    return [by_axis.get(a, 1) for a in range(2, r)]


class SliceToPool(Rule):
    op_types = ("Slice",)

    def check(self, node, context):
        strides = _strides(node)
        return strides if isinstance(strides, str) else ""

    def rewrite(self, node, context):
        strides = _strides(node)
        return [
            context.editor.node(
                "MaxPool",
                [node.inputs[0]],
                {"kernel_shape": [1] * len(strides), "strides": strides},
                before=node,
                shape=edit.dims(node.outputs[0]),
                dtype=node.outputs[0].dtype,
            )
        ]
