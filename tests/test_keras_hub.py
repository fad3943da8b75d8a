"""keras-hub backbones (small random configs, never presets: nothing is
downloaded) and a Functional model with Keras' MultiHeadAttention, through
both converters: every per-position map at any depth is converted or
listed with its reason, the outputs match (and differ before the weights
are carried), the round trip restores every weight bit for bit, the input
model is untouched, and ONNX of both forms computes the same outputs."""

import functools
import re

import keras
import numpy as np
import pytest

keras_hub = pytest.importorskip("keras_hub")  # keras-hub needs Python >= 3.11

from keras_1x1 import UserInputError, converters, io  # noqa: E402
from keras_1x1.converters.keras import saving, signature, tree  # noqa: E402
from keras_1x1.converters.onnx import runtime  # noqa: E402
from model_zoo import assert_differs_then_matches, randomize  # noqa: E402

M = keras_hub.models
L = keras.layers

pytestmark = pytest.mark.slow


def _mha():
    tokens = keras.Input((None, 16), name="tokens")
    attention = L.MultiHeadAttention(2, 8, name="attention")
    x = L.LayerNormalization(name="norm")(tokens + attention(tokens, tokens))
    x = L.Dense(32, activation="gelu", name="ffn_in")(x)
    return keras.Model(tokens, L.Dense(16, name="ffn_out")(x), name="mha_model")


def _deeplab():
    encoder = M.ResNetBackbone(
        input_conv_filters=[8], input_conv_kernel_sizes=[3], stackwise_num_filters=[64, 8],
        stackwise_num_blocks=[1, 1], stackwise_num_strides=[1, 2],
        block_type="bottleneck_block", image_shape=(32, 32, 3),
    )
    return M.DeepLabV3Backbone(
        image_encoder=encoder, spatial_pyramid_pooling_key="P3", upsampling_size=2,
        dilation_rates=[2, 4], low_level_feature_key="P2", projection_filters=8,
        image_shape=(32, 32, 3),
    )


def _encoder(cls, num_layers):
    """A keras-hub text backbone of the small config most of them take."""
    return cls(
        vocabulary_size=50, num_layers=num_layers, num_heads=2, hidden_dim=16,
        intermediate_dim=32, max_sequence_length=32,
    )


BUILDERS = {
    "mha": _mha,
    "bert": lambda: _encoder(M.BertBackbone, 2),
    "gpt2": lambda: _encoder(M.GPT2Backbone, 2),
    "llama": lambda: M.LlamaBackbone(
        vocabulary_size=50, num_layers=2, num_query_heads=4, hidden_dim=16,
        intermediate_dim=32, num_key_value_heads=2,
    ),
    "gemma": lambda: M.GemmaBackbone(
        vocabulary_size=50, num_layers=1, num_query_heads=2, num_key_value_heads=1,
        hidden_dim=16, intermediate_dim=32, head_dim=8,
    ),
    "roberta": lambda: _encoder(M.RobertaBackbone, 1),
    "distilbert": lambda: _encoder(M.DistilBertBackbone, 1),
    "bart": lambda: _encoder(M.BartBackbone, 1),
    "t5": lambda: M.T5Backbone(
        vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=16, intermediate_dim=32,
    ),
    "whisper": lambda: M.WhisperBackbone(
        vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=16, intermediate_dim=32,
        num_mels=8, max_encoder_sequence_length=16, max_decoder_sequence_length=16,
    ),
    "vit": lambda: M.ViTBackbone(
        image_shape=(16, 16, 3), patch_size=4, num_layers=2, num_heads=2, hidden_dim=16,
        mlp_dim=32,
    ),
    "dinov2": lambda: M.DINOV2Backbone(
        patch_size=4, num_layers=1, hidden_dim=16, num_heads=2, intermediate_dim=32,
        image_shape=(16, 16, 3), position_embedding_shape=(16, 16, 3),
    ),
    "clip_vision": lambda: M.CLIPVisionEncoder(
        patch_size=4, hidden_dim=16, num_layers=1, num_heads=2, intermediate_dim=32,
        image_shape=(16, 16, 3),
    ),
    "mit": lambda: M.MiTBackbone(
        layerwise_depths=[1, 1], num_layers=2, layerwise_num_heads=[1, 2],
        layerwise_sr_ratios=[2, 1], max_drop_path_rate=0.1, layerwise_patch_sizes=[7, 3],
        layerwise_strides=[4, 2], image_shape=(32, 32, 3), hidden_dims=[8, 16],
    ),
    "swin": lambda: M.SwinTransformerBackbone(
        image_shape=(32, 32, 3), embed_dim=8, depths=[1, 1], num_heads=[1, 2],
        window_size=4, patch_size=2,
    ),
    "mobilenet": lambda: M.MobileNetBackbone(
        stackwise_expansion=[[1, 4]], stackwise_num_blocks=[2], stackwise_num_filters=[[8, 8]],
        stackwise_kernel_size=[[3, 3]], stackwise_num_strides=[[2, 1]],
        stackwise_se_ratio=[[0.25, 0.25]], stackwise_activation=[["relu", "hard_swish"]],
        stackwise_padding=[[1, 1]], output_num_filters=16, depthwise_filters=8,
        depthwise_stride=2, depthwise_residual=False, last_layer_filter=16,
        squeeze_and_excite=0.75, image_shape=(32, 32, 3), input_num_filters=8,
    ),
    "efficientnet": lambda: M.EfficientNetBackbone(
        stackwise_width_coefficients=[1.0, 1.0], stackwise_depth_coefficients=[1.0, 1.0],
        stackwise_kernel_sizes=[3, 3], stackwise_num_repeats=[1, 1],
        stackwise_input_filters=[8, 8], stackwise_output_filters=[8, 16],
        stackwise_expansion_ratios=[1, 4], stackwise_squeeze_and_excite_ratios=[0.25, 0.25],
        stackwise_strides=[1, 2], stackwise_block_types=["fused", "unfused"],
        stackwise_force_input_filters=[0, 0], stackwise_nores_option=[False, False],
        input_shape=(32, 32, 3), num_features=32,
    ),
    "deeplab": _deeplab,
}
# Convnets start from the conv form; the others from the dense form.
CONV_FIRST = {"mobilenet", "efficientnet", "deeplab"}
# The reasons a per-position map may rightly stay as it is.
REASONS = ("rank-2 input", "kernel ", "depthwise", "never called")


# -- an independent walk: every layer at any depth, by attribute path ------------------

_KERAS_OWN = {"_layers", "_auto_config", "_tracker", "_functional", "_operations"}


def _is_graph(layer):
    return isinstance(layer, keras.Sequential) or (
        isinstance(layer, keras.Model) and hasattr(layer, "_nodes_by_depth")
    )


def _held(layer):
    """``[(name, sublayer)]``: a graph's layers by name, other layers' by
    the attribute (list index, dict key) that holds them."""
    if _is_graph(layer):
        return [(sub.name, sub) for sub in layer.layers]
    named = {}
    for key, value in vars(layer).items():
        if key in _KERAS_OWN or key.startswith("_self_unconditional") or key == "_self_tracked_trackables":
            continue
        items = value.items() if isinstance(value, dict) else (
            enumerate(value) if isinstance(value, (list, tuple)) else [(None, value)]
        )
        for index, item in items:
            if isinstance(item, L.Layer) and id(item) not in named:
                named[id(item)] = key if index is None else f"{key}/{index}"
    return [
        (named.get(id(sub), sub.name), sub)
        for sub in layer._flatten_layers(include_self=False, recursive=False)
    ]


def _every_layer(model):
    """``{path: layer}`` of every layer at any depth (first path of a shared one)."""
    found, seen = {}, set()

    def visit(layer, prefix):
        for name, sub in _held(layer):
            if id(sub) in seen:
                continue
            seen.add(id(sub))
            found[prefix + name] = sub
            visit(sub, f"{prefix}{name}/")

    visit(model, "")
    return found


def _is_reshaped_conv(layer):
    kinds = [type(l).__name__ for l in getattr(layer, "layers", []) if not isinstance(l, L.InputLayer)]
    convs = sum(k.startswith("Conv") for k in kinds)
    return isinstance(layer, keras.Sequential) and convs == 1 and "Reshape" in kinds and all(
        k == "Reshape" or k.startswith("Conv") for k in kinds
    )


def _is_subsampled_dense(layer):
    """A 1x1 pool then a Dense: the dense form of a strided 1x1 conv."""
    kinds = [l for l in getattr(layer, "layers", []) if not isinstance(l, L.InputLayer)]
    return (
        isinstance(layer, keras.Sequential) and len(kinds) == 2
        and "Pooling" in type(kinds[0]).__name__ and tuple(kinds[0].pool_size) == (1,) * len(kinds[0].pool_size)
        and isinstance(kinds[1], L.Dense)
    )


def _candidates(model, to):
    """The per-position maps the walk finds, for converting `to` a form."""
    layers = _every_layer(model)
    inside = {p for p, l in layers.items() if _is_reshaped_conv(l)}
    chains = {p for p, l in layers.items() if _is_subsampled_dense(l)}
    found = {}
    for path, layer in layers.items():
        if any(path.startswith(f"{unit}/") for unit in inside | chains):
            continue  # a conv between reshapes, a Dense after a pool: one map with them
        if to == "conv" and path in chains:
            found[path] = layer
        if to == "conv" and isinstance(layer, (L.Dense, L.EinsumDense)):
            found[path] = layer
        if to == "dense" and (
            isinstance(layer, (L.Conv1D, L.Conv2D, L.Conv3D, L.DepthwiseConv2D))
            or path in inside
        ):
            found[path] = layer
    return found


# -- the conversions, made once per model ----------------------------------------------


@functools.lru_cache(maxsize=None)
def _converted(name):
    model = randomize(BUILDERS[name](), seed=1)
    before = [np.array(w.numpy()) for w in model.weights]
    first, second = (
        (converters.conv_to_dense, converters.dense_to_conv)
        if name in CONV_FIRST
        else (converters.dense_to_conv, converters.conv_to_dense)
    )
    one = first(model)
    back = second(one)
    return model, before, one, back


def _report(model):
    return {entry.path: entry for entry in model.conversion_report.layers}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_every_per_position_map_is_converted_or_listed_with_its_reason(name):
    model, _, one, back = _converted(name)
    to = "dense" if name in CONV_FIRST else "conv"
    for form, converted, origin in ((to, one, model), ("dense" if to == "conv" else "conv", back, one)):
        report = _report(converted)
        found = _candidates(origin, form)
        assert found, "the walk found no candidate: the test would be vacuous"
        missing = sorted(set(found) - set(report))
        assert missing == [], f"candidates missing from the report: {missing}"
        for path in found:
            entry = report[path]
            if not entry.converted:
                assert entry.detail.startswith(REASONS) or any(r in entry.detail for r in REASONS), (
                    path, entry.detail,
                )
        assert converted.conversion_report.verified
        assert "no candidate layer" not in str(converted.conversion_report)
    # Inside layers, not only at the top: most maps are sublayers.
    assert sum(e.converted and "/" in e.path for e in one.conversion_report.layers) >= 4


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_outputs_differ_before_the_weights_are_carried_and_match_after(name):
    model, _, one, back = _converted(name)
    inputs = signature.sample_inputs(model)
    assert_differs_then_matches(model, one, inputs)
    assert_differs_then_matches(model, back, inputs)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_the_round_trip_restores_every_weight_and_layer(name):
    model, before, one, back = _converted(name)
    assert [w.path for w in back.weights] == [w.path for w in model.weights]
    for a, b in zip(model.weights, back.weights):
        x, y = a.numpy(), b.numpy()
        assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y), a.path
    kinds = {p: type(l).__name__ for p, l in _every_layer(model).items()}
    assert {p: type(l).__name__ for p, l in _every_layer(back).items()} == kinds
    # Input and output names are kept (an unnamed input keeps its InputLayer's).
    for result in (one, back):
        assert signature.input_names(result) == signature.input_names(model)
        assert signature.output_names(result) == signature.output_names(model)
    for path, layer in _every_layer(model).items():
        if isinstance(layer, L.EinsumDense):
            assert _every_layer(back)[path].equation == layer.equation, path
    # The input model is untouched, and shares no variable with either result.
    changed = [w.path for w, b in zip(model.weights, before) if not np.array_equal(w.numpy(), b)]
    assert len(model.weights) == len(before) and changed == []
    ids = {id(w) for w in model.weights}
    assert not ids & {id(w) for w in one.weights} and not ids & {id(w) for w in back.weights}


def _original_reloads(model, tmp_path):
    """Whether the original model itself reloads from a `.keras` file."""
    model.save(tmp_path / "model.keras")
    try:
        keras.saving.load_model(tmp_path / "model.keras")
    except Exception:  # noqa: BLE001 - the library's own config does not round trip
        return False
    return True


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_the_converted_form_saves_and_reloads_in_the_converted_form(name, tmp_path):
    model, _, one, _ = _converted(name)
    path = tmp_path / "one.keras"
    io.save_model(one, path)
    if not _original_reloads(model, tmp_path):
        # A keras-hub config that misses an argument: the converted model
        # saves as the original does.
        with pytest.raises(UserInputError, match="cannot load the model"):
            io.load_model(path)
        return
    loaded = io.load_model(path)
    # Every converted layer, at any depth, reloads as the layer it became.
    # (Layer by layer in walking order: a rebuild from a config may name
    # graph layers anew.)
    kinds = [type(site.layer) for site in tree.walk(loaded)]
    assert kinds == [type(site.layer) for site in tree.walk(one)]
    assert kinds != [type(site.layer) for site in tree.walk(model)]
    assert isinstance(loaded, saving.base_class(one))
    inputs = signature.sample_inputs(model)
    expected = signature.run(one, inputs)
    got = signature.run(loaded, inputs)
    assert len(got) == len(expected)
    for value, reference in zip(got.values(), expected.values()):
        np.testing.assert_array_equal(value, reference)
    # Every model keeps its class: a layer changed in the graph of a
    # Functional subclass takes its place in a copy of that graph.
    assert saving.base_class(one) is type(model)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_the_round_trip_saves_and_reloads_with_the_same_outputs(name, tmp_path):
    model, _, _, back = _converted(name)
    path = tmp_path / "back.keras"
    assert any("needs no record" in n for n in back.conversion_report.notes)
    # The round trip saves as the original does: Keras alone reloads it.
    io.save_model(back, path)
    assert saving.replaced_paths(back) == {} and type(back) is saving.base_class(back)
    if not _original_reloads(model, tmp_path):
        with pytest.raises(UserInputError, match="cannot load the model"):
            io.load_model(path)
        return
    loaded = io.load_model(path)
    assert type(loaded) is type(model)
    inputs = signature.sample_inputs(model)
    expected = signature.run(model, inputs)
    got = signature.run(loaded, inputs)  # by position: a rebuild may number names anew
    assert len(got) == len(expected)
    for value, reference in zip(got.values(), expected.values()):
        np.testing.assert_array_equal(value, reference)


def test_a_functional_model_with_multi_head_attention_reloads_in_the_conv_form(tmp_path):
    _, _, one, _ = _converted("mha")
    report = _report(one)
    assert report["attention/_query_dense"].result == "Conv1D + Reshape"
    assert report["attention/_output_dense"].result == "Reshape + Conv1D"
    assert report["ffn_in"].result == "Conv1D"
    # MultiHeadAttention builds its projections itself: the save records them.
    assert sorted(saving.replaced_paths(one)) == [
        f"attention/_{n}_dense" for n in ("key", "output", "query", "value")
    ]
    # A change in the graph alone (the feed-forward Denses) needs no record.
    tokens = keras.Input((None, 16), name="tokens")
    x = L.Dense(32, activation="gelu", name="ffn_in")(tokens)
    plain = randomize(keras.Model(tokens, L.Dense(16, name="ffn_out")(x)))
    conv = converters.dense_to_conv(plain)
    assert not any(n.startswith("saving:") for n in conv.conversion_report.notes)
    io.save_model(conv, tmp_path / "conv.keras")
    loaded = io.load_model(tmp_path / "conv.keras")
    assert isinstance(loaded.get_layer("ffn_in"), L.Conv1D)
    x = signature.sample_inputs(plain)
    for name, value in signature.run(conv, x).items():
        np.testing.assert_array_equal(signature.run(loaded, x)[name], value)


def test_drawn_inputs_stay_within_the_tables_and_say_so():
    bert, _, one, _ = _converted("bert")
    drawn = "\n".join(one.conversion_report.inputs)
    assert "segment_ids 2x32 int32 in [0, 2) (indexes the table 'segment_embedding/embeddings'" in drawn
    assert "token_ids 2x32 int32 in [0, 50)" in drawn
    assert "padding_mask 2x32 int32 = 1 (indexes no table: a mask of ones)" in drawn
    # BERT runs eagerly on them: no retry under XLA is needed.
    assert bert(signature.sample_inputs(bert), training=False)["pooled_output"].shape == (2, 16)
    whisper, _, one, _ = _converted("whisper")
    specs = signature.input_specs(whisper)
    assert {s.concrete_shape()[1] for s in specs} == {8}
    assert all("position" in s.why and "has 8 positions" in s.why for s in specs)
    assert "free dims 8" in "\n".join(one.conversion_report.inputs)


# -- ONNX --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _exported(name):
    model, _, one, _ = _converted(name)
    return converters.export_onnx(model), converters.export_onnx(one)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_onnx_of_both_forms_computes_the_same_outputs(name):
    model = _converted(name)[0]
    original, converted = _exported(name)
    assert [i.name for i in converted.graph.input] == [i.name for i in original.graph.input]
    assert [o.name for o in converted.graph.output] == [o.name for o in original.graph.output]
    ops = {node.op_type for node in converted.graph.node}
    if name in CONV_FIRST:
        assert {"MatMul"} <= ops or {"Gemm"} <= ops
    else:
        assert "Conv" in ops  # the per-token maps export as convolutions
    feeds = {k: np.asarray(v) for k, v in zip(
        signature.input_names(model), keras.tree.flatten(signature.sample_inputs(model))
    )}
    expected = signature.run(model, feeds)
    for proto in (original, converted):
        got = runtime.run(runtime.make_session(proto), feeds)
        assert list(got) == list(expected)  # the Keras output names, in order
        for key, value in expected.items():
            np.testing.assert_allclose(got[key], value, atol=1e-4 * max(1.0, np.abs(value).max()))


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_onnx_of_both_forms_has_one_fingerprint(name):
    original, converted = _exported(name)
    assert converters.fingerprint(original) == converters.fingerprint(converted), (
        converters.graph_diff(original, converted)
    )


def _t5_one_head():
    keras.utils.set_random_seed(0)
    return M.T5Backbone(vocabulary_size=10, num_layers=1, num_heads=1, hidden_dim=8,
                        intermediate_dim=8, use_gated_activation=False)


def test_a_graph_that_runs_only_where_every_length_is_one_is_refused(monkeypatch):
    # tf2onnx's graph of T5 with one head, as its reshape optimizer leaves
    # it, fails in the decoder's attention at every length but 1, where
    # every axis broadcasts; Keras runs all.
    from keras_1x1.converters.onnx import export

    monkeypatch.setattr(export, "_TF2ONNX_RETRIES", ())
    model = _t5_one_head()
    with pytest.raises(UserInputError) as info:
        export._convert_checked(model, 17)
    message = str(info.value)
    assert "\n" not in message
    assert re.match(r"onnxruntime rejects tf2onnx's graph of model 't5_backbone\w*' at node '", message)
    # The export falls back to the sizes it is checked on, and says why.
    proto = converters.export_onnx(model)
    assert proto.doc_string.startswith("traced at fixed input sizes (")
    assert "with free sizes, onnxruntime rejects tf2onnx's graph" in proto.doc_string


def test_t5_with_one_head_exports_both_forms_with_one_fingerprint():
    # The export runs tf2onnx again without its reshape optimizer.
    model = _t5_one_head()
    result = converters.compare(model, converters.dense_to_conv(model))
    assert result.ok and result.same_graph, result.summary()
