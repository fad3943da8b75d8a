"""Convolutionalize a classifier head (OverFeat, FCN; class activation maps).

A Dense on ``Flatten(x)`` with ``x`` of shape (H, W, C) is a convolution with
an HxW kernel and padding "valid": ``W.reshape(H, W, C, units)`` when the
map was flattened channels-last (rows permuted otherwise). Every Dense after
it acts on a vector that is now a 1x1 map: a 1x1 convolution. With the
spatial input dims freed, the model slides over larger images and yields a
score map; each position equals the original classifier on its window.

A Dense after global average pooling commutes with it (both are linear), so
it moves before the pooling as a 1x1 convolution whose output is the
per-pixel class map; the activation stays after the pooling.
"""

import keras
import numpy as np

from keras_1x1.errors import UserInputError
from keras_1x1.numeric import error_stats

from . import graph, pointwise, signature
from .pointwise import KERAS_CONV
from .rebuild import IDENTITY, Replace

L = keras.layers

FLATTEN = (L.Flatten,)
GLOBAL_AVERAGE = (L.GlobalAveragePooling1D, L.GlobalAveragePooling2D, L.GlobalAveragePooling3D)
GLOBAL_MAX = (L.GlobalMaxPooling1D, L.GlobalMaxPooling2D, L.GlobalMaxPooling3D)
# Elementwise layers without weights: the same on a vector and on a map.
ELEMENTWISE = (
    L.Dropout,
    L.AlphaDropout,
    L.GaussianDropout,
    L.GaussianNoise,
    L.Activation,
    L.ReLU,
    L.LeakyReLU,
    L.ELU,
)
# Layers with per-feature weights on the last axis: the same per position.
LAST_AXIS = (L.BatchNormalization, L.LayerNormalization, L.Softmax)


class Head:
    """The layers from the Flatten/GlobalAveragePooling to the output."""

    def __init__(self, start, layers, features):
        self.start = start  # the Flatten or GlobalAveragePooling layer
        self.layers = layers  # the layers after it, in order
        self.features = features  # the symbolic map it reads

    @property
    def dense(self):
        return [layer for layer in self.layers if isinstance(layer, L.Dense)]


def find_head(model):
    if len(model.outputs) != 1:
        raise UserInputError(
            f"convolutionalize needs a model with one classifier output; "
            f"'{model.name}' has {len(model.outputs)} outputs"
        )
    if len(model.inputs) != 1:
        raise UserInputError(
            f"convolutionalize needs a model with one image input; "
            f"'{model.name}' has {len(model.inputs)} inputs"
        )
    tensor = model.outputs[0]
    layers = []
    while True:
        layer = graph.producer(tensor)
        if layer is None:
            raise UserInputError(
                f"'{model.name}' has no Flatten -> Dense or GlobalAveragePooling "
                "-> Dense classifier head at its output"
            )
        if isinstance(layer, keras.Model):
            raise UserInputError(
                f"the classifier head of '{model.name}' is inside the nested "
                f"model '{layer.name}'; convolutionalize that model, or build "
                "the head at the top level"
            )
        calls = graph.call_nodes(layer, model)
        if len(calls) != 1:
            raise UserInputError(
                f"layer '{layer.name}' in the classifier head is shared (called "
                f"{len(calls)} times); cannot convolutionalize"
            )
        node = calls[0]
        if isinstance(layer, FLATTEN + GLOBAL_AVERAGE + GLOBAL_MAX):
            if isinstance(layer, GLOBAL_MAX):
                raise UserInputError(
                    f"'{layer.name}' is a global max pooling, which is not "
                    "linear: a Dense cannot move before it"
                )
            head = Head(layer, layers, node.input_tensors[0])
            break
        if not isinstance(layer, (L.Dense,) + ELEMENTWISE + LAST_AXIS):
            if not layers:
                raise UserInputError(
                    f"'{model.name}' has no Flatten -> Dense or GlobalAveragePooling "
                    f"-> Dense classifier head at its output (it ends with "
                    f"'{layer.name}', a {type(layer).__name__})"
                )
            raise UserInputError(
                f"layer '{layer.name}' ({type(layer).__name__}) between the "
                "classifier head and the output is not a per-position "
                "operation; cannot convolutionalize"
            )
        if isinstance(layer, LAST_AXIS) and _axis(layer) not in (-1, len(tensor.shape) - 1):
            raise UserInputError(
                f"'{layer.name}' ({type(layer).__name__}) does not act on the "
                "last axis; cannot convolutionalize"
            )
        layers.insert(0, layer)
        tensor = node.input_tensors[0]
    if not head.dense:
        raise UserInputError(
            f"no Dense layer after '{head.start.name}'; nothing to convolutionalize"
        )
    return head


def _axis(layer):
    axis = getattr(layer, "axis", -1)
    if isinstance(axis, (list, tuple)):
        return axis[0] if len(axis) == 1 else None
    return axis


def feature_layout(model, tensor, depth=64):
    """channels_first or channels_last: the nearest upstream data_format."""
    for _ in range(depth):
        layer = graph.producer(tensor)
        if layer is None:
            break
        if getattr(layer, "data_format", None) in ("channels_first", "channels_last"):
            if not isinstance(layer, FLATTEN):
                return layer.data_format
        nodes = graph.call_nodes(layer, model) or graph.call_nodes(layer)
        if not nodes or not nodes[0].input_tensors:
            break
        tensor = nodes[0].input_tensors[0]
    return keras.config.image_data_format()


def plan_head(model, head, report, taken):
    """The rebuild plan for the head, and the new input shape."""
    if isinstance(head.start, GLOBAL_AVERAGE):
        return _plan_pooled(model, head, report, taken)
    return _plan_flatten(model, head, report, taken)


def _free_input_shape(model, layout):
    shape = tuple(model.inputs[0].shape)
    if layout == "channels_first":
        return (None, shape[1]) + (None,) * (len(shape) - 2)
    return (None,) + (None,) * (len(shape) - 2) + (shape[-1],)


def _conv_kwargs(dense, name, spatial, activation=None):
    """Constructor arguments of the convolution that replaces `dense`: the
    Dense's input axis (0) is every input axis of the kernel (spatial...,
    channels); its output axis is the last one."""
    return pointwise.layer_kwargs(
        pointwise.shared_config(dense),
        name,
        use_bias=dense.use_bias,
        kernel_axes=lambda a: list(range(spatial + 1)) if a == 0 else -1,
        activation=activation,
    )


def _plan_flatten(model, head, report, taken):
    dims = tuple(head.features.shape[1:])
    if any(d is None for d in dims) or len(dims) < 2:
        raise UserInputError(
            f"'{head.start.name}' flattens a map of shape {dims}; convolutionalize "
            "needs a map with known spatial size and channels"
        )
    spatial = len(dims) - 1
    if spatial > 3:
        raise UserInputError(f"'{head.start.name}' flattens {spatial} spatial axes; at most 3")
    layout = feature_layout(model, head.features)
    # Labels of the map's axes, then the order Flatten reads them in.
    labels = ["c"] + [f"s{i}" for i in range(spatial)] if layout == "channels_first" else [
        f"s{i}" for i in range(spatial)
    ] + ["c"]
    flat_order = labels
    if head.start.data_format == "channels_first":
        flat_order = labels[1:] + labels[:1]
    size = dict(zip(labels, dims))
    wanted = [f"s{i}" for i in range(spatial)] + ["c"]
    window = tuple(size[f"s{i}"] for i in range(spatial))
    plan = {}
    first, *rest = head.dense
    # Elementwise layers between Flatten and the first Dense act on the map.
    between = head.layers[: head.layers.index(first)]
    for layer in between:
        if not isinstance(layer, ELEMENTWISE):
            raise UserInputError(
                f"'{layer.name}' ({type(layer).__name__}) sits between "
                f"'{head.start.name}' and the first Dense with weights per "
                "flattened feature; cannot convolutionalize"
            )
    if layout == "channels_first":
        permute = L.Permute(
            tuple(range(2, spatial + 2)) + (1,),
            name=graph.unique_name(f"{head.start.name}_to_channels_last", taken),
        )
        plan[id(head.start)] = Replace([permute], [])
        report.add(head.start.name, "Flatten", "converted", "Permute",
                   "channels_first map to channels_last; no flattening")
    else:
        plan[id(head.start)] = IDENTITY
        report.add(head.start.name, "Flatten", "converted", "removed",
                   "the map stays a map")
    kernel, *bias = first.get_weights()
    kernel = kernel.reshape([size[a] for a in flat_order] + [first.units])
    permutation = [flat_order.index(a) for a in wanted] + [spatial + 1]
    kernel = np.transpose(kernel, permutation)
    conv = KERAS_CONV[spatial](
        first.units, window, padding="valid", data_format="channels_last",
        **_conv_kwargs(first, first.name, spatial),
    )
    plan[id(first)] = Replace([conv], [(conv, [kernel] + bias)])
    detail = f"kernel = W.reshape{tuple(kernel.shape)}"
    if flat_order != wanted:
        detail += f", rows permuted from the {''.join(a[0] for a in flat_order)} flatten order"
    report.add(first.name, "Dense", "converted",
               f"{type(conv).__name__} {'x'.join(map(str, window))} 'valid'", detail)
    for dense in rest:
        conv = KERAS_CONV[spatial](
            dense.units, 1, data_format="channels_last", **_conv_kwargs(dense, dense.name, spatial)
        )
        kernel, *bias = dense.get_weights()
        plan[id(dense)] = Replace(
            [conv], [(conv, [kernel.reshape((1,) * spatial + kernel.shape)] + bias)]
        )
        report.add(dense.name, "Dense", "converted", f"{type(conv).__name__} 1x1")
    return plan, _free_input_shape(model, layout), layout, None


def _plan_pooled(model, head, report, taken):
    pool = head.start
    if getattr(pool, "keepdims", False):
        raise UserInputError(f"'{pool.name}' keeps its dims; convolutionalize expects keepdims=False")
    dense = head.dense[0]
    between = head.layers[: head.layers.index(dense)]
    for layer in between:
        if not isinstance(layer, ELEMENTWISE) or isinstance(layer, (L.Activation, L.ReLU, L.LeakyReLU, L.ELU)):
            raise UserInputError(
                f"'{layer.name}' ({type(layer).__name__}) between '{pool.name}' and "
                f"'{dense.name}' is not linear; the Dense cannot move before the pooling"
            )
    spatial = len(head.features.shape) - 2
    map_name = graph.unique_name(f"{dense.name}_map", taken)
    if pool.data_format == "channels_first":
        raise UserInputError(
            f"'{pool.name}' pools a channels_first map; convolutionalize moves "
            "Dense layers before channels_last pooling only"
        )
    conv = KERAS_CONV[spatial](
        dense.units, 1, data_format="channels_last",
        **_conv_kwargs(dense, map_name, spatial, activation="linear"),
    )
    new_pool = type(pool).from_config(pool.get_config())
    kernel, *bias = dense.get_weights()
    plan = {
        id(pool): Replace(
            [conv, new_pool],
            [(conv, [kernel.reshape((1,) * spatial + kernel.shape)] + bias)],
        ),
        id(dense): Replace([L.Activation(dense.get_config()["activation"], name=dense.name)], []),
    }
    report.add(dense.name, "Dense", "converted",
               f"{type(conv).__name__} 1x1 before {type(pool).__name__}",
               f"per-pixel map as output '{map_name}'; the activation stays after the pooling")
    if len(head.dense) > 1:
        report.notes.append(
            f"'{dense.name}' is followed by more Dense layers; the map output "
            f"'{map_name}' is its per-pixel output, not the final class scores"
        )
    return plan, _free_input_shape(model, "channels_last"), None, map_name


# -- verification ---------------------------------------------------------


def _spatial_axes(rank, layout):
    return list(range(2, rank)) if layout == "channels_first" else list(range(1, rank - 1))


def total_strides(model, convolutionalized, layout):
    """The input step between neighbouring output positions, per axis.

    The product of the strides of the layers before the head, checked on
    the convolutionalized model: with unpadded layers an input of
    ``size + 2 * step`` gives 3 positions. None when a layer pads (then
    positions of a larger image are not exactly windows of it).
    """
    shape = list(model.inputs[0].shape)
    axes = _spatial_axes(len(shape), layout)
    steps = [1] * len(axes)
    for layer, _, _ in graph.walk(model):
        padding = getattr(layer, "padding", "valid")
        size = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None) or (1,)
        if isinstance(padding, str) and padding != "valid" and any(k != 1 for k in size):
            return None
        strides = getattr(layer, "strides", None)
        if isinstance(strides, (tuple, list)) and len(strides) == len(axes):
            steps = [step * s for step, s in zip(steps, strides)]
    for axis, step in zip(axes, steps):
        shape[axis] += 2 * step
    out = convolutionalized.compute_output_shape(tuple(shape))
    if list(out[1:1 + len(axes)]) != [3] * len(axes):
        return None
    return tuple(steps)


def verify(model, new_model, report, *, layout):
    """Scores at the input size; for a Flatten head, every window too."""
    from .verify import record

    name = signature.output_names(model)[0]
    x = signature.sample_inputs(model)
    expected = _first_output(model, x)
    got = _first_output(new_model, x)
    if layout is not None:
        got = got.reshape(expected.shape) if got.size == expected.size else got
    stats = [error_stats(f"{name} (input size)", got, expected)]
    if layout is not None:
        steps = total_strides(model, new_model, layout)
        if steps is None:
            report.notes.append(
                "the layers before the head pad their inputs, so positions of a "
                "larger image are not exactly windows of it; checked at the "
                "input size only"
            )
        else:
            stats.append(_verify_windows(model, new_model, name, layout, steps))
    record(report, stats, "convolutionalized model")


def _first_output(model, x):
    return next(iter(signature.run(model, x).values()))


def _verify_windows(model, new_model, name, layout, steps):
    """Each position of a larger image against the classifier on its window."""
    import itertools

    rng = np.random.default_rng(1)
    shape = list(model.inputs[0].shape)
    shape[0] = 2
    axes = _spatial_axes(len(shape), layout)
    window = [shape[a] for a in axes]
    counts = [2 + i for i in range(len(axes))]  # e.g. 2x3 positions
    for axis, count, step in zip(axes, counts, steps):
        shape[axis] += (count - 1) * step
    dtype = keras.backend.standardize_dtype(model.inputs[0].dtype)
    big = rng.normal(size=shape).astype(dtype)
    score_map = _first_output(new_model, big)  # (batch, positions..., classes)
    positions = list(itertools.product(*[range(c) for c in counts]))
    crops = []
    for position in positions:
        index = [slice(None)] * len(shape)
        for axis, p, step, w in zip(axes, position, steps, window):
            index[axis] = slice(p * step, p * step + w)
        crops.append(big[tuple(index)])
    expected = _first_output(model, np.concatenate(crops, axis=0))
    expected = expected.reshape((len(positions), 2) + expected.shape[1:])
    got = np.stack([score_map[(slice(None),) + p] for p in positions])
    label = f"{name} ({'x'.join(map(str, counts))} windows, step {'x'.join(map(str, steps))})"
    return error_stats(label, got, expected)
