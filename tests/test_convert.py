"""conv_to_dense / dense_to_conv on hand-built topologies."""

import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_1x1 import Conv1x1, ConversionError, PixelDense, UserInputError, converters, io
from keras_1x1.converters.keras import saving
from keras_1x1.converters.keras import signature as checks
from model_zoo import (
    assert_differs_then_matches,
    assert_same_layer_weights,
    conv_zoo,
    dense_zoo,
    outputs,
    randomize,
    weights_by_path,
)

L = keras.layers


def _report(model):
    return {entry.path: entry for entry in model.conversion_report.layers}


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_conv_zoo_round_trip(data_format):
    model = randomize(conv_zoo(data_format))
    before = weights_by_path(model)
    config = model.get_config()

    dense = converters.conv_to_dense(model)
    report = _report(dense)
    assert report["stem"].status == "skipped"
    assert report["stem"].detail == "kernel 3x3 is not 1x1"
    for name in ("pw", "pw_stride2", "pw_groups4", "pw_shared"):
        assert report[name].status == "converted", name
    assert report["pw_stride2"].result.startswith("MaxPooling2D + ")
    assert "block-diagonal" in report["pw_groups4"].detail
    assert dense.conversion_report.verified
    assert not any(isinstance(l, L.Conv2D) and l.kernel_size == (1, 1) for l in dense.layers)
    assert_differs_then_matches(model, dense)

    back = converters.dense_to_conv(dense)
    assert_same_layer_weights(model, back)
    assert [type(l).__name__ for l in back.layers] == [type(l).__name__ for l in model.layers]
    assert back.get_layer("pw_groups4").groups == 4
    assert back.get_layer("pw_stride2").strides == (2, 2)
    assert_differs_then_matches(model, back)

    # The input model is untouched, weights and structure.
    after = weights_by_path(model)
    assert before.keys() == after.keys()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert model.get_config() == config


def test_names_shared_layers_and_weight_counts_are_kept():
    model = randomize(conv_zoo())
    dense = converters.conv_to_dense(model)
    assert [t.name for t in dense.inputs] == [t.name for t in model.inputs]
    assert sorted(dense.output) == sorted(model.output)
    assert len(dense.weights) == len(model.weights)  # the shared layer stays shared
    shared = dense.get_layer("pw_shared")
    assert isinstance(shared, L.Dense)
    assert len(shared._inbound_nodes) == 2


def test_variable_paths_of_a_model_built_in_name_scopes_survive_both_directions():
    # NASNet builds its blocks under keras.name_scope: the variables of a
    # converted layer keep the scope in their paths, both ways.
    x = keras.Input((6, 6, 3), name="image")
    with keras.name_scope("block_0"):
        with keras.name_scope("adjust"):
            h = L.Conv2D(4, 1, name="pw")(x)
        h = L.Conv2D(5, 3, padding="same", name="spatial")(h)
    model = keras.Model(x, L.Conv2D(2, 1, name="head")(h))
    randomize(model)
    paths = [w.path for w in model.weights]
    assert paths[0] == "block_0/adjust/pw/kernel"
    dense = converters.conv_to_dense(model)
    assert isinstance(dense.get_layer("pw"), L.Dense)
    assert [w.path for w in dense.weights] == paths
    back = converters.dense_to_conv(dense)
    assert [w.path for w in back.weights] == paths
    assert all(
        np.asarray(a.numpy()).tobytes() == np.asarray(b.numpy()).tobytes()
        for a, b in zip(model.weights, back.weights)
    )


def test_target_keras_uses_only_builtin_layers_and_loads_without_the_package(tmp_path):
    model = randomize(conv_zoo())
    dense = converters.conv_to_dense(model, target="keras")
    for layer in dense.layers:
        assert type(layer).__module__.startswith("keras."), type(layer)
    path = tmp_path / "dense.keras"
    dense.save(path)
    probe = (
        "import sys, keras; m = keras.saving.load_model(sys.argv[1]); "
        "assert 'keras_1x1' not in sys.modules; print(len(m.layers))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(path)], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_target_keras_1x1_uses_the_package_layers(tmp_path):
    model = randomize(conv_zoo())
    dense = converters.conv_to_dense(model, target="keras_1x1")
    kinds = {type(l) for l in dense.layers}
    assert PixelDense in kinds and not any(
        isinstance(l, L.Conv2D) and l.kernel_size == (1, 1) for l in dense.layers
    )
    conv = converters.dense_to_conv(dense, target="keras_1x1")
    assert conv.get_layer("pw_groups4").__class__ is Conv1x1
    assert conv.get_layer("pw_groups4").groups == 4
    assert conv.get_layer("pw_stride2").strides == (2, 2)
    assert_differs_then_matches(model, conv)
    path = tmp_path / "conv.keras"
    conv.save(path)
    loaded = keras.saving.load_model(path)
    x = checks.sample_inputs(model)
    for a, b in zip(outputs(conv, x), outputs(loaded, x)):
        np.testing.assert_array_equal(a, b)


def test_dense_zoo_to_conv_and_back():
    model = randomize(dense_zoo())
    conv = converters.dense_to_conv(model)
    report = _report(conv)
    expected = {
        "dense4d": "Conv2D",
        "td2": "Conv2D",
        "einsum_last": "Conv2D",
        "dense3d": "Conv1D",
        "td1": "Conv1D",
        "dense5d": "Conv3D",
        "einsum_ellipsis": "Conv3D",
    }
    for name, result in expected.items():
        assert report[name].status == "converted", name
        assert report[name].result == result, name
    assert report["rank2"].status == "skipped"
    assert "rank-2" in report["rank2"].detail
    assert isinstance(conv.get_layer("rank2"), L.Dense)
    assert_differs_then_matches(model, conv)

    dense = converters.conv_to_dense(conv)
    x = checks.sample_inputs(model)
    for a, b in zip(outputs(model, x), outputs(dense, x)):
        np.testing.assert_allclose(a, b, atol=1e-5)
    # Kernels are carried exactly, whatever form holds them.
    for name in ("dense4d", "dense3d", "dense5d"):
        np.testing.assert_array_equal(
            model.get_layer(name).get_weights()[0],
            dense.get_layer(name).get_weights()[0],
        )


@pytest.mark.parametrize("rank", [3, 4, 5])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_every_rank_and_layout(rank, data_format):
    conv_cls = {3: L.Conv1D, 4: L.Conv2D, 5: L.Conv3D}[rank]
    spatial = (5,) * (rank - 2)
    shape = spatial + (6,) if data_format == "channels_last" else (6,) + spatial
    inputs = keras.Input(shape)
    x = conv_cls(4, 1, strides=2, data_format=data_format, activation="tanh", name="pw")(inputs)
    x = conv_cls(4, 1, groups=2, data_format=data_format, name="pw_g")(x)
    model = randomize(keras.Model(inputs, x))
    dense = converters.conv_to_dense(model)
    assert all(e.converted for e in dense.conversion_report.layers)
    if data_format == "channels_first":
        assert isinstance(dense.get_layer("pw"), L.EinsumDense)
    assert_differs_then_matches(model, dense)
    back = converters.dense_to_conv(dense)
    assert_same_layer_weights(model, back)
    assert back.get_layer("pw").strides == (2,) * (rank - 2)


def test_sequential_and_nested_models():
    inner = keras.Sequential(
        [keras.Input((6, 6, 4)), L.Conv2D(8, 1, name="inner_pw"), L.ReLU(name="inner_relu")],
        name="inner",
    )
    mid_in = keras.Input((6, 6, 4))
    mid = keras.Model(mid_in, L.Conv2D(4, 1, strides=2, name="mid_pw")(inner(mid_in)), name="mid")
    outer = keras.Sequential([keras.Input((6, 6, 4)), mid, L.Flatten(), L.Dense(3, name="out")],
                             name="outer")
    randomize(outer)
    dense = converters.conv_to_dense(outer)
    assert isinstance(dense, keras.Sequential)
    paths = {e.path: e for e in dense.conversion_report.layers}
    assert paths["mid/inner/inner_pw"].converted
    assert paths["mid/mid_pw"].result == "MaxPooling2D + Dense"
    assert isinstance(dense.get_layer("mid").get_layer("inner"), keras.Sequential)
    assert_differs_then_matches(outer, dense)
    back = converters.dense_to_conv(dense)
    assert_same_layer_weights(outer, back)
    assert back.get_layer("mid").get_layer("mid_pw").strides == (2, 2)


def test_sequential_loaded_from_a_file_folds_its_subsampling_back(tmp_path):
    model = randomize(
        keras.Sequential(
            [
                keras.Input((6, 6, 4)),
                L.Conv2D(8, 1, strides=2, name="pw"),
                L.Flatten(),
                L.Dense(3, name="head"),
            ]
        )
    )
    model.save(tmp_path / "seq.keras")
    dense = converters.conv_to_dense(keras.saving.load_model(tmp_path / "seq.keras"))
    dense.save(tmp_path / "dense.keras")
    loaded = keras.saving.load_model(tmp_path / "dense.keras")
    assert len(loaded.layers[0]._inbound_nodes) > 1  # calls from earlier graphs
    back = converters.dense_to_conv(loaded)
    assert back.get_layer("pw").strides == (2, 2)
    assert not any(isinstance(layer, L.MaxPooling2D) for layer in back.layers)
    assert_same_layer_weights(model, back)


def test_a_check_on_outputs_that_ignore_the_input_says_so():
    inputs = keras.Input((4, 4, 3))
    blind = keras.Model(
        inputs, L.Conv2D(2, 1, kernel_initializer="zeros", bias_initializer="ones")(inputs)
    )
    notes = converters.conv_to_dense(blind).conversion_report.notes
    assert any("hardly depends on the input" in note for note in notes)
    seeing = keras.Model(inputs, L.Conv2D(2, 1)(inputs))
    assert converters.conv_to_dense(seeing).conversion_report.notes == []


def test_a_model_without_candidates_is_said_to_have_none():
    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, L.ReLU()(inputs))
    same = converters.dense_to_conv(model)
    assert same.conversion_report.layers == []
    assert "no candidate layer" in str(same.conversion_report)


def test_outputs_of_one_layer_called_twice_are_told_apart():
    inputs = keras.Input((4, 4, 3))
    tied = Conv1x1(5, name="tied")
    model = randomize(keras.Model(inputs, [tied(inputs), tied(inputs, form="dense")]))
    dense = converters.conv_to_dense(model)
    assert [s.name for s in dense.conversion_report.verification] == ["tied", "tied_1"]


def test_time_distributed_conv_and_other_convs_are_reported():
    inputs = keras.Input((6, 6, 4))
    x = L.DepthwiseConv2D(1, name="depthwise")(inputs)
    x = L.SeparableConv2D(4, 1, name="separable")(x)
    x = L.Conv2DTranspose(4, 1, name="transposed")(x)
    model = keras.Model(inputs, x)
    report = _report(converters.conv_to_dense(model))
    assert "depthwise" in report["depthwise"].detail
    assert "separable" in report["separable"].detail
    assert "transposed" in report["transposed"].detail


def test_lora_and_mixed_ranks_are_skipped_with_reasons():
    inputs = keras.Input((4, 4, 6))
    lora = L.Dense(6, name="lora")
    x = lora(inputs)
    lora.enable_lora(2)
    shared = L.Dense(3, name="mixed")
    y = shared(x)
    z = shared(L.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, [y, z])
    report = _report(converters.dense_to_conv(model))
    assert "LoRA" in report["lora"].detail
    assert "ranks [2, 4]" in report["mixed"].detail


def test_quantized_dense_is_skipped():
    inputs = keras.Input((4, 4, 8))
    model = keras.Model(inputs, L.Dense(8, name="q")(inputs))
    model.quantize("int8")
    report = _report(converters.dense_to_conv(model, verify=False))
    assert report["q"].status == "skipped"
    assert "quantized" in report["q"].detail


def test_compile_state_trainable_and_regularizers_are_kept():
    inputs = keras.Input((5, 5, 3))
    x = L.Conv2D(4, 1, kernel_regularizer=keras.regularizers.L2(0.01), trainable=False,
                 kernel_constraint=keras.constraints.MaxNorm(2.0, axis=[0, 1, 2]), name="pw")(inputs)
    model = keras.Model(inputs, L.GlobalAveragePooling2D()(x))
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    dense = converters.conv_to_dense(model)
    layer = dense.get_layer("pw")
    assert isinstance(layer, L.Dense) and layer.trainable is False
    assert layer.kernel_regularizer.get_config() == {"l2": 0.01}
    assert layer.kernel_constraint.get_config()["axis"] == 0
    assert dense.compiled
    assert dense.get_compile_config()["loss"] == "mse"
    back = converters.dense_to_conv(dense)
    assert back.get_layer("pw").kernel_constraint.get_config()["axis"] == 2


def test_mixed_float16_model_converts_with_float16_tolerance():
    keras.mixed_precision.set_global_policy("mixed_float16")
    inputs = keras.Input((6, 6, 8))
    x = L.Conv2D(16, 1, activation="relu", name="pw")(inputs)
    x = L.Conv2D(8, 1, name="pw2")(x)
    model = randomize(keras.Model(inputs, x))
    dense = converters.conv_to_dense(model)
    assert dense.get_layer("pw").dtype_policy.name == "mixed_float16"
    assert dense.conversion_report.verification[0].atol == 1e-2
    back = converters.dense_to_conv(dense)
    assert_same_layer_weights(model, back)


def test_dict_inputs_outputs_and_raw_ops():
    a = keras.Input((4, 4, 3), name="left")
    b = keras.Input((4, 4, 3), name="right")
    x = keras.ops.concatenate([a, b], axis=-1)
    x = L.Conv2D(5, 1, name="pw")(x)
    y = keras.ops.relu(x) * 2.0
    model = randomize(keras.Model({"left": a, "right": b}, {"y": y, "x": x}))
    dense = converters.conv_to_dense(model)
    assert sorted(dense.input) == ["left", "right"]
    assert sorted(dense.output) == ["x", "y"]
    assert_differs_then_matches(model, dense)


def test_verification_catches_a_wrong_conversion(monkeypatch):
    from keras_1x1.converters.keras import pointwise

    model = randomize(conv_zoo())
    real = pointwise.to_dense

    def off_by_a_little(m, target, taken):
        m.kernel = m.kernel + 1e-3
        return real(m, target, taken)

    monkeypatch.setattr(pointwise, "to_dense", off_by_a_little)
    with pytest.raises(ConversionError, match=r"differs from the original by [0-9.e-]+ \(allowed") as info:
        converters.conv_to_dense(model)
    assert info.value.max_error > 1e-4
    assert info.value.report is not None


def test_nan_weights_are_reported_not_passed():
    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, L.Conv2D(2, 1, name="pw")(inputs))
    kernel, bias = model.get_layer("pw").get_weights()
    kernel[0, 0, 0, 0] = np.nan
    model.get_layer("pw").set_weights([kernel, bias])
    with pytest.raises(ConversionError, match="NaN/Inf"):
        converters.conv_to_dense(model)
    unchecked = converters.conv_to_dense(model, verify=False)
    assert np.isnan(unchecked.get_layer("pw").get_weights()[0]).any()


class _Net(keras.Model):
    """A subclassed model: its wiring is Python code in call()."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.stem = L.Conv2D(4, 3, padding="same", name="stem")
        self.pointwise = L.Conv2D(6, 1, name="pointwise")
        self.strided = L.Conv2D(6, 1, strides=2, name="strided")
        self.head = [L.Dense(3, name="head_0"), L.Dense(2, name="head_1")]

    def call(self, x):
        x = self.pointwise(keras.ops.relu(self.stem(x)))
        x = keras.ops.mean(self.strided(x), axis=(1, 2))
        for dense in self.head:
            x = dense(x)
        return x


def test_subclassed_models_are_rewritten_by_swapping_their_sublayers():
    net = _Net(name="net")
    net(np.zeros((1, 6, 6, 2), "float32"))
    randomize(net)
    before = weights_by_path(net)

    dense = converters.conv_to_dense(net)
    report = _report(dense)
    assert report["stem"].detail == "kernel 3x3 is not 1x1"
    assert report["pointwise"].result == "Dense"
    assert report["strided"].result == "MaxPooling2D + Dense"
    assert dense.conversion_report.verified
    assert saving.base_class(dense) is _Net and isinstance(dense, _Net) and dense is not net
    assert isinstance(dense.pointwise, L.Dense) and isinstance(dense.strided, keras.Sequential)
    assert isinstance(net.pointwise, L.Conv2D)  # the input model is untouched
    x = np.random.default_rng(3).normal(size=(2, 6, 6, 2)).astype("float32")
    assert_differs_then_matches(net, dense, x)

    back = converters.dense_to_conv(dense)
    report = _report(back)
    assert report["strided"].result == "Conv2D"  # the pool folds back into strides
    assert report["head/0"].status == "skipped" and "rank-2" in report["head/1"].detail
    assert isinstance(back.strided, L.Conv2D) and back.strided.strides == (2, 2)
    restored = converters.dense_to_conv(converters.conv_to_dense(net))
    assert [w.path for w in restored.weights] == [w.path for w in net.weights]
    for a, b in zip(net.get_weights(), restored.get_weights()):
        assert a.shape == b.shape and np.array_equal(a, b)
    after = weights_by_path(net)
    assert all(np.array_equal(before[k], after[k]) for k in before)
    # Training the result does not move the original.
    dense.pointwise.kernel.assign(dense.pointwise.kernel + 1.0)
    assert np.array_equal(net.pointwise.kernel.numpy(), before[net.pointwise.kernel.path])


def test_an_unbuilt_subclassed_model_gets_a_clear_error():
    with pytest.raises(UserInputError, match=r"subclassed keras.Model \(_Net\) that was never built"):
        converters.conv_to_dense(_Net())


def test_bad_target_and_unbuilt_sequential():
    with pytest.raises(UserInputError, match="Received: target='onnx'"):
        converters.dense_to_conv(conv_zoo(), target="onnx")
    with pytest.raises(UserInputError, match="without a known input shape"):
        converters.conv_to_dense(keras.Sequential([L.Conv2D(2, 1)]))


def test_verify_accepts_given_inputs():
    model = randomize(conv_zoo())
    x = np.ones((1, 9, 9, 8), "float32")
    dense = converters.conv_to_dense(model, verify=x)
    assert dense.conversion_report.verification[0].shape[0] == 1


def test_a_subsampling_pool_read_by_another_layer_is_not_folded():
    inputs = keras.Input((8, 8, 4), name="image")
    h = L.Conv2D(4, 3, padding="same", name="stem")(inputs)
    sub = L.MaxPooling2D(1, strides=2, name="sub")(h)
    a = L.Dense(6, name="pixel")(sub)
    b = L.ReLU(name="other_reader")(sub)  # reads the pooled map too
    model = randomize(keras.Model(inputs, [a, b]))
    conv = converters.dense_to_conv(model)
    assert conv.conversion_report.verified
    assert isinstance(conv.get_layer("pixel"), L.Conv2D)
    assert conv.get_layer("pixel").strides == (1, 1)
    assert isinstance(conv.get_layer("sub"), L.MaxPooling2D)
    assert "sub" not in {e.path for e in conv.conversion_report.converted}

    # Read by the Dense alone, the same pool becomes the conv's strides.
    alone = randomize(keras.Model(inputs, L.Dense(6, name="pixel_alone")(sub)))
    folded = converters.dense_to_conv(alone)
    assert folded.get_layer("pixel_alone").strides == (2, 2)
    assert not any(isinstance(layer, L.MaxPooling2D) for layer in folded.layers)


# -- layers inside layers: saving, copying, tracing -------------------------------------


@keras.saving.register_keras_serializable(package="tests")
class _Holder(L.Layer):
    """Holds the layer it is given and serializes it in its own config, so a
    reload rebuilds the layer it holds from that config."""

    def __init__(self, inner, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(inner, L.Layer):
            inner = keras.saving.deserialize_keras_object(inner)
        self.inner = inner

    def build(self, input_shape):
        if not self.inner.built:
            self.inner.build(input_shape)

    def call(self, x):
        return 2.0 * self.inner(x)

    def get_config(self):
        return {**super().get_config(), "inner": keras.saving.serialize_keras_object(self.inner)}


@keras.saving.register_keras_serializable(package="tests")
class _Block(L.Layer):
    """Builds its Dense in __init__ from its own arguments."""

    def __init__(self, units=4, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.proj = L.Dense(units, name="proj")

    def build(self, input_shape):
        self.proj.build(input_shape)

    def call(self, x):
        return self.proj(x)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def _tokens_model(layer):
    tokens = keras.Input((6, 3), name="tokens")
    return randomize(keras.Model(tokens, layer(tokens)))


def test_a_sublayer_whose_parent_serializes_it_reloads_in_the_converted_form(tmp_path):
    model = _tokens_model(_Holder(L.Dense(4, name="proj"), name="holder"))
    conv = converters.dense_to_conv(model)
    assert _report(conv)["holder/inner"].result == "Conv1D"
    assert isinstance(conv.get_layer("holder").inner, L.Conv1D)
    assert any("needs no record" in n for n in conv.conversion_report.notes)
    io.save_model(conv, tmp_path / "conv.keras")
    loaded = io.load_model(tmp_path / "conv.keras")
    assert isinstance(loaded.get_layer("holder").inner, L.Conv1D)
    x = checks.sample_inputs(model)
    assert_differs_then_matches(model, loaded, x)
    back = converters.conv_to_dense(loaded)
    assert isinstance(back.get_layer("holder").inner, L.Dense)
    assert_same_layer_weights(model, back)


def test_a_sublayer_its_parent_builds_itself_saves_and_reloads_in_the_converted_form(tmp_path):
    model = _tokens_model(_Block(name="block"))
    conv = converters.dense_to_conv(model)
    assert isinstance(conv.get_layer("block").proj, L.Conv1D)
    assert_differs_then_matches(model, conv)
    note = [n for n in conv.conversion_report.notes if n.startswith("saving:")][0]
    assert "records the 1 converted sublayer" in note
    x = checks.sample_inputs(model)
    for i, save in enumerate((conv.save, lambda p: keras.saving.save_model(conv, p),
                              lambda p: io.save_model(conv, p))):
        path = tmp_path / f"conv{i}.keras"
        save(path)
        loaded = keras.saving.load_model(path)
        assert isinstance(loaded.get_layer("block").proj, L.Conv1D)
        assert_differs_then_matches(model, loaded, x)
        np.testing.assert_array_equal(loaded(x), conv(x))
    # The reloaded model saves again, and converts back to the original's
    # weights, bit for bit.
    loaded.save(tmp_path / "again.keras")
    again = keras.saving.load_model(tmp_path / "again.keras")
    assert isinstance(again.get_layer("block").proj, L.Conv1D)
    back = converters.conv_to_dense(again)
    assert_same_layer_weights(model, back)
    # The way back saves as the original does: no record, the original's class.
    assert saving.replaced_paths(back) == {} and type(back) is type(model)
    io.save_model(back, tmp_path / "back.keras")
    assert isinstance(io.load_model(tmp_path / "back.keras").get_layer("block").proj, L.Dense)
    model.save(tmp_path / "model.keras")


def test_a_saved_conversion_honours_the_users_custom_objects(tmp_path):
    class Scale(_Block):  # not registered: reloads only with custom_objects
        def call(self, x):
            return 3.0 * self.proj(x)

    model = _tokens_model(Scale(name="scale"))
    conv = converters.dense_to_conv(model)
    conv.save(tmp_path / "conv.keras")
    with pytest.raises(TypeError, match="Scale"):
        keras.saving.load_model(tmp_path / "conv.keras")
    loaded = keras.saving.load_model(tmp_path / "conv.keras", custom_objects={"Scale": Scale})
    assert isinstance(loaded.get_layer("scale").proj, L.Conv1D)
    x = checks.sample_inputs(model)
    np.testing.assert_array_equal(loaded(x), conv(x))
    # The round trip of the reloaded model saves like the original, which
    # reloads with the same custom_objects.
    back = converters.conv_to_dense(loaded)
    back.save(tmp_path / "back.keras")
    again = keras.saving.load_model(tmp_path / "back.keras", custom_objects={"Scale": Scale})
    assert isinstance(again.get_layer("scale").proj, L.Dense)
    np.testing.assert_array_equal(again(x), model(x))


def test_a_conversion_carries_the_activation_object_itself():
    # keras.ops.gelu is the tanh approximation; its serialized name "gelu"
    # deserializes to the exact GELU. A user's own function has no name
    # Keras knows at all.
    def squish(x):
        return x * keras.ops.sigmoid(1.5 * x)

    for activation in (keras.ops.gelu, squish):
        tokens = keras.Input((6, 3), name="tokens")
        model = randomize(keras.Model(tokens, L.Dense(4, activation=activation, name="proj")(tokens)))
        conv = converters.dense_to_conv(model)  # verified on drawn inputs
        assert conv.get_layer("proj").activation is activation
        back = converters.conv_to_dense(conv)
        assert back.get_layer("proj").activation is activation
    # The test has teeth: the config round trip of ops.gelu is another function.
    x = keras.ops.convert_to_tensor(np.linspace(-3, 3, 13, dtype="float32"))
    exact = keras.activations.deserialize(keras.activations.serialize(keras.ops.gelu))
    assert float(keras.ops.max(keras.ops.abs(exact(x) - keras.ops.gelu(x)))) > 1e-4


class _Unknown(L.Layer):
    """Calls its Dense on a tensor whose width the symbolic trace cannot know
    (a reshape to a size computed from tensor values)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.proj = L.Dense(4, name="proj")

    def build(self, input_shape):
        self.proj.build(input_shape)

    def call(self, x):
        shape = keras.ops.shape(x)
        width = shape[-1] + keras.ops.cast(keras.ops.sum(x * 0.0), "int32")
        return self.proj(keras.ops.reshape(x, (shape[0], shape[1], width)))


def test_a_sublayer_of_unknown_width_is_rebuilt_on_its_kernels_width():
    model = _tokens_model(_Unknown(name="unknown"))
    conv = converters.dense_to_conv(model)
    assert _report(conv)["unknown/proj"].result == "Conv1D"
    assert conv.get_layer("unknown").proj.kernel.shape == (1, 3, 4)
    assert_differs_then_matches(model, conv)
    assert_same_layer_weights(model, converters.conv_to_dense(conv))


class _Locked(L.Layer):
    """Holds a lock, which no copy can take."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        import threading

        self.lock = threading.Lock()
        self.proj = L.Dense(4, name="proj")

    def call(self, x):
        return self.proj(x)


def test_a_layer_that_cannot_be_copied_is_named_with_the_cause():
    model = _tokens_model(_Locked(name="locked"))
    with pytest.raises(UserInputError) as caught:
        converters.dense_to_conv(model)
    text = str(caught.value)
    assert text.startswith("layer 'locked' (_Locked) cannot be copied: its attribute 'lock'")
    assert "lock" in text.split("(", 2)[-1] and "\n" not in text


class _EagerOnly(L.Layer):
    """Runs eagerly, but reads its input's values in Python (no symbolic run)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.proj = L.Dense(4, name="proj")

    def call(self, x):
        scale = float(keras.ops.convert_to_numpy(keras.ops.max(x)))
        return self.proj(x) * scale

    def compute_output_shape(self, input_shape):
        return input_shape[:-1] + (4,)


def test_a_model_that_cannot_be_traced_symbolically_says_so_in_one_line():
    model = _tokens_model(_EagerOnly(name="eager"))
    conv = converters.dense_to_conv(model)
    (note,) = [n for n in conv.conversion_report.notes if n.startswith("tracing:")]
    assert "cannot be traced on symbolic inputs of shapes [(None, 6, 3)]" in note
    assert "\n" not in note


def test_a_trained_subclassed_model_converts_and_its_result_trains_on_its_own():
    net = _Net(name="net")
    x = np.random.default_rng(4).normal(size=(8, 6, 6, 2)).astype("float32")
    net(x[:1])
    net.compile(optimizer="adam", loss="mse")
    net.fit(x, np.zeros((8, 2), "float32"), epochs=1, verbose=0)
    before = weights_by_path(net)
    dense = converters.conv_to_dense(net)
    assert dense.compiled and dense.optimizer is not net.optimizer
    dense.fit(x, np.ones((8, 2), "float32"), epochs=2, verbose=0)
    assert not np.array_equal(dense.pointwise.kernel.numpy(), before[net.pointwise.kernel.path].reshape(4, 6))
    after = weights_by_path(net)
    assert all(np.array_equal(before[k], after[k]) for k in before)


# -- EinsumDense with channel axes reshaped ----------------------------------------------


def _einsum_model(shape, equation, output_shape, bias_axes=None):
    inputs = keras.Input(shape, name="x")
    layer = L.EinsumDense(equation, output_shape=output_shape, bias_axes=bias_axes, name="proj")
    return randomize(keras.Model(inputs, layer(inputs)))


@pytest.mark.parametrize(
    "shape, equation, output_shape, bias_axes, result",
    [
        ((5, 8), "abc,cde->abde", (None, 2, 4), "de", "Conv1D + Reshape"),
        ((5, 2, 4), "abcd,cde->abe", (None, 8), "e", "Reshape + Conv1D"),
        ((5, 8), "btd,ndh->btnh", (None, 2, 4), None, "Conv1D + Reshape"),  # kernel axes permuted
        ((3, 4, 8), "abcd,def->abcef", (3, 4, 2, 4), "ef", "Conv2D + Reshape"),
    ],
)
def test_attention_style_einsums_become_reshaped_convs_and_come_back(
    shape, equation, output_shape, bias_axes, result
):
    model = _einsum_model(shape, equation, output_shape, bias_axes)
    conv = converters.dense_to_conv(model)
    assert _report(conv)["proj"].result == result
    assert isinstance(conv.get_layer("proj"), keras.Sequential)
    assert_differs_then_matches(model, conv)
    back = converters.conv_to_dense(conv)
    assert _report(back)["proj"].result == "EinsumDense"
    assert back.get_layer("proj").equation == equation
    assert_same_layer_weights(model, back)


def test_a_reshaped_conv_reloads_and_comes_back_in_keras_letters(tmp_path):
    model = _einsum_model((5, 8), "btd,ndh->btnh", (None, 2, 4))
    conv = converters.dense_to_conv(model)
    io.save_model(conv, tmp_path / "conv.keras")
    loaded = io.load_model(tmp_path / "conv.keras")
    back = converters.conv_to_dense(loaded)
    assert back.get_layer("proj").equation == "abc,cde->abde"  # the same map
    x = checks.sample_inputs(model)
    for a, b in zip(outputs(model, x), outputs(back, x)):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize(
    "shape, equation, output_shape, bias_axes, reason",
    [
        ((None, None, 8), "abcd,def->abcef", (None, None, 2, 4), None,
         "two free position axes cannot both be kept by a Reshape"),
        ((5, 8), "abc,cde->abde", (None, 2, 4), "e", "bias_axes='e' is not every output channel axis"),
        ((5, 8), "abc,bcd->ad", (4,), None, "no position axis besides the batch"),
        ((5, 8), "abc,cbd->abd", (5, 4), None, "mixes positions"),
    ],
)
def test_einsums_that_are_not_per_position_maps_are_skipped_with_the_reason(
    shape, equation, output_shape, bias_axes, reason
):
    model = _einsum_model(shape, equation, output_shape, bias_axes)
    conv = converters.dense_to_conv(model)
    entry = _report(conv)["proj"]
    assert entry.status == "skipped" and reason in entry.detail, entry.detail


class _Branchy(L.Layer):
    """Branches in Python on a tensor's values, as layers that run eagerly
    do: a symbolic trace cannot run it. It needs ``length`` positions."""

    def __init__(self, length=None, **kwargs):
        super().__init__(**kwargs)
        self.length = length
        self.small = L.Dense(4, name="small")
        self.large = L.Dense(4, name="large")

    def build(self, input_shape):
        self.small.build(input_shape)
        self.large.build(input_shape)

    def call(self, x):
        if self.length is not None and x.shape[1] != self.length:
            raise ValueError(f"this layer runs on {self.length} positions")
        if float(keras.ops.convert_to_numpy(keras.ops.max(keras.ops.abs(x)))) > 1e6:
            return self.large(x)
        return self.small(x)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (4,)


def test_a_model_that_reads_tensor_values_is_traced_on_concrete_inputs():
    tokens = keras.Input((None, 3), name="tokens")
    model = randomize(keras.Model(tokens, _Branchy(name="branchy")(tokens)))
    conv = converters.dense_to_conv(model)
    report = _report(conv)
    assert report["branchy/small"].result == "Conv1D"
    assert "never called" in report["branchy/large"].detail
    note = [n for n in conv.conversion_report.notes if n.startswith("tracing:")][0]
    assert "cannot be traced on symbolic inputs" in note and "traced on concrete inputs" in note
    assert "\x1b" not in note
    x = np.random.default_rng(0).normal(size=(2, 9, 3)).astype("float32")  # another length
    assert_differs_then_matches(model, conv, x)
    assert_same_layer_weights(model, converters.conv_to_dense(conv))


def test_a_model_traced_on_neither_kind_of_input_names_both_causes():
    tokens = keras.Input((None, 3), name="tokens")
    model = randomize(keras.Model(tokens, _Branchy(length=5, name="branchy")(tokens)))
    with pytest.raises(UserInputError) as caught:
        converters.dense_to_conv(model)
    message = str(caught.value)
    assert "cannot be traced on symbolic inputs" in message
    assert "nor on concrete inputs (ValueError: " in message and "runs on 5 positions" in message
    # The user's own inputs are what it is traced on when given.
    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    conv = converters.dense_to_conv(model, verify=x)
    assert _report(conv)["branchy/small"].result == "Conv1D"
    assert any("traced on concrete inputs instead (the inputs given)" in n
               for n in conv.conversion_report.notes)


# -- verification against the model's own rounding noise ------------------------------


def _cancelling_model():
    """A model that amplifies rounding: a large offset that a BatchNorm's
    statistics cancel, divided by a small deviation."""
    image = keras.Input((6, 6, 8), name="image")
    h = L.Conv2D(16, 1, name="offset", bias_initializer=keras.initializers.Constant(1e4))(image)
    h = L.Conv2D(16, 1, name="mix")(h)
    norm = L.BatchNormalization(name="norm")
    h = norm(h)
    model = keras.Model(image, L.Dense(4, name="head")(L.GlobalAveragePooling2D()(h)))
    features = keras.Model(image, model.get_layer("mix").output)
    sample = np.random.default_rng(5).normal(size=(64, 6, 6, 8)).astype("float32")
    mean = features(sample).numpy().mean(axis=(0, 1, 2))
    gamma, beta, _, variance = norm.get_weights()
    norm.set_weights([gamma, beta, mean, np.full_like(variance, 1e-4)])
    return model


def _changed_copy(model, change):
    from keras_1x1.converters.keras import internals

    twin = internals.LayerCopier(model).copy(model)
    change(twin)
    return twin


def test_a_model_that_amplifies_rounding_is_judged_against_its_own_noise():
    from keras_1x1.converters.keras import report as reports
    from keras_1x1.converters.keras import verify

    model = _cancelling_model()
    rng = np.random.default_rng(7)

    def rounding(twin):  # another rounding of the same weights: one ulp each
        for v in twin.weights:
            a = v.numpy()
            v.assign(a + rng.choice([-1, 1], size=a.shape).astype(a.dtype) * np.spacing(a))

    report = reports.ConversionReport("check", "keras")
    stats = verify.verify(model, _changed_copy(model, rounding), report)
    (stat,) = stats
    assert stat.max_abs > stat.atol + stat.rtol * stat.scale  # the tolerance alone refuses
    assert stat.ok and stat.by_noise and report.verified
    assert any("the noise floor decided" in n for n in report.notes)
    assert "which decided" in stat.line()

    def wrong_weight(twin):  # a real change: one kernel entry 1% off
        layer = twin.get_layer("mix")
        kernel, bias = layer.get_weights()
        kernel[0, 0, 3, 5] *= 1.01
        layer.set_weights([kernel, bias])

    with pytest.raises(ConversionError, match="own rounding noise") as caught:
        verify.verify(model, _changed_copy(model, wrong_weight), reports.ConversionReport("check", "keras"))
    assert caught.value.max_error > 4 * caught.value.report.verification[0].noise
    # The conversion itself passes, whichever judged it.
    converted = converters.conv_to_dense(model)
    assert converted.conversion_report.verified


def test_a_nested_model_called_on_another_rank_keeps_its_own_input_shape():
    # Keras adds the trailing axis when a model declared on (None, 1) runs
    # on (None,) (a timestep embedding); the rebuild must not build the
    # nested model on the rank it is called with.
    t = keras.Input((1,), name="t")
    embed = keras.Model(t, L.Dense(8, name="inner")(t * 2.0), name="embed")
    x = keras.Input((5, 8), name="x")
    time = keras.Input((), name="time")
    out = L.Dense(8, name="proj")(x) + keras.ops.reshape(embed(time), (-1, 1, 8))
    model = randomize(keras.Model([x, time], out))
    conv = converters.dense_to_conv(model)
    assert _report(conv)["proj"].result == "Conv1D"
    assert conv.get_layer("embed").inputs[0].shape == (None, 1)
    assert_differs_then_matches(model, conv)
    assert_same_layer_weights(model, converters.conv_to_dense(conv))


class _WholeTable(L.Layer):
    """Adds a position table read whole: the sequence must be exactly as
    long as the table."""

    def __init__(self, length=20, **kwargs):
        super().__init__(**kwargs)
        self.length = length
        self.table = L.Embedding(length, 8, name="positions")

    def build(self, input_shape):
        self.table.build((None,))

    def call(self, x):
        return x + self.table(keras.ops.arange(self.length))[None]


class _Refusing(L.Layer):
    def call(self, x):
        if x.shape[1] is not None:
            raise ValueError("refuses every length")
        return x


def test_drawn_inputs_the_model_refuses_are_drawn_again_at_its_table_lengths():
    tokens = keras.Input((None, 8), name="tokens")
    h = _WholeTable(name="whole")(tokens)
    model = randomize(keras.Model(tokens, L.Dense(4, name="proj")(h)))
    conv = converters.dense_to_conv(model)
    assert _report(conv)["proj"].result == "Conv1D" and conv.conversion_report.verified
    (drawn,) = conv.conversion_report.inputs
    assert "2x20x8" in drawn and "the model refuses the first draw" in drawn
    # Export and compare draw the lengths the model accepts too.
    assert converters.compare(model, converters.export_onnx(conv)).ok
    # A model that refuses every length says so, naming the first failure.
    bad = keras.Model(tokens, L.Dense(4, name="proj")(_Refusing()(tokens)))
    with pytest.raises(UserInputError, match="fails on the inputs drawn from its input specs, "
                       "so the conversion cannot be verified: ValueError: .*refuses every length") as caught:
        converters.dense_to_conv(bad)
    assert "\x1b" not in str(caught.value) and "\n" not in str(caught.value)


# -- Functional subclasses keep their class, attributes and owned layers --------------


class _Encoder(keras.Model):
    """A Functional subclass with an attribute of its own and a layer it
    owns but never calls (a head kept for another task)."""

    def __init__(self, image_shape=(6, 6, 3), **kwargs):
        image = keras.Input(image_shape, name="image")
        x = L.Conv2D(8, 3, padding="same", name="stem")(image)
        x = L.Conv2D(4, 1, name="pointwise")(x)
        super().__init__(image, x, **kwargs)
        self.image_shape = tuple(image_shape)
        self.spare = L.Dense(2, name="spare")
        self.spare.build((None, 4))

    def get_config(self):
        return {"image_shape": self.image_shape, "name": self.name}


class _Reader(keras.Model):
    """Calls its encoder and reads the encoder's own attribute."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.encoder = _Encoder(name="encoder")

    def call(self, x):
        height = self.encoder.image_shape[0]
        return self.encoder(x) * float(height)


def test_a_functional_subclass_keeps_its_class_attributes_and_owned_layers():
    model = randomize(_Encoder(name="encoder"))
    dense = converters.conv_to_dense(model)
    assert type(saving.base_class(dense)) is type(_Encoder) and isinstance(dense, _Encoder)
    assert dense.image_shape == (6, 6, 3) and isinstance(dense.get_layer("pointwise"), L.Dense)
    assert len(dense.weights) == len(model.weights)  # the spare Dense too
    assert_differs_then_matches(model, dense)
    back = converters.dense_to_conv(dense)
    assert type(back) is _Encoder
    assert_same_layer_weights(model, back)
    assert all(np.array_equal(a, b) for a, b in zip(back.get_weights(), model.get_weights()))


def test_a_parent_reading_its_converted_encoders_attribute_still_runs():
    net = _Reader(name="reader")
    x = np.random.default_rng(2).normal(size=(2, 6, 6, 3)).astype("float32")
    net(x)
    randomize(net)
    dense = converters.conv_to_dense(net)
    assert isinstance(dense.encoder, _Encoder) and isinstance(dense.encoder.get_layer("pointwise"), L.Dense)
    assert_differs_then_matches(net, dense, x)


def test_a_mismatch_names_an_original_layer_that_misses_its_own_map():
    # Keras' TensorFlow ops.add takes a (heads, 1) bias for a channels_first
    # bias when the positions number as many as the heads: the original
    # EinsumDense then adds it on the wrong axis. Its conv form computes the
    # EinsumDense's own equation, so the outputs differ, and the error says
    # whose fault it is.
    tokens = keras.Input((2, 4), name="tokens")
    attention = L.MultiHeadAttention(2, 1, name="attention")
    model = randomize(keras.Model(tokens, attention(tokens, tokens)))
    with pytest.raises(ConversionError) as caught:
        converters.dense_to_conv(model)
    message = str(caught.value)
    assert "differs from the original by" in message
    assert "the original layer 'attention/_query_dense' (EinsumDense) does not compute its own map" in message
    assert "not of the conversion" in message and "\n" not in message
    # Where the original is right, nothing is blamed on it.
    longer = keras.Input((3, 4), name="tokens")
    other = randomize(keras.Model(longer, L.MultiHeadAttention(2, 1, name="attention")(longer, longer)))
    assert converters.dense_to_conv(other).conversion_report.verified


def test_a_real_mismatch_names_the_first_converted_layer_that_differs():
    from keras_1x1.converters.keras import report as reports
    from keras_1x1.converters.keras import verify

    tokens = keras.Input((5, 3), name="tokens")
    model = randomize(keras.Model(tokens, L.Dense(4, name="proj")(tokens)))
    conv = converters.dense_to_conv(model)
    layer = conv.get_layer("proj")
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel * 1.5, bias])  # a conversion gone wrong
    with pytest.raises(ConversionError, match="the first converted layer that differs on its inputs is 'proj'"):
        verify.verify(model, conv, reports.ConversionReport("check", "keras"),
                      pairs=[("proj", model.get_layer("proj"), layer)])


class _Untracked(L.Layer):
    """Tracks its Dense layers through a list it then replaces by a
    Sequential of them: no attribute holds them, and their names are
    numbered anew whenever the layer is rebuilt."""

    def __init__(self, units=4, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.net = [L.Dense(units), L.Dense(units)]
        self.net = keras.Sequential(self.net)

    def call(self, x):
        return self.net(x)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def test_a_sublayer_no_attribute_holds_saves_by_its_place(tmp_path):
    model = _tokens_model(_Untracked(name="mlp"))
    conv = converters.dense_to_conv(model)
    conv.save(tmp_path / "conv.keras")
    loaded = keras.saving.load_model(tmp_path / "conv.keras", custom_objects={"_Untracked": _Untracked})
    x = checks.sample_inputs(model)
    np.testing.assert_array_equal(loaded(x), conv(x))
    assert_differs_then_matches(model, loaded, x)
