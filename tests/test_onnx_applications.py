"""The blocks of real architectures have one canonical ONNX graph in both forms.

Small hand-built models reproduce what EfficientNet and ConvNeXt do around
their pointwise layers (squeeze-and-excitation gates, swish, LayerScale,
LayerNormalization, pointwise layers on 1x1 maps); the conv form and the
converted form of each must canonicalize to one graph that computes what
Keras computes. EfficientNetB0 itself is the slow test.
"""

import keras
import numpy as np
import onnx
import pytest
from keras_1x1.converters.onnx import runtime

from keras_1x1 import converters
from model_zoo import randomize

L = keras.layers

PLUMBING = {"Shape", "Gather", "Concat", "Cast", "Identity", "Squeeze", "Unsqueeze", "Flatten"}


def _unit_reshapes_only(proto):
    """Every Reshape left only adds unit axes (a gate broadcast over a map)."""
    graph = onnx.shape_inference.infer_shapes(proto).graph
    shapes = {
        v.name: [d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim]
        for v in list(graph.value_info) + list(graph.input) + list(graph.output)
    }
    for node in graph.node:
        if node.op_type == "Reshape":
            source, target = shapes[node.input[0]], shapes[node.output[0]]
            assert [d for d in target if d != 1] == [d for d in source if d != 1], node
    return True


class LayerScale(L.Layer):
    """ConvNeXt's LayerScale: a learned per-channel scale (``x * gamma``)."""

    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels

    def build(self, input_shape):
        self.gamma = self.add_weight(shape=(self.channels,), initializer="ones", name="gamma")

    def call(self, x):
        return x * self.gamma

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


def _swish_bn_conv(x, filters, kernel, name, *, depthwise=False, strides=1):
    if depthwise:
        x = L.DepthwiseConv2D(kernel, strides, padding="same", use_bias=False, name=name)(x)
    else:
        x = L.Conv2D(filters, kernel, strides, padding="same", use_bias=False, name=name)(x)
    x = L.BatchNormalization(name=f"{name}_bn")(x)
    return L.Activation("swish", name=f"{name}_swish")(x)


def efficientnet_like():
    """MBConv blocks as in EfficientNet: expand, depthwise, SE gate, project.

    The SE branch is ``GlobalAveragePooling2D -> Reshape((1, 1, C)) ->
    Conv 1x1 (swish) -> Conv 1x1 (sigmoid) -> Multiply`` with the map.
    """
    inputs = keras.Input((12, 12, 3), name="image")
    x = _swish_bn_conv(inputs, 16, 3, "stem", strides=2)

    def mbconv(x, filters, expand, name, strides=1):
        channels = x.shape[-1]
        h = x
        if expand != 1:
            h = _swish_bn_conv(h, channels * expand, 1, f"{name}_expand")
        h = _swish_bn_conv(h, None, 3, f"{name}_dw", depthwise=True, strides=strides)
        width = h.shape[-1]
        se = L.GlobalAveragePooling2D(name=f"{name}_se_squeeze")(h)
        se = L.Reshape((1, 1, width), name=f"{name}_se_reshape")(se)
        se = L.Conv2D(max(1, channels // 4), 1, activation="swish", name=f"{name}_se_reduce")(se)
        se = L.Conv2D(width, 1, activation="sigmoid", name=f"{name}_se_expand")(se)
        h = L.Multiply(name=f"{name}_se_excite")([h, se])
        h = L.Conv2D(filters, 1, use_bias=False, name=f"{name}_project")(h)
        h = L.BatchNormalization(name=f"{name}_project_bn")(h)
        if strides == 1 and filters == channels:
            h = L.Dropout(0.2, name=f"{name}_drop")(h)
            h = L.Add(name=f"{name}_add")([h, x])
        return h

    x = mbconv(x, 16, 1, "block1")
    x = mbconv(x, 24, 4, "block2", strides=2)
    x = mbconv(x, 24, 4, "block3")
    x = _swish_bn_conv(x, 32, 1, "top")
    x = L.GlobalAveragePooling2D(name="avg_pool")(x)
    x = L.Dropout(0.2, name="top_dropout")(x)
    x = L.Dense(10, name="predictions")(x)
    return keras.Model(inputs, x, name="efficientnet_like")


def se_keepdims():
    """An SE gate from a pooling that keeps its dims (no Reshape)."""
    inputs = keras.Input((8, 8, 3), name="image")
    x = _swish_bn_conv(inputs, 16, 3, "stem")
    se = L.GlobalAveragePooling2D(keepdims=True, name="se_squeeze")(x)
    se = L.Conv2D(4, 1, activation="swish", name="se_reduce")(se)
    se = L.Conv2D(16, 1, activation="sigmoid", name="se_expand")(se)
    x = L.Multiply(name="se_excite")([x, se])
    x = L.Conv2D(8, 1, use_bias=False, name="project")(x)
    x = L.BatchNormalization(name="project_bn")(x)
    x = L.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(inputs, L.Dense(10, name="predictions")(x))


def convnext_like():
    """ConvNeXt stages (dense form): the last stage runs on a 1x1 map.

    Block: depthwise 7x7 (grouped Conv2D), LayerNormalization, Dense(4C,
    gelu), Dense(C), LayerScale, residual add; downsampling LayerNorm +
    Conv2D(2, strides=2); head GlobalAveragePooling, LayerNorm, Dense.
    """
    inputs = keras.Input((8, 8, 3), name="image")

    def block(x, name):
        c = x.shape[-1]
        h = L.Conv2D(c, 7, padding="same", groups=c, name=f"{name}_depthwise_conv")(x)
        h = L.LayerNormalization(epsilon=1e-6, name=f"{name}_layernorm")(h)
        h = L.Dense(4 * c, name=f"{name}_pointwise_conv_1")(h)
        h = L.Activation("gelu", name=f"{name}_gelu")(h)
        h = L.Dense(c, name=f"{name}_pointwise_conv_2")(h)
        h = LayerScale(c, name=f"{name}_layer_scale")(h)
        h = L.Activation("linear", name=f"{name}_identity")(h)
        return L.Add(name=f"{name}_add")([x, h])

    x = L.Conv2D(16, 4, strides=4, name="stem_conv")(inputs)
    x = L.LayerNormalization(epsilon=1e-6, name="stem_layernorm")(x)
    x = block(x, "stage0_block0")
    x = L.LayerNormalization(epsilon=1e-6, name="downsampling_layernorm")(x)
    x = L.Conv2D(32, 2, strides=2, name="downsampling_conv")(x)
    x = block(x, "stage1_block0")
    x = block(x, "stage1_block1")
    x = L.GlobalAveragePooling2D(name="head_gap")(x)
    x = L.LayerNormalization(epsilon=1e-6, name="head_layernorm")(x)
    return keras.Model(inputs, L.Dense(10, name="head_dense")(x), name="convnext_like")


# name -> (builder, converter, a pointwise layer of the converted form)
CASES = {
    "efficientnet_like": (efficientnet_like, converters.conv_to_dense, "block3_se_reduce"),
    "se_keepdims": (se_keepdims, converters.conv_to_dense, "se_expand"),
    "convnext_like": (convnext_like, converters.dense_to_conv, "stage1_block1_pointwise_conv_1"),
}


@pytest.fixture(scope="module")
def forms():
    """name -> {"model", "converted", "model_onnx", "converted_onnx"}."""
    cache = {}

    def get(name):
        if name not in cache:
            build, convert, _ = CASES[name]
            keras.utils.set_random_seed(7)
            model = randomize(build())
            converted = convert(model)
            cache[name] = {
                "model": model,
                "converted": converted,
                "model_onnx": converters.export_onnx(model),
                "converted_onnx": converters.export_onnx(converted),
            }
        return cache[name]

    return get


def _sample(model, seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(2,) + tuple(model.inputs[0].shape[1:])).astype("float32")


def _run_onnx(proto, x):
    session = runtime.make_session(proto, "cpu")
    return list(runtime.run(session, {proto.graph.input[0].name: x}).values())[0]


@pytest.mark.parametrize("name", sorted(CASES))
def test_both_forms_have_one_fingerprint(forms, name):
    pair = forms(name)
    a, b = pair["model_onnx"], pair["converted_onnx"]
    # The raw exports differ (conv vs tensordot plumbing) ...
    assert a.graph.SerializeToString() != b.graph.SerializeToString()
    # ... the canonical graphs do not.
    assert converters.fingerprint(a) == converters.fingerprint(b), converters.graph_diff(a, b)
    assert converters.graph_diff(a, b) is None


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_changed_weight_changes_the_fingerprint(forms, name):
    pair = forms(name)
    _, convert, layer_name = CASES[name]
    changed = convert(pair["model"])
    layer = changed.get_layer(layer_name)
    weights = layer.get_weights()
    weights[0].flat[0] += 0.5
    layer.set_weights(weights)
    proto = converters.export_onnx(changed)
    assert converters.fingerprint(proto) != converters.fingerprint(pair["model_onnx"])
    diff = converters.graph_diff(pair["model_onnx"], proto)
    assert "weight" in diff and "differs in 1 of" in diff


@pytest.mark.parametrize("name", sorted(CASES))
def test_canonical_graph_matches_keras(forms, name):
    pair = forms(name)
    x = _sample(pair["model"])
    expected = np.asarray(pair["model"](x, training=False))
    other = np.asarray(pair["model"](_sample(pair["model"], seed=2), training=False))
    assert np.abs(other - expected).max() > 1e-3  # the check below is not vacuous
    for key in ("model_onnx", "converted_onnx"):
        canonical = converters.canonicalize(pair[key])
        np.testing.assert_allclose(_run_onnx(canonical, x), expected, rtol=1e-4, atol=1e-5)
        assert [i.name for i in canonical.graph.input] == [i.name for i in pair[key].graph.input]
        assert [o.name for o in canonical.graph.output] == [
            o.name for o in pair[key].graph.output
        ]


@pytest.mark.parametrize("name", sorted(CASES))
def test_canonicalize_is_idempotent(forms, name):
    raw = forms(name)["converted_onnx"]
    once = converters.canonicalize(raw)
    twice = converters.canonicalize(once)
    assert once.SerializeToString() == twice.SerializeToString()


def _pointwise_layers(model):
    return [
        layer
        for layer in model.layers
        if isinstance(layer, L.Dense)
        or (isinstance(layer, L.Conv2D) and tuple(layer.kernel_size) == (1, 1))
    ]


@pytest.mark.parametrize("name", sorted(CASES))
def test_canonical_graph_has_one_matmul_per_pointwise_layer_and_no_plumbing(forms, name):
    pair = forms(name)
    canonical = converters.canonicalize(pair["converted_onnx"])
    ops = [n.op_type for n in canonical.graph.node]
    assert ops.count("MatMul") == len(_pointwise_layers(pair["model"]))
    assert not PLUMBING & set(ops)
    assert _unit_reshapes_only(canonical)


def test_se_gate_is_computed_per_channel_and_broadcast_in_the_conv_layout(forms):
    # The normal form: the SE branch runs on (N, C) (global pooling drops
    # the unit axes), its gate gets them back as (N, C, 1, 1) just before it
    # multiplies the NCHW map of the depthwise conv; one Transpose then
    # brings the product to the projecting MatMul.
    canonical = converters.canonicalize(forms("efficientnet_like")["model_onnx"])
    graph = onnx.shape_inference.infer_shapes(canonical).graph
    ranks = {v.name: len(v.type.tensor_type.shape.dim) for v in list(graph.value_info) + list(graph.input)}
    nodes = list(graph.node)
    producer = {out: n for n in nodes for out in n.output}
    squeezes = [n for n in nodes if n.op_type == "ReduceMean"]
    assert len(squeezes) == 4 and all(ranks[n.output[0]] == 2 for n in squeezes)  # 3 gates, the head
    excites = [
        n
        for n in nodes
        if n.op_type == "Mul"
        and all(i in producer for i in n.input)
        and "Reshape" in {producer[i].op_type for i in n.input}
    ]
    assert len(excites) == 3
    consumers = {n.input[0]: n for n in nodes if n.input}
    assert all(consumers[n.output[0]].op_type == "Transpose" for n in excites)


@pytest.mark.slow
def test_efficientnet_b0_forms_share_one_graph():
    model = randomize(
        keras.applications.EfficientNetB0(input_shape=(32, 32, 3), weights=None, classes=10)
    )
    dense = converters.conv_to_dense(model)
    a, b = converters.export_onnx(model), converters.export_onnx(dense)
    assert converters.fingerprint(a) == converters.fingerprint(b), converters.graph_diff(a, b)
    x = _sample(model)
    np.testing.assert_allclose(
        _run_onnx(converters.canonicalize(b), x),
        np.asarray(model(x, training=False)),
        rtol=1e-4,
        atol=1e-5,
    )
    assert onnx.checker.check_model(converters.canonicalize(a)) is None
