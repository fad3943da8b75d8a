"""Canonical ONNX graphs: the conv form and the dense form of one trained
model get the same fingerprint, and the canonical graph computes what the
raw export computes. Real tf2onnx exports, real onnxruntime sessions."""

import random

import keras
import numpy as np
import onnx
import pytest
from keras_1x1.converters.onnx import canonical, runtime

import keras_1x1
from keras_1x1 import converters
from keras_1x1.kernels import block_diagonal

L = keras.layers


# -- the two forms of one model, built by hand ------------------------------------------


def _pointwise(form, units, name, *, strides=1, groups=1, rank=4, use_bias=True):
    """A pointwise layer in the conv form (ConvND k=1) or the dense form (Dense)."""
    if form == "dense":
        return L.Dense(units, use_bias=use_bias, name=name)
    conv = {3: L.Conv1D, 4: L.Conv2D, 5: L.Conv3D}[rank]
    return conv(units, 1, strides=strides, groups=groups, use_bias=use_bias, name=name)


def residual(form):
    """3x3 conv, BatchNorm, relu, two pointwise layers with BN, residual add."""
    x = keras.Input((8, 8, 16), name="image")
    h = L.Conv2D(16, 3, padding="same", name="stem")(x)
    h = L.BatchNormalization(name="bn0")(h)
    h = L.ReLU(name="relu0")(h)
    a = _pointwise(form, 24, "pw1")(h)
    a = L.BatchNormalization(name="bn1")(a)
    a = L.ReLU(name="relu1")(a)
    a = _pointwise(form, 16, "pw2")(a)
    h = L.Add(name="add")([h, a])
    h = L.Conv2D(8, 3, padding="same", name="head")(h)
    return keras.Model(x, h, name=f"residual_{form}")


def strided(form):
    """A strided 1x1 conv == subsample, then Dense (odd map size, 'same')."""
    x = keras.Input((9, 9, 8), name="image")
    h = L.Conv2D(8, 3, padding="same", activation="relu", name="stem")(x)
    if form == "conv":
        h = L.Conv2D(12, 1, strides=2, padding="same", name="pw")(h)
    else:
        h = keras_1x1.PixelDense(12, name="pw")(L.MaxPooling2D(1, strides=2, name="sub")(h))
    h = L.ReLU(name="relu")(h)
    return keras.Model(x, h, name=f"strided_{form}")


def grouped(form):
    """A grouped 1x1 conv == Dense with a block-diagonal kernel."""
    x = keras.Input((6, 6, 8), name="image")
    h = L.Conv2D(8, 3, padding="same", name="stem")(x)
    h = _pointwise(form, 12, "pw", groups=4)(h)
    return keras.Model(x, L.ReLU(name="relu")(h), name=f"grouped_{form}")


def conv1d(form):
    x = keras.Input((10, 8), name="sequence")
    h = L.Conv1D(8, 3, padding="same", activation="relu", name="stem")(x)
    h = _pointwise(form, 16, "pw1", rank=3)(h)
    h = L.ReLU(name="relu")(h)
    h = _pointwise(form, 16, "pw2", rank=3)(h)
    return keras.Model(x, L.Activation("sigmoid", name="sigmoid")(h), name=f"conv1d_{form}")


def conv3d(form):
    x = keras.Input((4, 4, 4, 3), name="volume")
    h = L.Conv3D(4, 3, padding="same", activation="relu", name="stem")(x)
    h = _pointwise(form, 6, "pw", rank=5)(h)
    return keras.Model(x, h, name=f"conv3d_{form}")


def classifier(form):
    """Pointwise layers, global pooling and a Dense head (Gemm/MatMul on 2-D)."""
    x = keras.Input((8, 8, 4), name="image")
    h = L.Conv2D(8, 3, name="stem")(x)
    h = _pointwise(form, 8, "pw")(h)
    h = L.GlobalAveragePooling2D(name="pool")(h)
    h = L.Dense(5, name="logits")(h)
    return keras.Model(x, h, name=f"classifier_{form}")


def channels_first(form):
    """keras_1x1 layers on channels_first maps (the map acts on axis 1)."""
    x = keras.Input((8, 6, 6), name="image")
    h = keras_1x1.Conv1x1(8, data_format="channels_first", name="pw1")(x, form=form)
    h = L.ReLU(name="relu")(h)
    h = keras_1x1.Conv1x1(4, strides=2, data_format="channels_first", name="pw2")(h, form=form)
    return keras.Model(x, h, name=f"channels_first_{form}")


def einsum_channels_first(form):
    """Conv2D 1x1 on a channels_first map against EinsumDense on axis 1."""
    x = keras.Input((8, 6, 6), name="image")
    if form == "conv":
        h = L.Conv2D(12, 1, data_format="channels_first", name="pw")(x)
    else:
        h = L.EinsumDense("abcd,be->aecd", output_shape=(12, None, None), bias_axes="e", name="pw")(
            x
        )
    return keras.Model(x, L.ReLU(name="relu")(h), name=f"einsum_channels_first_{form}_xla")


def einsum_last_axis(form):
    x = keras.Input((6, 6, 8), name="image")
    h = L.Conv2D(8, 3, padding="same", name="stem")(x)
    if form == "conv":
        h = L.Conv2D(12, 1, name="pw")(h)
    else:
        h = L.EinsumDense("abcd,de->abce", output_shape=(None, None, 12), bias_axes="e", name="pw")(
            h
        )
    return keras.Model(x, L.ReLU(name="relu")(h), name=f"einsum_{form}")


def keras_1x1_grouped(form):
    """Conv1x1(groups=4) in its conv form against its grouped-einsum dense form."""
    x = keras.Input((6, 6, 8), name="image")
    h = L.Conv2D(8, 3, padding="same", name="stem")(x)
    h = keras_1x1.Conv1x1(12, groups=4, name="pw")(h, form=form)
    return keras.Model(x, L.ReLU(name="relu")(h), name=f"k1x1_grouped_{form}")


def dynamic_spatial(form):
    """Spatial dims unknown (a convolutionalized model): every dim is symbolic."""
    x = keras.Input((None, None, 3), name="image")
    h = L.Conv2D(4, 3, activation="relu", name="stem")(x)
    h = _pointwise(form, 6, "pw1")(h)
    h = L.ReLU(name="relu")(h)
    h = _pointwise(form, 5, "pw2")(h)
    return keras.Model(x, h, name=f"dynamic_{form}")


def sequential(form):
    return keras.Sequential(
        [
            keras.Input((5, 5, 3), name="image"),
            L.Conv2D(4, 3, padding="same", name="stem"),
            _pointwise(form, 6, "pw"),
            L.ReLU(name="relu"),
        ],
        name=f"sequential_{form}",
    )


def keras_1x1_layers(form):
    """Conv1x1 (conv form) against PixelDense (dense form)."""
    x = keras.Input((7, 7, 6), name="image")
    layer = keras_1x1.Conv1x1 if form == "conv" else keras_1x1.PixelDense
    h = layer(10, activation="relu", name="pw1")(x)
    h = layer(6, name="pw2")(h)
    return keras.Model(x, h, name=f"k1x1_{form}")


def five_layers(form):
    """Conv 3x3, pointwise, strided pointwise, Flatten, two Dense (issue case)."""
    x = keras.Input((12, 12, 3), name="image")
    h = L.Conv2D(8, 3, activation="relu", name="stem")(x)
    h = _pointwise(form, 6, "pw1")(h)
    h = L.ReLU(name="relu")(h)
    if form == "conv":
        h = L.Conv2D(4, 1, strides=2, name="pw2")(h)
    else:
        h = L.Dense(4, name="pw2")(L.MaxPooling2D(1, strides=2, name="sub")(h))
    h = L.Flatten(name="flatten")(h)
    h = L.Dense(5, activation="relu", name="fc")(h)
    return keras.Model(x, L.Dense(3, name="logits")(h), name=f"five_{form}")


def gap_keepdims_head(form):
    """Global pooling with keepdims, then pointwise layers on the 1x1 map."""
    x = keras.Input((8, 8, 3), name="image")
    h = L.Conv2D(8, 3, padding="same", activation="relu", name="stem")(x)
    h = L.GlobalAveragePooling2D(keepdims=True, name="pool")(h)
    h = _pointwise(form, 6, "pw1")(h)
    h = L.ReLU(name="relu")(h)
    h = _pointwise(form, 4, "pw2")(h)
    h = L.Reshape((4,), name="flat")(h)
    return keras.Model(x, L.Softmax(name="softmax")(h), name=f"gap_keepdims_{form}")


def concatenate_branches(form):
    """A Concatenate of two pointwise branches (as CSPNet does)."""
    x = keras.Input((8, 8, 3), name="image")
    h = L.Conv2D(8, 3, padding="same", activation="relu", name="stem")(x)
    a = L.ReLU(name="relu_a")(_pointwise(form, 4, "pw_a")(h))
    b = L.ReLU(name="relu_b")(_pointwise(form, 5, "pw_b")(h))
    c = L.Concatenate(name="concat")([a, b])
    return keras.Model(x, L.Conv2D(6, 3, padding="same", name="head")(c), name=f"concat_{form}")


def bilinear_upsampling(form):
    """A pointwise layer, bilinear upsampling, another (as DeepLabV3 does)."""
    x = keras.Input((6, 6, 3), name="image")
    h = L.Conv2D(8, 3, padding="same", activation="relu", name="stem")(x)
    h = _pointwise(form, 6, "pw1")(h)
    h = L.UpSampling2D(2, interpolation="bilinear", name="up")(h)
    return keras.Model(x, _pointwise(form, 4, "pw2")(h), name=f"bilinear_{form}")


def hard_swish_se(form):
    """A hard-swish squeeze-and-excitation block (as MobileNetV3 has)."""
    x = keras.Input((8, 8, 3), name="image")
    h = L.Conv2D(16, 3, padding="same", name="stem")(x)
    h = L.Activation("hard_swish", name="hswish")(h)
    s = L.GlobalAveragePooling2D(keepdims=True, name="squeeze")(h)
    s = L.Activation("relu", name="relu")(_pointwise(form, 4, "reduce")(s))
    s = L.Activation("hard_sigmoid", name="gate")(_pointwise(form, 16, "expand")(s))
    h = L.Multiply(name="excite")([h, s])
    return keras.Model(x, _pointwise(form, 8, "project")(h), name=f"hard_swish_se_{form}")


def transformer_block(form):
    """A pre-norm transformer block over a sequence of any length: Keras
    MultiHeadAttention, then a per-token feed-forward pair (Dense or Conv1D
    with kernel 1)."""
    x = keras.Input((None, 16), name="tokens")
    h = L.LayerNormalization(name="norm1")(x)
    h = L.MultiHeadAttention(2, 8, name="attention")(h, h)
    h = L.Add(name="residual1")([x, h])
    f = L.LayerNormalization(name="norm2")(h)
    f = _pointwise(form, 32, "ffn1", rank=3)(f)
    f = L.Activation("gelu", name="gelu")(f)
    f = _pointwise(form, 16, "ffn2", rank=3)(f)
    return keras.Model(x, L.Add(name="residual2")([h, f]), name=f"transformer_{form}")


BUILDERS = {
    "residual": residual,
    "strided": strided,
    "grouped": grouped,
    "conv1d": conv1d,
    "conv3d": conv3d,
    "classifier": classifier,
    "channels_first": channels_first,
    "sequential": sequential,
    "keras_1x1_layers": keras_1x1_layers,
    "keras_1x1_grouped": keras_1x1_grouped,
    "einsum_channels_first": einsum_channels_first,
    "einsum_last_axis": einsum_last_axis,
    "dynamic_spatial": dynamic_spatial,
    "five_layers": five_layers,
    "gap_keepdims_head": gap_keepdims_head,
    "concatenate_branches": concatenate_branches,
    "bilinear_upsampling": bilinear_upsampling,
    "hard_swish_se": hard_swish_se,
    "transformer_block": transformer_block,
}


def randomize(model, seed=0):
    """Random weights, and BatchNorm statistics far from the identity."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        if isinstance(layer, L.BatchNormalization):
            layer.set_weights([(rng.random(w.shape) + 0.5).astype(w.dtype) for w in weights])
        else:
            layer.set_weights([(rng.normal(size=w.shape) * 0.3).astype(w.dtype) for w in weights])


def copy_weights(source, target):
    """Carry every weight from `source` to the same-named layer of `target`."""
    for layer in target.layers:
        if not layer.weights:
            continue
        origin = source.get_layer(layer.name)
        new = []
        for a, b in zip(origin.get_weights(), layer.get_weights()):
            if a.shape != b.shape:
                groups = getattr(origin, "groups", 1)
                if groups > 1:  # a grouped conv kernel (1, .., Cin/g, Cout) as a Dense's
                    a = block_diagonal(a.reshape(a.shape[-2:]), groups)
                else:
                    a = a.reshape(b.shape)
            new.append(a)
        layer.set_weights(new)


def sample(model, seed=1):
    rng = np.random.default_rng(seed)
    shape = tuple(9 if d is None else d for d in model.inputs[0].shape[1:])
    return rng.normal(size=(2,) + shape).astype("float32")


def run_onnx(proto, x):
    session = runtime.make_session(proto, "cpu")
    return list(runtime.run(session, {proto.graph.input[0].name: x}).values())[0]


def run_keras(model, x):
    if model.name.endswith("_xla"):
        # TensorFlow's CPU kernels cannot run a channels_first Conv2D
        # eagerly; XLA can.
        import tensorflow as tf

        return np.asarray(tf.function(lambda t: model(t, training=False), jit_compile=True)(x))
    return np.asarray(model(x, training=False))


@pytest.fixture(scope="module")
def pairs():
    """name -> (conv model, dense model before copy, raw exports before/after)."""
    cache = {}

    def get(name):
        if name not in cache:
            keras.utils.set_random_seed(7)
            conv = BUILDERS[name]("conv")
            dense = BUILDERS[name]("dense")
            randomize(conv)
            dense_before = converters.export_onnx(dense)
            out_before = run_keras(dense, sample(conv))
            copy_weights(conv, dense)
            cache[name] = {
                "conv": conv,
                "dense": dense,
                "conv_onnx": converters.export_onnx(conv),
                "dense_onnx": converters.export_onnx(dense),
                "dense_onnx_before": dense_before,
                "dense_out_before": out_before,
            }
        return cache[name]

    return get


# -- fingerprints across forms ----------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_conv_and_dense_forms_have_one_fingerprint(pairs, name):
    pair = pairs(name)
    x = sample(pair["conv"])
    expected = run_keras(pair["conv"], x)
    conv_print = converters.fingerprint(pair["conv_onnx"])

    # Before the weights are copied the two forms are different models.
    assert converters.fingerprint(pair["dense_onnx_before"]) != conv_print
    assert np.abs(pair["dense_out_before"] - expected).max() > 1e-2

    # After: one graph, and the same outputs.
    assert converters.fingerprint(pair["dense_onnx"]) == conv_print
    np.testing.assert_allclose(run_keras(pair["dense"], x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_canonical_graph_computes_what_the_raw_export_computes(pairs, name):
    pair = pairs(name)
    x = sample(pair["conv"])
    expected = run_keras(pair["conv"], x)
    for key in ("conv_onnx", "dense_onnx"):
        raw = pair[key]
        canonical_proto = converters.canonicalize(raw)
        raw_out = run_onnx(raw, x)
        np.testing.assert_allclose(raw_out, expected, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(run_onnx(canonical_proto, x), raw_out, rtol=1e-4, atol=1e-5)
        # Same interface: input and output names are kept.
        assert [i.name for i in canonical_proto.graph.input] == [i.name for i in raw.graph.input]
        assert [o.name for o in canonical_proto.graph.output] == [o.name for o in raw.graph.output]


def test_canonical_form_has_matmul_add_per_pointwise_layer(pairs):
    pair = pairs("residual")
    for key in ("conv_onnx", "dense_onnx"):
        proto = converters.canonicalize(pair[key])
        ops = [n.op_type for n in proto.graph.node]
        # Two pointwise layers (BN folded into the first): MatMul + Add each.
        assert ops.count("MatMul") == 2
        kernel_shapes = {tuple(i.dims) for i in proto.graph.initializer if len(i.dims) == 2}
        assert kernel_shapes == {(16, 24), (24, 16)}
        assert not {"Shape", "Gather", "Reshape", "Concat", "Cast", "Identity"} & set(ops)
        # No pointwise Conv is left; only the two 3x3 convs.
        assert ops.count("Conv") == 2
        assert all(not n.name or n.name.startswith("n") for n in proto.graph.node)


def test_grouped_conv_meets_the_block_diagonal_dense(pairs):
    proto = converters.canonicalize(pairs("grouped")["conv_onnx"])
    kernels = [onnx.numpy_helper.to_array(i) for i in proto.graph.initializer if i.dims == [8, 12]]
    assert len(kernels) == 1
    blocks = kernels[0].reshape(4, 2, 4, 3).transpose(0, 2, 1, 3)
    assert not np.any(blocks[~np.eye(4, dtype=bool)])


def test_canonicalize_is_idempotent(pairs):
    for name in ("residual", "strided", "conv1d", "classifier"):
        raw = pairs(name)["dense_onnx"]
        once = converters.canonicalize(raw)
        twice = converters.canonicalize(once)
        assert converters.fingerprint(once) == converters.fingerprint(twice)
        assert converters.fingerprint(once) == converters.fingerprint(raw)
        assert [n.op_type for n in once.graph.node] == [n.op_type for n in twice.graph.node]
        assert once.SerializeToString() == twice.SerializeToString()


def test_canonicalize_does_not_change_its_input(pairs):
    raw = pairs("residual")["conv_onnx"]
    before = raw.SerializeToString()
    converters.canonicalize(raw)
    converters.fingerprint(raw)
    assert raw.SerializeToString() == before


# -- what the fingerprint sees and does not see -----------------------------------------


def test_one_weight_changes_the_fingerprint_and_the_diff_names_it(pairs):
    raw = pairs("residual")["conv_onnx"]
    changed = onnx.ModelProto()
    changed.CopyFrom(raw)
    target = next(i for i in changed.graph.initializer if list(i.dims) == [24, 16, 1, 1])
    array = onnx.numpy_helper.to_array(target).copy()
    array[3, 5, 0, 0] += 0.125
    target.CopyFrom(onnx.numpy_helper.from_array(array, target.name))

    assert converters.fingerprint(changed) != converters.fingerprint(raw)
    diff = converters.graph_diff(raw, changed)
    assert "weight (16, 24) float32 differs in 1 of 384 entries" in diff
    # BatchNorm bn1 is folded into that kernel, so the difference is scaled.
    assert "max difference 0.1" in diff and "at (5, 3)" in diff
    assert converters.graph_diff(raw, pairs("residual")["dense_onnx"]) is None


def test_structure_changes_the_fingerprint(pairs):
    keras.utils.set_random_seed(3)
    base = residual("conv")
    randomize(base)
    x = keras.Input((8, 8, 16), name="image")
    h = base.get_layer("stem")(x)
    h = base.get_layer("bn0")(h)
    h = L.ReLU()(h)
    a = base.get_layer("pw1")(h)
    a = base.get_layer("bn1")(a)
    a = L.Activation("sigmoid")(a)  # relu1 -> sigmoid
    a = base.get_layer("pw2")(a)
    h = L.Add()([h, a])
    changed = keras.Model(x, base.get_layer("head")(h))
    raw = converters.export_onnx(base)
    other = converters.export_onnx(changed)
    assert converters.fingerprint(raw) != converters.fingerprint(other)
    diff = converters.graph_diff(raw, other)
    assert "first difference at node Relu vs Sigmoid" in diff


def _reordered(proto, seed):
    """The same graph with other names and another valid node order."""
    model = onnx.ModelProto()
    model.CopyFrom(proto)
    graph = model.graph
    keep = {v.name for v in graph.input} | {v.name for v in graph.output}
    renames = {}
    for node in graph.node:
        for name in node.output:
            if name not in keep:
                renames[name] = f"renamed_{len(renames)}_{seed}"
    for init in graph.initializer:
        renames[init.name] = f"weight_{len(renames)}_{seed}"
        init.name = renames[init.name]
    for node in graph.node:
        node.name = f"node_{random.Random(seed).random()}"
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]
    del graph.value_info[:]
    # Kahn's algorithm with random choices: another topological order.
    rng = random.Random(seed)
    produced = {v.name for v in graph.input} | {i.name for i in graph.initializer} | {""}
    pending = list(graph.node)
    order = []
    while pending:
        ready = [n for n in pending if all(i in produced for i in n.input)]
        pick = rng.choice(ready)
        order.append(pick)
        pending.remove(pick)
        produced.update(pick.output)
    nodes = [type(n)() for n in order]
    for new, old in zip(nodes, order):
        new.CopyFrom(old)
    del graph.node[:]
    graph.node.extend(nodes)
    initializers = [type(i)() for i in graph.initializer]
    for new, old in zip(initializers, graph.initializer):
        new.CopyFrom(old)
    rng.shuffle(initializers)
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    return model


def test_names_and_node_order_do_not_count(pairs):
    raw = pairs("residual")["dense_onnx"]
    other = _reordered(raw, seed=5)
    assert [n.op_type for n in other.graph.node] != [n.op_type for n in raw.graph.node]
    assert converters.fingerprint(other) == converters.fingerprint(raw)


# -- deployment forms -------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["residual", "strided", "grouped", "conv1d", "conv3d", "channels_first", "keras_1x1_grouped"],
)
def test_deployment_forms_match_keras(pairs, name):
    pair = pairs(name)
    x = sample(pair["conv"])
    expected = run_keras(pair["conv"], x)
    raw = pair["dense_onnx"]
    conv_form = canonical.to_form(raw, "conv")
    matmul_form = canonical.to_form(raw, "matmul")
    np.testing.assert_allclose(run_onnx(matmul_form, x), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(run_onnx(conv_form, x), expected, rtol=1e-4, atol=1e-5)
    # Both deployment forms are the same canonical graph.
    assert converters.fingerprint(conv_form) == converters.fingerprint(raw)
    assert converters.fingerprint(matmul_form) == converters.fingerprint(raw)
    # The conv form has no pointwise MatMul on a map left.
    kernels = {i.name: list(i.dims) for i in conv_form.graph.initializer}
    for node in conv_form.graph.node:
        if node.op_type == "MatMul":
            pytest.fail(f"MatMul left in the conv form: {node}")
        if node.op_type == "Conv" and all(d == 1 for d in kernels[node.input[1]][2:]):
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            if name in ("grouped", "keras_1x1_grouped"):
                assert attrs.get("group") == 4
            if name == "strided":
                assert attrs.get("strides") == [2, 2]


def _one_pixel_block(head):
    # Strided 3x3 convs down to a 1x1 map, a bottleneck of pointwise convs
    # on it (biases, a residual sum) and, with `head`, a classifier on the
    # pooled features of a 2x2 map beside it.
    keras.utils.set_random_seed(3)
    x = keras.Input((4, 4, 3))
    h = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    pooled = L.GlobalAveragePooling2D()(h)
    h = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(h)
    b = L.Conv2D(16, 1, activation="relu", bias_initializer="random_normal")(h)
    # A batch norm after the activation: a per-channel Mul and Add.
    b = L.BatchNormalization(gamma_initializer="random_uniform", beta_initializer="random_normal",
                             moving_mean_initializer="random_normal")(b)
    h = L.Add()([h, L.Conv2D(8, 1, bias_initializer="random_normal")(b)])
    outputs = [L.Conv2D(6, 1)(L.ReLU()(h))]
    if head:
        outputs.append(L.Dense(5)(pooled))
    return keras.Model(x, outputs)


@pytest.mark.parametrize("head", [False, True])
def test_the_conv_form_of_a_1x1_map_is_convs_without_reshapes(head):
    model = _one_pixel_block(head)
    dense = converters.conv_to_dense(model)
    raw = converters.export_onnx(dense)
    x = sample(model)
    expected = model(x)
    expected = [np.asarray(e) for e in (expected if head else [expected])]
    for form in ("conv", "accelerator"):
        proto = canonical.to_form(raw, form)
        session = runtime.make_session(proto, "cpu")
        got = list(runtime.run(session, {proto.graph.input[0].name: x}).values())
        for a, b in zip(got, expected):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
        assert converters.fingerprint(proto) == converters.fingerprint(raw)
        ops = [n.op_type for n in proto.graph.node]
        kernels = {i.name: list(i.dims) for i in proto.graph.initializer}
        pointwise = [n for n in proto.graph.node
                     if n.op_type == "Conv" and kernels[n.input[1]][2:] == [1, 1]]
        # The three pointwise maps of the 1x1 map are 2-D convs, their
        # biases in them; one Reshape (the output, back to channels last).
        assert len(pointwise) == 3 and all(len(n.input) == 3 for n in pointwise[:2])
        assert ops.count("Reshape") == 1 and ops.count("Add") == 2
        # The classifier on pooled features never was a map: a MatMul.
        assert ops.count("MatMul") == head
    # The canonical form itself writes them as products.
    assert [n.op_type for n in converters.canonicalize(raw).graph.node].count("MatMul") == 3 + head


def test_conv_form_cancels_transposes_between_convs(pairs):
    conv_form = canonical.to_form(pairs("residual")["dense_onnx"], "conv")
    ops = [n.op_type for n in conv_form.graph.node]
    # Only the input and output transposes remain: every conv works NCHW.
    assert ops.count("Transpose") == 2
    assert ops.count("Conv") == 4


def test_to_form_rejects_unknown_forms(pairs):
    with pytest.raises(keras_1x1.UserInputError, match="form must be one of raw, matmul, conv"):
        canonical.to_form(pairs("sequential")["conv_onnx"], "nhwc")


# -- real architectures -----------------------------------------------------------------


def _dense_form_of(model):
    """Every stride-1 ungrouped Conv2D 1x1 of `model` as a Dense (hand-made)."""

    def clone(layer):
        config = layer.get_config()
        if (
            type(layer) is L.Conv2D
            and tuple(layer.kernel_size) == (1, 1)
            and tuple(layer.strides) == (1, 1)
            and layer.groups == 1
        ):
            return L.Dense(
                layer.filters,
                activation=config["activation"],
                use_bias=layer.use_bias,
                name=layer.name,
            )
        return layer.__class__.from_config(config)

    dense = keras.models.clone_model(model, clone_function=clone)
    return dense


APPLICATIONS = {
    "MobileNet": lambda: keras.applications.MobileNet(
        weights=None, input_shape=(32, 32, 3), classes=10, alpha=0.25
    ),
    "MobileNetV2": lambda: keras.applications.MobileNetV2(
        weights=None, input_shape=(32, 32, 3), classes=10, alpha=0.35
    ),
    "MobileNetV3Small": lambda: keras.applications.MobileNetV3Small(
        weights=None, input_shape=(32, 32, 3), classes=10, alpha=0.75
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(APPLICATIONS))
def test_real_architectures_conv_and_dense_forms_have_one_fingerprint(name):
    keras.utils.set_random_seed(11)
    model = APPLICATIONS[name]()
    randomize(model)
    dense = _dense_form_of(model)
    raw_before = converters.export_onnx(dense)
    copy_weights(model, dense)
    raw_conv = converters.export_onnx(model)
    raw_dense = converters.export_onnx(dense)
    conv_print = converters.fingerprint(raw_conv)
    assert converters.fingerprint(raw_before) != conv_print
    assert converters.fingerprint(raw_dense) == conv_print, converters.graph_diff(raw_conv, raw_dense)
    x = sample(model)
    expected = np.asarray(model(x, training=False))
    np.testing.assert_allclose(
        run_onnx(converters.canonicalize(raw_dense), x), expected, rtol=1e-4, atol=1e-5
    )
    # The deployment conv form adds no Transpose to tf2onnx's export.
    conv_form = canonical.to_form(raw_dense, "conv")
    transposes = [sum(n.op_type == "Transpose" for n in p.graph.node) for p in (conv_form, raw_conv)]
    assert transposes[0] <= transposes[1]
    np.testing.assert_allclose(run_onnx(conv_form, x), expected, rtol=1e-4, atol=1e-5)


# -- spellings of other exporters (jax2onnx, torch.onnx) ----------------------------------


def _graph(nodes, inputs, outputs, initializers, opset):
    from onnx import helper

    graph = helper.make_graph(nodes, "g", inputs, outputs, initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _value(name, shape):
    return onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, shape)


def test_constant_reduction_axes_count_alike_as_attribute_or_input():
    """Opset 18 moved ReduceMean's axes from an attribute to an input."""
    from onnx import helper, numpy_helper

    def mean(axes, opset):
        if opset < 18:
            node = helper.make_node("ReduceMean", ["x"], ["y"], axes=axes, keepdims=0)
            extra = []
        else:
            node = helper.make_node("ReduceMean", ["x", "axes"], ["y"], keepdims=0)
            extra = [numpy_helper.from_array(np.array(axes, np.int64), "axes")]
        relu = helper.make_node("Relu", ["y"], ["z"])
        return _graph([node, relu], [_value("x", ["N", 4, 4, 3])], [_value("z", ["N", 3])], extra, opset)

    assert converters.fingerprint(mean([1, 2], 17)) == converters.fingerprint(mean([1, 2], 18))
    assert converters.fingerprint(mean([1, 2], 18)) != converters.fingerprint(mean([1, 3], 18))
    text = converters.graph_diff(mean([1, 2], 17), mean([2, 3], 18))
    assert "axes=[1, 2]" in text and "axes=[2, 3]" in text


def test_outputs_of_one_tensor_count_alike_whichever_the_exporter_wrote_as_identity():
    """Two outputs of one tensor: the first by position is the tensor, the
    second its Identity, however the export wrote them."""
    from onnx import helper

    def twice(identity_first):
        relu = helper.make_node("Relu", ["x"], ["h"])
        ident = helper.make_node("Identity", ["h"], ["copy"])
        outputs = ["copy", "h"] if identity_first else ["h", "copy"]
        names = {"h": "a" if not identity_first else "b", "copy": "b" if not identity_first else "a"}
        nodes = [relu, ident]
        for node in nodes:
            node.output[:] = [names.get(o, o) for o in node.output]
            node.input[:] = [names.get(i, i) for i in node.input]
        return _graph(nodes, [_value("x", ["N", 3])],
                      [_value(names[o], ["N", 3]) for o in outputs], [], 17)

    one, other = twice(False), twice(True)
    assert [o.name for o in one.graph.output] == [o.name for o in other.graph.output] == ["a", "b"]
    assert converters.fingerprint(one) == converters.fingerprint(other)
    for model in (one, other):
        graph = converters.canonicalize(model).graph
        assert [n.op_type for n in graph.node] == ["Relu", "Identity"]
        x = np.arange(-3, 3, dtype="float32").reshape(2, 3)
        got = runtime.run(runtime.make_session(converters.canonicalize(model)), {"x": x})
        np.testing.assert_array_equal(got["a"], np.maximum(x, 0))
        np.testing.assert_array_equal(got["b"], np.maximum(x, 0))


def test_weights_computed_in_the_graph_are_folded(rng):
    """jax2onnx feeds a conv its kernel through a Transpose of the weight."""
    from onnx import helper, numpy_helper

    hwio = rng.normal(size=(1, 1, 3, 5)).astype("float32")
    oihw = np.ascontiguousarray(hwio.transpose(3, 2, 0, 1))
    x, y = _value("x", ["N", 3, 4, 4]), _value("y", ["N", 5, 4, 4])
    computed = _graph(
        [helper.make_node("Transpose", ["w"], ["k"], perm=[3, 2, 0, 1]), helper.make_node("Conv", ["x", "k"], ["y"])],
        [x], [y], [numpy_helper.from_array(hwio, "w")], 23,
    )
    given = _graph([helper.make_node("Conv", ["x", "k"], ["y"])], [x], [y], [numpy_helper.from_array(oihw, "k")], 17)
    assert converters.fingerprint(computed) == converters.fingerprint(given)
    hwio[0, 0, 0, 0] += 1.0
    changed = _graph(
        [helper.make_node("Transpose", ["w"], ["k"], perm=[3, 2, 0, 1]), helper.make_node("Conv", ["x", "k"], ["y"])],
        [x], [y], [numpy_helper.from_array(hwio, "w")], 23,
    )
    assert converters.fingerprint(changed) != converters.fingerprint(given)


def test_an_einsum_contracting_two_axes_is_the_matmul_it_computes(rng):
    """EinsumDense's output projection of attention, as jax2onnx keeps it:
    ``abcd,cde->abe`` (heads and head dim contracted)."""
    from onnx import helper, numpy_helper

    kernel = rng.normal(size=(2, 4, 8)).astype("float32")
    x, y = _value("x", ["N", 5, 2, 4]), _value("y", ["N", 5, 8])
    einsum = _graph(
        [helper.make_node("Einsum", ["x", "k"], ["y"], equation="abcd,cde->abe")],
        [x], [y], [numpy_helper.from_array(kernel, "k")], 17,
    )
    matmul = _graph(
        [helper.make_node("Reshape", ["x", "s"], ["f"]), helper.make_node("MatMul", ["f", "k"], ["y"])],
        [x], [y],
        [numpy_helper.from_array(np.array([0, 0, 8], np.int64), "s"),
         numpy_helper.from_array(kernel.reshape(8, 8), "k")], 17,
    )
    assert converters.fingerprint(einsum) == converters.fingerprint(matmul)
    feeds = {"x": rng.normal(size=(2, 5, 2, 4)).astype("float32")}
    result = converters.compare(einsum, matmul, inputs=feeds)
    assert result.ok
    canonical_graph = canonical.canonicalize(einsum)
    assert "Einsum" not in {n.op_type for n in canonical_graph.graph.node}


def test_an_einsum_whose_kernel_contracts_a_middle_axis_is_its_matmul(rng):
    """Gemma's query projection ``btd,ndh->btnh``: the contracted axis is the
    kernel's second; the kernel is read in the order the MatMul wants."""
    from onnx import helper, numpy_helper

    kernel = rng.normal(size=(2, 8, 4)).astype("float32")  # (heads, model dim, head dim)
    x, y = _value("x", ["N", 5, 8]), _value("y", ["N", 5, 2, 4])
    einsum = _graph(
        [helper.make_node("Einsum", ["x", "k"], ["y"], equation="btd,ndh->btnh")],
        [x], [y], [numpy_helper.from_array(kernel, "k")], 17,
    )
    matmul = _graph(
        [helper.make_node("MatMul", ["x", "k"], ["f"]), helper.make_node("Reshape", ["f", "s"], ["y"])],
        [x], [y],
        [numpy_helper.from_array(np.ascontiguousarray(kernel.transpose(1, 0, 2).reshape(8, 8)), "k"),
         numpy_helper.from_array(np.array([0, 0, 2, 4], np.int64), "s")], 17,
    )
    assert converters.fingerprint(einsum) == converters.fingerprint(matmul)
    feeds = {"x": rng.normal(size=(2, 5, 8)).astype("float32")}
    assert converters.compare(einsum, matmul, inputs=feeds).ok


def _attention_graph(*, merged, split_scale, scale=0.5, free=False, heads=2, dim=4):
    """Scaled dot-product attention on projected ``q``, ``k``, ``v`` of
    shape (N, S, heads, dim), spelled as the exporters spell it: with the
    heads as a batch axis (jax2onnx, torch.onnx) or merged into the batch
    (tf2onnx), the scale after ``q @ k^T`` or split as its square root on
    ``q`` and ``k`` (torch.onnx's scaled_dot_product_attention)."""
    from onnx import helper, numpy_helper

    length = "S" if free else 5
    shape = ["N", length, heads, dim]
    nodes, inits = [], []

    def const(name, array):
        inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(op, inputs, output, **attrs):
        nodes.append(helper.make_node(op, inputs, [output], **attrs))
        return output

    def merge(x, last):
        """(N, H, a, b) -> (N*H, a, b), its target read off the graph when free."""
        if free:
            s = node("Shape", ["q"], f"{x}_len", start=1, end=2)
            dims = [const(f"{x}_m1", np.array([-1], np.int64))]
            dims += [s, const(f"{x}_d", np.array([dim], np.int64))] if last == "d" else [
                const(f"{x}_d", np.array([dim], np.int64)), s]
            target = node("Concat", dims, f"{x}_target", axis=0)
        else:
            target = const(f"{x}_target", np.array([-1, 5, dim] if last == "d" else [-1, dim, 5], np.int64))
        return node("Reshape", [x, target], f"{x}_merged")

    root = np.float32(np.sqrt(scale))
    q = node("Transpose", ["q"], "qt", perm=[0, 2, 1, 3])
    v = node("Transpose", ["v"], "vt", perm=[0, 2, 1, 3])
    if merged:
        k = merge(node("Transpose", ["k"], "kt", perm=[0, 2, 3, 1]), "s")
        q, v = merge(q, "d"), merge(v, "d")
    else:
        k = node("Transpose", ["k"], "kt", perm=[0, 2, 3, 1])
    if split_scale:
        q = node("Mul", [q, const("root_q", root)], "q_scaled")
        k = node("Mul", [k, const("root_k", root)], "k_scaled")
        scores = node("MatMul", [q, k], "scores")
    else:
        scores = node("Mul", [node("MatMul", [q, k], "raw"), const("scale", np.float32(scale))], "scores")
    weights = node("Softmax", [scores], "weights", axis=-1)
    out = node("MatMul", [weights, v], "heads_out")
    if merged:
        if free:
            n = node("Shape", ["q"], "batch", end=1)
            s = node("Shape", ["q"], "len_out", start=1, end=2)
            target = node("Concat", [n, const("h", np.array([heads], np.int64)), s,
                                     const("dd", np.array([dim], np.int64))], "split_target", axis=0)
        else:
            target = const("split_target", np.array([-1, heads, 5, dim], np.int64))
        out = node("Reshape", [out, target], "split")
    node("Transpose", [out], "y", perm=[0, 2, 1, 3])
    inputs = [_value(name, shape) for name in "qkv"]
    return _graph(nodes, inputs, [_value("y", shape)], inits, 17)


@pytest.mark.parametrize("free", [False, True], ids=["static", "free"])
def test_attention_spelled_by_any_exporter_has_one_fingerprint(rng, free):
    """Heads merged into the batch or kept as an axis, the scale after the
    product or split on q and k: one canonical graph, the outputs alike."""
    spellings = {
        (merged, split): _attention_graph(merged=merged, split_scale=split, free=free)
        for merged in (False, True) for split in (False, True)
    }
    prints = {key: converters.fingerprint(g) for key, g in spellings.items()}
    assert len(set(prints.values())) == 1, prints
    length = 7 if free else 5
    feeds = {n: rng.normal(size=(2, length, 2, 4)).astype("float32") for n in "qkv"}
    reference = spellings[(False, False)]
    for key, graph in spellings.items():
        assert converters.compare(reference, graph, inputs=feeds).ok, key
    canonical_graph = canonical.canonicalize(spellings[(True, True)])
    ops = [n.op_type for n in canonical_graph.graph.node]
    assert ops.count("Mul") == 1 and "Shape" not in ops
    # Another scale is another function.
    other = _attention_graph(merged=True, split_scale=True, free=free, scale=0.25)
    assert converters.fingerprint(other) != prints[(False, False)]


def test_one_head_attention_keeps_no_unit_head_axis(rng):
    """One head: an exporter that keeps the unit head axis and one that drops it."""
    with_axis = _attention_graph(merged=False, split_scale=False, heads=1, dim=8)
    from onnx import helper, numpy_helper

    x = _value("x", ["N", 5, 8])
    nodes = [
        helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["x", "xt"], ["raw"]),
        helper.make_node("Mul", ["raw", "scale"], ["scores"]),
        helper.make_node("Softmax", ["scores"], ["w"], axis=-1),
        helper.make_node("MatMul", ["w", "x"], ["y"]),
    ]
    without = _graph(nodes, [x], [_value("y", ["N", 5, 8])],
                     [numpy_helper.from_array(np.float32(0.5), "scale")], 17)
    # The same computation with the head axis: q = k = v = x as (N, 5, 1, 8).
    reshape = [helper.make_node("Reshape", ["x", "s"], [n]) for n in "qkv"]
    graph = with_axis.graph
    nodes = reshape + list(graph.node)
    nodes[-1] = helper.make_node("Transpose", [nodes[-1].input[0]], ["t"], perm=[0, 2, 1, 3])
    nodes.append(helper.make_node("Reshape", ["t", "back"], ["y"]))
    inits = list(graph.initializer) + [
        numpy_helper.from_array(np.array([0, 5, 1, 8], np.int64), "s"),
        numpy_helper.from_array(np.array([0, 5, 8], np.int64), "back"),
    ]
    kept = _graph(nodes, [x], [_value("y", ["N", 5, 8])], inits, 17)
    assert converters.fingerprint(kept) == converters.fingerprint(without)
    feeds = {"x": rng.normal(size=(2, 5, 8)).astype("float32")}
    assert converters.compare(kept, without, inputs=feeds).ok


def test_a_split_scale_is_read_as_the_scale_it_was_split_from():
    from keras_1x1.converters.onnx.rules.scalar_factors import simplest_product

    for dim in range(1, 1025):
        scale = np.float32(1 / np.sqrt(dim))
        root = np.float32(np.sqrt(1 / np.sqrt(dim)))
        assert simplest_product(root, root) == scale, dim
    # Any other product is the float32 nearest to the exact one.
    a, b = np.float32(0.3), np.float32(0.7)
    assert simplest_product(a, b) == np.float32(float(a) * float(b))


def test_an_einsum_of_two_tensors_is_the_batched_product_it_computes(rng):
    """Keras' attention scores ``aecd,abcd->acbe`` as jax2onnx keeps them,
    and as Transpose / MatMul (what tf2onnx and torch.onnx write)."""
    from onnx import helper

    k, q = _value("k", ["N", 6, 2, 4]), _value("q", ["N", 5, 2, 4])
    y = _value("y", ["N", 2, 5, 6])
    einsum = _graph(
        [helper.make_node("Einsum", ["k", "q"], ["y"], equation="aecd,abcd->acbe")], [k, q], [y], [], 17,
    )
    matmul = _graph(
        [
            helper.make_node("Transpose", ["q"], ["qt"], perm=[0, 2, 1, 3]),
            helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 3, 1]),
            helper.make_node("MatMul", ["qt", "kt"], ["y"]),
        ],
        [k, q], [y], [], 17,
    )
    assert converters.fingerprint(einsum) == converters.fingerprint(matmul)
    feeds = {"k": rng.normal(size=(2, 6, 2, 4)).astype("float32"),
             "q": rng.normal(size=(2, 5, 2, 4)).astype("float32")}
    assert converters.compare(einsum, matmul, inputs=feeds).ok
    assert "Einsum" not in {n.op_type for n in canonical.canonicalize(einsum).graph.node}
    # An axis summed in one operand alone is no product: the einsum stays.
    summed = _graph(
        [helper.make_node("Einsum", ["k", "q"], ["y"], equation="aecd,abcd->acb")], [k, q],
        [_value("y", ["N", 2, 5])], [], 17,
    )
    assert "Einsum" in {n.op_type for n in canonical.canonicalize(summed).graph.node}


def test_an_edge_pad_before_a_max_pool_is_the_pool_padding(rng):
    """torch's "same" max pooling (edge Pad, then a "valid" pool) and a pool
    that pads itself: one graph where each pad is shorter than the window
    (the maxima are the same); a pad as long as the window stays a Pad."""
    from onnx import helper, numpy_helper

    x = _value("x", ["N", 4, 8, 8])
    y = _value("y", ["N", 4, None, None])

    def padded(pad):
        return _graph(
            [helper.make_node("Pad", ["x", "p"], ["xp"], mode="edge"),
             helper.make_node("MaxPool", ["xp"], ["y"], kernel_shape=[3, 3], strides=[2, 2])],
            [x], [y], [numpy_helper.from_array(np.array([0, 0, 0, 0, 0, 0, pad, pad], np.int64), "p")], 17,
        )

    pooled = _graph(
        [helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 1, 1])],
        [x], [y], [], 17,
    )
    feeds = {"x": rng.normal(size=(2, 4, 8, 8)).astype("float32")}
    assert converters.compare(padded(1), pooled, inputs=feeds).ok
    assert converters.fingerprint(padded(1)) == converters.fingerprint(pooled)
    assert "Pad" in {n.op_type for n in canonical.canonicalize(padded(3)).graph.node}


def _layer_norm_graph(spelling, gamma, beta, epsilon=1e-3):
    """A layer norm over the last axis of (N, 6, 8), as one op (torch.onnx),
    as tf2onnx decomposes Keras' (mean kept, ``1/sqrt`` as Reciprocal) or as
    jax2onnx does (``ReduceSum / n``, ``ReduceSumSquare``, ``1 / y``)."""
    from onnx import helper, numpy_helper

    inits = [numpy_helper.from_array(gamma, "g"), numpy_helper.from_array(beta, "b"),
             numpy_helper.from_array(np.float32(epsilon), "eps"),
             numpy_helper.from_array(np.array([2], np.int64), "axes")]
    n = helper.make_node
    if spelling == "op":
        nodes = [n("LayerNormalization", ["x", "g", "b"], ["y"], epsilon=epsilon, axis=-1)]
    elif spelling == "tf2onnx":
        nodes = [
            n("ReduceMean", ["x", "axes"], ["mean"], keepdims=1),
            n("Sub", ["x", "mean"], ["d"]), n("Mul", ["d", "d"], ["sq"]),
            n("ReduceMean", ["sq", "axes"], ["var"], keepdims=1),
            n("Add", ["var", "eps"], ["ve"]), n("Sqrt", ["ve"], ["sd"]), n("Reciprocal", ["sd"], ["r"]),
            n("Mul", ["r", "g"], ["inv"]), n("Neg", ["mean"], ["nm"]), n("Mul", ["nm", "inv"], ["a"]),
            n("Add", ["a", "b"], ["res"]), n("Mul", ["x", "inv"], ["xs"]), n("Add", ["xs", "res"], ["y"]),
        ]
    else:
        inits += [numpy_helper.from_array(np.float32(8), "count"), numpy_helper.from_array(np.float32(1), "one"),
                  numpy_helper.from_array(np.ones((1, 6, 1), bool), "always")]
        nodes = [
            n("ReduceSum", ["x", "axes"], ["s"], keepdims=1), n("Div", ["s", "count"], ["m1"]),
            n("Sub", ["x", "m1"], ["d"]), n("ReduceSumSquare", ["d", "axes"], ["ss"], keepdims=1),
            n("Div", ["ss", "count"], ["v0"]), n("Where", ["always", "v0", "eps"], ["var"]),
            n("Add", ["var", "eps"], ["ve"]), n("Sqrt", ["ve"], ["sd"]), n("Div", ["one", "sd"], ["r"]),
            n("Mul", ["r", "g"], ["inv"]),
            n("ReduceMean", ["x", "axes"], ["mean"], keepdims=0), n("Neg", ["mean"], ["nm0"]),
            n("Unsqueeze", ["nm0", "axes"], ["nm"]), n("Mul", ["nm", "inv"], ["a"]),
            n("Add", ["a", "b"], ["res"]), n("Mul", ["x", "inv"], ["xs"]), n("Add", ["xs", "res"], ["y"]),
        ]
    return _graph(nodes, [_value("x", ["N", 6, 8])], [_value("y", ["N", 6, 8])], inits, 18)


def test_a_layer_norm_op_and_its_decompositions_have_one_fingerprint(rng):
    gamma, beta = (rng.normal(size=8).astype("float32") for _ in range(2))
    graphs = {s: _layer_norm_graph(s, gamma, beta) for s in ("op", "tf2onnx", "jax2onnx")}
    prints = {s: converters.fingerprint(g) for s, g in graphs.items()}
    assert len(set(prints.values())) == 1, prints
    feeds = {"x": rng.normal(size=(2, 6, 8)).astype("float32")}
    for spelling in ("tf2onnx", "jax2onnx"):
        assert converters.compare(graphs["op"], graphs[spelling], inputs=feeds).ok, spelling
    assert converters.fingerprint(_layer_norm_graph("op", gamma, beta, epsilon=1e-5)) != prints["op"]


def test_a_gelu_op_and_its_decompositions_have_one_fingerprint(rng):
    """jax2onnx's ``Gelu`` and tf2onnx's ``0.5x * (1 - erf(-x * sqrt(1/2)))``,
    and the tanh approximation as an op and decomposed."""
    from onnx import helper, numpy_helper

    x, y = _value("x", ["N", 8]), _value("y", ["N", 8])
    op = _graph([helper.make_node("Gelu", ["x"], ["y"])], [x], [y], [], 20)
    consts = [numpy_helper.from_array(np.float32(v), k) for k, v in
              (("half", 0.5), ("k", np.sqrt(0.5)), ("one", 1.0))]
    n = helper.make_node
    erfc = _graph(
        [n("Mul", ["x", "half"], ["h"]), n("Neg", ["x"], ["nx"]), n("Mul", ["nx", "k"], ["z"]),
         n("Erf", ["z"], ["e"]), n("Sub", ["one", "e"], ["c"]), n("Mul", ["h", "c"], ["y"])],
        [x], [y], consts, 20,
    )
    assert converters.fingerprint(op) == converters.fingerprint(erfc)
    feeds = {"x": rng.normal(size=(3, 8)).astype("float32")}
    assert converters.compare(op, erfc, inputs=feeds).ok
    tanh = _graph([helper.make_node("Gelu", ["x"], ["y"], approximate="tanh")], [x], [y], [], 20)
    assert converters.fingerprint(tanh) != converters.fingerprint(op)
    # The tanh approximation as tf2onnx writes it.
    consts = [numpy_helper.from_array(np.float32(v), k) for k, v in
              (("half", 0.5), ("three", 3.0), ("c", 0.044715), ("k", np.sqrt(2 / np.pi)), ("one", 1.0))]
    decomposed = _graph(
        [n("Mul", ["x", "half"], ["h"]), n("Pow", ["x", "three"], ["p"]), n("Mul", ["p", "c"], ["pc"]),
         n("Add", ["x", "pc"], ["a"]), n("Mul", ["a", "k"], ["z"]), n("Tanh", ["z"], ["t"]),
         n("Add", ["t", "one"], ["s"]), n("Mul", ["h", "s"], ["y"])],
        [x], [y], consts, 20,
    )
    assert converters.fingerprint(tanh) == converters.fingerprint(decomposed)
    assert converters.compare(tanh, decomposed, inputs=feeds).ok
