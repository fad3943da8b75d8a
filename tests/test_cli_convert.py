"""`keras-1x1 convert`: exit codes, one-line errors, atomic outputs."""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_1x1 import cli
from model_zoo import randomize

L = keras.layers
EXE = str(Path(sys.executable).with_name("keras-1x1"))


def _digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def conv_file(tmp_path):
    inputs = keras.Input((6, 6, 3), name="image")
    x = L.Conv2D(8, 3, padding="same", activation="relu", name="c3")(inputs)
    x = L.Conv2D(4, 1, strides=2, name="pw")(x)
    model = randomize(keras.Model(inputs, L.GlobalAveragePooling2D()(x)))
    path = tmp_path / "model.keras"
    model.save(path)
    return path


def test_convert_writes_a_verified_model(conv_file, tmp_path, capsys):
    out = tmp_path / "dense.keras"
    before = _digest(conv_file)
    assert cli.main(["convert", str(conv_file), str(out), "--to", "dense"]) == 0
    printed = capsys.readouterr().out
    assert "pw     Conv2D  converted  MaxPooling2D + Dense" in printed
    assert "c3     Conv2D  skipped    kernel 3x3 is not 1x1" in printed
    assert printed.strip().endswith("PASSED")
    dense = keras.saving.load_model(out)
    assert isinstance(dense.get_layer("pw"), L.Dense)
    assert _digest(conv_file) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

    back = tmp_path / "back.h5"
    assert cli.main(["convert", str(out), str(back), "--to", "conv", "--target", "keras_1x1"]) == 0
    original = keras.saving.load_model(conv_file)
    restored = keras.saving.load_model(back)
    np.testing.assert_array_equal(
        original.get_layer("pw").get_weights()[0].reshape(8, 4),
        restored.get_layer("pw").get_weights()[0],
    )


def test_existing_output_is_refused_and_untouched(conv_file, tmp_path, capsys):
    out = tmp_path / "exists.keras"
    out.write_bytes(b"precious")
    assert cli.main(["convert", str(conv_file), str(out), "--to", "dense"]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert out.read_bytes() == b"precious"
    assert cli.main(["convert", str(conv_file), str(out), "--to", "dense", "--overwrite"]) == 0
    assert out.read_bytes() != b"precious"


def test_output_onto_the_input_is_refused(conv_file, capsys):
    before = _digest(conv_file)
    code = cli.main(["convert", str(conv_file), str(conv_file), "--to", "dense", "--overwrite"])
    assert code == 2
    assert "is also the input" in capsys.readouterr().err
    assert _digest(conv_file) == before


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: d / "missing.keras", "no such model file"),
        (lambda d: d, "is a directory"),
        (lambda d: _write(d / "noise.keras", os.urandom(512)), "not a .keras model archive"),
        (lambda d: _write(d / "noise.h5", os.urandom(512)), "not an HDF5 model file"),
        (lambda d: _write(d / "model.onnx", b"x"), "expected a Keras model file"),
    ],
)
def test_bad_inputs_exit_2_with_one_line(tmp_path, capsys, make, message):
    source = make(tmp_path)
    code = cli.main(["convert", str(source), str(tmp_path / "out.keras"), "--to", "dense"])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out.keras").exists()


def _write(path, data):
    path.write_bytes(data)
    return path


def test_lambda_model_needs_unsafe(tmp_path, capsys):
    inputs = keras.Input((4, 4, 2))
    x = L.Lambda(lambda t: t * 2.0, output_shape=(4, 4, 2))(inputs)
    model = keras.Model(inputs, L.Conv2D(3, 1, name="pw")(x))
    path = tmp_path / "lambda.keras"
    model.save(path)
    out = tmp_path / "out.keras"
    assert cli.main(["convert", str(path), str(out), "--to", "dense"]) == 2
    assert "pass --unsafe if you trust the file" in capsys.readouterr().err
    assert not out.exists()
    assert cli.main(["convert", str(path), str(out), "--to", "dense", "--unsafe"]) == 0


def test_missing_output_folder_and_bad_suffix(conv_file, tmp_path, capsys):
    assert cli.main(["convert", str(conv_file), str(tmp_path / "no" / "x.keras"), "--to", "dense"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli.main(["convert", str(conv_file), str(tmp_path / "x.onnx"), "--to", "dense"]) == 2
    assert "must end in .keras" in capsys.readouterr().err


def test_fcn_on_the_command_line(tmp_path, capsys):
    inputs = keras.Input((8, 8, 1))
    x = L.Conv2D(4, 3, activation="relu")(inputs)
    x = L.Dense(10, activation="softmax", name="scores")(L.Flatten()(x))
    path = tmp_path / "flat.keras"
    randomize(keras.Model(inputs, x)).save(path)
    out = tmp_path / "fcn.keras"
    assert cli.main(["convert", str(path), str(out), "--to", "fcn"]) == 0
    assert "Conv2D 6x6 'valid'" in capsys.readouterr().out
    assert keras.saving.load_model(out).input_shape == (None, None, None, 1)
    assert cli.main(["convert", str(path), str(out), "--to", "fcn", "--target", "keras_1x1"]) == 2


def test_real_process_exit_codes_and_stderr(conv_file, tmp_path):
    ok = subprocess.run(
        [EXE, "convert", str(conv_file), str(tmp_path / "o.keras"), "--to", "dense"],
        capture_output=True, text=True, env={**os.environ, "KERAS_1X1_PROGRESS": "1"},
    )
    assert ok.returncode == 0, ok.stderr
    assert "error" not in ok.stderr and ok.stderr.count("\n") == 3  # the three stage lines
    assert ok.stderr.startswith("[1/3")
    quiet = subprocess.run(  # stderr is a pipe here: no stage lines unless asked
        [EXE, "convert", str(conv_file), str(tmp_path / "q.keras"), "--to", "dense"],
        capture_output=True, text=True,
    )
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    assert ok.stdout.strip().endswith("PASSED")
    bad = subprocess.run(
        [sys.executable, "-m", "keras_1x1", "convert", str(tmp_path / "nope.keras"),
         str(tmp_path / "p.keras"), "--to", "conv"],
        capture_output=True, text=True,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip() == f"keras-1x1: error: {tmp_path / 'nope.keras'}: no such model file"
    debug = subprocess.run(
        [EXE, "convert", str(tmp_path / "nope.keras"), str(tmp_path / "p.keras"), "--to", "conv", "--debug"],
        capture_output=True, text=True,
    )
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_a_change_inside_a_layer_that_builds_its_own_is_written_and_reloads(tmp_path, capsys):
    tokens = keras.Input((5, 8), name="tokens")
    attention = L.MultiHeadAttention(2, 4, name="attention")
    model = randomize(keras.Model(tokens, L.Dense(8, name="ffn")(attention(tokens, tokens))))
    path = tmp_path / "attention.keras"
    model.save(path)
    out = tmp_path / "conv.keras"
    assert cli.main(["convert", str(path), str(out), "--to", "conv"]) == 0
    captured = capsys.readouterr()
    assert "attention/_query_dense" in captured.out and "Conv1D + Reshape" in captured.out
    assert "records the 4 converted sublayers" in captured.out
    loaded = keras.saving.load_model(out)
    assert isinstance(loaded.get_layer("attention")._query_dense, keras.Sequential)
    x = np.random.default_rng(0).normal(size=(2, 5, 8)).astype("float32")
    np.testing.assert_allclose(loaded(x), model(x), rtol=1e-5, atol=1e-6)
    # And back: the file is the original form again.
    back = tmp_path / "back.keras"
    assert cli.main(["convert", str(out), str(back), "--to", "dense"]) == 0
    again = keras.saving.load_model(back)
    assert isinstance(again.get_layer("attention")._query_dense, L.EinsumDense)
    for a, b in zip(again.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
