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

from keras_1x1.kernels import detect_groups, onnx_weight

from .. import edit
from ..rules import matmul_to_conv
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


def _units_only(source, target):
    """Whether a Reshape from `source` to `target` only adds or drops unit axes."""
    return [d for d in source if d != 1] == [d for d in target if d != 1]


def merge_reshapes(model, keep_unit_moves=True):
    """Every Reshape that reads a Reshape reads what that one read; one
    that then gives its input's own shape (not a graph output) is gone.
    Two that each only move unit axes of a value that has unit axes of its
    own stay two (unless `keep_unit_moves` is False: the 1x1-map lift's
    pairs, whose unit axes are the map's): the canonical form places a unit axis by where it stood
    (before the axis that follows it), and a merged pair moves it
    elsewhere."""
    editor = edit.Editor(model.graph)
    changed = False
    for node in list(model.graph):
        inner = node.inputs[0].producer() if node.op_type == "Reshape" and node.inputs else None
        if inner is None or inner.op_type != "Reshape" or inner.domain not in ("", "ai.onnx"):
            continue
        origin, shape = inner.inputs[0], edit.dims(node.outputs[0])
        if shape is None or "?" in shape or edit.dims(origin) is None:
            continue
        if shape == edit.dims(origin) and not node.outputs[0].is_graph_output():
            editor.replace(node.outputs[0], origin)
            changed = True
            continue
        middle, source = edit.dims(inner.outputs[0]), edit.dims(origin)
        if (keep_unit_moves and middle is not None and 1 in source[1:]
                and _units_only(source, middle) and _units_only(middle, shape)):
            continue
        spec = editor.target_spec(origin, shape)
        if spec is None:
            continue
        node.replace_input_with(0, origin)
        node.replace_input_with(1, editor.build_target(spec, before=node))
        changed = True
    return changed


# -- the unit axis -------------------------------------------------------------------------


def _pairs(name, values):
    """A rank-1 conv attribute for rank 2 (the unit axis first)."""
    if name == "pads":
        return [0, values[0], 0, values[1]]
    return [1] + list(values)


class _Lift:
    """Rank-3 channels-first tokens ``(B, C, S)`` as ``(B, C, 1, S)``: `RANK`
    is the rank of the values lifted, `UNITS` the unit axes they take after
    their channels."""

    RANK = 3
    UNITS = 1

    def __init__(self, model):
        self.graph = model.graph
        self.editor = edit.Editor(model.graph)
        self.version = edit.opset(model)
        self.before = {}  # id(lifted value) -> its rank-3 dims
        self.back = {}  # id(lifted value) -> a Reshape of it to its old dims
        self.dropped = set()  # ids of nodes a rewrite made dead
        self.changed = False

    def _lifted_dims(self, shape):
        """A shape of rank `RANK` or less, of a lifted value or an operand
        broadcast against one, with the unit axes after the channels."""
        if not shape:
            return list(shape)
        full = [1] * (self.RANK - len(shape)) + list(shape)
        return full[:2] + [1] * self.UNITS + full[2:]

    def _moved(self, axis):
        """Where axis `axis` of a lifted value's old dims is now."""
        axis = axis + self.RANK if axis < 0 else axis
        return axis if axis < 2 else axis + self.UNITS

    def lifted(self, value):
        return value is not None and id(value) in self.before

    def _rank(self, value):
        """The rank of `value` before the lift."""
        return len(self.before[id(value)]) if self.lifted(value) else edit.rank(value)

    def _lift_value(self, value):
        shape = edit.dims(value)
        self.before[id(value)] = shape
        edit.set_type(value, self._lifted_dims(shape), None)
        self.changed = True

    def unlifted(self, value, before):
        if id(value) not in self.back:
            self.back[id(value)] = self.editor.reshape(value, self.before[id(value)], before=before)
        return self.back[id(value)]

    def up(self, value, before):
        """`value` (of rank `RANK` or less, not lifted) with the unit axes,
        as it broadcasts against a lifted value."""
        array = edit.const_array(value)
        shape = edit.dims(value)
        if array is not None:
            lifted = array.reshape(self._lifted_dims(array.shape))
            while lifted.ndim > 1 and lifted.shape[0] == 1:
                lifted = lifted.reshape(lifted.shape[1:])
            return value if lifted.shape == array.shape else self.editor.constant(lifted)
        if not shape:
            return value
        target = self._lifted_dims(shape)
        while len(shape) < 2 and len(target) > 1 and target[0] == 1:
            target = target[1:]
        return value if target == list(shape) else self.editor.reshape(value, target, before=before)

    # -- which values take the unit axis ------------------------------------------------------

    def _kind(self, node):
        """"out": the op computes as well with the unit axes in its output
        of rank `RANK` (elementwise, broadcasting, softmax, a reduction
        keeping its axes); "conv": a pointwise map (`_is_conv`); None: the op
        needs its operands as written."""
        if node.domain not in ("", "ai.onnx") or len(node.outputs) != 1:
            return None
        out = edit.dims(node.outputs[0])
        if self._is_conv(node, out):
            return "conv"
        if node.op_type == "Conv" or out is None or len(out) != self.RANK or "?" in out:
            return None
        if node.op_type in layout.UNARY:
            extra = [v for v in node.inputs[1:] if v is not None]
            return "out" if all(edit.rank(v) == 0 for v in extra) else None
        if node.op_type in layout.BROADCAST:
            return "out" if all(v is not None and edit.dims(v) is not None for v in node.inputs) else None
        if node.op_type in layout.AXIS and self._rank(node.inputs[0]) == self.RANK:
            return "out"
        if node.op_type in edit.REDUCE_OPS and edit.int_attr(node, "keepdims", 1):
            return "out" if self._axes(node) is not None else None
        return None

    def _is_conv(self, node, out):
        """A rank-3 Conv (a 1-D conv of the tokens)."""
        if node.op_type != "Conv":
            return False
        kernel = edit.const_array(node.inputs[1]) if len(node.inputs) > 1 else None
        auto = edit.string_attr(node, "auto_pad", "NOTSET")
        ok = kernel is not None and kernel.ndim == 3 and out is not None and len(out) == 3
        return ok and auto in ("NOTSET", "VALID")

    def _axes(self, node):
        if self._rank(node.inputs[0]) != self.RANK or set(node.attributes) - {"axes", "keepdims", "noop_with_empty_axes"}:
            return None
        return edit.reduce_axes(node, self.RANK, self.version)

    def _plan(self):
        """The nodes whose outputs take the unit axis: the rank-3 Convs, the
        ops of kind "out" that read one of them, and those whose every
        reader is one of them (a LayerNorm's per-token scale), to a fixpoint."""
        nodes = [n for n in self.graph if self._kind(n) is not None]
        plan = {id(n) for n in nodes if self._kind(n) == "conv" and self._anchored(n)}
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

    def _anchored(self, node):
        """Whether pointwise map `node` starts a lifted region."""
        return True

    def run(self):
        plan = self._plan()
        for node in list(self.graph):
            if id(node) in self.dropped:
                continue
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
            axis = self._moved(edit.int_attr(node, "axis", -1))
            node.attributes["axis"] = ir.AttrInt64("axis", axis)
        elif node.op_type in edit.REDUCE_OPS:
            self._reduce_axes(node, keepdims=True)
        self._lift_value(node.outputs[0])

    def reduce(self, node):
        """A reduction that drops its axes, of a lifted value: the unit axis
        goes with them, so its output is as before."""
        self._reduce_axes(node, keepdims=False)

    def _reduce_axes(self, node, keepdims):
        axes = self._axes(node)
        units = [] if keepdims else list(range(2, 2 + self.UNITS))
        moved = [self._moved(a) for a in axes] + units
        if edit.axes_as_input(node.op_type, self.version):
            node.replace_input_with(1, self.editor.int64(sorted(moved)))
        else:
            node.attributes["axes"] = ir.AttrInt64s("axes", sorted(moved))

    def reshape(self, node):
        """The lifted value holds the same data: the Reshape reads it as it
        is. Not one that only adds unit axes of its own (a head axis of one
        head): a unit axis moved in one Reshape is not the one the canonical
        form places, so it reads the value without the lift's."""
        source = self.before[id(node.inputs[0])]
        target = edit.dims(node.outputs[0])
        lifted = self.editor.target_spec(node.inputs[0], target) if target is not None else None
        if lifted is None or "?" in source or (_units_only(source, target) and 1 in target[1:]):
            return self.default(node)
        node.replace_input_with(1, self.editor.build_target(lifted, before=node))


def lift(model):
    """Channels-first tokens ``(B, C, S)`` as ``(B, C, 1, S)``; True when the graph changed."""
    return _Lift(model).run()


def _unit_map(shape, channels):
    """Whether `shape` (rank 3 or more) holds `channels` values per batch
    entry on one axis, every other axis but the batch a unit axis: a 1x1
    map, or a sequence of one token, in either layout."""
    if shape is None or len(shape) < 3:
        return False
    return [d for d in shape[1:] if d != 1] == [channels]


class _UnitMapLift(_Lift):
    """The values of a 1x1 map, ``(N, C)`` once the canonical form dropped
    its unit axes, as ``(N, C, 1, 1)``: the pointwise maps on them are 2-D
    ``Conv`` 1x1 again, as on a larger map, and the elementwise ops between
    them keep the unit axes (no Reshape around each one). A region is lifted
    only where it meets a map: a Reshape between one of its values and a
    unit map (`_unit_map`); a product of vectors that never were a map (a
    classifier on pooled features, an MLP on a table) stays a MatMul."""

    RANK = 2
    UNITS = 2

    def _is_conv(self, node, out):
        """A MatMul of a rank-2 value by a 2-D constant of more than one
        row (one row is an outer product: rotary angles, positions times
        frequencies)."""
        if node.op_type != "MatMul" or out is None or len(out) != 2:
            return False
        kernel = edit.const_array(node.inputs[1])
        return (kernel is not None and kernel.ndim == 2 and kernel.shape[0] > 1
                and self._rank(node.inputs[0]) == 2 and edit.const_array(node.inputs[0]) is None)

    def _anchored(self, node):
        """Whether the region of rank-2 values around `node` (joined by ops
        the lift knows) meets a unit map through a Reshape."""
        seen, stack = set(), [node]
        while stack:
            current = stack.pop()
            if id(current) in seen:
                continue
            seen.add(id(current))
            out = current.outputs[0]
            channels = (edit.dims(out) or [None, None])[-1]
            neighbours = [u.node for u in out.uses()]
            neighbours += [v.producer() for v in current.inputs
                           if v is not None and v.producer() is not None]
            for other in neighbours:
                if other.op_type == "Reshape":
                    ends = [edit.dims(other.inputs[0]), edit.dims(other.outputs[0])]
                    if any(_unit_map(shape, channels) for shape in ends):
                        return True
                elif self._kind(other) is not None:
                    stack.append(other)
        return False

    def conv(self, node):
        x, out = node.inputs[0], node.outputs[0]
        kernel = edit.const_array(node.inputs[1])
        batch, cout = edit.dims(out)
        groups = detect_groups(kernel)
        inputs = [x if self.lifted(x) else self.up(x, node),
                  self.editor.constant(onnx_weight(kernel, groups, 2))]
        add, row = matmul_to_conv._bias_of(node)
        if row is not None:
            inputs.append(self.editor.constant(row))
        conv = self.editor.node(
            "Conv", inputs, {"group": groups} if groups > 1 else {}, before=node,
            shape=[batch, cout, 1, 1], dtype=out.dtype,
        )
        self.before[id(conv)] = [batch, cout]
        self.editor.replace(add.outputs[0] if add is not None else out, conv)
        self.dropped.update({id(node), id(add)})
        self.changed = True


def lift_unit_maps(model):
    """The pointwise maps of 1x1 maps as 2-D ``Conv`` 1x1 on ``(N, C, 1, 1)``
    (`_UnitMapLift`); True when the graph changed."""
    return _UnitMapLift(model).run() and (merge_reshapes(model, keep_unit_moves=False) or True)
