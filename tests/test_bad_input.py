"""Bad input, each through the API and through the command line: a clear
one-line error, exit status 2, no partial output, the input untouched."""

import hashlib
import os
from pathlib import Path

import keras
import numpy as np
import onnx
import pytest

from keras_1x1 import ConversionError, UserInputError, cli, converters, io
from keras_1x1.converters.onnx import runtime
from model_zoo import randomize

L = keras.layers


def _digests(folder):
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in Path(folder).iterdir()
        if p.is_file()
    }


def _small(tmp_path):
    inputs = keras.Input((4, 4, 3), name="image")
    model = randomize(keras.Model(inputs, L.Conv2D(2, 1, name="pw")(inputs)))
    path = tmp_path / "good.keras"
    model.save(path)
    return model, path


def _random_bytes(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(os.urandom(300))
    return path


def _truncated(tmp_path, name="half.keras"):
    _, good = _small(tmp_path)
    data = good.read_bytes()
    path = tmp_path / name
    path.write_bytes(data[: len(data) // 2])
    return path


def _lambda_model(tmp_path):
    inputs = keras.Input((4, 4, 2))
    x = L.Lambda(lambda t: t + 1.0, output_shape=(4, 4, 2))(inputs)
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, L.Conv2D(2, 1)(x)).save(path)
    return path


def _outside_data(tmp_path):
    _, good = _small(tmp_path)
    proto = converters.export_onnx(keras.saving.load_model(good))
    folder = tmp_path / "inner"
    folder.mkdir()
    for tensor in proto.graph.initializer:
        if tensor.data_location == onnx.TensorProto.DEFAULT and tensor.raw_data:
            tensor.data_location = onnx.TensorProto.EXTERNAL
            del tensor.external_data[:]
            for key, value in (("location", "../secret.bin"), ("offset", "0"), ("length", "4")):
                entry = tensor.external_data.add()
                entry.key, entry.value = key, value
            tensor.ClearField("raw_data")
            break
    (tmp_path / "secret.bin").write_bytes(b"1234")
    path = folder / "model.onnx"
    path.write_bytes(proto.SerializeToString())
    return path


# (name, make the input, API call, CLI arguments after the input, message)
CASES = [
    ("missing file", lambda d: d / "nothing.keras", io.load_model, ["convert", "{}", "{out}", "--to", "dense"], "no such model file"),
    ("a directory", lambda d: d, io.load_model, ["convert", "{}", "{out}", "--to", "dense"], "is a directory"),
    ("random .keras", lambda d: _random_bytes(d, "noise.keras"), io.load_model, ["convert", "{}", "{out}", "--to", "dense"], "not a .keras model archive"),
    ("random .h5", lambda d: _random_bytes(d, "noise.h5"), io.load_model, ["convert", "{}", "{out}", "--to", "conv"], "not an HDF5 model file"),
    ("random .onnx", lambda d: _random_bytes(d, "noise.onnx"), runtime.load_onnx, ["compare", "{}", "{}"], "noise.onnx"),
    ("truncated .keras", _truncated, io.load_model, ["export", "{}", "{out_onnx}"], "truncated"),
    ("Lambda without --unsafe", _lambda_model, io.load_model, ["convert", "{}", "{out}", "--to", "dense"], "--unsafe"),
    ("external data outside its folder", _outside_data, runtime.load_onnx, ["compare", "{}", "{}"], "outside"),
]


@pytest.mark.parametrize("name, make, api, argv, message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_through_the_api_and_the_cli(tmp_path, capsys, name, make, api, argv, message):
    source = make(tmp_path)
    before = _digests(tmp_path)
    with pytest.raises(UserInputError, match=message.replace("(", r"\(")):
        api(source)
    out, out_onnx = tmp_path / "out.keras", tmp_path / "out.onnx"
    args = [a.format(source, out=out, out_onnx=out_onnx) for a in argv]
    code = cli.main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if not line.startswith(("[", "..."))]
    assert len(lines) == 1 and lines[0].startswith("keras-1x1: error: "), err
    assert message in lines[0]
    assert "Traceback" not in err
    assert _digests(tmp_path) == before  # input untouched, nothing written
    assert not out.exists() and not out_onnx.exists()


def test_existing_output_is_refused_through_api_and_cli(tmp_path, capsys):
    model, good = _small(tmp_path)
    out = tmp_path / "taken.onnx"
    out.write_bytes(b"keep me")
    with pytest.raises(UserInputError, match="exists; pass --overwrite"):
        converters.export_onnx(model, out)
    assert cli.main(["export", str(good), str(out)]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert out.read_bytes() == b"keep me"


@pytest.mark.parametrize("argv", [["convert", "a.keras", "b.keras", "--to", "matmul"],
                                  ["export", "a.keras", "b.onnx", "--form", "nchw"]])
def test_unknown_choices_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice" in err and "--help" in err
    assert len(err.strip().splitlines()) == 1


def test_nan_weights_fail_verification_through_api_and_cli(tmp_path, capsys):
    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, L.Conv2D(2, 1, name="pw")(inputs))
    kernel, bias = model.get_layer("pw").get_weights()
    kernel[0, 0, 1, 1] = np.inf
    model.get_layer("pw").set_weights([kernel, bias])
    path = tmp_path / "inf.keras"
    model.save(path)
    with pytest.raises(ConversionError, match="NaN/Inf"):
        converters.conv_to_dense(model)
    assert cli.main(["convert", str(path), str(tmp_path / "o.keras"), "--to", "dense"]) == 1
    captured = capsys.readouterr()
    assert "NaN/Inf" in captured.err and len(captured.err.strip().splitlines()) == 1
    assert captured.out.strip().endswith("FAILED")
    assert not (tmp_path / "o.keras").exists()


def test_subclassed_model_file_through_api_and_cli(tmp_path, capsys):
    @keras.saving.register_keras_serializable(package="tests")
    class Tiny(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.conv = L.Conv2D(2, 1)

        def call(self, x):
            return self.conv(x)

    model = Tiny()
    model(np.zeros((1, 4, 4, 3), "float32"))
    path = tmp_path / "tiny.keras"
    model.save(path)
    # Its sublayer converts; Tiny builds its conv in __init__, so the file
    # records the Dense that replaces it, and every save reloads the Dense.
    dense = converters.conv_to_dense(keras.saving.load_model(path))
    assert isinstance(dense.conv, L.Dense) and dense.conversion_report.verified
    x = np.random.default_rng(0).normal(size=(2, 4, 4, 3)).astype("float32")
    for i, save in enumerate((dense.save, lambda p: io.save_model(dense, p),
                              lambda p: keras.saving.save_model(dense, p))):
        saved = tmp_path / f"dense{i}.keras"
        save(saved)
        loaded = keras.saving.load_model(saved)
        assert isinstance(loaded, Tiny) and isinstance(loaded.conv, L.Dense)
        np.testing.assert_array_equal(loaded(x), dense(x))
    before = _digests(tmp_path)
    assert cli.main(["convert", str(path), str(tmp_path / "o.keras"), "--to", "dense"]) == 0
    assert isinstance(keras.saving.load_model(tmp_path / "o.keras").conv, L.Dense)
    after = _digests(tmp_path)
    assert {k: v for k, v in after.items() if k != "o.keras"} == before


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_models_get_their_tolerance(tmp_path, capsys, dtype):
    inputs = keras.Input((5, 5, 8), dtype=dtype)
    x = L.Conv2D(16, 1, dtype=dtype, activation="relu", name="pw")(inputs)
    model = randomize(keras.Model(inputs, L.Conv2D(4, 1, dtype=dtype, name="pw2")(x)))
    dense = converters.conv_to_dense(model)
    stats = dense.conversion_report.verification[0]
    assert (stats.atol, stats.rtol) == ((1e-2, 1e-2) if dtype == "float16" else (5e-2, 5e-2))
    path = tmp_path / "low.keras"
    model.save(path)
    assert cli.main(["convert", str(path), str(tmp_path / "o.keras"), "--to", "dense"]) == 0


def test_unknown_spatial_dims_through_the_cli(tmp_path, capsys):
    inputs = keras.Input((None, None, 3))
    model = randomize(keras.Model(inputs, L.Conv2D(2, 1, strides=2)(inputs)))
    path = tmp_path / "free.keras"
    model.save(path)
    assert cli.main(["convert", str(path), str(tmp_path / "o.keras"), "--to", "dense"]) == 0
    assert cli.main(["validate", str(path)]) == 0
