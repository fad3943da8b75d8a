"""Property-based tests: random layer configurations and random graphs.

Example counts stay small for CI; set KERAS_1X1_FUZZ_EXAMPLES for a larger
run, e.g. ``KERAS_1X1_FUZZ_EXAMPLES=500 make test``.
"""

import os

import keras
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keras_1x1 import ConversionError, UserInputError, converters
from model_zoo import assert_same_layer_weights, randomize

L = keras.layers
EXAMPLES = int(os.environ.get("KERAS_1X1_FUZZ_EXAMPLES", "12"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=os.environ.get("KERAS_1X1_FUZZ_EXAMPLES") is None,
)
CONV = {3: L.Conv1D, 4: L.Conv2D, 5: L.Conv3D}


@st.composite
def pointwise_configs(draw):
    rank = draw(st.sampled_from([3, 4, 5]))
    spatial = rank - 2
    groups = draw(st.sampled_from([1, 2, 4]))
    cin = groups * draw(st.integers(1, 3))
    filters = groups * draw(st.integers(1, 3))
    # Spatial sizes stay below the smallest filter count of 5 or above 12,
    # so no channels_first output width equals the filter count: Keras' TF
    # backend adds the bias on the wrong axis exactly then.
    sizes = tuple(draw(st.sampled_from([1, 2, 3, 4, 13])) for _ in range(spatial))
    if rank == 5:
        sizes = tuple(min(s, 4) for s in sizes)
    return {
        "rank": rank,
        "data_format": draw(st.sampled_from(["channels_last", "channels_first"])),
        "cin": cin,
        "filters": filters if filters not in sizes else filters + groups * 5,
        "strides": tuple(draw(st.integers(1, 3)) for _ in range(spatial)),
        "groups": groups,
        "use_bias": draw(st.booleans()),
        "activation": draw(st.sampled_from([None, "relu", "tanh"])),
        "dtype": draw(st.sampled_from(["float32", "float32", "float16", "bfloat16"])),
        "sizes": sizes,
        "padding": draw(st.sampled_from(["valid", "same"])),
    }


def _model_for(config):
    sizes, cin = config["sizes"], config["cin"]
    shape = sizes + (cin,) if config["data_format"] == "channels_last" else (cin,) + sizes
    inputs = keras.Input(shape, dtype=config["dtype"])
    conv = CONV[config["rank"]](
        config["filters"], 1, strides=config["strides"], groups=config["groups"],
        use_bias=config["use_bias"], activation=config["activation"],
        data_format=config["data_format"], padding=config["padding"],
        dtype=config["dtype"], name="pw",
    )
    return randomize(keras.Model(inputs, conv(inputs)), seed=len(str(config)))


@FUZZ
@given(pointwise_configs())
def test_any_pointwise_conv_converts_and_round_trips(config):
    model = _model_for(config)
    dense = converters.conv_to_dense(model)
    assert dense.conversion_report.verified
    report = dense.conversion_report.layers[0]
    assert report.converted, report
    stats = dense.conversion_report.verification[0]
    if config["dtype"] != "float32":
        assert stats.atol >= 1e-2
    back = converters.dense_to_conv(dense)
    assert back.conversion_report.verified
    assert_same_layer_weights(model, back)
    restored = back.get_layer("pw")
    assert restored.groups == config["groups"]
    assert tuple(restored.strides) == config["strides"]


OPS = [
    "pw", "pw_groups", "pw_stride_up", "conv3", "depthwise", "relu", "bn", "add", "shared",
    "nested", "dense", "opsmul", "se", "concat",
]
HEADS = ["none", "flatten", "gap", "gap_keepdims"]


@st.composite
def graphs(draw):
    """A small random Functional graph over one channel width, with
    branches, a shared layer, a nested model, raw keras.ops nodes, strided
    pointwise layers (upsampled back), squeeze-and-excitation gates,
    Concatenate, depthwise convs, and a classifier head (Flatten, global
    pooling with or without keepdims) or none."""
    width = draw(st.sampled_from([4, 6, 8]))
    n_ops = draw(st.integers(2, 7))
    ops = [draw(st.sampled_from(OPS)) for _ in range(n_ops)]
    picks = [draw(st.integers(0, 100)) for _ in range(n_ops)]
    return width, ops, picks, draw(st.sampled_from(HEADS))


def _build_graph(width, ops, picks, head="none"):
    inputs = keras.Input((6, 6, width), name="image")
    tensors = [inputs]
    shared = L.Conv2D(width, 1, name="shared_pw")
    for i, (op, pick) in enumerate(zip(ops, picks)):
        x = tensors[pick % len(tensors)]
        other = tensors[(pick // 7) % len(tensors)]
        if op == "pw":
            y = L.Conv2D(width, 1, activation="relu", name=f"pw{i}")(x)
        elif op == "pw_groups":
            y = L.Conv2D(width, 1, groups=2, name=f"pwg{i}")(x)
        elif op == "pw_stride_up":
            y = L.Conv2D(width, 1, strides=2, name=f"pws{i}")(x)
            y = L.UpSampling2D(2, interpolation="bilinear", name=f"up{i}")(y)
        elif op == "conv3":
            y = L.Conv2D(width, 3, padding="same", name=f"c3_{i}")(x)
        elif op == "depthwise":
            y = L.DepthwiseConv2D(3, padding="same", name=f"dw{i}")(x)
        elif op == "relu":
            y = L.ReLU(name=f"relu{i}")(x)
        elif op == "bn":
            y = L.BatchNormalization(name=f"bn{i}")(x)
        elif op == "add":
            y = L.Add(name=f"add{i}")([x, other])
        elif op == "shared":
            y = shared(x)
        elif op == "nested":
            sub_in = keras.Input((6, 6, width))
            sub = keras.Model(sub_in, L.Conv2D(width, 1, name=f"inner{i}")(sub_in), name=f"block{i}")
            y = sub(x)
        elif op == "dense":
            y = L.Dense(width, name=f"dense{i}")(x)
        elif op == "se":
            s = L.GlobalAveragePooling2D(keepdims=True, name=f"squeeze{i}")(x)
            s = L.Conv2D(max(1, width // 2), 1, activation="relu", name=f"se_reduce{i}")(s)
            s = L.Conv2D(width, 1, activation="sigmoid", name=f"se_expand{i}")(s)
            y = L.Multiply(name=f"excite{i}")([x, s])
        elif op == "concat":
            y = L.Concatenate(name=f"concat{i}")([x, other])
            y = L.Conv2D(width, 1, name=f"merge{i}")(y)
        else:
            y = keras.ops.multiply(x, 0.5)
        tensors.append(y)
    outputs = [tensors[-1]] if len(tensors) < 3 else [tensors[-1], tensors[len(tensors) // 2]]
    if head == "flatten":
        outputs[0] = L.Dense(3, name="logits")(L.Flatten(name="flatten")(outputs[0]))
    elif head == "gap":
        outputs[0] = L.Dense(3, name="logits")(L.GlobalAveragePooling2D(name="gap")(outputs[0]))
    elif head == "gap_keepdims":
        pooled = L.GlobalAveragePooling2D(keepdims=True, name="gap")(outputs[0])
        outputs[0] = L.Conv2D(3, 1, name="logits")(pooled)
    return randomize(keras.Model(inputs, outputs, name="random_graph"))


@FUZZ
@given(graphs())
def test_random_graphs_convert_both_ways(graph):
    model = _build_graph(*graph)
    n_weights = len(model.weights)
    dense = converters.conv_to_dense(model)
    assert dense.conversion_report.verified
    assert len(dense.weights) == n_weights
    back = converters.dense_to_conv(dense)
    assert back.conversion_report.verified
    assert len(back.weights) == n_weights
    # Every layer that started as a conv comes back with the same weights.
    for layer in model.layers:
        if isinstance(layer, L.Conv2D):
            for a, b in zip(layer.get_weights(), back.get_layer(layer.name).get_weights()):
                assert np.array_equal(a, b), layer.name


@FUZZ
@given(graphs(), st.sampled_from(["conv_to_dense", "dense_to_conv", "convolutionalize"]))
def test_converters_fail_only_with_documented_errors(graph, operation):
    model = _build_graph(*graph)
    try:
        result = getattr(converters, operation)(model)
    except (UserInputError, ConversionError) as error:
        assert str(error) and "\n" not in str(error)
    else:
        assert result.conversion_report.verified


@settings(
    max_examples=max(4, EXAMPLES // 2),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=os.environ.get("KERAS_1X1_FUZZ_EXAMPLES") is None,
)
@given(graphs())
def test_random_graphs_have_one_canonical_graph_in_both_forms(graph):
    model = _build_graph(*graph)
    conv = converters.dense_to_conv(model)
    dense = converters.conv_to_dense(model)
    a, b = converters.export_onnx(conv), converters.export_onnx(dense)
    assert converters.fingerprint(a) == converters.fingerprint(b), converters.graph_diff(a, b)
