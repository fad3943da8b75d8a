"""LiteRT: export checked in the real interpreter, `.tflite` in compare, op census."""

import keras
import numpy as np
import pytest

from keras_1x1 import ConversionError, UserInputError, cli, converters
from keras_1x1.converters import litert

L = keras.layers

pytest.importorskip("ai_edge_litert")


def _dense_model(seed=0):
    keras.utils.set_random_seed(seed)
    x = keras.Input((None, None, 3), name="image")
    h = L.Conv2D(8, 3, padding="same", activation="relu", name="stem")(x)
    h = L.Dense(16, activation="relu", name="expand")(h)
    return keras.Model(x, L.Dense(4, name="project")(h))


@pytest.fixture(scope="module")
def forms():
    dense = _dense_model()
    return dense, converters.dense_to_conv(dense)


def test_the_conv_form_is_one_conv_2d_per_map_and_all_of_it_on_xnnpack(forms):
    dense, conv = forms
    dense_census = litert.census(converters.export_tflite(dense))
    conv_census = litert.census(converters.export_tflite(conv))
    # The dense form: a FULLY_CONNECTED per map, wrapped in the shape
    # plumbing TensorFlow writes for a Dense on a rank-4 tensor, which
    # XNNPACK does not take.
    assert dense_census.ops["FULLY_CONNECTED"] == 2
    assert {"SHAPE", "GATHER", "PACK"} <= set(dense_census.left)
    assert not dense_census.delegated and dense_census.partitions > 1
    # The conv form: nothing but the three convolutions, in one partition.
    assert conv_census.ops == {"CONV_2D": 3}
    assert conv_census.delegated and conv_census.partitions == 1
    assert "XNNPACK took all" in conv_census.census_line()
    assert "SHAPE" in dense_census.census_line()


def test_export_is_checked_against_keras_and_runs_at_any_size(forms, tmp_path):
    _, conv = forms
    path = tmp_path / "conv.tflite"
    data = converters.export_tflite(conv, path)
    assert path.read_bytes() == data
    x = np.random.default_rng(0).normal(size=(2, 9, 5, 3)).astype("float32")
    got = litert.run_tflite(path, {"image": x})["project"]
    np.testing.assert_allclose(got, conv(x).numpy(), rtol=1e-4, atol=1e-5)


def test_compare_runs_a_tflite_file_against_keras_and_lists_its_ops(forms, tmp_path):
    dense, conv = forms
    path = tmp_path / "conv.tflite"
    converters.export_tflite(conv, path)
    result = converters.compare(dense, path)
    assert result.ok, result.summary()
    assert result.same_graph is None  # no canonical ONNX graph for LiteRT
    text = result.summary()
    assert "LiteRT interpreter (XNNPACK)" in text and "CONV_2D 3" in text
    assert "no canonical ONNX form" in text

    other = _dense_model()
    layer = other.get_layer("project")
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel * 1.01, bias])
    assert not converters.compare(other, path).ok  # a 1% weight change is seen


def test_a_model_litert_computes_differently_is_refused_and_nothing_written(
    forms, tmp_path, monkeypatch
):
    from keras_1x1.converters.litert import export as litert_export

    _, conv = forms
    real = litert_export.convert_keras

    def with_another_model(model):
        # LiteRT's conversion of another model with the same signature:
        # what a converter that changed the function would hand back.
        return real(_dense_model(seed=1))

    monkeypatch.setattr(litert_export, "convert_keras", with_another_model)
    path = tmp_path / "wrong.tflite"
    with pytest.raises(ConversionError, match="LiteRT computes model"):
        converters.export_tflite(conv, path)
    assert not path.exists() and not list(tmp_path.iterdir())


def test_not_a_tflite_file_is_one_line(tmp_path):
    bogus = tmp_path / "bogus.tflite"
    bogus.write_bytes(b"not a flatbuffer at all")
    with pytest.raises(UserInputError, match="not a LiteRT"):
        converters.compare(bogus, bogus)


def test_cli_export_tflite_in_each_form(forms, tmp_path, capsys):
    dense, _ = forms
    dense.save(tmp_path / "dense.keras")
    for form, ops in (("raw", "FULLY_CONNECTED 2"), ("conv", "CONV_2D 3")):
        out = tmp_path / f"{form}.tflite"
        status = cli.main(["export", str(tmp_path / "dense.keras"), str(out), "--form", form])
        text = capsys.readouterr().out
        assert status == 0, text
        assert ops in text and "project: ok" in text and text.strip().endswith("PASSED")
        assert out.exists()
    assert cli.main(["compare", str(tmp_path / "dense.keras"), str(tmp_path / "conv.tflite")]) == 0
    capsys.readouterr()
    status = cli.main(["export", str(tmp_path / "dense.keras"), str(tmp_path / "x.tflite"),
                       "--form", "best"])
    assert status == 2 and "--form raw, matmul or conv" in capsys.readouterr().err
