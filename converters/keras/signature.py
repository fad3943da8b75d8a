"""A Keras model's interface: input and output names, what its inputs
accept, and running it on named arrays.

Every part of keras-1x1 that runs a Keras model goes through here: the
converters' verification, the ONNX export (whose graph inputs and outputs
carry these names), and the checks that run Keras against onnxruntime. So
the names, the order of the outputs and the inputs drawn for a check are
the same everywhere.
"""

import keras
import numpy as np

from keras_1x1.errors import UserInputError
from keras_1x1.numeric import InputSpec, draw_inputs

from . import internals


def unique_name(base, taken):
    """`base`, or `base_1`, `base_2`, ... whichever is not taken yet."""
    name, i = base, 0
    while name in taken:
        i += 1
        name = f"{base}_{i}"
    taken.add(name)
    return name


def _clean(name, fallback):
    name = str(name or "").split(":")[0]
    return name if name else fallback


# -- inputs ----------------------------------------------------------------------------


def input_structure(model):
    """``(structure, flat KerasTensors)`` of the model's inputs."""
    structure = None
    try:
        structure = model.input
    except (AttributeError, ValueError):
        # A Sequential model built from an Input knows `inputs` before it
        # has been called.
        inputs = getattr(model, "inputs", None)
        if inputs:
            structure = inputs[0] if len(inputs) == 1 else list(inputs)
    if structure is None:
        raise UserInputError(
            f"model '{model.name}' has no defined inputs (build it with "
            "keras.Input or call it on data first)"
        )
    return structure, keras.tree.flatten(structure)


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


def input_specs(model):
    """One `keras_1x1.numeric.InputSpec` per input, in flat order."""
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


def sample_inputs(model, *, seed=0, shapes=None):
    """Inputs drawn from the model's specs, in the structure it takes.

    ``shapes`` optionally replaces the batch shapes (one per input, flat).
    """
    specs = input_specs(model)
    if shapes is not None:
        specs = [
            InputSpec(s.name, tuple(shape), s.dtype, s.low, s.high, s.free, s.why)
            for s, shape in zip(specs, shapes)
        ]
    return pack_inputs(model, draw_inputs(specs, seed))


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
    elif isinstance(structure, dict):
        names = [str(k) for k in structure]
    else:
        names = list(getattr(model, "output_names", None) or [])
        count = len(keras.tree.flatten(structure)) if structure is not None else len(names)
        if len(names) != count:
            names = [f"output_{i}" for i in range(count)]
    taken = set()
    return [unique_name(_clean(n, f"output_{i}"), taken) for i, n in enumerate(names)]


def output_values(model, result):
    """A call's result as a list in the order of `output_names`."""
    if isinstance(result, dict):
        structure = internals.output_structure(model) if internals.is_functional(model) else None
        keys = list(structure) if isinstance(structure, dict) else list(result)
        return [result[k] for k in keys]
    return keras.tree.flatten(result)


# -- running ---------------------------------------------------------------------------

# What TensorFlow says when its CPU kernels cannot run an op eagerly
# (channels_first and grouped convolutions, float16 3-D pooling); XLA can.
_NEEDS_XLA = ("NHWC", "NDHWC", "NWC", "channels_first", "group", "Could not find device for node")


def call(model, inputs):
    """``model(inputs, training=False)``, compiled with XLA where TensorFlow
    needs it (ops its CPU kernels lack: channels_first and grouped
    convolutions, some float16 ops). Any other failure is the model's own."""
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
    return {
        name: np.asarray(keras.ops.convert_to_numpy(v))
        for name, v in zip(output_names(model), values)
    }
