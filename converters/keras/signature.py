"""A Keras model's interface: input and output names, what its inputs
accept, and running it on named arrays.

Every part of keras-1x1 that runs a Keras model goes through here: the
converters' verification, the ONNX export (whose graph inputs and outputs
carry these names), and the checks that run Keras against onnxruntime. So
the names, the order of the outputs and the inputs drawn for a check are
the same everywhere.
"""

import dataclasses

import keras
import numpy as np

from keras_1x1.errors import UserInputError, one_line
from keras_1x1.numeric import InputSpec, draw_inputs

from . import internals
from .graph import unique_name


def _clean(name, fallback):
    name = str(name or "").split(":")[0]
    return name if name else fallback


# -- inputs ----------------------------------------------------------------------------


def input_structure(model):
    """``(structure, flat KerasTensors)`` of the model's inputs.

    A subclassed model has no graph inputs; once built (called on data, or
    loaded), its inputs are the shapes it was built on, with a free batch
    (named ``input``, or by their keys or positions), float32 unless its
    dtype policy computes in another float type.
    """
    structure = None
    try:
        structure = model.input
    except (AttributeError, ValueError):
        # A Sequential model built from an Input knows `inputs` before it
        # has been called.
        inputs = getattr(model, "inputs", None)
        if inputs:
            structure = inputs[0] if len(inputs) == 1 else list(inputs)
    if structure is None and isinstance(model, keras.Model) and model.built:
        structure = _built_inputs(model)
    if structure is None:
        raise UserInputError(
            f"model '{model.name}' has no defined inputs (build it with "
            "keras.Input or call it on data first)"
        )
    return structure, keras.tree.flatten(structure)


def _built_inputs(model):
    """Symbolic inputs for a subclassed model, from the shapes it was built on."""
    config = model.get_build_config() or {}
    shapes = config.get("input_shape")
    if shapes is None:
        return None
    dtype = keras.backend.standardize_dtype(model.compute_dtype or "float32")
    if not dtype.startswith(("float", "bfloat")):
        dtype = "float32"

    def is_shape(value):
        return isinstance(value, (list, tuple)) and all(
            d is None or isinstance(d, int) for d in value
        )

    def tensor(shape, name):
        return keras.KerasTensor((None,) + tuple(shape)[1:], dtype=dtype, name=name)

    if is_shape(shapes):
        return tensor(shapes, "input")
    if isinstance(shapes, dict):
        return {k: tensor(v, str(k)) for k, v in shapes.items()}
    if isinstance(shapes, (list, tuple)):
        return [tensor(v, f"input_{i}") for i, v in enumerate(shapes)]
    return None


def input_names(model):
    """The names of the model's inputs, in flat order: the names of their
    `InputLayer`s (what ``model.summary()`` shows, ``input_layer`` for an
    unnamed one)."""
    _, flat = input_structure(model)
    names = []
    for i, tensor in enumerate(flat):
        layer = internals.producer(tensor)
        if isinstance(layer, keras.layers.InputLayer):
            names.append(_clean(layer.name, f"input_{i}"))
        else:
            names.append(_clean(getattr(tensor, "name", None), f"input_{i}"))
    return names


def named_inputs(model, inputs, *, what="inputs"):
    """``{input name: array}`` of a user's inputs for exactly the inputs the
    model takes: ``inputs`` is such a dict, a list in input order, or one
    array for a single-input model; anything else is one line."""
    names = input_names(model)
    taken = f"model '{model.name}' takes {len(names)} input(s) ({', '.join(names)})"
    if isinstance(inputs, dict):
        if set(inputs) != set(names):
            raise UserInputError(f"{what}: holds {', '.join(inputs)}; {taken}")
        return {name: inputs[name] for name in names}
    values = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    if len(values) != len(names):
        raise UserInputError(f"{what}: holds {len(values)} array(s); {taken}")
    return dict(zip(names, values))


def input_specs(model, *, traced=None):
    """One `keras_1x1.numeric.InputSpec` per input, in flat order.

    Read from one symbolic trace of the model (or ``traced``, a
    `tracing.Trace` already made): integer inputs that index tables get
    values below the smallest table's rows, other integer and bool inputs
    are masks of ones, and free lengths stay within the position tables
    they size; each spec's ``why`` says so. Where the trace cannot be read,
    the plain specs (shapes and dtypes).
    """
    from . import tracing

    if traced is None:
        try:
            traced = tracing.trace(model)
        except UserInputError:
            traced = None
    if traced is not None and traced.specs is not None:
        return list(traced.specs)
    return plain_specs(model)


def plain_specs(model):
    """One `InputSpec` per input, in flat order: shapes and dtypes alone."""
    _, flat = input_structure(model)
    return [
        InputSpec(name, (None,) + tuple(t.shape[1:]), keras.backend.standardize_dtype(t.dtype))
        for name, t in zip(input_names(model), flat)
    ]


def pack_inputs(model, feeds):
    """``{input name: array}`` (or a structure already) -> what the model takes."""
    if not isinstance(feeds, dict):
        return feeds
    structure, _ = input_structure(model)
    names = input_names(model)
    if isinstance(structure, dict) and set(feeds) == set(structure):
        return feeds
    missing = [n for n in names if n not in feeds]
    if missing:
        raise UserInputError(f"no input given for {', '.join(missing)}")
    values = [feeds[n] for n in names]
    if not isinstance(structure, (dict, list, tuple)):
        return values[0]
    return keras.tree.pack_sequence_as(structure, values)


def sample_inputs(model, *, seed=0, shapes=None, specs=None):
    """Inputs drawn from the model's specs (or ``specs``), in the structure
    it takes.

    ``shapes`` optionally replaces the batch shapes (one per input, flat).
    """
    specs = input_specs(model) if specs is None else specs
    if shapes is not None:
        specs = [
            InputSpec(s.name, tuple(shape), s.dtype, s.low, s.high, s.free, s.why)
            for s, shape in zip(specs, shapes)
        ]
    return pack_inputs(model, draw_inputs(specs, seed))


# Long lengths, for a model whose front end needs a long input (strided
# convs over audio samples), tried where every input stays this small.
_LONG_LENGTHS = (64, 256, 1024, 4096)
_MAX_DRAWN = 1 << 20  # entries of one drawn input, per batch row


def _small_enough(model, length):
    for spec in plain_specs(model):
        entries = 1
        for d in spec.shape[1:]:
            entries *= length if d is None else int(d)
        if entries > _MAX_DRAWN:
            return False
    return True


def free_lengths(model):
    """Free lengths to try when the drawn ones are refused: the rows of the
    model's tables (a position table read whole fixes the length), then
    short ones, then long ones where the inputs stay small; 1 last (it
    broadcasts against anything)."""
    # A pointwise map's kernel is no table, and it is 2-D in one form only
    # (a Dense kernel, a Conv1D 1x1's is 3-D): both forms try the same lengths.
    maps = (keras.layers.Dense, keras.layers.EinsumDense, keras.layers.Conv1D,
            keras.layers.Conv2D, keras.layers.Conv3D)
    kernels = set()

    def visit(layer):
        for inner in internals.sublayers(layer):
            if isinstance(inner, maps) or type(inner).__module__.startswith("keras_1x1"):
                kernels.update(id(v) for v in inner.weights)
            else:
                visit(inner)

    visit(model)
    rows = {
        int(v.shape[0]) for v in model.weights
        if id(v) not in kernels and len(v.shape) == 2 and 1 < int(v.shape[0]) <= 4096
    }
    long = [n for n in _LONG_LENGTHS if n not in rows and _small_enough(model, n)]
    return sorted(rows) + [n for n in (7, 16) if n not in rows] + long + ([1] if 1 not in rows else [])


def accepted(model, specs=None):
    """``(specs, inputs, outputs)`` for drawn inputs the model runs on: its
    specs as read (or ``specs``), else with the free dims at each length of
    `free_lengths` in turn (each spec's ``why`` says so). Raises the first
    failure when the model runs on none."""
    specs = input_specs(model) if specs is None else list(specs)
    free = [any(d is None for d in spec.shape[1:]) for spec in specs]
    first = None
    fallback = None  # the first run whose outputs are not all finite
    for length in [None] + (free_lengths(model) if any(free) else []):
        tried = specs if length is None else [
            dataclasses.replace(
                spec, free=length,
                why="; ".join(filter(None, [spec.why, f"free dims {length}: the model refuses the first draw"])),
            ) if has_free else spec
            for spec, has_free in zip(specs, free)
        ]
        inputs = sample_inputs(model, specs=tried)
        try:
            outputs = run(model, inputs)
        except UserInputError:
            raise
        except Exception as error:  # noqa: BLE001 - the first failure is the one reported
            first = first or error
            continue
        # An empty output (a strided conv longer than its input) checks
        # nothing; NaN or Inf there (what TensorFlow leaves in one) is tried
        # at another length, and kept if no length gives finite outputs.
        empty = [name for name, value in outputs.items() if value.size == 0]
        if empty:
            first = first or ValueError(f"the model's output {empty[0]} is empty on the inputs drawn")
            continue
        if all(_finite(value) for value in outputs.values()):
            return tried, inputs, outputs
        fallback = fallback or (tried, inputs, outputs)
    if fallback is not None:
        return fallback
    raise first


def _finite(value):
    return value.dtype.kind not in "fc" or bool(np.isfinite(value).all())


# -- outputs ---------------------------------------------------------------------------


def output_names(model):
    """The names of the model's outputs, in the order it returns them.

    Dict outputs are named by their keys (in the model's own key order);
    other outputs by Keras' output names, made unique (a layer called twice
    names two outputs alike: `name`, `name_1`, ...).
    """
    structure = internals.output_structure(model) if internals.is_functional(model) else None
    if isinstance(model, keras.Sequential):
        names = [model.layers[-1].name if model.layers else "output"]
    elif structure is None and not internals.is_functional(model):
        return _returned_names(model)
    elif isinstance(structure, dict):
        names = _keyed_names(structure)
    else:
        names = list(getattr(model, "output_names", None) or [])
        count = len(keras.tree.flatten(structure)) if structure is not None else len(names)
        if len(names) != count:
            names = [f"output_{i}" for i in range(count)]
    taken = set()
    return [unique_name(_clean(n, f"output_{i}"), taken) for i, n in enumerate(names)]


def _returned_names(model):
    """A subclassed model's outputs: the keys of the dict it returns, else
    ``output`` (one output) or ``output_0``, ``output_1``, ..."""
    structure, _ = input_structure(model)
    try:
        returned = internals.symbolic_call(lambda x: model(x, training=False), structure)
    except Exception as error:  # noqa: BLE001 - the model's own failure, with context
        text = one_line(error)
        raise UserInputError(
            f"model '{model.name}' cannot run on inputs of the shapes it was built "
            f"on: {type(error).__name__}: {text}"
        ) from error
    if isinstance(returned, dict):
        return _keyed_names(returned)
    flat = keras.tree.flatten(returned)
    return ["output"] if len(flat) == 1 else [f"output_{i}" for i in range(len(flat))]


def _keyed_names(outputs):
    """Names of a dict's outputs: its key for a tensor, ``key_0``,
    ``key_1``, ... for the tensors of a nested value (a tuple of every
    layer's hidden states, say), in order."""
    names = []
    for key, value in outputs.items():
        if isinstance(value, (dict, list, tuple)):
            names += [f"{key}_{i}" for i in range(len(keras.tree.flatten(value)))]
        else:
            names.append(str(key))
    return names


def output_values(model, result):
    """A call's result as a list in the order of `output_names`."""
    if isinstance(result, dict):
        structure = internals.output_structure(model) if internals.is_functional(model) else None
        keys = list(structure) if isinstance(structure, dict) else list(result)
        return [leaf for k in keys for leaf in keras.tree.flatten(result[k])]
    return keras.tree.flatten(result)


# -- running ---------------------------------------------------------------------------

# What TensorFlow says when its CPU kernels cannot run an op eagerly
# (channels_first and grouped convolutions, float16 3-D pooling); XLA can.
_NEEDS_XLA = ("NHWC", "NDHWC", "NWC", "channels_first", "group", "Could not find device for node")


def call(model, inputs):
    """``model(inputs, training=False)``, compiled with XLA where TensorFlow
    needs it (ops its CPU kernels lack: channels_first and grouped
    convolutions, some float16 ops). Any other failure is the model's own."""
    if keras.backend.backend() != "tensorflow":
        return model(inputs, training=False)
    import tensorflow as tf

    try:
        return model(inputs, training=False)
    except (
        tf.errors.UnimplementedError,
        tf.errors.InvalidArgumentError,
        tf.errors.NotFoundError,
    ) as error:
        if not any(marker in str(error) for marker in _NEEDS_XLA):
            raise
        compiled = tf.function(lambda x: model(x, training=False), jit_compile=True)
        try:
            return compiled(inputs)
        except Exception:  # noqa: BLE001 - the first error is the useful one
            raise error from None


def run(model, inputs):
    """``{output name: numpy array}`` of the model on ``inputs`` (a structure
    it takes, or ``{input name: array}``)."""
    result = call(model, pack_inputs(model, inputs))
    values = output_values(model, result)
    names = output_names(model)
    return {
        name: np.asarray(keras.ops.convert_to_numpy(v))
        for name, v in zip(names, values)
    }
