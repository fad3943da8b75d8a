"""The layout pass: where transposes go, decided by what each op does to axes.

Exporters move tensors between channels-last and channels-first as they
please (tf2onnx wraps every NCHW op in transposes and then pushes them
around), so the same computation comes out with its transposes in many
places. This pass removes that freedom in one sweep, in topological order:

- A ``Transpose`` computes nothing: its output is remembered as a *view*,
  ``(stored value, perm)`` with ``value == Transpose(stored, perm)``.
- Every other op is looked up in a table of how it treats axes, and runs on
  the stored tensors wherever its mathematics allows, with its axis
  attributes and constant operands renumbered: elementwise ops in any
  layout; broadcasting ops in the layout of their first operand, the
  others brought to it; reductions, Softmax, Concat, Slice, Pad, Resize,
  Split, Tile and Gather with their axes mapped; a pointwise MatMul on any
  layout whose channel axis is last; a Reshape that splits or merges runs
  of axes lying whole and in order in the stored tensor (heads split off
  channels-first tokens); a product of two tensors as ``A @ B`` or as
  ``B^T @ A^T``, whichever needs fewer transposes (on a tie, the one whose
  softmax runs over the last axis). Its outputs are views in the layout
  it ran in.
- An op that needs its inputs as they are written (Conv, pooling, other
  Reshapes, everything not in the table) gets them *materialized*: one
  Transpose from the stored tensor, or a Reshape where only unit axes move.
- Graph outputs are materialized.

So a transpose exists exactly where an op needs one, whatever the exporter
wrote, and two graphs that differ only in where their transposes were
become one graph. A Reshape that only moves unit axes is a transpose too.
"""

from __future__ import annotations

import numpy as np
import onnx_ir as ir

from .. import edit
from . import shapes

UNARY = frozenset(
    {
        "Abs", "Acos", "Acosh", "Asin", "Asinh", "Atan", "Atanh", "Cast", "CastLike", "Ceil",
        "Celu", "Clip", "Cos", "Cosh", "Elu", "Erf", "Exp", "Floor", "Gelu", "HardSigmoid",
        "HardSwish", "Identity", "IsInf", "IsNaN", "LeakyRelu", "Log", "Mish", "Neg", "Not",
        "Reciprocal", "Relu", "Round", "Selu", "Shrink", "Sigmoid", "Sign", "Sin", "Sinh",
        "Softplus", "Softsign", "Sqrt", "Tan", "Tanh", "ThresholdedRelu",
    }
)
BROADCAST = frozenset(
    {
        "Add", "And", "BitShift", "Div", "Equal", "Greater", "GreaterOrEqual", "Less",
        "LessOrEqual", "Max", "Mean", "Min", "Mod", "Mul", "Or", "Pow", "PRelu", "Sub", "Sum",
        "Where", "Xor",
    }
)
AXIS = frozenset({"Softmax", "LogSoftmax", "Hardmax", "LpNormalization"})
ARG = frozenset({"ArgMax", "ArgMin"})


def _size(dims, k):
    values = [shapes.concrete(d, k) for d in dims]
    return None if None in values else int(np.prod(values, dtype=np.int64))


def _runs(source, target):
    """Pairs ``(source axes, target axes)``: the runs a Reshape from `source`
    to `target` turns into each other (equal sizes at both probe sizes of
    the symbolic dims), or None."""
    pairs, i, j = [], 0, 0
    while i < len(source) and j < len(target):
        a, b = [i], [j]
        i, j = i + 1, j + 1
        while True:
            sizes = [(_size([source[k] for k in a], p), _size([target[k] for k in b], p)) for p in (0, 1)]
            if any(x is None or y is None for x, y in sizes):
                return None
            if all(x == y for x, y in sizes):
                break
            if all(x < y for x, y in sizes) and i < len(source):
                a.append(i)
                i += 1
            elif all(x > y for x, y in sizes) and j < len(target):
                b.append(j)
                j += 1
            else:
                return None
        pairs.append((a, b))
    # Trailing unit axes join the last run.
    if not pairs:
        return None
    while i < len(source):
        if source[i] != 1:
            return None
        pairs[-1][0].append(i)
        i += 1
    while j < len(target):
        if target[j] != 1:
            return None
        pairs[-1][1].append(j)
        j += 1
    return pairs


def _readers(value):
    """How many ops read `value`, through the Transposes and Reshapes
    that only move it (a mask transposed once for every block)."""
    count = 0
    for use in value.uses():
        node = use.node
        if node.op_type in ("Transpose", "Reshape") and use.idx == 0 and node.outputs:
            count += _readers(node.outputs[0])
        else:
            count += 1
    return count


def _swap(r):
    """The perm that swaps the last two of `r` axes."""
    return tuple(range(r - 2)) + (r - 1, r - 2)


def unit_perm(source, target):
    """The perm of a same-rank Reshape from `source` to `target` dims that
    only moves unit axes (a transpose that touches no memory), or None."""
    if source is None or target is None or len(source) != len(target):
        return None
    if [d for d in source if d != 1] != [d for d in target if d != 1]:
        return None
    big = [i for i, d in enumerate(source) if d != 1]
    units = [i for i, d in enumerate(source) if d == 1]
    perm = []
    for d in target:
        perm.append(units.pop(0) if d == 1 else big.pop(0))
    return tuple(perm)


class Layout:
    """One sweep over a graph (see the module docstring)."""

    def __init__(self, model, accelerator=False):
        self.model = model
        self.accelerator = accelerator
        self.graph = model.graph
        self.editor = edit.Editor(model.graph)
        self.version = edit.opset(model)
        self.perm = {}  # id(stored value) -> perm of its view
        self.alias = {}  # id(removed value) -> (stored value, perm)
        self.cache = {}  # (id(stored), perm) -> materialized value
        self.changed = False

    # -- views -----------------------------------------------------------------------

    def view(self, value):
        """``(stored, perm)`` with ``value == Transpose(stored, perm)``."""
        if value is None:
            return None, None
        if id(value) in self.alias:
            return self.alias[id(value)]
        r = edit.rank(value)
        return value, self.perm.get(id(value), None if r is None else edit.identity(r))

    def materialize(self, stored, perm, target, before):
        """A value holding the view ``(stored, perm)`` in layout `target`
        (``value == Transpose(result, target)``); None `target` = as written."""
        if perm is None:
            return stored
        if target is None:
            target = edit.identity(len(perm))
        move = edit.compose(perm, edit.inverse(target))
        if edit.is_identity(move):
            return stored
        key = (id(stored), move)
        if key not in self.cache:
            self.changed = True
            self.cache[key] = self.editor.transpose(stored, move, before=before)
        return self.cache[key]

    def logical_dims(self, value):
        """The dims of `value` as written (its view's, not its stored tensor's)."""
        stored, perm = self.view(value)
        shape = edit.dims(stored)
        if shape is None or perm is None:
            return shape
        return edit.permuted(shape, perm)

    def _rewire(self, node, index, value):
        if node.inputs[index] is not value:
            node.replace_input_with(index, value)
            self.changed = True

    def _set_const(self, node, index, array):
        """Input `index` of `node` holds `array` (a new constant only when it differs)."""
        current = edit.const_array(node.inputs[index]) if index < len(node.inputs) else None
        if current is not None and current.dtype == array.dtype and current.shape == array.shape:
            if np.array_equal(current, array):
                return
        if index >= len(node.inputs):
            node.resize_inputs(index + 1)
        node.replace_input_with(index, self.editor.constant(array))
        self.changed = True

    def _set_attr(self, node, attr):
        old = node.attributes.get(attr.name)
        if old is None or old.type != attr.type or old.value != attr.value:
            node.attributes[attr.name] = attr
            self.changed = True

    def _finish(self, node, perm):
        """Outputs of `node` now hold the stored tensors of views in `perm`."""
        for out in node.outputs:
            shape = edit.dims(out)
            if perm is None or shape is None or len(shape) != len(perm):
                continue
            if not edit.is_identity(perm):
                edit.set_type(out, edit.permuted(shape, edit.inverse(perm)), None)
                self.perm[id(out)] = tuple(perm)

    # -- the sweep ---------------------------------------------------------------------

    def run(self):
        self.order = {id(node): i for i, node in enumerate(self.graph)}
        for node in list(self.graph):
            if node.domain not in ("", "ai.onnx") or any(
                a.type in (ir.AttributeType.GRAPH, ir.AttributeType.GRAPHS)
                for a in node.attributes.values()
            ):
                self.default(node)
                continue
            # By name, so that a subclass's own handlers run.
            getattr(self, HANDLERS.get(node.op_type, Layout.default).__name__)(node)
        self._outputs()
        return self.changed

    def _outputs(self):
        outputs = self.graph.outputs
        for i, value in enumerate(list(outputs)):
            stored, perm = self.view(value)
            if stored is value and (perm is None or edit.is_identity(perm)):
                continue
            written = self.materialize(stored, perm, None, before=None)
            if written.is_graph_input() or written.is_graph_output():
                written = self.editor.node(
                    "Identity", [written], before=None, shape=edit.dims(written), dtype=written.dtype
                )
            name = value.name
            value.name = f"{name}_view"
            written.name = name
            outputs[i] = written
            self.changed = True

    # -- handlers ----------------------------------------------------------------------

    def default(self, node):
        """Inputs as they are written, outputs as they are written."""
        for i, value in enumerate(node.inputs):
            stored, perm = self.view(value)
            if stored is not None:
                self._rewire(node, i, self.materialize(stored, perm, None, node))

    def transpose(self, node):
        stored, perm = self.view(node.inputs[0])
        own = edit.ints_attr(node, "perm")
        if perm is None or (own is None and edit.rank(node.inputs[0]) is None):
            return self.default(node)
        own = own if own is not None else list(range(len(perm)))[::-1]
        self.alias[id(node.outputs[0])] = (stored, edit.compose(perm, own))
        self.changed = True

    def reshape(self, node):
        source = self.logical_dims(node.inputs[0])
        target = edit.dims(node.outputs[0])
        stored, perm = self.view(node.inputs[0])
        if perm is None or source is None or target is None:
            return self.default(node)
        if self.accelerator and not edit.is_identity(perm):
            # Unit axes join the run of their neighbour in the stored tensor.
            return self._reshape_runs(node, stored, perm, source, target)
        moved = unit_perm(source, target)
        if moved is not None:
            self.alias[id(node.outputs[0])] = (stored, edit.compose(perm, moved))
            self.changed = True
            return None
        if [d for d in source if d != 1] != [d for d in target if d != 1]:
            return self._reshape_runs(node, stored, perm, source, target)
        # Only unit axes come or go: the view goes through. The axes that
        # are not 1 keep their stored order; a unit axis of the target sits
        # just before the axis that follows it in the target, wherever that
        # one is stored, and trailing unit axes last.
        core = [k for k in range(len(source)) if source[k] != 1]
        places = [j for j in range(len(target)) if target[j] != 1]
        at = dict(zip(core, places))
        order = [at[k] for k in sorted(core, key=lambda k: perm[k])]
        for j in (j for j in range(len(target)) if target[j] == 1):
            following = [p for p in places if p > j]
            order.insert(order.index(following[0]) if following else len(order), j)
        shape = [target[p] for p in order]
        new = tuple(order.index(p) for p in range(len(target)))
        if shape == edit.dims(stored):
            self.alias[id(node.outputs[0])] = (stored, new)
            self.changed = True
            return None
        return self._reshape_stored(node, stored, shape, new)

    def _reshape_stored(self, node, stored, shape, new):
        """The Reshape reads the stored tensor, to `shape`; its output is
        the view `new` of that (or the Reshape runs as written when no
        target can be spelled)."""
        spec = self.editor.target_spec(stored, shape)
        if spec is None:
            return self.default(node)
        self._rewire(node, 0, stored)
        if not edit.same_spec(edit.read_target(node.inputs[1]), spec):
            node.replace_input_with(1, self.editor.build_target(spec, before=node))
            self.changed = True
        out = node.outputs[0]
        edit.set_type(out, shape, None)
        if not edit.is_identity(new):
            self.perm[id(out)] = tuple(new)
        return None

    def _reshape_runs(self, node, stored, perm, source, target):
        """A Reshape that splits or merges runs of axes, run on the stored
        tensor when each run lies in it whole and in order; else on the
        tensor as written."""
        pairs = _runs(source, target)
        if pairs is None:
            return self.default(node)
        placed = []
        for a, b in pairs:
            at = [perm[k] for k in a]
            if at != list(range(at[0], at[0] + len(at))):
                return self.default(node)
            placed.append((at[0], b))
        shape, new = [], [0] * len(target)
        for _, b in sorted(placed):
            for k in b:
                new[k] = len(shape)
                shape.append(target[k])
        return self._reshape_stored(node, stored, shape, new)

    def unary(self, node):
        if any(edit.rank(v) not in (None, 0) for v in node.inputs[1:] if v is not None):
            return self.default(node)
        stored, perm = self.view(node.inputs[0])
        if perm is None:
            return self.default(node)
        self._rewire(node, 0, stored)
        self._finish(node, perm)

    def broadcast(self, node):
        out_shape = edit.dims(node.outputs[0])
        if out_shape is None or any(v is None for v in node.inputs):
            return self.default(node)
        r = len(out_shape)
        views = [self.view(v) for v in node.inputs]
        leader = self._leader(node, views, r)
        inverse = edit.inverse(leader)
        for i, (value, (stored, perm)) in enumerate(zip(node.inputs, views)):
            array = edit.const_array(value)
            if array is not None:
                self._rewire(node, i, self._constant(array, r, inverse, value))
                continue
            if perm is None:
                return self.default(node)
            if len(perm) == r:
                self._rewire(node, i, self.materialize(stored, perm, leader, node))
            elif edit.is_identity(leader):
                self._rewire(node, i, self.materialize(stored, perm, None, node))
            else:
                # A lower-rank operand: as written, ones in front, then the
                # leader's layout.
                plain = self.materialize(stored, perm, None, node)
                shape = [1] * (r - len(perm)) + edit.dims(plain)
                full = self.editor.reshape(plain, shape, before=node)
                self._rewire(node, i, self.materialize(full, edit.identity(r), leader, node))
        self._finish(node, leader)

    def _leader(self, node, views, r):
        """The layout a broadcasting op runs in: that of its first full-rank
        operand (not a constant) when it is stored transposed. When it is
        not, a layout every operand reaches without moving memory (only
        unit axes move: a Reshape): that of a later operand stored
        transposed, or the one a later broadcasting op that reads the
        result already meets in an operand computed before it, so that the
        result is not transposed there (a LayerNorm's per-token scale
        meeting channels-first tokens). Else the first operand's."""
        full = [
            (value, stored, perm)
            for value, (stored, perm) in zip(node.inputs, views)
            if edit.const_array(value) is None and perm is not None and len(perm) == r
        ]
        if self.accelerator:
            return self._accelerator_leader(node, views, r, full)
        full = [perm for _, _, perm in full]
        if full and not edit.is_identity(full[0]):
            return full[0]
        # The layout of a later operand, or of a later op, that every
        # operand reaches moving only unit axes.
        moved = [perm for perm in full if not edit.is_identity(perm)]
        for perm in moved + self._wanted_later(node, r):
            if all(self._cheap(value, stored, p, perm) for value, (stored, p) in zip(node.inputs, views)):
                return perm
        return full[0] if full else edit.identity(r)

    def _accelerator_leader(self, node, views, r, full):
        """In the accelerator layout: a layout every operand reaches moving
        only unit axes (that of an operand stored transposed, or of a later
        op), else that of the largest operand (the scores, not the mask
        they meet), of those the one read by fewest ops and computed last
        (a residual branch, not the stream it joins). Which layout each operand is written in does
        not matter, so a second sweep keeps what the first chose."""
        # A view that moves only unit axes is no layout of its own.
        full = [
            (value, stored, perm if edit.moves_memory(edit.dims(stored), perm) else edit.identity(r))
            for value, stored, perm in full
            if edit.dims(stored) is not None
        ]
        moved = [perm for _, _, perm in full if not edit.is_identity(perm)]
        for perm in moved + self._wanted_later(node, r):
            if all(self._cheap(value, stored, p, perm) for value, (stored, p) in zip(node.inputs, views)):
                return perm
        if not full:
            return edit.identity(r)

        def rank_of(entry):
            # Largest; then read by fewest ops (a mask every block reads
            # moves once for all); then computed last.
            _, stored, _ = entry
            producer = stored.producer()
            return (
                _size(edit.dims(stored) or ["?"], 0) or 0,
                -_readers(stored),
                -1 if producer is None else self.order.get(id(producer), -1),
            )

        return max(full, key=rank_of)[2]

    def _wanted_later(self, node, r):
        """Layouts of operands already placed that the broadcasting ops
        reading `node`'s output meet it with (in the order of its uses)."""
        found = []
        for use in node.outputs[0].uses():
            consumer = use.node
            if consumer.op_type not in BROADCAST or consumer.domain not in ("", "ai.onnx"):
                continue
            for i, value in enumerate(consumer.inputs):
                if i == use.idx or value is None or edit.const_array(value) is not None:
                    continue
                if id(value) not in self.perm and id(value) not in self.alias:
                    continue  # not placed yet (made after this op)
                _, perm = self.view(value)
                if perm is not None and len(perm) == r and not edit.is_identity(perm):
                    found.append(perm)
        return found

    def _cheap(self, value, stored, perm, target):
        """Whether an operand reaches layout `target` moving only unit axes."""
        if value is None:
            return False
        if edit.const_array(value) is not None:
            return True
        shape = self.logical_dims(value)
        if perm is None or shape is None or len(perm) > len(target):
            return False
        if len(perm) < len(target):  # broadcast: ones in front, as written
            full = [1] * (len(target) - len(perm)) + list(shape)
            return not edit.moves_memory(full, edit.inverse(target))
        return not edit.moves_memory(edit.dims(stored), edit.compose(perm, edit.inverse(target)))

    def _constant(self, array, r, inverse, value):
        """A broadcast operand in the stored layout, in its one spelling: as
        many axes as the output, transposed, then leading ones dropped."""
        full = array.reshape((1,) * (r - array.ndim) + array.shape) if array.ndim < r else array
        stored = np.transpose(full, inverse) if full.ndim == r else full
        shape = list(stored.shape)
        while shape and shape[0] == 1:
            shape.pop(0)
        stored = stored.reshape(shape)
        if stored.shape == array.shape and np.array_equal(stored, array) and value.is_initializer():
            return value
        return self.editor.constant(np.ascontiguousarray(stored))

    def _move_axis(self, node, perm, default):
        """Renumber the node's ``axis`` for the stored layout; the logical axis."""
        r = len(perm)
        axis = edit.int_attr(node, "axis", default)
        axis = axis + r if axis < 0 else axis
        self._set_attr(node, ir.AttrInt64("axis", perm[axis]))
        return axis

    def axis(self, node):
        stored, perm = self.view(node.inputs[0])
        if perm is None or self.version < 13 and node.op_type != "LpNormalization":
            return self.default(node)
        self._rewire(node, 0, stored)
        self._move_axis(node, perm, -1)
        self._finish(node, perm)

    def _dropped(self, perm, axes):
        """The view perm left when the logical `axes` are dropped."""
        stored_axes = {perm[a] for a in axes}
        kept = [k for k in range(len(perm)) if k not in axes]
        remaining = [j for j in range(len(perm)) if j not in stored_axes]
        return tuple(remaining.index(perm[k]) for k in kept)

    def reduce(self, node):
        stored, perm = self.view(node.inputs[0])
        if perm is None:
            return self.default(node)
        r = len(perm)
        axes = edit.reduce_axes(node, r, self.version)
        if axes is None or set(node.attributes) - {"axes", "keepdims", "noop_with_empty_axes"}:
            return self.default(node)
        keepdims = edit.int_attr(node, "keepdims", 1)
        moved = sorted(perm[a] for a in axes)
        self._rewire(node, 0, stored)
        if edit.axes_as_input(node.op_type, self.version):
            self._set_const(node, 1, np.asarray(moved, dtype=np.int64))
        else:
            self._set_attr(node, ir.AttrInt64s("axes", moved))
        if "noop_with_empty_axes" in node.attributes:
            del node.attributes["noop_with_empty_axes"]
            self.changed = True
        self._finish(node, perm if keepdims else self._dropped(perm, axes))

    def arg(self, node):
        stored, perm = self.view(node.inputs[0])
        if perm is None:
            return self.default(node)
        self._rewire(node, 0, stored)
        axis = self._move_axis(node, perm, 0)
        keepdims = edit.int_attr(node, "keepdims", 1)
        self._finish(node, perm if keepdims else self._dropped(perm, [axis]))

    def concat(self, node):
        views = [self.view(v) for v in node.inputs]
        if any(perm is None for _, perm in views):
            return self.default(node)
        # The layout of the first operand stored transposed; a view that
        # moves only unit axes (a one-token operand) is no layout of its own.
        placed = [(stored, perm) for value, (stored, perm) in zip(node.inputs, views)
                  if edit.const_array(value) is None]
        if not placed:
            return self.default(node)
        moving = [perm for stored, perm in placed
                  if edit.dims(stored) is None or edit.moves_memory(edit.dims(stored), perm)]
        leader = moving[0] if moving else placed[0][1]
        inverse = edit.inverse(leader)
        for i, (value, (stored, perm)) in enumerate(zip(node.inputs, views)):
            array = edit.const_array(value)
            if array is not None:
                self._set_const(node, i, np.ascontiguousarray(np.transpose(array, inverse)))
            else:
                self._rewire(node, i, self.materialize(stored, perm, leader, node))
        self._move_axis(node, leader, 0)
        self._finish(node, leader)

    def split(self, node):
        stored, perm = self.view(node.inputs[0])
        if perm is None:
            return self.default(node)
        self._rewire(node, 0, stored)
        self._move_axis(node, perm, 0)
        self._finish(node, perm)

    def slice(self, node):
        stored, perm = self.view(node.inputs[0])
        inputs = list(node.inputs) + [None] * (5 - len(node.inputs))
        starts = edit.const_array(inputs[1])
        if perm is None or starts is None:
            return self.default(node)
        r = len(perm)
        axes = list(range(starts.size)) if inputs[3] is None else edit.const_array(inputs[3])
        if axes is None:
            return self.default(node)
        moved = [perm[int(a) + r if a < 0 else int(a)] for a in np.asarray(axes).reshape(-1)]
        self._rewire(node, 0, stored)
        self._set_const(node, 3, np.asarray(moved, dtype=starts.dtype))
        self._finish(node, perm)

    def _per_axis(self, array, perm, count):
        """Per-axis values (``count`` groups of one entry per axis) in the stored order."""
        inverse = edit.inverse(perm)
        r = len(perm)
        groups = array.reshape(count, r)
        return np.ascontiguousarray(groups[:, list(inverse)].reshape(-1))

    def pad(self, node):
        stored, perm = self.view(node.inputs[0])
        pads = edit.const_array(node.inputs[1]) if len(node.inputs) > 1 else None
        if perm is None or pads is None or len(node.inputs) > 3 and node.inputs[3] is not None:
            return self.default(node)
        if pads.size != 2 * len(perm):
            return self.default(node)
        self._rewire(node, 0, stored)
        self._set_const(node, 1, self._per_axis(pads, perm, 2).astype(pads.dtype))
        self._finish(node, perm)

    def tile(self, node):
        """Tile runs on the stored tensor, its repeats in the stored order."""
        stored, perm = self.view(node.inputs[0])
        repeats = edit.const_array(node.inputs[1])
        if perm is None or repeats is None or repeats.size != len(perm):
            return self.default(node)
        self._rewire(node, 0, stored)
        self._set_const(node, 1, self._per_axis(repeats, perm, 1).astype(repeats.dtype))
        self._finish(node, perm)

    def resize(self, node):
        stored, perm = self.view(node.inputs[0])
        if perm is None or "axes" in node.attributes:
            return self.default(node)
        r = len(perm)
        replaced = {}
        for index, groups in ((1, 2), (2, 1), (3, 1)):
            if index >= len(node.inputs) or node.inputs[index] is None:
                continue
            array = edit.const_array(node.inputs[index])
            if array is None:
                return self.default(node)
            if array.size == 0:
                continue
            if array.size != groups * r:
                return self.default(node)
            replaced[index] = self._per_axis(array, perm, groups).astype(array.dtype)
        self._rewire(node, 0, stored)
        for index, array in replaced.items():
            self._set_const(node, index, array)
        self._finish(node, perm)

    def gather(self, node):
        stored, perm = self.view(node.inputs[0])
        indices = node.inputs[1]
        index_rank = edit.rank(indices)
        if perm is None or index_rank not in (0, 1):
            return self.default(node)
        self._rewire(node, 0, stored)
        index_stored, index_perm = self.view(indices)
        self._rewire(node, 1, self.materialize(index_stored, index_perm, None, node))
        axis = self._move_axis(node, perm, 0)
        self._finish(node, perm if index_rank == 1 else self._dropped(perm, [axis]))

    def matmul(self, node):
        weight = edit.const_array(node.inputs[1])
        if weight is None and edit.const_array(node.inputs[0]) is None:
            return self._product(node)
        stored, perm = self.view(node.inputs[0])
        if weight is None or weight.ndim != 2 or perm is None or perm[-1] != len(perm) - 1:
            return self.default(node)
        self._rewire(node, 0, stored)
        self._finish(node, perm)

    def _product(self, node):
        """A product of two tensors runs as ``A @ B`` or as its transpose
        ``B^T @ A^T``: the one whose operands need fewer transposes; on a
        tie, the one whose softmax (read through elementwise ops) runs over
        the last axis, or in the accelerator layout over the one before
        (scores stored keys by queries, so that ``V @ P^T`` needs no
        transpose either); else ``A @ B``."""
        a, b = node.inputs
        (sa, pa), (sb, pb) = self.view(a), self.view(b)
        r = edit.rank(a)
        if pa is None or pb is None or r is None or r < 2 or edit.rank(b) != r:
            return self.default(node)
        plain, swap = edit.identity(r), _swap(r)
        direct = self._moves(sa, pa, plain) + self._moves(sb, pb, plain)
        transposed = self._moves(sa, pa, swap) + self._moves(sb, pb, swap)
        if transposed == direct:
            axis = self._softmax_axis(node, r)
            wanted = r - 2 if self.accelerator else r - 1
            transposed = direct - (axis is not None and axis != wanted)
        if transposed >= direct:
            return self.default(node)
        self._rewire(node, 0, self.materialize(sb, pb, swap, node))
        self._rewire(node, 1, self.materialize(sa, pa, swap, node))
        self._finish(node, swap)
        return None

    @staticmethod
    def _moves(stored, perm, target):
        """1 when the view ``(stored, perm)`` needs a transpose to be read in
        layout `target`, else 0. A transpose of a Reshape that merges runs
        of a transposed tensor, moving the runs whole, costs nothing: the
        reshape pass sinks the Reshape through it and the two transposes
        are one (grouped query attention's values, repeated and merged)."""
        move = edit.compose(perm, edit.inverse(target))
        if not edit.moves_memory(edit.dims(stored), move):
            return 0
        from .reshapes import _perm_before

        producer = stored.producer()
        if producer is not None and producer.op_type == "Reshape" and producer.inputs[0] is not None:
            inner = producer.inputs[0].producer()
            source, shape = edit.dims(producer.inputs[0]), edit.dims(stored)
            if (
                inner is not None and inner.op_type == "Transpose" and source is not None
                and shape is not None and len(source) > len(shape)
                and _perm_before(source, shape, move) is not None
            ):
                return 0
        return 1

    @staticmethod
    def _softmax_axis(node, r):
        """The axis of `node`'s output that the softmax it reaches through
        elementwise ops and transposes read nowhere else runs over, or None."""
        value, perm = node.outputs[0], edit.identity(r)
        for _ in range(16):
            uses = list(value.uses())
            if len(uses) != 1 or value.is_graph_output() or edit.rank(value) != r:
                return None
            consumer = uses[0].node
            if consumer.op_type in AXIS:
                axis = edit.int_attr(consumer, "axis", -1)
                return perm[axis + r if axis < 0 else axis]
            if consumer.op_type == "Transpose":
                own = edit.ints_attr(consumer, "perm")
                if own is None:
                    return None
                perm = edit.compose(perm, own)
            elif consumer.op_type not in UNARY | BROADCAST:
                return None
            value = consumer.outputs[0]
        return None


HANDLERS = {
    "Transpose": Layout.transpose,
    "Reshape": Layout.reshape,
    "Concat": Layout.concat,
    "Split": Layout.split,
    "Slice": Layout.slice,
    "Pad": Layout.pad,
    "Resize": Layout.resize,
    "Gather": Layout.gather,
    "Tile": Layout.tile,
    "MatMul": Layout.matmul,
}
HANDLERS.update({op: Layout.unary for op in UNARY})
HANDLERS.update({op: Layout.broadcast for op in BROADCAST})
HANDLERS.update({op: Layout.axis for op in AXIS})
HANDLERS.update({op: Layout.reduce for op in edit.REDUCE_OPS})
HANDLERS.update({op: Layout.arg for op in ARG})


def run(model, accelerator=False):
    """One layout sweep; True when the graph changed. `accelerator`: the
    accelerator layout (reshapes that merge axes run on transposed tensors,
    scores stored keys by queries)."""
    return Layout(model, accelerator).run()
