"""What a graph's inputs may hold, read from the graph itself.

An ONNX file says the shapes and dtypes of its inputs, not their ranges;
the tables the graph reads say them:

- an integer input whose values reach the indices of a ``Gather`` from a
  constant table (through casts, reshapes, the arithmetic that wraps
  negative indices, ...) must stay below that table's size on the gathered
  axis; the smallest table it reaches bounds it (`index_tables`). An integer
  or bool input that indexes nothing is drawn as a mask of ones.
- a free dim that sizes a read of a constant table (a position table
  sliced to the sequence length, or gathered at ``Range(length)``) must stay
  within that table; one that an elementwise op meets with a static dim of
  a constant must equal it. `dim_limits` reads both from the graph's
  plumbing evaluated at one probe (`passes.shapes`).

`input_specs` turns both into the `keras_1x1.numeric.InputSpec` each input
is drawn from. Only onnx, onnx_ir and numpy are needed.

>>> import numpy as np, onnx
>>> from onnx import helper, numpy_helper
>>> graph = helper.make_graph(
...     [helper.make_node("Gather", ["table", "ids"], ["y"])], "lookup",
...     [helper.make_tensor_value_info("ids", onnx.TensorProto.INT64, ["N", "L"])],
...     [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", "L", 4])],
...     [numpy_helper.from_array(np.zeros((3, 4), "float32"), "table")])
>>> model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
>>> [spec.describe() for spec in input_specs(model)]
['ids 2x32 int64 in [0, 3) (indexes a table of 3 rows)']
"""

from __future__ import annotations

import dataclasses

import numpy as np

from . import edit

__all__ = ["DimLimit", "dim_limits", "index_tables", "input_specs"]

# Ops through which an input's values do not flow (they read its shape).
_SHAPE_ONLY = {"Shape", "Size"}


def _ir(model):
    import onnx
    import onnx_ir as ir

    if isinstance(model, onnx.ModelProto):
        return ir.serde.deserialize_model(model)
    return model


def _is_integer(dtype):
    return dtype is not None and dtype.is_integer()


def _floating_cast(node):
    import onnx_ir as ir

    if node.op_type != "Cast" or "to" not in node.attributes:
        return False
    return ir.DataType(node.attributes["to"].as_int()).is_floating_point()


def _table_rows(node):
    """The size of the gathered axis of a ``Gather`` from a constant table, or None."""
    table = node.inputs[0]
    if table is None or table.const_value is None or table.shape is None:
        return None
    rank = len(table.shape)
    if rank == 0:
        return None
    axis = node.attributes["axis"].as_int() if "axis" in node.attributes else 0
    size = table.shape[axis % rank]
    return size if isinstance(size, int) else None


def index_tables(model):
    """``{input name: rows}``: for every integer graph input whose values
    reach the indices of a ``Gather`` from a constant table, the size of the
    smallest such table on its gathered axis.

    The values are followed through every op but those that read only a
    shape (``Shape``, ``Size``), a cast to a float type (the values stop
    being indices), and the gathers themselves (their outputs are rows).
    """
    model = _ir(model)
    found = {}
    for value in model.graph.inputs:
        if not _is_integer(value.dtype) or value.const_value is not None:
            continue
        rows = None
        seen = {id(value)}
        stack = [value]
        while stack:
            current = stack.pop()
            for node, index in current.uses():
                if node.op_type in _SHAPE_ONLY or _floating_cast(node):
                    continue
                if node.op_type == "Gather" and (node.domain or "") == "":
                    size = _table_rows(node) if index == 1 else None
                    if size is not None:
                        rows = size if rows is None else min(rows, size)
                        continue
                for out in node.outputs:
                    if id(out) not in seen:
                        seen.add(id(out))
                        stack.append(out)
        if rows is not None:
            found[value.name] = rows
    return found


@dataclasses.dataclass(frozen=True)
class DimLimit:
    """What a free dim accepts: at most `high`, or exactly `equal` (or both None).

    `why` says which table or constant says so.
    """

    high: int | None = None
    equal: int | None = None
    why: str = ""

    def merge(self, other):
        if other is None:
            return self
        high = [h for h in (self.high, other.high) if h is not None]
        equal = self.equal if self.equal is not None else other.equal
        first = self if (self.equal is not None or not high or self.high == min(high)) else other
        return DimLimit(min(high) if high else None, equal, first.why)


def _const(name, consts, values):
    if name in consts:
        return np.asarray(consts[name])
    value = values.get(name)
    if value is not None and value.const_value is not None:
        return value.const_value.numpy()
    return None


def _is_computed(value):
    return value is not None and value.const_value is None


def table_reads(graph, consts, symbols):
    """``{symbol: DimLimit}`` from the constant-table reads of `graph`
    evaluated at one probe.

    Args:
        graph: the ``onnx_ir.Graph`` (its initializers give the tables).
        consts: ``{value name: array}`` of the plumbing evaluated at the
            probe (`passes.plumbing`).
        symbols: ``{symbol: the value it took at the probe}``; the values
            must be distinct for a read to be told apart.
    """
    by_value = {}
    for symbol, size in symbols.items():
        by_value.setdefault(int(size), []).append(symbol)
    values = {}
    for node in graph:
        for v in node.inputs:
            if v is not None:
                values[v.name] = v
    found = {}

    def note(size, limit):
        # Only a size that one free dim alone has at the probe names it.
        symbols = by_value.get(int(size), ())
        if len(symbols) == 1:
            found[symbols[0]] = limit.merge(found.get(symbols[0]))

    for node in graph:
        if (node.domain or "") != "" or not node.inputs or node.inputs[0] is None:
            continue
        table = node.inputs[0]
        if table.const_value is None or table.shape is None or not edit.is_static(table.shape):
            continue
        dims = [int(d) for d in table.shape]
        if node.op_type == "Slice" and len(node.inputs) >= 3:
            if not any(_is_computed(v) for v in node.inputs[1:3]):
                continue
            parts = [_const(v.name, consts, values) if v is not None else None for v in node.inputs[1:5]]
            starts, ends = parts[0], parts[1]
            if starts is None or ends is None:
                continue
            starts, ends = starts.reshape(-1), ends.reshape(-1)
            axes = parts[2].reshape(-1) if len(parts) > 2 and parts[2] is not None else range(len(starts))
            steps = parts[3].reshape(-1) if len(parts) > 3 and parts[3] is not None else [1] * len(starts)
            for start, end, axis, step in zip(starts, ends, axes, steps):
                axis = int(axis) % len(dims)
                start, end = int(start), int(end)
                if step != 1 or start < 0 or end < 0 or end >= 2**31 - 1 or start >= dims[axis]:
                    continue
                # end is start + the requested length (a size of -1 is "to the end").
                note(
                    end - start,
                    DimLimit(high=dims[axis] - start, why=f"a table of {dims[axis]} rows is sliced to it"),
                )
        elif node.op_type == "Gather" and len(node.inputs) > 1 and _is_computed(node.inputs[1]):
            indices = _const(node.inputs[1].name, consts, values)
            if indices is None or indices.size == 0 or indices.dtype.kind not in "iu":
                continue
            if int(indices.min()) != 0:
                continue
            axis = node.attributes["axis"].as_int() if "axis" in node.attributes else 0
            rows = dims[axis % len(dims)]
            note(int(indices.max()) + 1, DimLimit(high=rows, why=f"a table of {rows} rows is read up to it"))
    return found


def broadcasts(graph, shapes, symbols):
    """``{symbol: DimLimit(equal=d)}`` for every free dim that an elementwise
    op meets with a static dim ``d`` of a constant, at one probe whose
    shapes (``{name: (dims, elem type)}``) onnx inferred."""
    by_value = {}
    for symbol, size in symbols.items():
        by_value.setdefault(int(size), []).append(symbol)
    found = {}
    for node in graph:
        if node.op_type not in _ELEMENTWISE or (node.domain or "") != "" or len(node.inputs) != 2:
            continue
        a, b = node.inputs
        if a is None or b is None:
            continue
        for x, const in ((a, b), (b, a)):
            if const.const_value is None or const.shape is None or x.name not in shapes:
                continue
            dims_x = shapes[x.name][0]
            dims_c = [int(d) for d in const.shape if isinstance(d, int)]
            if len(dims_c) != len(const.shape):
                continue
            for dx, dc in zip(reversed(dims_x), reversed(dims_c)):
                if dc > 1 and dx != dc and dx != 1 and len(by_value.get(int(dx), ())) == 1:
                    (symbol,) = by_value[int(dx)]
                    found[symbol] = DimLimit(
                        equal=dc, why=f"it meets a dim of {dc} in {node.op_type}"
                    ).merge(found.get(symbol))
    return found


_ELEMENTWISE = {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Where", "Equal", "Less", "Greater"}


def dim_limits(model):
    """``{(input name, axis): DimLimit}`` for the free non-batch dims of the
    graph's inputs that a constant table bounds or a constant's dim fixes."""
    from .passes import shapes

    model = _ir(model)
    return shapes.input_dim_limits(model)


def input_specs(proto):
    """One `keras_1x1.numeric.InputSpec` per input of an ``onnx.ModelProto``,
    with integer ranges from the tables each input indexes and free lengths
    within the tables they size."""
    from keras_1x1.numeric import FREE_DIM, InputSpec

    from .runtime import input_specs as plain_specs

    model = _ir(proto)
    tables = index_tables(model)
    limits = dim_limits(model)
    # The free dims of one axis are one length (a model's token ids and its
    # mask): what bounds one input's bounds every input's at that axis.
    by_axis = {}
    for (_, axis), limit in limits.items():
        by_axis[axis] = limit.merge(by_axis.get(axis))
    specs = []
    for name, shape, dtype in plain_specs(proto):
        why = []
        low = high = free = None
        if dtype.kind in "iu":
            if name in tables:
                low, high = 0, tables[name]
                why.append(f"indexes a table of {high} rows")
            else:
                low, high = 1, 2
                why.append("indexes no table: a mask of ones")
        elif dtype.kind == "b":
            low = 1
            why.append("a mask of ones")
        limit = None
        for axis, d in enumerate(shape):
            if axis and d is None and axis in by_axis:
                limit = by_axis[axis].merge(limit)
        if limit is not None:
            free = limit.equal if limit.equal is not None else min(limit.high, FREE_DIM)
            why.append(f"length {free}: {limit.why}")
        specs.append(InputSpec(name, tuple(shape), dtype.name, low, high, free, "; ".join(why)))
    return specs
