"""``Resize(x, sizes=...)`` -> ``Resize(x, scales=out/in)``: one spelling of a resize.

An exporter writes an upsampling with constant scales in one place and with
target sizes computed at run time (the batch is dynamic) in another. With
every shape known, the scale of each axis is its output size over its input
size (1 for the batch); onnxruntime derives the same scales from sizes, so
the result does not change.
"""

from __future__ import annotations

import numpy as np

from .. import edit
from . import Rule


def _scales(node):
    source, target = edit.dims(node.inputs[0]), edit.dims(node.outputs[0])
    if source is None or target is None or len(source) != len(target):
        return None
    scales = []
    for a, b in zip(source, target):
        if a == b:
            scales.append(1.0)
        elif isinstance(a, int) and isinstance(b, int) and a > 0:
            scale = np.float32(b / a)
            if int(np.floor(np.float64(a) * np.float64(scale))) != b:
                return None
            scales.append(float(scale))
        else:
            return None
    return np.asarray(scales, dtype=np.float32)


class ResizeScales(Rule):
    op_types = ("Resize",)

    def check(self, node, context):
        inputs = list(node.inputs) + [None] * (4 - len(node.inputs))
        if inputs[3] is None:
            return "no sizes"
        if "axes" in node.attributes or edit.string_attr(node, "keep_aspect_ratio_policy", "stretch") != "stretch":
            return "sizes over some axes only, or keeping the aspect ratio"
        if edit.string_attr(node, "coordinate_transformation_mode", "half_pixel") == "tf_crop_and_resize":
            return "crop and resize uses the region of interest"
        if _scales(node) is None:
            return "the output sizes are not a multiple of the input's"
        return ""

    def rewrite(self, node, context):
        editor = context.editor
        roi = node.inputs[1] if len(node.inputs) > 1 and node.inputs[1] is not None else editor.constant(np.zeros((0,), np.float32))
        return [editor.like(node, [node.inputs[0], roi, editor.constant(_scales(node))], before=node)]
