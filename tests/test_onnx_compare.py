"""converters.compare: Keras models, ONNX models and paths in any pairing."""

import keras
import numpy as np
import onnx
import pytest

from keras_1x1 import UserInputError, converters

L = keras.layers


def _pair(seed=0):
    """A conv-form and a dense-form model with independent weights."""
    keras.utils.set_random_seed(seed)

    def build(form):
        x = keras.Input((8, 8, 32), name="image")
        h = L.Conv2D(32, 3, padding="same", name="stem")(x)
        h = (L.Conv2D(32, 1, name="pw") if form == "conv" else L.Dense(32, name="pw"))(h)
        return keras.Model(x, {"features": L.ReLU(name="relu")(h)}, name=form)

    return build("conv"), build("dense")


def _copy(conv, dense):
    for layer in dense.layers:
        if layer.weights:
            source = conv.get_layer(layer.name).get_weights()
            layer.set_weights([w.reshape(v.shape) for w, v in zip(source, layer.get_weights())])


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("compare")
    conv, dense = _pair()
    before = converters.compare(conv, dense)
    _copy(conv, dense)
    conv.save(folder / "conv.keras")
    dense.save(folder / "dense.keras")
    converters.export_onnx(conv, folder / "conv.onnx")
    converters.export_onnx(dense, folder / "dense.onnx")
    return {"conv": conv, "dense": dense, "before": before, "folder": folder}


def test_before_the_copy_graphs_and_outputs_differ(models):
    result = models["before"]
    assert result.same_graph is False
    assert not result.ok
    text = result.summary()
    assert text.splitlines()[-1] == "FAILED"
    assert "canonical graphs: DIFFERENT" in text
    assert "weight (32, 32, 3, 3) float32 differs" in text  # the first differing weight
    assert "features: MISMATCH" in text


def test_after_the_copy_keras_against_keras(models):
    result = converters.compare(models["conv"], models["dense"])
    assert result.same_graph and result.ok
    assert result.fingerprint_a == result.fingerprint_b
    stats = result.stats["features"]
    assert stats.max_abs == 0.0  # both run in Keras: bit-identical here
    assert str(result).splitlines()[-1] == "PASSED"


@pytest.mark.parametrize(
    "a, b",
    [
        ("conv.keras", "dense.onnx"),
        ("conv.onnx", "dense.onnx"),
        ("dense.onnx", "conv.keras"),
        ("conv.h5", "dense.keras"),
    ],
)
def test_paths_in_any_pairing(models, a, b):
    folder = models["folder"]
    if a.endswith(".h5"):
        models["conv"].save(folder / a)
    result = converters.compare(str(folder / a), folder / b)
    assert result.same_graph and result.ok, result.summary()
    assert result.summary().endswith("PASSED")


def test_models_and_protos_mix(models):
    proto = converters.export_onnx(models["dense"])
    result = converters.compare(models["conv"], proto)
    assert result.same_graph and result.ok
    assert "onnxruntime CPUExecutionProvider" in result.summary()
    assert "Keras (TensorFlow)" in result.summary()
    # Conv and MatMul add 288 products in different orders: not bitwise.
    assert 0 < result.stats["features"].max_abs < 1e-5


def test_tolerances_per_output_and_for_all(models):
    folder = models["folder"]
    conv_onnx = models["conv"]  # Keras' conv against onnxruntime's MatMul
    dense_onnx = str(folder / "dense.onnx")
    strict = converters.compare(conv_onnx, dense_onnx, atol={"features": 0.0}, rtol=0.0)
    assert strict.same_graph and not strict.ok
    assert strict.summary().endswith("FAILED")
    loose = converters.compare(conv_onnx, dense_onnx, atol={None: 1e-3}, rtol=0.0)
    assert loose.ok
    with pytest.raises(UserInputError, match="atol names unknown outputs logits"):
        converters.compare(conv_onnx, dense_onnx, atol={"logits": 1e-3})


def test_explicit_inputs_and_seed(models):
    x = np.random.default_rng(5).normal(size=(3, 8, 8, 32)).astype("float32")
    result = converters.compare(models["conv"], models["dense"], inputs=x)
    assert result.inputs["image"].shape == (3, 8, 8, 32)
    result = converters.compare(models["conv"], models["dense"], inputs={"image": x})
    assert result.ok


def test_models_that_cannot_be_matched(models):
    x = keras.Input((8, 8, 32), name="image")
    two = keras.Model(x, [L.ReLU()(x), L.ReLU()(x)])
    with pytest.raises(UserInputError, match="cannot be matched"):
        converters.compare(models["conv"], two)
    with pytest.raises(UserInputError, match="expected a Keras model, an ONNX model or a path"):
        converters.compare(models["conv"], 42)
    with pytest.raises(UserInputError, match="expected a .keras, .h5, .onnx or .tflite file"):
        converters.compare(models["conv"], "model.pb")


def test_models_with_other_input_shapes_are_named_not_run(models):
    x = keras.Input((8, 8, 16), name="image")
    narrow = keras.Model(x, L.Conv2D(4, 1)(x))
    with pytest.raises(UserInputError, match=r"B takes input 'image' of shape \(N, 8, 8, 16\), "
                       r"but the inputs have shape \(2, 8, 8, 32\)"):
        converters.compare(models["conv"], narrow)
    with pytest.raises(UserInputError, match=r"A takes input 'image' of shape \(N, 8, 8, 32\)"):
        converters.compare(models["conv"], models["dense"], inputs=np.zeros((1, 4, 4, 32), "float32"))


def test_outputs_with_other_names_are_matched_by_position(models):
    proto = converters.export_onnx(models["dense"])
    proto.graph.output[0].name = "renamed"
    for node in proto.graph.node:
        node.output[:] = ["renamed" if o == "features" else o for o in node.output]
    result = converters.compare(models["conv"], proto)
    assert result.ok
    assert "outputs matched by position" in result.summary()


def test_cuda_for_two_keras_models_is_refused(models):
    with pytest.raises(
        UserInputError, match="CUDA was requested, but A and B are both Keras models"
    ):
        converters.compare(models["conv"], models["dense"], providers="cuda")


def test_a_structural_difference_is_reported(models):
    proto = converters.export_onnx(models["dense"])
    changed = onnx.ModelProto()
    changed.CopyFrom(proto)
    relu = next(n for n in changed.graph.node if n.op_type == "Relu")
    relu.op_type = "Sigmoid"
    result = converters.compare(proto, changed)
    assert result.same_graph is False and not result.ok
    assert "first difference at node Relu vs Sigmoid" in result.summary()
