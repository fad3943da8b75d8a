"""The reshape pass: Reshapes where they must be, each spelled once.

Exporters flatten and restore axes around ops that do not care (tf2onnx
writes a Dense on a map as ``Reshape(x, [-1, C]) -> MatMul -> Reshape
back``; a conv form writes the same map without them), and keep unit axes
(a 1x1 map after global pooling) where another export drops them. With
every shape known, a Reshape is its effect, and this pass

- drops a Reshape to the shape its input already has, merges a Reshape
  of a Reshape into one, and drops two ops that only reshape (Reshape,
  Squeeze, Unsqueeze, Flatten) when the second restores what the first
  read;
- splits a Reshape that only moves unit axes into one that drops them and
  one that adds the ones wanted, and a flatten that also adds a trailing
  unit axis into the unit axis and the merge;
- runs every op that does not care about unit axes (elementwise,
  broadcasting, a pointwise MatMul, Softmax, a reduction over other axes)
  without those of its output, the Reshape that adds them back after it,
  and moves a Reshape that drops unit axes back, toward the inputs, past
  every such op (so a tensor carries unit axes only where an op needs
  them: a Conv on a 1x1 map);
- moves every other Reshape forward, past each op that reads it and does
  not care (so flattened axes are restored as late as they can be):
  elementwise ops, broadcasting with a constant that means the same on
  both sides of the reshape (or with an operand reshaped alike), and a
  pointwise MatMul or a Softmax on a last axis the reshape keeps.

Moved toward each other, the Reshapes of a flatten-and-restore meet and
cancel, and the graph carries no unit axis it does not need.
"""

from __future__ import annotations

import numpy as np

from .. import edit
from . import shapes
from .layout import BROADCAST, UNARY, _size

_LAST_AXIS_OPS = frozenset({"Softmax", "LogSoftmax", "Hardmax"})
_AXIS_OPS = _LAST_AXIS_OPS | {"LpNormalization"}
# Ops that only reshape: their output is their input's data in the same order.
_SHAPE_ONLY = frozenset({"Reshape", "Squeeze", "Unsqueeze", "Flatten"})
# Ops that compute the same with or without the unit axes of their output.
_AGNOSTIC = UNARY | BROADCAST | _AXIS_OPS | edit.REDUCE_OPS | {"MatMul", "Transpose", "Pad"}


# Entries a constant is worked out at, broadcast (a mask over long probes
# is not moved).
_DENSE_LIMIT = 1 << 24


def constant_before(array, source, target):
    """A broadcast constant for `source` that equals `array` broadcast over
    `target` once reshaped, in its one spelling (ones where it does not
    vary, no leading ones); None when the reshape mixes an axis it varies
    along with a symbolic one.

    Worked out at both probe sizes of the symbolic dims (`shapes`), which
    must agree.
    """
    found = []
    for k in (0, 1):
        src = [shapes.concrete(d, k) for d in source]
        tgt = [shapes.concrete(d, k) for d in target]
        if None in src or None in tgt or int(np.prod(src)) != int(np.prod(tgt)):
            return None
        if array.ndim > len(tgt) or int(np.prod(tgt)) > _DENSE_LIMIT:
            return None
        try:
            dense = np.broadcast_to(array, tgt)
        except ValueError:
            return None
        moved = np.ascontiguousarray(dense).reshape(src)
        for axis in range(moved.ndim):
            if moved.shape[axis] > 1 and np.all(moved == moved.take([0], axis=axis)):
                moved = np.ascontiguousarray(moved.take([0], axis=axis))
        if any(moved.shape[i] != 1 for i, d in enumerate(source) if not isinstance(d, int)):
            return None
        shape = list(moved.shape)
        while shape and shape[0] == 1:
            shape.pop(0)
        found.append(moved.reshape(shape))
    first, second = found
    if first.shape != second.shape or not np.array_equal(first, second):
        return None
    return first


def _dropped(source, target):
    """The unit axes of `source` a Reshape to `target` only drops, or None."""
    if len(target) >= len(source):
        return None
    dropped, j = [], 0
    for i, d in enumerate(source):
        if j < len(target) and target[j] == d:
            j += 1
        elif d == 1:
            dropped.append(i)
        else:
            return None
    return dropped if j == len(target) else None


def _core(shape):
    return [d for d in shape if d != 1]


def _new_unit_tail(source, target):
    """True when `target` ends in a unit axis that `source` lacks, and the
    Reshape does more than add or drop unit axes."""
    return (
        bool(source) and bool(target) and target[-1] == 1 and source[-1] != 1
        and _core(source) != _core(target)
    )


def _split(source, target):
    """The shape between the two Reshapes a Reshape from `source` to `target`
    splits into, when it changes both the trailing axes (the last axis and
    what merges into it) and the leading ones; None otherwise.

    The leading change is the one next to the ops that do not care about it
    (a pointwise MatMul): after the trailing one when it merges axes (a
    flatten moves forward) or only adds or drops unit axes, before it when
    it splits them (a restore).

    A trailing unit axis one side has and the other lacks (a flatten to
    ``(-1, 1)`` of a map with one channel) is a trailing change of its own:
    the empty tail of the other side matches it.
    """
    # The empty tail counts where the other side ends in a unit axis that
    # this side has not.
    k_top = len(source) if _new_unit_tail(source, target) else len(source) - 1
    j_top = len(target) if _new_unit_tail(target, source) else len(target) - 1
    for k in range(k_top, -1, -1):
        for j in range(j_top, -1, -1):
            if k == len(source) and j == len(target):
                continue
            sizes = [(_size(source[k:], p), _size(target[j:], p)) for p in (0, 1)]
            if None in (x for pair in sizes for x in pair):
                return None
            if all(a == b for a, b in sizes):
                lead_src, lead_tgt = source[:k], target[:j]
                if source[k:] == target[j:] or lead_src == lead_tgt:
                    return None
                # Counted without unit axes: `(N*16, 1)` to `(N, 16)` splits,
                # whichever unit axes either side carries.
                if (len(_core(lead_src)) >= len(_core(lead_tgt))
                        or _core(lead_src) == _core(lead_tgt)):
                    # Trailing first, then the merge (or the unit axes).
                    return lead_src + target[j:]
                return lead_tgt + source[k:]  # the split first, then trailing
            if sizes[0][1] > sizes[0][0]:
                break
    return None


def _groups(source, target):
    """For each axis of `target`, the run of `source` axes a Reshape from
    `source` merges into it (unit axes of `source` join a neighbour's run);
    None unless the Reshape only merges runs of axes (a split, or a unit
    axis of `target` made from nothing, is not one).

    Sizes are compared at both probe sizes of the symbolic dims (`shapes`).
    """
    if len(target) > len(source):
        return None
    groups, i = [], 0
    for d in target:
        run = []
        while i < len(source):
            run.append(i)
            i += 1
            sizes = [(_size([source[a] for a in run], p), _size([d], p)) for p in (0, 1)]
            if any(a is None or b is None for a, b in sizes):
                return None
            if all(a == b for a, b in sizes):
                break
            if any(a > b for a, b in sizes):
                return None
        else:
            if not run or any(
                _size([source[a] for a in run], p) != _size([d], p) for p in (0, 1)
            ):
                return None
        groups.append(run)
    if i < len(source):
        if not groups or any(source[a] != 1 for a in range(i, len(source))):
            return None
        groups[-1].extend(range(i, len(source)))
    return groups


def _perm_before(source, target, perm):
    """The perm that, run before a Reshape from `source` to `target`, does
    what `perm` does after it; None when the two do not commute.

    A Reshape that only adds or drops unit axes commutes with any
    transpose: the axes that are not 1 move, the unit ones stay. One that
    merges runs of axes commutes with a transpose that moves the runs
    whole (heads merged into the batch, then the last two axes swapped).
    """
    if perm is None:
        return None
    if [d for d in source if d != 1] == [d for d in target if d != 1]:
        core_target = [a for a in range(len(target)) if target[a] != 1]
        core_source = [a for a in range(len(source)) if source[a] != 1]
        slots = iter(core_source[core_target.index(a)] for a in perm if target[a] != 1)
        return [next(slots) if source[a] != 1 else a for a in range(len(source))]
    groups = _groups(source, target)
    if groups is None:
        return None
    return [a for p in perm for a in groups[p]]


class Reshapes:
    def __init__(self, model):
        self.graph = model.graph
        self.editor = edit.Editor(model.graph)
        self.version = edit.opset(model)
        self.changed = False

    def run(self):
        for _ in range(64):
            moved = False
            for node in list(self.graph):
                if node.graph is None:
                    continue
                if node.op_type in _SHAPE_ONLY and self._undone(node):
                    moved = True
                    continue
                if node.op_type in _SHAPE_ONLY - {"Reshape"}:
                    moved |= self._merge_chain(node)
                    if node.graph is None:
                        continue
                if node.op_type != "Reshape":
                    moved |= self._squeeze(node)
                    continue
                if not node.outputs[0].uses() and not node.outputs[0].is_graph_output():
                    self.graph.remove(node, safe=True)
                    continue
                moved |= self._visit(node)
            self.changed |= moved
            if not moved:
                break
        return self.changed

    @staticmethod
    def _chain(value):
        """The ops that only reshape and make `value`, walked back from it:
        ``[(op, the value it reads)]``, nearest first, while shapes are known
        (a chain of them is one Reshape from any value it reads)."""
        found = []
        producer = value.producer() if value is not None else None
        while (
            producer is not None
            and producer.op_type in _SHAPE_ONLY
            and producer.domain in ("", "ai.onnx")
            and producer.inputs
            and producer.inputs[0] is not None
        ):
            origin = producer.inputs[0]
            shape = edit.dims(origin)
            if shape is None or "?" in shape or origin.dtype != value.dtype:
                break
            found.append((producer, origin))
            producer = origin.producer()
        return found

    def _undone(self, node):
        """An op that only reshapes, reading ops that only reshape, back to
        the shape one of them read: they go (whether or not one Reshape
        could spell the chain: an Unsqueeze that shifts two free dims cannot)."""
        out = node.outputs[0]
        chain = self._chain(node.inputs[0] if node.inputs else None)
        shape = edit.dims(out)
        for producer, origin in reversed(chain):
            if edit.dims(origin) == shape and origin.dtype == out.dtype:
                self.editor.replace(out, origin)
                self._drop(node)
                self._drop_chain(chain)
                return True
        return False

    def _merge_chain(self, node):
        """A Squeeze, Unsqueeze or Flatten reading ops that only reshape is
        one Reshape from the furthest value the chain reads that it can be
        written from (so every spelling of the same chain meets in one)."""
        out = node.outputs[0]
        target = edit.dims(out)
        if target is None or "?" in target:
            return False
        chain = self._chain(node.inputs[0])
        for _, origin in reversed(chain):
            if self.editor.can_reshape(origin, target):
                self.editor.replace(out, self.editor.reshape(origin, target, before=node))
                self._drop(node)
                self._drop_chain(chain)
                return True
        return False

    def _visit(self, node):
        x, out = node.inputs[0], node.outputs[0]
        source, target = edit.dims(x), edit.dims(out)
        if source is None or target is None:
            return False
        if source == target:
            self.editor.replace(out, x)
            self._drop(node)
            return True
        # The furthest value a chain of ops that only reshape reads, that a
        # Reshape to `target` can be written from.
        chain = self._chain(x)
        reach = None
        for k in range(len(chain) - 1, -1, -1):
            if self.editor.can_reshape(chain[k][1], target):
                reach = k
                break
        if reach is not None:
            origin = chain[reach][1]
            single = reach == 0 and chain[0][0].op_type == "Reshape"
            middle = _split(edit.dims(origin), target)
            if middle is not None:
                # Reshapes that are one that splits: the pair it splits into.
                if (middle == source and single) or not (
                    self.editor.can_reshape(origin, middle)
                    and self.editor.can_reshape_dims(middle, target)
                ):
                    return self._after(node, x, out, source, target)
                first = self.editor.reshape(origin, middle, before=node)
                self.editor.replace(out, self.editor.reshape(first, target, before=node))
            else:
                self.editor.replace(out, self.editor.reshape(origin, target, before=node))
            self._drop(node)
            self._drop_chain(chain)
            return True
        return self._after(node, x, out, source, target)

    def _after(self, node, x, out, source, target):
        """The rest of `_visit`, once the Reshape is not one of two to merge."""
        wanted = self.editor.target_spec(x, target)
        if wanted is not None and not edit.same_spec(edit.read_target(node.inputs[1]), wanted):
            node.replace_input_with(1, self.editor.build_target(wanted, before=node))
            if "allowzero" in node.attributes:
                del node.attributes["allowzero"]
            return True
        core = _core(source)
        if (
            core == _core(target)
            and _dropped(source, target) is None
            and _dropped(target, source) is None
            and self.editor.can_reshape(x, core)
        ):
            # Only unit axes move: drop them all, then add those wanted.
            bare = self.editor.reshape(x, core, before=node)
            self.editor.replace(out, self.editor.reshape(bare, target, before=node))
            self._drop(node)
            return True
        dropped = _dropped(source, target)
        if dropped is not None:
            return self._hoist(node, dropped)
        middle = _split(source, target)
        if (
            middle is not None
            and self.editor.can_reshape(x, middle)
            and self.editor.can_reshape_dims(middle, target)
        ):
            first = self.editor.reshape(x, middle, before=node)
            self.editor.replace(out, self.editor.reshape(first, target, before=node))
            self._drop(node)
            return True
        if self._before_product(node, x, out, source, target):
            return True
        moved = False
        for use in list(out.uses()):
            if use.node.graph is not None:
                moved |= self._sink(node, use.node, use.idx, source, target)
        return moved

    def _before_product(self, node, x, out, source, target):
        """A Reshape that keeps the last axis, after a pointwise MatMul of a
        reshaped tensor (rows flattened otherwise than the product's
        result is restored: ``(-1, 4) -> (-1, 16)``, weights, ``(N, L,
        16)``), moves before the MatMul, where it merges with the first:
        the product runs on the rows as they are restored."""
        product = x.producer()
        if (
            product is None
            or product.op_type != "MatMul"
            or product.domain not in ("", "ai.onnx")
            or not edit.sole(x)
            or source[-1] != target[-1]
            or _core(source) == _core(target)  # unit axes only: they go after the product
        ):
            return False
        weight = edit.const_array(product.inputs[1])
        rows = product.inputs[0]
        if weight is None or weight.ndim != 2 or not edit.sole(rows):
            return False
        first = rows.producer()
        shape = edit.dims(rows)
        if first is None or first.op_type not in _SHAPE_ONLY or shape is None:
            return False
        wanted = list(target[:-1]) + [shape[-1]]
        if not self.editor.can_reshape(rows, wanted):
            return False
        restored = self.editor.reshape(rows, wanted, before=node)
        self.editor.replace(out, self.editor.like(product, [restored, product.inputs[1]], before=node, shape=target))
        self._drop(node)
        self._drop(product)
        return True

    def _hoist(self, reshape, dropped):
        """Move a Reshape that drops the unit axes `dropped` before the op
        that makes its input, when that op does not care."""
        y, out = reshape.inputs[0], reshape.outputs[0]
        producer = y.producer()
        if producer is None or not edit.sole(y) or len(producer.outputs) != 1:
            return False
        new = self._without(producer, dropped, before=reshape)
        if new is None:
            return False
        self.editor.replace(out, new)
        self._drop(reshape)
        self._drop(producer)
        return True

    def _squeeze(self, node):
        """An op that does not care about unit axes runs without those of
        its output; a Reshape after it adds them back (and moves forward)."""
        if node.op_type not in _AGNOSTIC or len(node.outputs) != 1:
            return False
        out = node.outputs[0]
        shape = edit.dims(out)
        if shape is None:
            return False
        dropped = [i for i, d in enumerate(shape) if d == 1]
        if node.op_type == "MatMul":
            if edit.const_array(node.inputs[1]) is None:
                # A product of two tensors: unit batch axes only (its rows
                # and columns are the two operands' own).
                dropped = [i for i in dropped if i < len(shape) - 2]
            else:
                dropped = [i for i in dropped if i != len(shape) - 1]
        elif node.op_type in _AXIS_OPS:
            axis = edit.int_attr(node, "axis", -1)
            axis = axis + len(shape) if axis < 0 else axis
            dropped = [i for i in dropped if i != axis]
        elif node.op_type in edit.REDUCE_OPS:
            # Unit axes it keeps with keepdims are axes it reduces: they stay.
            kept = self._reduce_kept(node)
            dropped = [i for i in dropped if kept is not None and kept[i] is not None]
        if not dropped:
            return False
        new = self._without(node, dropped, before=node)
        if new is None:
            return False
        self.editor.replace(out, self.editor.reshape(new, shape, before=node))
        self._drop(node)
        return True

    def _reduce_kept(self, node):
        """For each output axis of a reduction, the input axis it keeps (None
        for a reduced axis kept with keepdims); None when the axes are unknown."""
        r = edit.rank(node.inputs[0])
        if r is None or set(node.attributes) - {"axes", "keepdims", "noop_with_empty_axes"}:
            return None
        axes = edit.reduce_axes(node, r, self.version)
        if axes is None or not axes:
            return None
        if edit.int_attr(node, "keepdims", 1):
            return [None if a in axes else a for a in range(r)]
        return [a for a in range(r) if a not in axes]

    def _reduce_without(self, producer, dropped, *, before):
        """A reduction without the unit axes `dropped` of its output: the
        same reduction of its input without them."""
        kept = self._reduce_kept(producer)
        x = producer.inputs[0]
        shape = edit.dims(x)
        if kept is None or shape is None or any(kept[i] is None for i in dropped):
            return None
        gone = sorted(kept[i] for i in dropped)
        if any(shape[a] != 1 for a in gone):
            return None
        axes = edit.reduce_axes(producer, len(shape), self.version)
        rest = [a for a in range(len(shape)) if a not in gone]
        smaller = [shape[a] for a in rest]
        if not self.editor.can_reshape_dims(shape, smaller):
            return None
        x = self.editor.reshape(x, smaller, before=producer)
        return edit.reduce_node(
            self.editor, producer.op_type, x, [rest.index(a) for a in axes],
            edit.int_attr(producer, "keepdims", 1), self.version, before=before,
        )

    def _without(self, producer, dropped, *, before):
        """`producer`'s output without the unit axes `dropped`, computed by the
        same op on its inputs without them; None when the op cares."""
        if producer.domain not in ("", "ai.onnx") or len(producer.outputs) != 1:
            return None
        if producer.op_type in edit.REDUCE_OPS:
            return self._reduce_without(producer, dropped, before=before)
        y = producer.outputs[0]
        op = producer.op_type
        r = len(edit.dims(y))
        inputs = list(producer.inputs)
        attributes = {}

        def drop(value, rank):
            """`value` (right-aligned against rank r) without the dropped axes."""
            offset = r - rank
            own = [a - offset for a in dropped if a - offset >= 0]
            shape = edit.dims(value)
            if shape is None or any(shape[a] != 1 for a in own):
                return None
            if not own:
                return value
            array = edit.const_array(value)
            kept = [d for a, d in enumerate(shape) if a not in own]
            if array is not None:
                return self.editor.constant(array.reshape(kept))
            return self.editor.reshape(value, kept, before=producer)

        if op in UNARY:
            if any(edit.rank(v) not in (None, 0) for v in inputs[1:] if v is not None):
                return None
            plan = [(0, r)]
        elif op in BROADCAST:
            if any(v is None or edit.rank(v) is None for v in inputs):
                return None
            plan = [(i, edit.rank(v)) for i, v in enumerate(inputs)]
        elif op == "MatMul":
            weight = edit.const_array(inputs[1])
            if weight is None:
                ranks = [edit.rank(v) for v in inputs]
                if any(k is None or k < 3 for k in ranks) or any(a >= r - 2 for a in dropped):
                    return None
                plan = [(0, ranks[0]), (1, ranks[1])]
            elif weight.ndim != 2 or r - 1 in dropped:
                return None
            else:
                plan = [(0, r)]
        elif op in _AXIS_OPS:
            axis = edit.int_attr(producer, "axis", -1)
            axis = axis + r if axis < 0 else axis
            if axis in dropped:
                return None
            plan = [(0, r)]
            attributes["axis"] = axis - sum(1 for a in dropped if a < axis)
        elif op == "Transpose":
            perm = edit.ints_attr(producer, "perm")
            shape = edit.dims(inputs[0])
            if perm is None or shape is None:
                return None
            # The output's unit axes are input axes perm[d]: drop those there.
            gone = sorted(perm[d] for d in dropped)
            kept = [d for d in range(r) if d not in dropped]
            rest = [a for a in range(r) if a not in gone]
            attributes["perm"] = [rest.index(perm[d]) for d in kept]
            inputs[0] = self.editor.reshape(
                inputs[0], [d for a, d in enumerate(shape) if a not in gone], before=producer
            )
            plan = []
        elif op == "Pad":
            # Pads on other axes: the unit axes it does not pad can go.
            pads = edit.const_array(inputs[1]) if len(inputs) > 1 and inputs[1] is not None else None
            if pads is None or pads.size != 2 * r or (len(inputs) > 3 and inputs[3] is not None):
                return None
            pads = pads.reshape(2, r)
            if pads[:, dropped].any():
                return None
            kept = [a for a in range(r) if a not in dropped]
            new_pads = pads[:, kept].reshape(-1).astype(np.int64)
            plan = [(0, r)]
        else:
            return None
        # Check every operand first: nothing is built for an op that cares.
        for i, rank in plan:
            offset = r - rank
            shape = edit.dims(inputs[i])
            if shape is None or any(shape[a - offset] != 1 for a in dropped if a - offset >= 0):
                return None
        if op == "Transpose" and not self.editor.can_reshape_dims(
            edit.dims(producer.inputs[0]),
            [d for a, d in enumerate(edit.dims(producer.inputs[0])) if a not in sorted(
                edit.ints_attr(producer, "perm")[d] for d in dropped)],
        ):
            return None
        for i, rank in plan:
            inputs[i] = drop(inputs[i], rank)
        if op == "Pad":
            inputs[1] = self.editor.constant(new_pads)
        shape = [d for a, d in enumerate(edit.dims(y)) if a not in dropped]
        return self.editor.like(producer, inputs, before=before, attributes=attributes, shape=shape)

    def _unmerged(self, value, source, target):
        """``(lead, (rows, cols))`` when a Reshape of `value` (dims `source`)
        to `target` (rank 3 or more) only merges the axes before the last
        two into ``target[:-2]``: `lead` the axes it merges and ``(rows,
        cols)`` the last two, the dims `value` is read as (unit axes
        dropped); None otherwise."""
        if source is None or target is None or len(target) < 3:
            return None
        groups = _groups(source, target)
        if groups is None:
            return None
        lead = [source[a] for g in groups[:-2] for a in g]
        if not lead or len(lead) == len(target) - 2:
            return None
        for g, d in zip(groups[-2:], target[-2:]):
            if [source[a] for a in g if source[a] != 1] not in ([d], [] if d == 1 else None):
                return None
        wanted = lead + list(target[-2:])
        if wanted != list(source) and not self.editor.can_reshape(value, wanted):
            return None
        return lead, tuple(target[-2:])

    @staticmethod
    def _has_view(value, shape, wanted):
        """Whether some Reshape reads `value` (of dims `shape`) as `wanted`."""
        if edit.dims(value) != shape:
            return False
        for use in value.uses():
            node = use.node
            if (
                node.graph is not None
                and node.op_type == "Reshape"
                and use.idx == 0
                and edit.dims(node.outputs[0]) == wanted
            ):
                return True
        return False

    def _drop_chain(self, chain):
        """Remove the ops of a `_chain` that nothing reads any more, nearest first."""
        for inner, _ in chain:
            self._drop(inner)

    def _drop(self, node):
        """Remove `node` once nothing reads its outputs."""
        if node.graph is not None and all(not v.uses() and not v.is_graph_output() for v in node.outputs):
            self.graph.remove(node, safe=True)

    def _sink(self, reshape, consumer, index, source, target):
        """Move `reshape` past `consumer` when the consumer does not care."""
        op = consumer.op_type
        if consumer.domain not in ("", "ai.onnx") or len(consumer.outputs) != 1:
            return False
        result = consumer.outputs[0]
        after = edit.dims(result)
        if after is None:
            return False
        x = reshape.inputs[0]
        inputs = list(consumer.inputs)
        if op in UNARY and index == 0:
            if any(edit.rank(v) not in (None, 0) for v in inputs[1:] if v is not None):
                return False
            shape = source
        elif op in BROADCAST and after == target:
            for i, value in enumerate(inputs):
                if i == index or value is None:
                    continue
                array = edit.const_array(value)
                if array is not None:
                    moved = constant_before(array, source, target)
                    if moved is None:
                        return False
                    inputs[i] = self.editor.constant(moved.astype(array.dtype))
                    continue
                producer = value.producer()
                if (
                    producer is not None
                    and producer.op_type == "Reshape"
                    and edit.dims(producer.inputs[0]) == source
                    and edit.dims(value) == target
                ):
                    inputs[i] = producer.inputs[0]
                elif _dropped(target, source) is not None and edit.dims(value) == target:
                    # The reshape only adds unit axes, which this operand has
                    # too: it loses them (and that Reshape moves back).
                    inputs[i] = self.editor.reshape(value, source, before=consumer)
                elif edit.sole(reshape.outputs[0]) and self._has_view(value, target, source):
                    # The graph already reads this operand reshaped to
                    # `source` (a residual added back to the flattened
                    # tokens it was computed from): the op runs there. Only
                    # a Reshape read here moves, and the view it uses is
                    # read elsewhere, so the reverse move never applies.
                    inputs[i] = self.editor.reshape(value, source, before=consumer)
                else:
                    return False
            shape = source
        elif op == "MatMul" and index == 0:
            weight = edit.const_array(inputs[1])
            if weight is None or weight.ndim != 2 or source[-1] != target[-1]:
                return False
            shape = source[:-1] + [weight.shape[1]]
        elif op == "MatMul" and edit.const_array(inputs[1 - index]) is None:
            # A batched product of two operands whose batch axes were merged
            # alike: the product of the unmerged ones, merged after.
            other = inputs[1 - index].producer()
            if other is None or other.op_type != "Reshape" or other.domain not in ("", "ai.onnx"):
                return False
            operands = [None, None]
            operands[index] = (x, source, target)
            operands[1 - index] = (other.inputs[0], edit.dims(other.inputs[0]), edit.dims(other.outputs[0]))
            unmerged = [self._unmerged(*operand) for operand in operands]
            if None in unmerged or unmerged[0][0] != unmerged[1][0] or operands[0][2][:-2] != operands[1][2][:-2]:
                return False
            (lead, (rows, inner)), (_, (inner_b, cols)) = unmerged
            if inner != inner_b:
                return False
            shape = lead + [rows, cols]
            if not self.editor.can_reshape_dims(shape, after):
                return False
            for i, (value, dims_in, _) in enumerate(operands):
                wanted = unmerged[i][0] + list(unmerged[i][1])
                inputs[i] = value if dims_in == wanted else self.editor.reshape(value, wanted, before=consumer)
            moved = self.editor.like(consumer, inputs, before=consumer, shape=shape)
            self.editor.replace(result, self.editor.reshape(moved, after, before=consumer))
            self._drop(consumer)
            self._drop(reshape)
            self._drop(other)
            return True
        elif op == "Transpose":
            new_perm = _perm_before(source, target, edit.ints_attr(consumer, "perm"))
            if new_perm is None or not self.editor.can_reshape_dims(edit.permuted(source, new_perm), after):
                return False
            moved = self.editor.transpose(x, new_perm, before=consumer)
            self.editor.replace(result, self.editor.reshape(moved, after, before=consumer))
            self._drop(consumer)
            self._drop(reshape)
            return True
        elif op in _LAST_AXIS_OPS and index == 0:
            r = len(target)
            axis = edit.int_attr(consumer, "axis", -1)
            if (axis + r if axis < 0 else axis) != r - 1 or source[-1] != target[-1]:
                return False
            shape = source
        else:
            return False
        if not self.editor.can_reshape_dims(shape, after):
            return False
        inputs[index] = x
        changed = {"axis": len(source) - 1} if op in _LAST_AXIS_OPS else None
        moved = self.editor.like(consumer, inputs, before=consumer, attributes=changed, shape=shape)
        self.editor.replace(result, self.editor.reshape(moved, after, before=consumer))
        self._drop(consumer)
        self._drop(reshape)
        return True


def run(model):
    """Reshape normal form; True when the graph changed."""
    return Reshapes(model).run()
