"""The layers, converters, saving, export and command line on the Keras
backend this run uses: ``make test`` runs them on TensorFlow, ``make
test-backends`` again with ``KERAS_BACKEND=jax`` and ``KERAS_BACKEND=torch``.
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from keras_1x1 import Conv1x1, PixelDense
from keras_1x1.converters import conv_to_dense, dense_to_conv, export_onnx, fingerprint

BACKEND = keras.backend.backend()
EXPORTER = {"tensorflow": "tf2onnx", "jax": "jax2onnx", "torch": "torch.onnx"}[BACKEND]
other_backends = pytest.mark.skipif(BACKEND == "tensorflow", reason="for the JAX and torch backends")


def _numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def _cnn():
    return keras.Sequential(
        [
            keras.Input((8, 8, 3), name="image"),
            keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
            # jax2onnx pools over all four axes (onnxruntime pools over 3 at
            # most); torch pads with edge values and pools "valid".
            keras.layers.MaxPooling2D(3, strides=2, padding="same"),
            keras.layers.Conv2D(6, 1, bias_initializer="random_normal"),
            keras.layers.Conv2D(5, 1, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2),
        ],
        name="cnn",
    )


def _attention():
    tokens = keras.Input((5, 8), name="tokens")
    y = keras.layers.MultiHeadAttention(2, 4, name="attention")(tokens, tokens)
    return keras.Model(tokens, keras.layers.Dense(8, name="head")(y), name="attention_model")


def _weights(model):
    return [_numpy(w) for w in model.weights]


def _assert_same_weights(a, b):
    """Every weight the same, byte for byte and shape for shape."""
    assert len(a.weights) == len(b.weights)
    for x, y in zip(_weights(a), _weights(b)):
        assert x.shape == y.shape and x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("layer_class", [Conv1x1, PixelDense])
def test_layers_equal_conv2d_save_reload_and_fit(tmp_path, rng, layer_class):
    x = rng.normal(size=(2, 6, 6, 5)).astype("float32")
    layer = layer_class(4, bias_initializer="random_normal")
    native = keras.layers.Conv2D(4, 1)
    inputs = keras.Input((6, 6, 5))
    model = keras.Model(inputs, [layer(inputs), layer(inputs, form="conv" if layer_class is PixelDense else "dense")])
    reference = keras.Model(inputs, native(inputs))
    assert not np.allclose(_numpy(model(x)[0]), _numpy(reference(x)), atol=1e-3)
    kernel, bias = (_numpy(w) for w in layer.weights)
    native.set_weights([kernel.reshape(1, 1, 5, 4), bias])
    expected = _numpy(reference(x))
    for out in model(x):
        np.testing.assert_allclose(_numpy(out), expected, rtol=1e-5, atol=1e-5)
    path = tmp_path / "tied.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert len(loaded.weights) == 2  # one kernel and one bias for both forms
    for a, b in zip(loaded(x), model(x)):
        np.testing.assert_array_equal(_numpy(a), _numpy(b))
    single = keras.Model(inputs, layer(inputs))
    single.compile(optimizer="sgd", loss="mse")
    history = single.fit(x, np.zeros((2, 6, 6, 4), "float32"), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert history.history["loss"][1] < history.history["loss"][0]


def test_cnn_converts_both_ways_with_an_exact_round_trip(rng):
    model = _cnn()
    x = rng.normal(size=(2, 8, 8, 3)).astype("float32")
    dense = conv_to_dense(model)
    assert len(dense.conversion_report.converted) == 2
    assert not any(isinstance(l, keras.layers.Conv2D) and l.kernel.shape[:2] == (1, 1) for l in dense.layers)
    back = dense_to_conv(dense)
    np.testing.assert_allclose(_numpy(dense(x)), _numpy(model(x)), rtol=1e-5, atol=1e-6)
    _assert_same_weights(back, model)
    np.testing.assert_array_equal(_numpy(back(x)), _numpy(model(x)))


def test_attention_converts_both_ways_inside_its_layers_and_saves(tmp_path, rng):
    model = _attention()
    x = rng.normal(size=(2, 5, 8)).astype("float32")
    conv = dense_to_conv(model)
    # The attention's own projections (EinsumDense) and the head.
    assert len(conv.conversion_report.converted) >= 2
    np.testing.assert_allclose(_numpy(conv(x)), _numpy(model(x)), rtol=1e-5, atol=1e-5)
    back = conv_to_dense(conv)
    _assert_same_weights(back, model)
    path = tmp_path / "conv.keras"
    conv.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(_numpy(loaded(x)), _numpy(conv(x)))


_HUB = {
    "BertBackbone": dict(
        vocabulary_size=50, num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32,
        max_sequence_length=32,
    ),
    # keras-hub's own test sizes: a position table of 5 (torch's shape run
    # at 83 overflows it, so the calls are traced on concrete inputs) and
    # 2 heads of dim 1 beside a length of 2 (two runs tell the heads from
    # the length).
    "BertBackbone/test-sizes": dict(
        vocabulary_size=10, num_layers=2, num_heads=2, hidden_dim=2, intermediate_dim=4,
        max_sequence_length=5,
    ),
    # Its rotary embedding compares lengths: JAX's symbolic run gives its
    # sublayers symbolic dims, read as free.
    "LlamaBackbone": dict(
        vocabulary_size=50, num_layers=2, num_query_heads=2, num_key_value_heads=1,
        hidden_dim=16, intermediate_dim=32,
    ),
    # Its class token, a variable, is tiled (jax2onnx cannot abstract a
    # variable handed to its jnp.tile).
    "ViTBackbone": dict(
        image_shape=(8, 8, 3), patch_size=(4, 4), num_layers=2, hidden_dim=8, num_heads=2,
        mlp_dim=16,
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(_HUB))
def test_keras_hub_backbones_convert_both_ways(name):
    keras_hub = pytest.importorskip("keras_hub")
    model = getattr(keras_hub.models, name.split("/")[0])(**_HUB[name])
    conv = dense_to_conv(model)
    assert len(conv.conversion_report.converted) >= 8
    back = conv_to_dense(conv)
    _assert_same_weights(back, model)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["BertBackbone", "LlamaBackbone", "ViTBackbone"])
def test_keras_hub_backbones_export_both_forms_to_one_fingerprint(name):
    """jax2onnx writes BERT with a free batch as a graph onnxruntime cannot
    run (a Reshape): the export falls back to a static one that runs. A
    decoder's causal mask reaches jax2onnx's ``arange`` without a stop and
    its ``minimum`` of masks of two types: both are written as onnx means.
    ViT tiles a variable (its class token)."""
    keras_hub = pytest.importorskip("keras_hub")
    model = getattr(keras_hub.models, name)(**_HUB[name])
    conv = dense_to_conv(model)
    assert fingerprint(export_onnx(model)) == fingerprint(export_onnx(conv))


def test_integer_inputs_are_drawn_within_the_tables_they_index():
    from keras_1x1.converters.keras import signature

    tokens = keras.Input((None,), dtype="int32", name="tokens")
    segments = keras.Input((None,), dtype="int32", name="segments")
    mask = keras.Input((None,), dtype="int32", name="mask")
    y = keras.layers.Embedding(50, 4)(tokens) + keras.layers.Embedding(2, 4)(segments)
    y = y * keras.ops.expand_dims(keras.ops.cast(mask, "float32"), -1)
    model = keras.Model([tokens, segments, mask], keras.layers.Dense(3)(y))
    specs = {s.name: s for s in signature.input_specs(model)}
    assert (specs["tokens"].low, specs["tokens"].high) == (0, 50)
    assert (specs["segments"].low, specs["segments"].high) == (0, 2)
    assert (specs["mask"].low, specs["mask"].high) == (1, 2)
    assert "2 rows" in specs["segments"].why


@pytest.mark.parametrize("make", [_cnn, _attention], ids=["cnn", "attention"])
def test_both_forms_export_to_one_fingerprint(make):
    model = make()
    other = conv_to_dense(model) if make is _cnn else dense_to_conv(model)
    a, b = export_onnx(model), export_onnx(other)
    assert EXPORTER in a.producer_name
    assert fingerprint(a) == fingerprint(b)
    changed = keras.models.clone_model(model)
    changed.set_weights([w * 1.5 for w in _weights(model)])
    assert fingerprint(export_onnx(changed)) != fingerprint(a)


def test_an_opset_the_exporter_cannot_write_is_refused():
    from keras_1x1.errors import UserInputError

    with pytest.raises(UserInputError, match="opset"):
        export_onnx(_cnn(), opset=12)


def _run(code, **env):
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **env)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
        env=environment, timeout=600,
    )


def test_command_line_converts_exports_and_validates(tmp_path):
    model = _cnn()
    source = tmp_path / "cnn.keras"
    model.save(source)
    exe = os.path.join(os.path.dirname(sys.executable), "keras-1x1")
    env = dict(os.environ, KERAS_BACKEND=BACKEND, TF_CPP_MIN_LOG_LEVEL="2")
    convert = subprocess.run(
        [exe, "convert", str(source), str(tmp_path / "dense.keras"), "--to", "dense"],
        capture_output=True, text=True, env=env,
    )
    assert convert.returncode == 0, convert.stderr
    export = subprocess.run(
        [exe, "export", str(tmp_path / "dense.keras"), str(tmp_path / "dense.onnx"), "--form", "conv"],
        capture_output=True, text=True, env=env,
    )
    assert export.returncode == 0, export.stderr
    assert "PASSED" in export.stdout
    validate = subprocess.run([exe, "validate", str(source)], capture_output=True, text=True, env=env)
    assert validate.returncode == 0, validate.stderr + validate.stdout
    assert EXPORTER in validate.stdout + validate.stderr or "PASSED" in validate.stdout


# A blocker for TensorFlow: every import of it fails, as where it is not
# installed (Keras itself then does without it), and each attempt is listed
# with the file whose code made it.
_BLOCKER = """
import importlib.machinery, sys, traceback
attempts = []
class Blocker:
    # A spec whose loading fails: importing it raises ImportError (as when it
    # is not installed) while a finder that only asks whether it exists
    # (torch.export does) gets an answer.
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow.") or name == "tf2onnx":
            return importlib.machinery.ModuleSpec(name, self)
        return None
    def create_module(self, spec):
        frames = [f for f in traceback.extract_stack()[:-1] if "importlib" not in f.filename]
        attempts.append(frames[-1].filename if frames else "")  # the file whose code imports it
        raise ImportError(f"{spec.name} is blocked")
    def exec_module(self, module):
        raise ImportError("blocked")
sys.meta_path.insert(0, Blocker())
"""


@other_backends
def test_tensorflow_is_never_imported(tmp_path):
    body = f"""
    import json
    import keras, numpy as np
    from keras_1x1 import PixelDense
    from keras_1x1.converters import conv_to_dense, dense_to_conv, export_onnx, fingerprint
    i = keras.Input((5, 8))
    y = keras.layers.MultiHeadAttention(2, 4)(i, i)
    m = keras.Model(i, PixelDense(3)(keras.layers.Dense(8)(y)))
    c = dense_to_conv(m)
    d = conv_to_dense(c)
    c.save({str(tmp_path / 'c.keras')!r})
    keras.saving.load_model({str(tmp_path / 'c.keras')!r})
    same = fingerprint(export_onnx(m)) == fingerprint(export_onnx(c))
    print(json.dumps({{"same": same, "attempts": attempts, "loaded": "tensorflow" in sys.modules}}))
    """
    code = _BLOCKER + textwrap.dedent(body)
    result = _run(code, KERAS_BACKEND=BACKEND)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["same"]
    assert not report["loaded"]
    ours = [a for a in report["attempts"] if "keras_1x1" in a or "/converters/" in a]
    assert ours == []  # Keras may look for TensorFlow; keras-1x1 never imports it


def _transformer_block():
    """A transformer block on tokens of any length, biases not zero. The
    exporters write it differently: tf2onnx merges the heads into the batch
    and decomposes LayerNormalization and GELU (each in its own words), jax2onnx
    keeps 4-D products and writes Gelu, torch.onnx splits the attention scale
    on q and k and writes LayerNormalization."""
    tokens = keras.Input((None, 8), name="tokens")
    attention = keras.layers.MultiHeadAttention(2, 4, bias_initializer="random_normal")
    x = keras.layers.LayerNormalization(beta_initializer="random_normal")(tokens + attention(tokens, tokens))
    h = keras.layers.Dense(16, activation="gelu", bias_initializer="random_normal")(x)
    x = keras.layers.LayerNormalization(gamma_initializer="random_normal")(x + keras.layers.Dense(8)(h))
    return keras.Model(tokens, x, name="transformer_block")


@other_backends
@pytest.mark.parametrize("make", [_cnn, _transformer_block], ids=["cnn", "transformer-block"])
def test_the_same_weights_get_the_same_fingerprint_from_tensorflow(tmp_path, make):
    """One model, saved once: tf2onnx's export (in a TensorFlow process) and
    this backend's exporter give one canonical graph."""
    pytest.importorskip("tensorflow")
    model = make()
    path = tmp_path / "model.keras"
    model.save(path)
    convert = conv_to_dense if make is _cnn else dense_to_conv
    here = fingerprint(export_onnx(convert(keras.saving.load_model(path))))
    code = f"""
    import keras
    from keras_1x1.converters import export_onnx, fingerprint
    print(fingerprint(export_onnx(keras.saving.load_model({str(path)!r}))))
    """
    result = _run(code, KERAS_BACKEND="tensorflow")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == here


@other_backends
def test_a_model_the_exporter_refuses_is_one_line_naming_the_exporter(monkeypatch):
    from keras_1x1.converters.onnx import backend_export
    from keras_1x1.errors import UserInputError

    def refuse(*args):
        raise RuntimeError("no lowering for this op\nsecond line")

    monkeypatch.setattr(backend_export, "_jax" if BACKEND == "jax" else "_torch", refuse)
    with pytest.raises(UserInputError) as info:
        export_onnx(_cnn())
    message = str(info.value)
    assert message.startswith(f"{EXPORTER} cannot export model 'cnn': RuntimeError: no lowering")
    assert "\n" not in message


def test_a_graph_that_bakes_in_the_drawn_batch_gives_way():
    """A free-batch graph that only runs at the drawn batch (an exporter
    wrote it as a constant where dims coincide) is not kept: the check runs
    one more row too; a graph right at every batch is."""
    import onnx
    from onnx import helper, numpy_helper

    from keras_1x1.converters.onnx import backend_export
    from keras_1x1.numeric import BATCH, InputSpec

    def graph(target):
        nodes = [helper.make_node("Reshape", ["x", "t"], ["f"]), helper.make_node("Relu", ["f"], ["y"])]
        g = helper.make_graph(
            nodes, "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 2, 3])],
            [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 6])],
            [numpy_helper.from_array(np.array(target, np.int64), "t")],
        )
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])

    specs = [InputSpec("x", (None, 2, 3), "float32")]
    assert backend_export._runs(graph([-1, 6]), specs)
    assert not backend_export._runs(graph([BATCH, 6]), specs)


def test_both_forms_try_the_same_free_lengths():
    """The lengths tried for a model that refuses the first draw come from
    its tables, not from its pointwise kernels (2-D in one form only)."""
    from keras_1x1.converters.keras import signature

    tokens = keras.Input((None,), dtype="int32", name="ids")
    x = keras.layers.Embedding(12, 3)(tokens)
    x = keras.layers.Dense(5)(keras.layers.Dense(4)(x))
    model = keras.Model(tokens, x)
    lengths = signature.free_lengths(model)
    assert lengths == signature.free_lengths(dense_to_conv(model))
    assert 12 in lengths and 3 not in lengths and 4 not in lengths


@pytest.mark.parametrize("kinds", [("bool", "bool", "bool"), ("int32", "bool", "int32"), ("int32", "bool", "bool")])
def test_a_minimum_of_masks_is_written_as_onnx_means_it(kinds):
    """jax2onnx writes ``jnp.minimum`` of masks as ``Min`` on booleans, or on
    a number and a boolean: rewritten as ``And`` or on casts, it runs and
    gives the minimum."""
    import onnx
    from onnx import helper

    from keras_1x1.converters.onnx import backend_export
    from keras_1x1.converters.onnx.runtime import make_session, run

    types = {"bool": onnx.TensorProto.BOOL, "int32": onnx.TensorProto.INT32}
    a, b, out = kinds
    g = helper.make_graph(
        [helper.make_node("Min", ["a", "b"], ["y"])], "g",
        [helper.make_tensor_value_info("a", types[a], [2, 3]), helper.make_tensor_value_info("b", types[b], [2, 3])],
        [helper.make_tensor_value_info("y", types[out], [2, 3])],
    )
    proto = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
    backend_export._boolean_min_max(proto)
    rng = np.random.default_rng(0)
    feeds = {"a": rng.integers(0, 2, (2, 3)).astype(a), "b": rng.integers(0, 2, (2, 3)).astype(b)}
    got = run(make_session(proto, "cpu"), feeds)["y"]
    expected = np.minimum(feeds["a"].astype("int32"), feeds["b"].astype("int32")).astype(out)
    np.testing.assert_array_equal(got, expected)
