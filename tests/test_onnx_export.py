"""export_onnx: Sequential and Functional models, dynamic batch, names kept,
opset checked, files written atomically. Real tf2onnx, real onnxruntime."""

import os
import subprocess
import sys

import keras
import numpy as np
import onnx
import pytest
from keras_1x1.converters.onnx import runtime

import keras_1x1
from keras_1x1 import UserInputError, converters

L = keras.layers


def _dims(value):
    return [
        d.dim_value if d.HasField("dim_value") else d.dim_param
        for d in value.type.tensor_type.shape.dim
    ]


def test_sequential_exports_with_a_dynamic_batch():
    model = keras.Sequential(
        [keras.Input((6, 6, 3)), L.Conv2D(4, 1), L.ReLU(), L.Dense(2)], name="seq"
    )
    proto = converters.export_onnx(model)
    (value,) = proto.graph.input
    batch = _dims(value)[0]
    assert isinstance(batch, str) and batch  # symbolic, not a number
    assert _dims(value)[1:] == [6, 6, 3]
    session = runtime.make_session(proto)
    rng = np.random.default_rng(0)
    for n in (1, 3):
        x = rng.normal(size=(n, 6, 6, 3)).astype("float32")
        (out,) = runtime.run(session, {value.name: x}).values()
        np.testing.assert_allclose(out, np.asarray(model(x)), rtol=1e-5, atol=1e-6)


def test_constants_a_layer_keeps_become_initializers_not_inputs():
    # Normalization keeps its mean and variance as computed tensors (as in
    # EfficientNet); the traced function captures them, and the graph must
    # still take the model's input only.
    norm = L.Normalization(axis=-1)
    inputs = keras.Input((4, 4, 3), name="image")
    model = keras.Model(inputs, L.Conv2D(2, 1)(norm(inputs)))
    rng = np.random.default_rng(0)
    norm.adapt(rng.normal(3.0, 2.0, size=(16, 4, 4, 3)).astype("float32"))
    proto = converters.export_onnx(model)
    assert [v.name for v in proto.graph.input] == ["image"]
    x = rng.normal(3.0, 2.0, size=(2, 4, 4, 3)).astype("float32")
    (out,) = runtime.run(runtime.make_session(proto), {"image": x}).values()
    np.testing.assert_allclose(out, np.asarray(model(x)), rtol=1e-5, atol=1e-5)


def test_default_opset_is_17_and_limits_are_checked():
    model = keras.Sequential([keras.Input((3,)), L.Dense(2)])
    proto = converters.export_onnx(model)
    assert {o.domain: o.version for o in proto.opset_import}[""] == 17
    assert {o.domain: o.version for o in converters.export_onnx(model, opset=18).opset_import}[
        ""
    ] == 18
    with pytest.raises(
        UserInputError, match="opset 19 is not supported: tf2onnx exports at most opset 18"
    ):
        converters.export_onnx(model, opset=19)
    with pytest.raises(UserInputError, match="opset 12 is not supported"):
        converters.export_onnx(model, opset=12)
    with pytest.raises(UserInputError, match="opset must be an integer"):
        converters.export_onnx(model, opset="17")


def test_functional_multi_input_dict_outputs_keep_their_names():
    a = keras.Input((4, 4, 3), name="left")
    b = keras.Input((4, 4, 3), name="right")
    h = L.Concatenate()([L.Conv2D(2, 1)(a), L.Conv2D(2, 1)(b)])
    model = keras.Model({"left": a, "right": b}, {"score": L.Dense(1)(h), "features": h})
    proto = converters.export_onnx(model)
    assert sorted(i.name for i in proto.graph.input) == ["left", "right"]
    assert [o.name for o in proto.graph.output] == ["score", "features"]
    rng = np.random.default_rng(1)
    feeds = {n: rng.normal(size=(2, 4, 4, 3)).astype("float32") for n in ("left", "right")}
    got = runtime.run(runtime.make_session(proto), feeds)
    want = model(feeds)
    for name in ("score", "features"):
        np.testing.assert_allclose(got[name], np.asarray(want[name]), rtol=1e-5, atol=1e-6)


class _EveryLayersStates(keras.Model):
    """Returns a dict whose values nest: every layer's states as a tuple,
    as detection and encoder-decoder backbones do."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.first = L.Dense(4, name="first")
        self.second = L.Dense(4, name="second")

    def call(self, x):
        h1 = self.first(x)
        h2 = self.second(h1)
        return {"last": h2, "states": (h1, h2), "one": (h1,)}


@pytest.mark.parametrize("functional", [True, False])
def test_dict_outputs_with_nested_values_are_one_output_per_tensor(functional):
    keras.utils.set_random_seed(0)
    x = keras.Input((5, 3), name="x")
    model = _EveryLayersStates(name="states")
    if functional:
        model = keras.Model(x, model(x), name="states_functional")
    else:
        model(x)
    proto = converters.export_onnx(model)
    names = ["last", "states_0", "states_1", "one_0"]
    assert [o.name for o in proto.graph.output] == names
    data = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    got = runtime.run(runtime.make_session(proto), {"x": data})
    want = model(data)
    for name, value in zip(names, [want["last"], *want["states"], *want["one"]]):
        np.testing.assert_allclose(got[name], np.asarray(value), rtol=1e-5, atol=1e-6)
    result = converters.compare(model, converters.dense_to_conv(model))
    assert result.ok and result.same_graph


def test_list_outputs_are_named_after_keras_output_names():
    x = keras.Input((5,), name="x")
    model = keras.Model(x, [L.Dense(2, name="first")(x), L.Dense(3, name="second")(x)])
    proto = converters.export_onnx(model)
    assert [o.name for o in proto.graph.output] == ["first", "second"]


def test_grouped_and_channels_first_convs_export_as_onnx_ops():
    # Keras runs these through a nested XLA function that tf2onnx cannot
    # convert; the export traces them as plain convolutions.
    x = keras.Input((4, 5, 5, 4), name="volume")
    h = L.Conv3D(4, 1, data_format="channels_first", name="cf3d")(x)
    y = keras.Input((5, 5, 8), name="image")
    g = L.Conv2D(8, 1, groups=4, name="grouped")(y)
    model = keras.Model([x, y], [h, g])
    proto = converters.export_onnx(model)
    ops = {n.op_type for n in proto.graph.node}
    assert "StatefulPartitionedCall" not in ops and "Conv" in ops
    groups = [
        a.i
        for n in proto.graph.node
        if n.op_type == "Conv"
        for a in n.attribute
        if a.name == "group"
    ]
    assert 4 in groups


def test_channels_first_models_are_checked_against_keras(tmp_path):
    # TensorFlow's CPU kernels cannot run a channels_first Conv2D; the Keras
    # side of every check falls back to XLA as the converters' verification does.
    from keras_1x1 import cli

    x = keras.Input((4, 9, 9), name="image")
    h = L.Conv2D(6, 1, data_format="channels_first", name="pw1")(x)
    h = L.Conv2D(6, 3, data_format="channels_first", activation="relu", name="c3")(h)
    model = keras.Model(x, L.Conv2D(5, 1, data_format="channels_first", name="pw2")(h))
    result = converters.compare(model, converters.export_onnx(model))
    assert result.ok and result.same_graph, result.summary()
    model.save(tmp_path / "cf.keras")
    assert cli.main(["export", str(tmp_path / "cf.keras"), str(tmp_path / "cf.onnx")]) == 0


def test_export_writes_atomically_and_refuses_to_overwrite(tmp_path):
    model = keras.Sequential([keras.Input((3,)), L.Dense(2)])
    path = tmp_path / "model.onnx"
    proto = converters.export_onnx(model, path)
    assert onnx.load(str(path)) == proto
    with pytest.raises(UserInputError, match="exists; pass --overwrite"):
        converters.export_onnx(model, path)
    converters.export_onnx(model, path, overwrite=True)
    with pytest.raises(UserInputError, match="output must end in .onnx"):
        converters.export_onnx(model, tmp_path / "model.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


def test_subclassed_model_gets_a_clear_error():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = L.Dense(2)

        def call(self, x):
            return self.dense(x)

    with pytest.raises(UserInputError, match="has no defined inputs"):
        converters.export_onnx(Net())
    with pytest.raises(UserInputError, match="expected a keras.Model"):
        converters.export_onnx("model.keras")


def test_keras_1x1_layers_export_in_both_forms():
    x = keras.Input((6, 6, 4), name="image")
    layer = keras_1x1.Conv1x1(5, name="pw")
    model = keras.Model(x, [layer(x), layer(x, form="dense")])
    proto = converters.export_onnx(model)
    rng = np.random.default_rng(2)
    data = rng.normal(size=(2, 6, 6, 4)).astype("float32")
    got = list(runtime.run(runtime.make_session(proto), {"image": data}).values())
    want = [np.asarray(v) for v in model(data)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_a_graph_onnxruntime_rejects_is_neither_returned_nor_written(tmp_path):
    # tf2onnx exports a float64 Conv2D; onnxruntime has no float64 Conv kernel.
    x = keras.Input((5, 5, 3), dtype="float64", name="image")
    model = keras.Model(x, L.Conv2D(2, 3, dtype="float64", name="wide")(x), name="f64")
    path = tmp_path / "f64.onnx"
    with pytest.raises(UserInputError) as info:
        converters.export_onnx(model, path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("onnxruntime rejects tf2onnx's graph of model 'f64' at node '")
    assert "wide" in message and "(Conv)" in message
    assert list(tmp_path.iterdir()) == []


def test_a_graph_that_fails_at_run_time_names_the_node(monkeypatch):
    # A Reshape whose target tf2onnx got wrong loads, and fails only when run.
    from keras_1x1.converters.onnx import export

    model = keras.Sequential([keras.Input((4, 6), name="tokens"), L.Dense(3, name="proj")], name="seq")
    original = export._restore_names

    def corrupt(proto, *args):
        original(proto, *args)
        target = onnx.numpy_helper.from_array(np.array([5, 7], "int64"), "bad_target")
        proto.graph.initializer.append(target)
        out = proto.graph.output[0].name
        for node in proto.graph.node:
            for i, name in enumerate(node.output):
                if name == out:
                    node.output[i] = "before_bad"
        proto.graph.node.append(
            onnx.helper.make_node("Reshape", ["before_bad", "bad_target"], [out], name="bad_reshape")
        )

    monkeypatch.setattr(export, "_restore_names", corrupt)
    with pytest.raises(UserInputError, match=r"at node 'bad_reshape' \(Reshape\): .*"):
        converters.export_onnx(model)


def test_an_output_tf2onnx_writes_with_extra_leading_unit_axes_is_squeezed_back():
    """tf2onnx's optimizer can drop the Squeeze before a graph output (by
    the order of its node names): the output gets the rank Keras gives it."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from keras_1x1.converters.onnx import export

    graph = helper.make_graph(
        [
            helper.make_node("Unsqueeze", ["x", "zero"], ["u"]),
            helper.make_node("Relu", ["u"], ["y"]),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, "N", 3, 1])],
        [numpy_helper.from_array(np.array([0], np.int64), "zero")],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    export.match_output_ranks(proto, {"y": 3}, "m")
    onnx.checker.check_model(proto)
    session = ort.InferenceSession(proto.SerializeToString())
    x = np.arange(6, dtype="float32").reshape(2, 3, 1) - 2
    (y,) = session.run(None, {"x": x})
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    assert [o.name for o in proto.graph.output] == ["y"]

    other = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(UserInputError, match="rank 4, where Keras gives rank 2"):
        export.match_output_ranks(other, {"y": 2}, "m")


class _Positions(keras.layers.Layer):
    # Writes each row's features at the row's own position: the positions
    # must be a permutation of the rows, which no drawn input is.
    def call(self, x, positions):
        return keras.ops.take_along_axis(x, keras.ops.expand_dims(positions, -1), axis=1)


def _positioned():
    x = keras.Input((4, 3), name="x")
    positions = keras.Input((4,), dtype="int32", name="positions")
    h = _Positions(name="place")(L.Dense(5, name="pw")(x), positions)
    return keras.Model([x, positions], h, name="positioned")


def test_the_export_is_checked_on_the_inputs_given(tmp_path):
    model = _positioned()
    x = np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")
    given = {"x": x, "positions": np.array([[3, 2, 1, 0], [0, 1, 2, 3]], "int32")}
    path = tmp_path / "given.onnx"
    proto = converters.export_onnx(model, path, inputs=given)
    assert path.exists() and proto.graph.node
    # A structure the model takes works as well; a wrong count says so.
    converters.export_onnx(model, inputs=[given["x"], given["positions"]])
    with pytest.raises(UserInputError, match="takes 2 input"):
        converters.export_onnx(model, inputs=[x])
    # Inputs the graph cannot run on are refused in one line, nothing written.
    bad = tmp_path / "bad.onnx"
    with pytest.raises(UserInputError, match="onnxruntime rejects") as info:
        converters.export_onnx(model, bad, inputs={"x": x, "positions": np.full((2, 4), 9, "int32")})
    assert "\n" not in str(info.value) and not bad.exists()
    # compare hands its inputs to the export it makes.
    assert converters.compare(model, converters.dense_to_conv(model, verify=given), inputs=given).ok


class _OneHeadAttention(L.Layer):
    """Attention written as keras-hub's GPT-NeoX writes it: heads on their
    own axis, merged back by a Reshape of the computed shape."""

    def __init__(self, heads, **kwargs):
        super().__init__(**kwargs)
        self.heads = heads

    def build(self, shape):
        self.head_dim = shape[-1] // self.heads
        self.qkv = L.EinsumDense(
            "abc,cde->abde", output_shape=(None, self.heads, 3 * self.head_dim), name="qkv")
        self.qkv.build(shape)

    def call(self, x):
        qkv, d = self.qkv(x), self.head_dim
        q, k, v = qkv[..., :d], qkv[..., d:2 * d], qkv[..., 2 * d:]
        scores = keras.ops.softmax(keras.ops.einsum("aecd,abcd->acbe", k, q), axis=-1)
        out = keras.ops.einsum("acbe,aecd->abcd", scores, v)
        shape = keras.ops.shape(out)
        return keras.ops.reshape(out, [shape[0], shape[1], self.heads * d])


def _exports_as_keras_computes_with_one_fingerprint(model, data):
    """The export of `model` (input "x", output "out") matches Keras on
    `data`, and its conv form exports to the same canonical graph."""
    proto = converters.export_onnx(model)
    got = runtime.run(runtime.make_session(proto), {"x": data})["out"]
    np.testing.assert_allclose(got, model(data).numpy(), rtol=1e-5, atol=1e-6)
    conv = converters.dense_to_conv(model)
    result = converters.compare(model, conv)
    assert result.ok and result.same_graph, converters.graph_diff(proto, converters.export_onnx(conv))


def test_a_reshape_tf2onnx_rewrites_wrong_is_exported_as_tensorflow_computes_it():
    # With one head, tf2onnx's reshape optimizer rewrites the Reshape that
    # merges the heads into one onnxruntime refuses; export runs tf2onnx
    # again without it.
    from keras_1x1.converters.onnx import export

    keras.utils.set_random_seed(0)
    x = keras.Input((None, 8), name="x")
    model = keras.Model(x, L.Dense(8, name="out")(_OneHeadAttention(1, name="att")(x)), name="m")
    data = np.random.default_rng(0).normal(size=(2, 5, 8)).astype("float32")
    optimized = export._convert_once(model, 17)
    with pytest.raises(Exception, match="Reshape"):
        runtime.run(runtime.make_session(optimized), {"x": data})
    _exports_as_keras_computes_with_one_fingerprint(model, data)


class _PartialRotation(L.Layer):
    """Rotates the first `rotary` features in pairs, as a partial rotary
    embedding does (GPT-NeoX's): with a small head dim the part is empty,
    and it is reshaped to its own computed shape, a 0 in it."""

    def __init__(self, rotary, **kwargs):
        super().__init__(**kwargs)
        self.rotary = rotary

    def call(self, x):
        part = x[..., : self.rotary]
        first, second = keras.ops.split(part, 2, axis=-1)
        turned = keras.ops.reshape(keras.ops.stack((-second, first), axis=-2),
                                   keras.ops.shape(part))
        return keras.ops.concatenate([part + turned, x[..., self.rotary:]], axis=-1)


def test_a_reshape_to_a_computed_shape_with_a_zero_dim_keeps_it(monkeypatch):
    # tf2onnx writes TensorFlow's Reshape without `allowzero`, so
    # onnxruntime reads the 0 of the empty part as "copy" and refuses the
    # graph; export sets it on Reshapes to computed shapes.
    from keras_1x1.converters.onnx import export

    keras.utils.set_random_seed(0)
    x = keras.Input((None, 4), name="x")
    h = _PartialRotation(0, name="rot")(L.Dense(4, name="pw")(x))
    model = keras.Model(x, L.Dense(3, name="out")(h), name="m")
    data = np.random.default_rng(0).normal(size=(2, 5, 4)).astype("float32")
    with monkeypatch.context() as patched:
        patched.setattr(export, "_zero_dims_kept", lambda proto: None)
        with pytest.raises(UserInputError, match="onnxruntime rejects .* at node .*rot.*Reshape"):
            converters.export_onnx(model)
    _exports_as_keras_computes_with_one_fingerprint(model, data)


def test_a_reshape_to_a_constant_shape_is_left_as_tf2onnx_wrote_it():
    # A constant shape may be tf2onnx's own, its 0 meaning "copy".
    import onnx.helper as oh

    from keras_1x1.converters.onnx import export

    graph = oh.make_graph(
        [oh.make_node("Reshape", ["x", "shape"], ["y"])], "g",
        [oh.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2, 3])],
        [oh.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
        [oh.make_tensor("shape", onnx.TensorProto.INT64, [2], [0, 3])])
    assert export._zero_dims_kept(oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)])) is None


class _MaskOrDefault(L.Layer):
    """A learned default where no mask is given, else the masks' embedding:
    an `ops.cond` on a size, as SAM's prompt encoder writes it. Traced with
    free sizes it is an If whose branches onnxruntime cannot type."""

    def build(self, shape):
        self.conv = L.Conv2D(4, 1, name="mask_conv")
        self.conv.build((None,) + tuple(shape[2:]))
        self.default = self.add_weight(shape=(4,), name="default")

    def call(self, masks):
        s = keras.ops.shape(masks)

        def default():
            return keras.ops.broadcast_to(keras.ops.reshape(self.default, (1, 1, 1, 4)),
                                          (s[0], 8, 8, 4))

        def embedded():
            return self.conv(keras.ops.reshape(masks, (s[0] * s[1], s[2], s[3], s[4])))

        return keras.ops.cond(keras.ops.equal(s[1], 0), default, embedded)

    def compute_output_shape(self, shape):
        return (shape[0], 8, 8, 4)


def test_a_graph_onnxruntime_rejects_at_free_sizes_is_exported_at_its_inputs_sizes():
    from keras_1x1.converters.onnx import export

    keras.utils.set_random_seed(0)
    x = keras.Input((None, 8, 8, 1), name="masks")
    model = keras.Model(x, L.Dense(3, name="out")(_MaskOrDefault(name="mask")(x)), name="m")
    data = np.random.default_rng(0).normal(size=(2, 1, 8, 8, 1)).astype("float32")
    with pytest.raises(UserInputError, match="onnxruntime rejects .*mask.*cond' [(]If[)]"):
        export._convert_checked(model, 17, {"masks": data})
    proto = converters.export_onnx(model, inputs=data)
    assert proto.doc_string.startswith("traced at fixed input sizes ((None, 1, 8, 8, 1))")
    assert "If" not in {n.op_type for n in proto.graph.node}
    got = runtime.run(runtime.make_session(proto), {"masks": data})["out"]
    np.testing.assert_allclose(got, model(data).numpy(), rtol=1e-5, atol=1e-6)
    conv = converters.dense_to_conv(model, verify=data)
    result = converters.compare(model, conv, inputs=data)
    assert result.ok and result.same_graph


class _RunningSum(L.Layer):
    """A Python loop over the positions, as layers that scan a sequence
    write it: it traces only where the length is known."""

    def call(self, x):
        steps = [keras.ops.sum(x[:, : i + 1], axis=1) for i in range(x.shape[1])]
        return keras.ops.stack(steps, axis=1)

    def compute_output_shape(self, shape):
        return shape


class _ReadsValues(L.Layer):
    """Branches on a value: it runs eagerly only."""

    def call(self, x):
        return x * 2.0 if float(keras.ops.convert_to_numpy(keras.ops.max(x))) > 0 else x

    def compute_output_shape(self, shape):
        return shape


def _scanning(layer):
    x = keras.Input((None, 4), name="x")
    h = layer(L.Dense(6, name="pw")(x))
    return keras.Model(x, L.Dense(3, name="head")(h), name="scan")


def test_a_model_that_traces_only_at_known_sizes_is_exported_at_its_inputs_sizes(tmp_path):
    from keras_1x1.converters.onnx import export

    keras.utils.set_random_seed(0)
    model = _scanning(_RunningSum(name="scan_sum"))
    with pytest.raises(UserInputError, match="cannot be traced as a TensorFlow graph"):
        export._convert_once(model, 17)
    proto = converters.export_onnx(model)
    dims = [d.dim_value or d.dim_param for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert isinstance(dims[0], str) and dims[1:] == [dims[1], 4] and isinstance(dims[1], int)
    assert proto.doc_string.startswith("traced at fixed input sizes ((None, ")
    data = np.random.default_rng(1).normal(size=(3, dims[1], 4)).astype("float32")
    got = runtime.run(runtime.make_session(proto), {"x": data})["head"]
    np.testing.assert_allclose(got, model(data).numpy(), rtol=1e-5, atol=1e-5)
    # Given inputs fix the sizes; both forms give one graph.
    given = {"x": np.random.default_rng(2).normal(size=(2, 9, 4)).astype("float32")}
    at_nine = converters.export_onnx(model, inputs=given)
    assert at_nine.graph.input[0].type.tensor_type.shape.dim[1].dim_value == 9
    result = converters.compare(model, converters.dense_to_conv(model, verify=given), inputs=given)
    assert result.ok and result.same_graph, result.summary()


def test_a_model_that_cannot_be_traced_at_any_size_is_one_line(tmp_path):
    model = _scanning(_ReadsValues(name="reads"))
    path = tmp_path / "m.onnx"
    with pytest.raises(UserInputError) as info:
        converters.export_onnx(model, path)
    message = str(info.value)
    assert "\n" not in message and not path.exists()
    assert message.startswith(
        "model 'scan' cannot be traced as a TensorFlow graph, with free sizes or at the sizes of its inputs (")


_EXPORT_MEMORY = r"""
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import os
import subprocess
import sys

import keras
from keras_1x1 import converters

x = inputs = keras.Input((1024,))
for _ in range(6):
    x = keras.layers.Dense(1024)(x)
model = keras.Model(inputs, x)
converters.export_onnx(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]))


def resident(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith(field))


with open("/proc/self/clear_refs", "w") as refs:  # restart the peak (VmHWM) here
    refs.write("5")
start = resident("VmRSS")
converters.export_onnx(model)
print(resident("VmHWM") - start, sum(w.numpy().nbytes for w in model.weights))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux's /proc")
def test_an_export_does_not_keep_a_copy_of_the_weights_per_optimizer_pass():
    # tf2onnx copies the graph before every optimizer pass and drops the
    # one before; only the cyclic collector frees those. Without the
    # collection between passes this export peaks at about 55 times its
    # 24 MB of weights above where it started, with it at about 20 times.
    done = subprocess.run([sys.executable, "-c", _EXPORT_MEMORY], capture_output=True,
                          text=True, timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert done.returncode == 0, done.stderr[-2000:]
    grown, weights = map(int, done.stdout.split()[-2:])
    assert grown < 35 * weights, f"export grew by {grown / weights:.1f}x its weights"


def test_an_export_thaws_only_what_it_froze():
    import gc

    model = keras.Sequential([keras.Input((3,)), L.Dense(2)])
    converters.export_onnx(model)
    assert gc.get_freeze_count() == 0
    mine = []  # frozen by the caller: still frozen (not walked by gc) after the export
    gc.freeze()
    try:
        converters.export_onnx(model)
        assert gc.get_freeze_count() > 0
        assert not any(o is mine for o in gc.get_objects())
    finally:
        gc.unfreeze()
    assert any(o is mine for o in gc.get_objects())
