"""The accelerator layout: tokens channels first, ``(B, C, 1, S)``, end to end.

What Apple's ANE transformers and Qualcomm's HTP guidance write by hand,
applied to any graph in its conv form (`canonical.to_form(proto,
"accelerator")`):

- `run`: the layout pass (`layout.Layout`) in its accelerator layout. A
  Reshape that splits or merges runs of axes runs on the stored tensor
  when each run lies in it whole and in order, so the channels ``C`` of
  channels-first tokens ``(B, C, S)`` split into heads ``(B, H, D, S)``
  and merge back without a transpose; attention's scores are stored keys
  by queries (``K^T Q``, softmax over the keys' axis) so that ``V P^T``
  needs no transpose either. Attention then transposes K once.
- `lift`: every rank-3 value the Convs of channels-first tokens
  ``(B, C, S)`` make, and what elementwise ops, reductions and softmaxes
  compute from them, gets the unit axis ``(B, C, 1, S)``: the Convs are
  2-D 1x1 (what the HTP and the ANE run), constants and other operands
  take the axis too, reductions and softmaxes renumber their axes (a
  reduction that drops axes drops the unit axis with them, so its output
  is as before), and a Reshape reads the lifted value as it is (the same
  data). Where a value meets an op the lift does not know, one Reshape
  drops the axis again.
- `merge_reshapes`: a Reshape of a Reshape is one Reshape.
- `scale_operand`: attention's scale multiplies an operand of the scores'
  product, not the scores (as the ANE transformers write it: fewer
  multiplications when tokens outnumber the head dim; and Qualcomm's HTP
  fails to compile a product, a scalar Mul and a softmax over any axis
  but the last in a row).
"""

from __future__ import annotations

import numpy as np
import onnx_ir as ir

from .. import edit
from . import layout


def run(model):
    """One accelerator layout sweep, then `merge_reshapes`; True when the
    graph changed."""
    changed = layout.run(model, accelerator=True)
    return merge_reshapes(model) or changed


def scale_operand(model):
    """``MatMul(a, b) * s`` (s a scalar constant, the product read there
    alone) -> ``MatMul(a, b * s)``, on the operand with fewer entries."""
    editor = edit.Editor(model.graph)
    changed = False
    for node in list(model.graph):
        if node.op_type != "Mul" or node.domain not in ("", "ai.onnx"):
            continue
        scale = edit.const_array(node.inputs[1])
        product = node.inputs[0].producer()
        if scale is None or scale.size != 1 or product is None or product.op_type != "MatMul":
            continue
        if not edit.sole(product.outputs[0]) or any(edit.const_array(v) is not None for v in product.inputs):
            continue
        sizes = [layout._size(edit.dims(v) or ["?"], 0) for v in product.inputs]
        if None in sizes or edit.dims(node.outputs[0]) != edit.dims(product.outputs[0]):
            continue
        side = 0 if sizes[0] < sizes[1] else 1
        operand = product.inputs[side]
        scaled = editor.node(
            "Mul", [operand, node.inputs[1]], before=product, shape=edit.dims(operand), dtype=operand.dtype)
        product.replace_input_with(side, scaled)
        editor.replace(node.outputs[0], product.outputs[0])
        model.graph.remove(node, safe=True)
        changed = True
    return changed


def merge_reshapes(model):
    """Every Reshape that reads a Reshape reads what that one read."""
    editor = edit.Editor(model.graph)
    changed = False
    for node in list(model.graph):
        inner = node.inputs[0].producer() if node.op_type == "Reshape" and node.inputs else None
        if inner is None or inner.op_type != "Reshape" or inner.domain not in ("", "ai.onnx"):
            continue
        origin, shape = inner.inputs[0], edit.dims(node.outputs[0])
        if shape is None or "?" in shape or edit.dims(origin) is None:
            continue
        spec = editor.target_spec(origin, shape)
        if spec is None:
            continue
        node.replace_input_with(0, origin)
        node.replace_input_with(1, editor.build_target(spec, before=node))
        changed = True
    return changed


# -- the unit axis -------------------------------------------------------------------------


def _lifted_dims(shape):
    """A rank 1-3 shape of an operand broadcast against rank-3 tokens, with
    the unit axis before the last."""
    if len(shape) < 2:
        return list(shape)
    full = [1] * (3 - len(shape)) + list(shape)
    return full[:2] + [1] + full[2:]


def _pairs(name, values):
    """A rank-1 conv attribute for rank 2 (the unit axis first)."""
    if name == "pads":
        return [0, values[0], 0, values[1]]
    return [1] + list(values)


class _Lift:
    def __init__(self, model):
        self.graph = model.graph
        self.editor = edit.Editor(model.graph)
        self.version = edit.opset(model)
        self.before = {}  # id(lifted value) -> its rank-3 dims
        self.back = {}  # id(lifted value) -> a rank-3 Reshape of it
        self.changed = False

    def lifted(self, value):
        return value is not None and id(value) in self.before

    def _lift_value(self, value):
        shape = edit.dims(value)
        self.before[id(value)] = shape
        edit.set_type(value, shape[:2] + [1] + shape[2:], None)
        self.changed = True

    def unlifted(self, value, before):
        if id(value) not in self.back:
            self.back[id(value)] = self.editor.reshape(value, self.before[id(value)], before=before)
        return self.back[id(value)]

    def up(self, value, before):
        """`value` (rank 1-3, not lifted) with the unit axis."""
        array = edit.const_array(value)
        shape = edit.dims(value)
        if array is not None:
            lifted = array.reshape(_lifted_dims(array.shape))
            while lifted.ndim > 1 and lifted.shape[0] == 1:
                lifted = lifted.reshape(lifted.shape[1:])
            return value if lifted.shape == array.shape else self.editor.constant(lifted)
        if shape is None or len(shape) < 2:
            return value
        return self.editor.reshape(value, _lifted_dims(shape), before=before)

    # -- which values take the unit axis ------------------------------------------------------

    def _kind(self, node):
        """"out": the op computes as well with the unit axis in its rank-3
        output (elementwise, broadcasting, softmax, a reduction keeping its
        axes); "conv": a rank-3 Conv; None: the op needs its operands as written."""
        if node.domain not in ("", "ai.onnx") or len(node.outputs) != 1:
            return None
        out = edit.dims(node.outputs[0])
        if node.op_type == "Conv":
            kernel = edit.const_array(node.inputs[1]) if len(node.inputs) > 1 else None
            auto = edit.string_attr(node, "auto_pad", "NOTSET")
            ok = kernel is not None and kernel.ndim == 3 and out is not None and len(out) == 3
            return "conv" if ok and auto in ("NOTSET", "VALID") else None
        if out is None or len(out) != 3 or "?" in out:
            return None
        if node.op_type in layout.UNARY:
            extra = [v for v in node.inputs[1:] if v is not None]
            return "out" if all(edit.rank(v) == 0 for v in extra) else None
        if node.op_type in layout.BROADCAST:
            return "out" if all(v is not None and edit.dims(v) is not None for v in node.inputs) else None
        if node.op_type in layout.AXIS and edit.rank(node.inputs[0]) == 3:
            return "out"
        if node.op_type in edit.REDUCE_OPS and edit.int_attr(node, "keepdims", 1):
            return "out" if self._axes(node) is not None else None
        return None

    def _axes(self, node):
        rank = 3 if self.lifted(node.inputs[0]) else edit.rank(node.inputs[0])
        if rank != 3 or set(node.attributes) - {"axes", "keepdims", "noop_with_empty_axes"}:
            return None
        return edit.reduce_axes(node, 3, self.version)

    def _plan(self):
        """The nodes whose outputs take the unit axis: the rank-3 Convs, the
        ops of kind "out" that read one of them, and those whose every
        reader is one of them (a LayerNorm's per-token scale), to a fixpoint."""
        nodes = [n for n in self.graph if self._kind(n) is not None]
        plan = {id(n) for n in nodes if self._kind(n) == "conv"}
        changed = True
        while changed:
            changed = False
            for node in nodes:
                if id(node) in plan:
                    continue
                out = node.outputs[0]
                reads = any(
                    v is not None and v.producer() is not None and id(v.producer()) in plan
                    for v in node.inputs
                )
                readers = [u.node for u in out.uses()]
                fed = bool(readers) and not out.is_graph_output() and all(
                    id(r) in plan for r in readers
                )
                if reads or fed:
                    plan.add(id(node))
                    changed = True
        return plan

    def run(self):
        plan = self._plan()
        for node in list(self.graph):
            kind = self._kind(node) if id(node) in plan else None
            if kind == "conv":
                self.conv(node)
            elif kind == "out":
                self.out(node)
            elif not any(self.lifted(v) for v in node.inputs):
                continue
            elif node.op_type in edit.REDUCE_OPS and self._axes(node) is not None:
                self.reduce(node)
            elif node.op_type == "Reshape":
                self.reshape(node)
            else:
                self.default(node)
        self._outputs()
        return self.changed

    def default(self, node):
        for i, value in enumerate(node.inputs):
            if self.lifted(value):
                node.replace_input_with(i, self.unlifted(value, node))

    def _outputs(self):
        outputs = self.graph.outputs
        for i, value in enumerate(list(outputs)):
            if not self.lifted(value):
                continue
            written = self.editor.reshape(value, self.before[id(value)], before=None)
            name = value.name
            value.name = f"{name}_lifted"
            written.name = name
            outputs[i] = written

    def conv(self, node):
        x, out = node.inputs[0], node.outputs[0]
        kernel = edit.const_array(node.inputs[1])
        if not self.lifted(x):
            if edit.dims(x) is None:
                return None
            node.replace_input_with(0, self.up(x, node))
        node.replace_input_with(1, self.editor.constant(kernel[:, :, None, :]))
        for name in ("kernel_shape", "strides", "dilations", "pads"):
            values = edit.ints_attr(node, name)
            if values is not None:
                node.attributes[name] = ir.AttrInt64s(name, _pairs(name, values))
        self._lift_value(out)

    def out(self, node):
        """An op of kind "out": its other operands take the unit axis too,
        its axes are renumbered."""
        for i, value in enumerate(node.inputs):
            if value is not None and not self.lifted(value):
                lifted = self.up(value, node)
                if lifted is not value:
                    node.replace_input_with(i, lifted)
        if node.op_type in layout.AXIS:
            axis = edit.int_attr(node, "axis", -1)
            axis = axis + 3 if axis < 0 else axis
            node.attributes["axis"] = ir.AttrInt64("axis", axis if axis < 2 else axis + 1)
        elif node.op_type in edit.REDUCE_OPS:
            self._reduce_axes(node, keepdims=True)
        self._lift_value(node.outputs[0])

    def reduce(self, node):
        """A reduction that drops its axes, of a lifted value: the unit axis
        goes with them, so its output is as before."""
        self._reduce_axes(node, keepdims=False)

    def _reduce_axes(self, node, keepdims):
        axes = self._axes(node)
        moved = [a if a < 2 else a + 1 for a in axes] + ([] if keepdims else [2])
        if edit.axes_as_input(node.op_type, self.version):
            node.replace_input_with(1, self.editor.int64(sorted(moved)))
        else:
            node.attributes["axes"] = ir.AttrInt64s("axes", sorted(moved))

    def reshape(self, node):
        """The lifted value holds the same data: the Reshape reads it as it is."""
        source = self.before[id(node.inputs[0])]
        target = edit.dims(node.outputs[0])
        lifted = self.editor.target_spec(node.inputs[0], target) if target is not None else None
        if lifted is None or "?" in source:
            return self.default(node)
        node.replace_input_with(1, self.editor.build_target(lifted, before=node))


def lift(model):
    """Channels-first tokens ``(B, C, S)`` as ``(B, C, 1, S)``; True when the graph changed."""
    return _Lift(model).run()
