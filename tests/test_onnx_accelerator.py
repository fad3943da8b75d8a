"""The accelerator form: tokens channels first through attention, K transposed once."""

import keras
import numpy as np
import pytest

from keras_1x1 import converters
from keras_1x1.converters.onnx import canonical, runtime

L = keras.layers


def _blocks(count, causal=False, width=32, heads=4):
    """`count` pre-norm transformer blocks over 8 tokens: Keras
    MultiHeadAttention (head dim 8), LayerNormalization, a GELU feed-forward."""
    x = keras.Input((8, width), name="tokens")
    h = x
    for i in range(count):
        a = L.LayerNormalization(name=f"norm{i}a")(h)
        a = L.MultiHeadAttention(heads, width // heads, name=f"attention{i}")(
            a, a, use_causal_mask=causal)
        h = L.Add()([h, a])
        f = L.LayerNormalization(name=f"norm{i}f")(h)
        f = L.Dense(2 * width, activation="gelu", name=f"ffn{i}a")(f)
        h = L.Add()([h, L.Dense(width, name=f"ffn{i}b")(f)])
    model = keras.Model(x, h)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        layer.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in layer.get_weights()])
    return model


def _ops(proto):
    return [n.op_type for n in proto.graph.node]


def _run(proto, x):
    session = runtime.make_session(proto, "cpu")
    return runtime.run(session, {proto.graph.input[0].name: x})[proto.graph.output[0].name]


@pytest.mark.parametrize("causal", [False, True])
def test_attention_transposes_k_once_per_block(causal):
    counts = {}
    x = np.random.default_rng(1).normal(size=(2, 8, 32)).astype("float32")
    for n in (2, 3):
        model = _blocks(n, causal)
        raw = converters.export_onnx(model)
        forms = {form: canonical.to_form(raw, form) for form in ("conv", "accelerator")}
        counts[n] = {form: _ops(p) for form, p in forms.items()}
        accelerator = forms["accelerator"]
        # The same function, the same canonical graph.
        want = np.asarray(model(x))
        assert np.abs(_run(accelerator, x) - want).max() < 1e-4
        assert converters.fingerprint(accelerator) == converters.fingerprint(raw), (
            converters.graph_diff(raw, accelerator))
        # Every per-token map is a Conv; softmax runs over the keys' axis
        # of scores stored keys by queries.
        softmax = [node for node in accelerator.graph.node if node.op_type == "Softmax"]
        axes = [a.i for node in softmax for a in node.attribute if a.name == "axis"]
        assert axes == [2] * n, axes
        assert _ops(accelerator).count("Conv") == 6 * n
    per_block = {form: counts[3][form].count("Transpose") - counts[2][form].count("Transpose")
                 for form in ("conv", "accelerator")}
    assert per_block["accelerator"] == 1 < per_block["conv"], per_block
    # Heads split and merged on the channel axis: a block needs no more
    # Reshapes than in the conv form.
    reshapes = {form: counts[3][form].count("Reshape") - counts[2][form].count("Reshape")
                for form in ("conv", "accelerator")}
    assert reshapes["accelerator"] <= reshapes["conv"], reshapes


def test_tokens_stay_channels_first_with_a_unit_axis():
    import onnx

    raw = converters.export_onnx(_blocks(2))
    accelerator = onnx.shape_inference.infer_shapes(canonical.to_form(raw, "accelerator"))
    shapes = {
        v.name: [d.dim_value if d.HasField("dim_value") else d.dim_param for d in v.type.tensor_type.shape.dim]
        for v in list(accelerator.graph.value_info) + list(accelerator.graph.input)
    }
    weights = {w.name: list(w.dims) for w in accelerator.graph.initializer}
    convs = [n for n in accelerator.graph.node if n.op_type == "Conv"]
    assert len(convs) == 12
    for conv in convs:
        # (B, C, 1, S) in, a 1x1 kernel.
        assert len(shapes[conv.input[0]]) == 4 and shapes[conv.input[0]][2] == 1, shapes[conv.input[0]]
        assert weights[conv.input[1]][2:] == [1, 1]
    # LayerNorm's statistics reduce the channel axis of (B, C, 1, S), but
    # for the first norm's two, before the first per-token map.
    means = [len(shapes[n.input[0]]) for n in accelerator.graph.node if n.op_type == "ReduceMean"]
    assert means.count(4) == len(means) - 2 == 6, means


def test_a_graph_without_attention_is_its_conv_form():
    inputs = keras.Input((6, 6, 3), name="image")
    h = L.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    h = L.Dense(4, name="project")(h)
    model = keras.Model(inputs, h)
    raw = converters.export_onnx(model)
    conv, accelerator = (canonical.to_form(raw, f) for f in ("conv", "accelerator"))
    assert _ops(conv) == _ops(accelerator)
    assert converters.fingerprint(accelerator) == converters.fingerprint(raw)


def test_an_unknown_form_is_refused():
    from keras_1x1.errors import UserInputError

    raw = converters.export_onnx(_blocks(1))
    with pytest.raises(UserInputError, match="accelerator"):
        canonical.to_form(raw, "ane")


def test_cli_exports_the_accelerator_form(tmp_path, capsys):
    from keras_1x1 import cli

    _blocks(1).save(tmp_path / "block.keras")
    out = tmp_path / "block.onnx"
    status = cli.main(["export", str(tmp_path / "block.keras"), str(out), "--form", "accelerator"])
    text = capsys.readouterr().out
    assert status == 0 and "form: accelerator" in text and "PASSED" in text, text
    assert out.exists()
    refused = tmp_path / "block.tflite"
    status = cli.main(["export", str(tmp_path / "block.keras"), str(refused), "--form", "accelerator"])
    assert status != 0 and not refused.exists()


def _hub(name, layers):
    """A keras-hub transformer at sizes where no dim is a coincidence
    (width 32, 4 heads of dim 8, 8 tokens), every weight distinct."""
    keras_hub = pytest.importorskip("keras_hub")
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    if name == "ViTBackbone":
        model = keras_hub.models.ViTBackbone(
            image_shape=(32, 32, 3), patch_size=8, num_layers=layers, num_heads=4,
            hidden_dim=32, mlp_dim=64)
        feeds = {"images": rng.normal(size=(2, 32, 32, 3)).astype("float32")}
    else:
        heads = (dict(num_query_heads=4, num_key_value_heads=2) if name == "LlamaBackbone"
                 else dict(num_heads=4, max_sequence_length=16))
        model = getattr(keras_hub.models, name)(
            vocabulary_size=50, num_layers=layers, hidden_dim=32, intermediate_dim=64, **heads)
        feeds = {"token_ids": rng.integers(0, 50, (2, 8)).astype("int32"),
                 "padding_mask": np.ones((2, 8), "int32")}
        if name == "BertBackbone":
            feeds["segment_ids"] = np.zeros((2, 8), "int32")
    for weight in model.weights:
        if weight.dtype.startswith("float"):
            weight.assign(rng.normal(0, 0.3, tuple(weight.shape)).astype("float32"))
    return model, feeds


@pytest.mark.parametrize("name", ["BertBackbone", "GPT2Backbone", "LlamaBackbone", "ViTBackbone"])
def test_keras_hub_transformers_transpose_once_a_block(name):
    transposes = {}
    for layers in (2, 3):
        model, feeds = _hub(name, layers)
        raw = converters.export_onnx(model)
        accelerator = canonical.to_form(raw, "accelerator")
        transposes[layers] = _ops(accelerator).count("Transpose")
        assert converters.fingerprint(accelerator) == converters.fingerprint(raw), (
            converters.graph_diff(raw, accelerator))
    # The same outputs as Keras (the 3-layer model), the same canonical graph.
    result = converters.compare(model, accelerator, inputs=feeds)
    assert result.ok and result.same_graph, result.summary()
    assert transposes[3] - transposes[2] == 1, transposes


@pytest.mark.parametrize("kv_heads", [2, 1])
def test_heads_of_dim_2_with_one_rotary_frequency_keep_the_fingerprint(kv_heads):
    # keras-hub Llama at the sizes of its own test: heads of dim 2, a rotary
    # table of one frequency, so the heads and the rotary halves are unit
    # axes; the form's two Reshapes that only move them stay two. With one
    # key/value head, the head axis is a unit axis the split adds.
    keras_hub = pytest.importorskip("keras_hub")
    keras.utils.set_random_seed(0)
    model = keras_hub.models.LlamaBackbone(
        vocabulary_size=10, num_layers=2, num_query_heads=4, num_key_value_heads=kv_heads,
        hidden_dim=8, intermediate_dim=8)
    raw = converters.export_onnx(model)
    accelerator = canonical.to_form(raw, "accelerator")
    assert converters.fingerprint(accelerator) == converters.fingerprint(raw), (
        converters.graph_diff(raw, accelerator))
    feeds = {"token_ids": np.arange(10, dtype="int32").reshape(2, 5) % 10,
             "padding_mask": np.ones((2, 5), "int32")}
    result = converters.compare(model, accelerator, inputs=feeds)
    assert result.ok and result.same_graph, result.summary()
