"""One symbolic trace of a model: the calls of its sublayers, and what its
inputs feed.

A sublayer called inside its parent's ``call()`` gets no Keras node, so its
input shapes (above all their rank) and call arguments are learnt by
recording its calls while the whole model runs once on symbolic tensors
(no data, no variable changes).

The same trace shows what every input reaches, read from the backend graph
(TensorFlow's), for drawing inputs the model accepts:

- an integer input whose values index a table (an embedding: a gather from
  a variable) must stay below the table's rows: the smallest table it
  reaches decides;
- an integer or bool input that indexes no table is a mask: ones;
- a free length that sizes a slice of a table (a position table sliced to
  the sequence length, or a lookup of ``range(length)``) must stay within
  the table's rows.

>>> import keras
>>> from keras_1x1.converters.keras import tracing
>>> tokens = keras.Input((None,), dtype="int32", name="tokens")
>>> model = keras.Model(tokens, keras.layers.Embedding(50, 4)(tokens))
>>> [spec.describe() for spec in tracing.trace(model).specs]
["tokens 2x32 int32 in [0, 50) (indexes the table 'embedding/embeddings' of 50 rows)"]
"""

import dataclasses

import keras
import numpy as np

from keras_1x1.errors import UserInputError, one_line
from keras_1x1.numeric import FREE_DIM, InputSpec, draw_inputs

from . import internals
from .graph import Call, plain_kwargs


@dataclasses.dataclass
class Trace:
    """What one symbolic run of a model showed.

    Attributes:
        calls: ``{id(layer): [Call, ...]}`` for the layers recorded.
        specs: one `InputSpec` per model input, in flat order, with integer
            ranges, masks and free lengths the model accepts (None when the
            graph could not be read).
    """

    calls: dict
    specs: list = None
    note: str = ""  # how the trace was made, when not symbolically

    def calls_of(self, layer):
        return self.calls.get(id(layer), [])


def _call_record(args, kwargs):
    first = args[0] if args else next(iter(kwargs.values()), None)
    tensors = [t for t in keras.tree.flatten(first) if hasattr(t, "shape")]
    # A free dim is None; JAX's symbolic run gives it as a symbolic dim.
    shape = tuple(
        int(d) if isinstance(d, (int, np.integer)) else None for d in tensors[0].shape
    ) if tensors else ()
    dtype = keras.backend.standardize_dtype(tensors[0].dtype) if tensors else ""
    return Call(shape, dtype, plain_kwargs(kwargs))


def trace(model, record=(), inputs=None):
    """Run `model` once on symbolic inputs, recording the calls of `record`.

    A model whose layers read tensor values in Python (a branch on a
    value, a loop over a tensor's entries) cannot run on symbolic inputs:
    it is traced on concrete ones instead, ``inputs`` (the user's) or
    inputs drawn from its input shapes (see `_concrete`), and the calls are
    recorded the same way. Returns a `Trace`; a model that runs on neither
    is a `UserInputError` naming both causes.
    """
    from . import signature

    structure, flat = signature.input_structure(model)
    calls = {id(layer): [] for layer in record}
    seen = {}

    def on_call(layer, args, kwargs):
        calls[id(layer)].append(_call_record(args, kwargs))

    def run(inputs):
        seen["inputs"] = keras.tree.flatten(inputs)
        return model(inputs, training=False)

    try:
        with internals.recording_calls(record, on_call):
            internals.symbolic_call(run, structure)
    except UserInputError:
        raise
    except Exception as error:  # noqa: BLE001 - the model's own failure, with context
        text = one_line(error)
        symbolic = (
            f"model '{model.name}' cannot be traced on symbolic inputs of shapes "
            f"{[tuple(t.shape) for t in flat]} ({type(error).__name__}: {text})"
        )
        return _concrete(model, record, inputs, symbolic)
    specs = None
    try:
        if keras.backend.backend() == "tensorflow":
            specs = _input_specs(model, flat, seen.get("inputs", []))
        else:
            specs = _eager_specs(model)
    except UserInputError:
        raise
    except Exception:  # noqa: BLE001 - the graph is read for better inputs only
        specs = None
    return Trace(calls, specs)


# Free dims of drawn inputs for a concrete trace: sizes unlike channel
# counts, so a recorded dim of this size is read as free (tried in turn
# until the model runs).
_CONCRETE_FREE = (7, 11, 16, 32)


def _concrete(model, record, inputs, symbolic):
    """The `Trace` of runs on concrete inputs (``inputs`` when given).

    Recorded shapes are made general again: the batch is free. Drawn inputs
    are run at two free lengths the model accepts where it accepts two, and
    a dim the two runs recorded at different sizes is free (a dim that only
    happens to equal a length, a head count of 2 beside a length of 2,
    stays what it is). With one run (the inputs given, or one length
    accepted), every other dim (the channel axis last aside) of the size
    the inputs gave their free dims is free. Channel counts the record then
    lacks come from the kernels (`pointwise.input_shape`).
    """
    from . import signature

    specs = None
    if inputs is None and keras.backend.backend() != "tensorflow":
        specs = _eager_specs(model)
    specs = specs or signature.plain_specs(model)
    has_free = any(d is None for s in specs for d in s.shape[1:])
    # A length the model was seen to accept (its position table's) first,
    # then sizes unlike channel counts, then the rows of its tables.
    lengths = []
    for n in sorted({s.free for s in specs if s.free}) + list(_CONCRETE_FREE) + (
        signature.free_lengths(model) if has_free else []
    ):
        if n not in lengths:
            lengths.append(n)
    tries = [(inputs, None)] if inputs is not None else (
        (signature.sample_inputs(model, specs=[_with_free(s, n) for s in specs]), n)
        for n in lengths  # drawn one at a time, as each is tried
    )
    failure = None
    runs = []  # (given, free, calls) of the runs that passed
    for given, free in tries:
        calls = {id(layer): [] for layer in record}

        def on_call(layer, args, kwargs, calls=calls):
            calls[id(layer)].append(_call_record(args, kwargs))

        try:
            with internals.recording_calls(record, on_call):
                signature.call(model, signature.pack_inputs(model, given))
        except Exception as error:  # noqa: BLE001 - said in the error below
            failure = error
            continue
        runs.append((given, free, calls))
        if free is None or not has_free or len(runs) == 2:
            break
    if not runs:
        text = one_line(failure)
        hint = "" if inputs is not None else " (give inputs it runs on as verify=, or --inputs)"
        raise UserInputError(
            f"{symbolic}, nor on concrete inputs ({type(failure).__name__}: {text}), so its "
            f"sublayers' calls cannot be read{hint}"
        ) from failure
    given, free, calls = runs[0]
    other = runs[1][2] if len(runs) == 2 else {}
    free_sizes = _free_sizes(specs, given) if free is None else {free}
    for key, found in calls.items():
        second = other.get(key)
        if second is not None and len(second) == len(found):
            found[:] = [_merged(a, b) for a, b in zip(found, second)]
        else:
            found[:] = [_generalized(call, free_sizes) for call in found]
    used = [_with_free(s, free) for s in specs] if free else specs
    trace = Trace(calls, used)
    how = "the inputs given" if inputs is not None else (
        f"free dims {free} and {runs[1][1]}" if len(runs) == 2 else f"free dims {free}"
    )
    trace.note = f"{symbolic}; traced on concrete inputs instead ({how})"
    return trace


def _merged(a, b):
    """One call recorded by two runs at different free lengths: the batch
    and every dim the runs disagree on is free."""
    if len(a.shape) != len(b.shape):
        return _generalized(a, set())
    dims = tuple(None if i == 0 or x != y else x for i, (x, y) in enumerate(zip(a.shape, b.shape)))
    return Call(dims, a.dtype, a.kwargs)


def _with_free(spec, free):
    return spec if free is None else dataclasses.replace(spec, free=free)


def _free_sizes(specs, given):
    """The sizes the given inputs have at their specs' free dims."""
    sizes = set()
    arrays = keras.tree.flatten(given)
    for spec, array in zip(specs, arrays):
        for axis, dim in enumerate(spec.shape):
            if axis and dim is None and axis < len(getattr(array, "shape", ())):
                sizes.add(int(array.shape[axis]))
    return sizes


def _generalized(call, free_sizes):
    shape = tuple(call.shape)
    if not shape:
        return call
    dims = [None] + [
        None if (d in free_sizes and i < len(shape) - 1) else d for i, d in enumerate(shape[1:], 1)
    ]
    return Call(tuple(dims), call.dtype, call.kwargs)


# -- reading lookups on the JAX and torch backends ------------------------------------


def _is_integer(spec):
    return spec.dtype.startswith(("int", "uint"))


def _eager_specs(model, seed=0):
    """Input specs read from one run on concrete inputs, where there is no
    TensorFlow graph to read (the JAX and torch backends).

    Integer inputs are drawn as random bits (any table has two rows) and
    every lookup the run makes is recorded: an input whose values are the
    indices of a lookup in a table of the model indexes it, and its values
    must stay below the smallest such table's rows; an integer input that
    indexes none is a mask of ones, as on TensorFlow. A model that refuses
    the first free length is run at the lengths `signature.accepted` tries,
    and the first it runs on is kept. None when it runs on none.
    """
    from . import signature

    base = signature.plain_specs(model)
    if not any(_is_integer(spec) or spec.dtype == "bool" for spec in base):
        return None
    tables = {id(v): v for v in model.weights}
    has_free = any(d is None for spec in base for d in spec.shape[1:])
    for length in [None] + (signature.free_lengths(model) if has_free else []):
        probe = [
            dataclasses.replace(spec, free=length, **({"low": 0, "high": 2} if _is_integer(spec) else {}))
            for spec in base
        ]
        drawn = draw_inputs(probe, seed)
        lookups = []
        try:
            with internals.recording_takes(lambda table, indices, axis: lookups.append((table, indices, axis))):
                signature.call(model, signature.pack_inputs(model, drawn))
        except UserInputError:
            raise
        except Exception:  # noqa: BLE001 - the next length is tried
            continue
        return _specs_from_lookups(base, drawn, lookups, tables, length)
    return None


def _specs_from_lookups(base, drawn, lookups, tables, length):
    high = {}  # input index -> (rows, table)
    for table, indices, axis in lookups:
        variable = tables.get(id(table))
        if variable is None or not variable.shape:
            continue
        rows = int(tuple(variable.shape)[axis or 0])
        values = np.asarray(keras.ops.convert_to_numpy(indices)).ravel()
        for i, spec in enumerate(base):
            given = np.asarray(drawn[spec.name]).ravel()
            if _is_integer(spec) and given.size == values.size and np.array_equal(given, values):
                if i not in high or rows < high[i][0]:
                    high[i] = (rows, variable)
    why = f"free dims {length}: the model refuses the first draw" if length is not None else ""
    return _ranged_specs(base, high, length, why)


# -- reading the backend graph ------------------------------------------------------

# Ops whose output carries (some of) the values of their first inputs.
_CARRY = {
    "Identity", "IdentityN", "Cast", "ExpandDims", "Reshape", "Squeeze", "BroadcastTo",
    "Tile", "StridedSlice", "Slice", "Transpose", "ReadVariableOp", "AddV2", "Add", "Sub",
    "SelectV2", "Select", "Maximum", "Minimum", "ClipByValue", "Pack", "ConcatV2",
}
# Ops whose output depends on their input's shape only.
_SHAPE_OPS = {"Shape", "ShapeN", "Size", "Rank"}
_GATHERS = {"GatherV2", "ResourceGather", "Gather"}


class _Graph:
    """Which model inputs a tensor of the traced graph depends on."""

    def __init__(self, placeholders, flat, model):
        self.index = {p.op.name: i for i, p in enumerate(placeholders)}
        self.free = [
            any(d is None for d in tuple(t.shape)[1:]) for t in flat
        ]
        graph = placeholders[0].graph if placeholders else None
        handles = {}
        for variable in model.weights:
            try:
                handles[id(variable.value.handle)] = variable
            except AttributeError:
                continue
        self.variables = {}
        for external, internal in getattr(graph, "captures", []) or []:
            variable = handles.get(id(external))
            if variable is not None:
                self.variables[internal.op.name] = variable
        self._values = {}
        self._shapes = {}

    def values_from(self, tensor):
        """Indices of the inputs whose values reach `tensor`."""
        return self._fold(tensor, self._values, self._value_leaf)

    def shape_from(self, tensor):
        """Indices of the inputs with free dims whose shapes reach `tensor`."""
        return self._fold(tensor, self._shapes, self._shape_leaf)

    def _value_leaf(self, op):
        if op.name in self.index:
            return frozenset([self.index[op.name]])
        if op.type in _SHAPE_OPS or not op.inputs:
            return frozenset()
        return None

    def _shape_leaf(self, op):
        if op.type in _SHAPE_OPS:
            source = op.inputs[0]
            found = self.values_from(source) | self.shape_from(source)
            return frozenset(i for i in found if self.free[i])
        if op.name in self.index or not op.inputs:
            return frozenset()
        return None

    @staticmethod
    def _fold(tensor, memo, leaf):
        """Union of ``leaf`` over the ops above `tensor` (post-order, no recursion)."""
        stack = [tensor.op]
        while stack:
            op = stack[-1]
            if op.name in memo:
                stack.pop()
                continue
            end = leaf(op)
            if end is not None:
                memo[op.name] = end
                stack.pop()
                continue
            pending = [t.op for t in op.inputs if t.op.name not in memo]
            if pending:
                stack.extend(pending)
                continue
            memo[op.name] = frozenset().union(*(memo[t.op.name] for t in op.inputs))
            stack.pop()
        return memo[tensor.op.name]

    def table(self, tensor):
        """The variable a tensor reads (through identities and casts), or None."""
        op = tensor.op
        for _ in range(8):
            if op.name in self.variables:
                return self.variables[op.name]
            if op.type in ("ReadVariableOp", "Identity", "Cast") and op.inputs:
                op = op.inputs[0].op
                continue
            return None
        return None

    def range_limit(self, tensor):
        """The limit of a ``range()`` the tensor's values come from, or None."""
        op = tensor.op
        for _ in range(16):
            if op.type == "Range":
                return op.inputs[1]
            if op.type in ("SelectV2", "Select"):
                op = op.inputs[2].op
            elif op.type in _CARRY and op.inputs:
                op = op.inputs[0].op
            else:
                return None
        return None


def _input_specs(model, flat, placeholders):
    """Input specs with the ranges and lengths the traced graph allows."""
    from . import signature

    names = signature.input_names(model)
    base = [
        InputSpec(name, (None,) + tuple(t.shape[1:]), keras.backend.standardize_dtype(t.dtype))
        for name, t in zip(names, flat)
    ]
    if len(placeholders) != len(flat) or not placeholders:
        return None
    graph = _Graph(placeholders, flat, model)
    ops = placeholders[0].graph.get_operations()
    high = {}  # input index -> (rows, table)
    cap = None  # (rows, table)
    for op in ops:
        if op.type in _GATHERS:
            variable = graph.table(op.inputs[0])
            if variable is None:
                continue
            axis = 0
            if op.type == "GatherV2" and len(op.inputs) > 2:
                axis = _constant(op.inputs[2], 0)
            rows = tuple(variable.shape)[axis] if variable.shape else None
            if rows is None:
                continue
            indices = op.inputs[1]
            for i in graph.values_from(indices):
                if i not in high or rows < high[i][0]:
                    high[i] = (rows, variable)
            limit = graph.range_limit(indices)
            if limit is not None and graph.shape_from(limit) and (cap is None or rows < cap[0]):
                cap = (rows, variable)
        elif op.type in ("Slice", "StridedSlice"):
            variable = graph.table(op.inputs[0])
            if variable is None or not variable.shape:
                continue
            size = op.inputs[2]
            entries = list(size.op.inputs) if size.op.type == "Pack" else [size]
            for axis, entry in enumerate(entries):
                if axis < len(variable.shape) and graph.shape_from(entry):
                    rows = tuple(variable.shape)[axis]
                    if cap is None or rows < cap[0]:
                        cap = (rows, variable)
        elif op.type == "OneHot":
            depth = _constant(op.inputs[1], None)
            if depth is None:
                continue
            for i in graph.values_from(op.inputs[0]):
                if i not in high or depth < high[i][0]:
                    high[i] = (depth, None)
    free = None
    free_why = ""
    if cap is not None and cap[0] < FREE_DIM:
        free = int(cap[0])
        free_why = f"free dims {free}: the table '{cap[1].path}' has {free} positions"
    return _ranged_specs(base, high, free, free_why)


def _ranged_specs(base, high, free, free_why):
    """`base` with the ranges of `high` (``{input index: (rows, table or None
    for a one-hot)}``): other integer and bool inputs are masks of ones; the
    free dims are `free` (``free_why`` says why)."""
    specs = []
    for i, spec in enumerate(base):
        why = []
        low = hi = None
        if _is_integer(spec) or spec.dtype == "bool":
            if i in high:
                rows, variable = high[i]
                low, hi = 0, int(rows)
                what = f"the table '{variable.path}' of" if variable is not None else "a one-hot of"
                why.append(f"indexes {what} {rows} rows")
            else:
                low, hi = 1, 2
                why.append("indexes no table: a mask of ones")
        has_free = any(d is None for d in spec.shape[1:])
        if free is not None and has_free:
            why.append(free_why)
        specs.append(
            InputSpec(spec.name, spec.shape, spec.dtype, low, hi, free if has_free else None,
                      "; ".join(why))
        )
    return specs


def _constant(tensor, default):
    try:
        import tensorflow as tf

        value = tf.get_static_value(tensor)
    except Exception:  # noqa: BLE001
        return default
    return default if value is None else int(value)
