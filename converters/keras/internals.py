"""Every private attribute of Keras that keras-1x1 reads, in one place.

Keras has no public API for some of what rewriting a model needs: the
calls of a layer (nodes), the graph of a Functional model by depth, the
layer that produced a symbolic tensor, a Sequential model's inner graph,
the structure of a model's outputs, a layer's tracked sublayers, and the
backend convolution the ONNX export traces. They are read here and nowhere
else. Each accessor reads the attribute directly (never ``getattr`` with a
default), so a Keras release that renames one fails loudly with
`KerasInternalsChanged` instead of silently seeing "no calls" and returning
an unchanged model; `check()` probes them all on a small model.
"""

import contextlib
import functools

import keras


class KerasInternalsChanged(RuntimeError):
    """This Keras no longer has an attribute keras-1x1 reads."""


def _missing(what, error):
    return KerasInternalsChanged(
        f"keras {keras.__version__} has no {what} ({error}); this keras-1x1 "
        "supports the Keras 3 releases up to 3.15, so keras-1x1 needs an update"
    )


def _read(obj, attribute, what):
    try:
        return getattr(obj, attribute)
    except AttributeError as error:
        raise _missing(what, error) from None


# -- layers and their calls ------------------------------------------------------------


def inbound_nodes(layer):
    """The nodes where `layer` was called on symbolic tensors (every graph)."""
    return list(_read(layer, "_inbound_nodes", "Layer._inbound_nodes"))


def producer(tensor):
    """The operation that produced a symbolic tensor (an `InputLayer` for a
    model input), or None for a tensor no operation made.

    Keras sets ``_keras_history`` only on tensors an operation produced and
    tests for it the same way; `check()` makes sure the mechanism is there.
    """
    history = getattr(tensor, "_keras_history", None)
    return None if history is None else history.operation


def tracked_layers(layer):
    """The layer's direct sublayers, in the order Keras tracks them.

    The same list Keras reads for ``layer.weights``: replacing an entry in
    place keeps the order of the weights.
    """
    return _read(layer, "_layers", "Layer._layers")


# -- models ----------------------------------------------------------------------------


def is_functional(model):
    """Functional models (and their subclasses) carry a graph of nodes."""
    return isinstance(model, keras.Model) and hasattr(model, "_nodes_by_depth")


def functional_graph(model):
    """The Functional graph of a model: a Sequential model's inner one."""
    if isinstance(model, keras.Sequential):
        return _read(model, "_functional", "Sequential._functional")
    return model


def nodes_by_depth(model):
    """``{depth: [node, ...]}`` of a model's own graph."""
    graph = functional_graph(model)
    if graph is None:  # a Sequential model that was never built
        return {}
    return _read(graph, "_nodes_by_depth", "Functional._nodes_by_depth")


def output_structure(model):
    """The structure the model returns its outputs in (a dict, list, tensor)."""
    return _read(functional_graph(model), "_outputs_struct", "Functional._outputs_struct")


# -- the backend convolution the ONNX export traces ------------------------------------


def _backend_nn():
    """Keras' TensorFlow backend ``nn`` module (None on another backend)."""
    if keras.backend.backend() != "tensorflow":
        return None
    try:
        from keras.src.backend.tensorflow import nn
    except ImportError as error:
        raise _missing("keras.src.backend.tensorflow.nn", error) from None
    _read(nn, "conv", "keras.src.backend.tensorflow.nn.conv")
    _read(nn, "_convert_data_format", "keras.src.backend.tensorflow.nn._convert_data_format")
    return nn


@contextlib.contextmanager
def convolutions_without_xla():
    """Trace Keras convolutions as plain TensorFlow Conv ops (for the export).

    Keras' TensorFlow backend runs grouped convolutions and channels_first
    Conv3D inside a nested ``tf.function(jit_compile=True)``, because the
    TensorFlow CPU kernels cannot execute them. tf2onnx cannot see inside
    such a call and would leave a ``StatefulPartitionedCall`` node in the
    ONNX graph. A graph traced for tf2onnx is only converted, never run, so
    the plain op (which TensorFlow can build, with ``groups`` read from the
    channel counts) is what the export needs.
    """
    module = _backend_nn()
    if module is None:
        yield
        return
    original = module.conv
    convert_format = module._convert_data_format

    def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
        import tensorflow as tf

        from keras.src.backend import standardize_data_format

        tf_format = convert_format(standardize_data_format(data_format), len(inputs.shape))
        return tf.nn.convolution(
            inputs, kernel, strides, padding.upper(), data_format=tf_format, dilations=dilation_rate
        )

    module.conv = conv
    try:
        yield
    finally:
        module.conv = original


@functools.lru_cache(maxsize=None)
def check():
    """Probe every attribute above on a small model; raises when one is gone."""
    inputs = keras.Input((2, 3), name="probe")
    dense = keras.layers.Dense(2)
    outputs = dense(inputs)
    model = keras.Model(inputs, {"y": outputs})
    sequential = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    _read(outputs, "_keras_history", "KerasTensor._keras_history")
    for ok, what in (
        (bool(inbound_nodes(dense)), "Layer._inbound_nodes holding a layer's calls"),
        (producer(outputs) is dense, "KerasTensor._keras_history naming its layer"),
        (bool(nodes_by_depth(model)), "Functional._nodes_by_depth holding the graph"),
        (isinstance(output_structure(model), dict), "Functional._outputs_struct"),
        (bool(nodes_by_depth(sequential)), "Sequential._functional holding its graph"),
        (dense in tracked_layers(model), "Layer._layers holding the sublayers"),
    ):
        if not ok:
            raise _missing(what, "it is there but no longer means what it did")
    _backend_nn()
    try:
        from keras.src.backend import standardize_data_format  # noqa: F401
    except ImportError as error:
        raise _missing("keras.src.backend.standardize_data_format", error) from None
    return True
