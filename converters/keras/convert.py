"""Rewrite trained Keras models between the 1x1-conv and per-pixel-Dense forms.

>>> import keras
>>> from keras_1x1 import converters
>>> x = keras.Input((8, 8, 3), name="image")
>>> h = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="stem")(x)
>>> model = keras.Model(x, keras.layers.Conv2D(4, 1, name="pointwise")(h))
>>> dense = converters.conv_to_dense(model)
>>> [type(layer).__name__ for layer in dense.layers]
['InputLayer', 'Conv2D', 'Dense']
>>> dense.conversion_report.verified
True
>>> back = converters.dense_to_conv(dense)
>>> all((a == b).all() for a, b in zip(back.get_weights(), model.get_weights()))
True
"""

import keras

from keras_1x1.errors import UserInputError
from keras_1x1.layers import Conv1x1, PixelDense

from . import graph, heads, internals, pointwise
from .rebuild import IDENTITY, Rebuilder, Replace, check_rebuildable
from .report import ConversionReport
from .verify import verify as verify_outputs

TARGETS = ("keras", "keras_1x1")

# Layers that look pointwise but are a different map; reported with a reason.
_OTHER_CONVS = {
    "DepthwiseConv1D": "depthwise: scales each channel separately, no channel mixing",
    "DepthwiseConv2D": "depthwise: scales each channel separately, no channel mixing",
    "SeparableConv1D": "separable: a depthwise step before the pointwise one",
    "SeparableConv2D": "separable: a depthwise step before the pointwise one",
    "Conv1DTranspose": "transposed convolution",
    "Conv2DTranspose": "transposed convolution",
    "Conv3DTranspose": "transposed convolution",
}


def _kind(layer):
    name = type(layer).__name__
    inner = layer
    while isinstance(inner, keras.layers.TimeDistributed):
        inner = inner.layer
        name = f"{name}({type(inner).__name__})"
    return name


def _forms(layer):
    """The forms a Conv1x1/PixelDense is called in."""
    return {
        kwargs.get("form") or layer.default_form for kwargs in graph.call_kwargs(layer)
    }


def _check(model, target):
    internals.check()
    if target not in TARGETS:
        raise UserInputError(
            f"target must be 'keras' or 'keras_1x1'. Received: target={target!r}"
        )
    check_rebuildable(model)


def _finish(model, new_model, report, verify):
    if verify is not False and verify is not None:
        inputs = None if verify is True else verify
        verify_outputs(model, new_model, report, inputs=inputs)
    new_model.conversion_report = report
    return new_model


def conv_to_dense(model, *, target="keras", verify=True):
    """Every pointwise convolution of `model` as a per-pixel Dense.

    Converts Conv1D/Conv2D/Conv3D whose kernel is all ones in size (at any
    strides, groups, padding, dilation and data_format) and `Conv1x1`.
    Strides become a 1x1 subsampling pool before the Dense; groups become a
    block-diagonal kernel; channels_first becomes an EinsumDense on axis 1
    (target "keras") or a channels_first `PixelDense` (target "keras_1x1").

    Args:
        model: a Sequential or Functional `keras.Model` (nested models,
            shared layers, several inputs and outputs are fine). It is not
            changed.
        target: "keras" for built-in Keras layers only, "keras_1x1" for
            `PixelDense`.
        verify: compare the outputs of both models on random inputs drawn
            from the input specs (or on the inputs given here instead of
            True) and raise `keras_1x1.ConversionError` if they differ
            beyond the tolerance in `keras_1x1.numeric`.

    Returns:
        A new `keras.Model`; ``model.conversion_report`` lists every
        candidate layer, converted or skipped with its reason.
    """
    _check(model, target)
    report = ConversionReport("conv_to_dense", target)
    taken = graph.layer_names(model)
    plan = {}
    for layer, path, _ in graph.walk(model):
        kind = _kind(layer)
        if isinstance(layer, pointwise.CONV_CLASSES + (Conv1x1,)):
            found = pointwise.conv_map(layer)
        elif isinstance(layer, PixelDense):
            if _forms(layer) == {"dense"} and target == "keras_1x1":
                report.add(path, kind, "skipped", detail="already in the dense form")
                continue
            found = pointwise.dense_map(layer)
        elif type(layer).__name__ in _OTHER_CONVS:
            report.add(path, kind, "skipped", detail=_OTHER_CONVS[type(layer).__name__])
            continue
        elif isinstance(layer, keras.layers.TimeDistributed) and "Conv" in kind:
            report.add(
                path, kind, "skipped",
                detail="a convolution inside TimeDistributed; apply it to the unwrapped layer",
            )
            continue
        else:
            continue
        if isinstance(found, str):
            report.add(path, kind, "skipped", detail=found)
            continue
        planned = pointwise.to_dense(found, target, taken)
        plan[id(layer)] = Replace(planned.layers, planned.weights)
        report.add(path, kind, "converted", planned.result, planned.detail)
    new_model = Rebuilder(plan).rebuild(model)
    return _finish(model, new_model, report, verify)


def dense_to_conv(model, *, target="keras", verify=True):
    """Every per-pixel Dense of `model` as a 1x1 convolution.

    Converts Dense applied to inputs with spatial axes (rank 3 to 5),
    TimeDistributed(Dense) at any nesting, pointwise EinsumDense (channel
    axis last or second) and `PixelDense`. A Dense on a rank-2 input has no
    spatial axes and is left alone (and reported). A block-diagonal kernel
    becomes a grouped convolution when its off-diagonal blocks are exactly
    zero; a 1x1 subsampling pool read only by the Dense becomes the
    convolution's strides. So ``dense_to_conv(conv_to_dense(m))`` has the
    structure and the bit-identical weights of ``m``.

    Args and returns: as for `conv_to_dense`; target "keras_1x1" gives
    `Conv1x1` layers.
    """
    _check(model, target)
    report = ConversionReport("dense_to_conv", target)
    taken = graph.layer_names(model)
    plan = {}
    consumers = {}
    for layer, path, parent in graph.walk(model):
        kind = _kind(layer)
        if isinstance(layer, Conv1x1):
            if _forms(layer) == {"conv"} and target == "keras_1x1":
                report.add(path, kind, "skipped", detail="already in the conv form")
                continue
            found = pointwise.conv_map(layer)
        elif isinstance(
            layer,
            (keras.layers.Dense, keras.layers.EinsumDense, keras.layers.TimeDistributed, PixelDense),
        ):
            found = pointwise.dense_map(layer)
        else:
            continue
        if isinstance(found, str):
            report.add(path, kind, "skipped", detail=found)
            continue
        strides = found.strides
        pool = _foldable_pool(layer, parent, found, consumers)
        if pool is not None:
            strides = pointwise.subsampling_pool(pool)
            plan[id(pool)] = IDENTITY
            pool_path = path[: -len(layer.name)] + pool.name
            report.add(
                pool_path, type(pool).__name__, "converted",
                f"strides of '{layer.name}'", "a 1x1 pool only subsamples",
            )
        planned = pointwise.to_conv(found, target, taken, strides=strides)
        plan[id(layer)] = Replace(planned.layers, planned.weights)
        report.add(path, kind, "converted", planned.result, planned.detail)
    new_model = Rebuilder(plan).rebuild(model)
    return _finish(model, new_model, report, verify)


def _foldable_pool(layer, parent, found, consumers):
    """A 1x1 subsampling pool whose only reader is `layer`'s only call."""
    if id(parent) not in consumers:  # one walk of each parent's graph
        consumers[id(parent)] = graph.Consumers(parent)
    readers = consumers[id(parent)]
    nodes = graph.call_nodes(layer, readers)
    if len(nodes) != 1 or not nodes[0].input_tensors:
        return None
    tensor = nodes[0].input_tensors[0]
    pool = graph.producer(tensor)
    if pool is None or pointwise.subsampling_pool(pool) is None:
        return None
    if len(graph.call_nodes(pool, readers)) != 1 or pool.data_format != found.data_format:
        return None
    if len(pool.strides) != found.spatial:
        return None
    if isinstance(parent, keras.Sequential):
        layers = parent.layers
        index = layers.index(layer) if layer in layers else -1
        return pool if index > 0 and layers[index - 1] is pool else None
    if not readers.only_reader(tensor):
        return None
    return pool


def convolutionalize(model, *, verify=True):
    """Turn a classifier head into convolutions that slide over larger images.

    A ``Flatten -> Dense (-> Dense ...)`` head becomes a convolution with an
    HxW kernel (padding "valid") followed by 1x1 convolutions, and the
    spatial input dims become None: on a larger image the model outputs a
    score map whose every position is the original classifier applied to the
    corresponding window (exactly, when the layers before the head do not
    pad). A ``GlobalAveragePooling -> Dense`` head gets the Dense moved
    before the pooling as a 1x1 convolution (both are linear, so the scores
    are unchanged) and the model gains a second output: the per-pixel class
    map (class activation map).

    Args:
        model: a Sequential or Functional classifier; it is not changed.
        verify: check the scores at the original input size, and for a
            Flatten head each window of a larger image, position by position.

    Returns:
        A new `keras.Model` with ``conversion_report``. Its compile state is
        not carried: the outputs changed shape.
    """
    internals.check()
    check_rebuildable(model)
    report = ConversionReport("convolutionalize", "keras")
    head = heads.find_head(model)
    taken = graph.layer_names(model)
    plan, input_shape, layout, map_name = heads.plan_head(model, head, report, taken)
    new_model = Rebuilder(plan).rebuild(model, [input_shape], keep_compile=False)
    if map_name is not None:
        scores = new_model.outputs[0]
        class_map = new_model.get_layer(map_name).output
        new_model = keras.Model(new_model.inputs[0], [scores, class_map], name=model.name)
    if verify:
        heads.verify(model, new_model, report, layout=layout)
    new_model.conversion_report = report
    return new_model
