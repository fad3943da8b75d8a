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
from ..reading import canonical_slice
from . import Rule

_POOL_DTYPES = {"FLOAT", "FLOAT16", "DOUBLE"}


def _strides(node):
    """The pool strides this slice is, or a reason string."""
    canonical = canonical_slice(node)
    if isinstance(canonical, str):
        return canonical
    starts, ends, axes, steps = canonical
    r = edit.rank(node.inputs[0])
    if r not in (3, 4, 5) or not axes:
        return "not a slice of a rank 3-5 tensor"
    if any(v != 0 for v in starts) or any(v != edit.INT64_MAX for v in ends):
        return "the slice does not run from start to end"
    if any(not 2 <= a < r for a in axes) or any(s < 1 for s in steps):
        return "the slice steps axes other than the spatial ones"
    dtype = node.inputs[0].dtype
    if dtype is None or dtype.name not in _POOL_DTYPES:
        return "MaxPool does not take this dtype"
    by_axis = dict(zip(axes, steps))
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
