"""``--inputs FILE``: the commands check on a user's own arrays.

A model that takes only one sequence length cannot be checked on drawn
inputs; with its inputs in a ``.npz`` (by input name or by position) or a
``.npy`` every command runs, and a file that does not suit the model is one
line and exit 2 with nothing written.
"""

import keras
import numpy as np
import pytest

from keras_1x1 import cli
from model_zoo import randomize

L = keras.layers
LENGTH = 5  # the one length the model takes: none of the lengths drawn


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    tokens = keras.Input((None, 16), name="tokens")
    h = L.Dense(8, activation="relu", name="pw")(tokens)
    h = L.Reshape((LENGTH * 8,), name="flat")(h)
    model = randomize(keras.Model(tokens, L.Dense(3, name="head")(h), name="seq"))
    model.save(folder / "model.keras")
    x = np.random.default_rng(0).normal(size=(2, LENGTH, 16)).astype("float32")
    np.savez(folder / "named.npz", tokens=x)
    np.savez(folder / "positional.npz", x)
    np.save(folder / "one.npy", x)
    np.savez(folder / "misnamed.npz", image=x)
    np.savez(folder / "two.npz", x, x)
    np.savez(folder / "short.npz", tokens=x[:, :3])
    np.save(folder / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (folder / "inputs.txt").write_text("1 2 3")
    (folder / "broken.npz").write_bytes(b"not a zip")
    return folder


def _error(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("keras-1x1: error: "), err
    return err[0]


def test_drawn_inputs_do_not_suit_the_model(files, tmp_path, capsys):
    args = ["convert", str(files / "model.keras"), str(tmp_path / "c.keras"), "--to", "conv"]
    assert cli.main(args) == 2
    assert "inputs" in _error(capsys)
    assert not (tmp_path / "c.keras").exists()


@pytest.mark.parametrize("given", ["named.npz", "positional.npz", "one.npy"])
def test_convert_verifies_on_the_inputs_given(files, tmp_path, capsys, given):
    out = tmp_path / "c.keras"
    args = ["convert", str(files / "model.keras"), str(out), "--to", "conv"]
    assert cli.main(args + ["--inputs", str(files / given)]) == 0, capsys.readouterr().err
    assert capsys.readouterr().out.strip().endswith("PASSED")
    assert isinstance(keras.saving.load_model(out).get_layer("pw"), L.Conv1D)


def test_export_compare_and_validate_on_the_inputs_given(files, tmp_path, capsys):
    given = ["--inputs", str(files / "named.npz")]
    model, onnx_file = str(files / "model.keras"), tmp_path / "m.onnx"
    assert cli.main(["export", model, str(onnx_file), "--form", "conv", *given]) == 0
    assert capsys.readouterr().out.strip().endswith("PASSED")
    assert cli.main(["compare", model, str(onnx_file), *given]) == 0
    out = capsys.readouterr().out
    assert f"inputs: tokens (2, {LENGTH}, 16) float32" in out
    assert out.strip().endswith("PASSED")
    assert cli.main(["validate", model, *given]) == 0
    assert capsys.readouterr().out.strip().endswith("PASSED")
    tflite = tmp_path / "m.tflite"
    assert cli.main(["export", model, str(tflite), "--form", "conv", *given]) == 0
    assert capsys.readouterr().out.strip().endswith("PASSED") and tflite.exists()


@pytest.mark.parametrize(
    "given, message",
    [
        ("misnamed.npz", "holds image; model 'seq' takes 1 input(s) (tokens)"),
        ("two.npz", "holds 2 array(s)"),
        ("objects.npy", "holds Python objects, not arrays"),
        ("inputs.txt", "inputs must be a .npz file"),
        ("broken.npz", "not a readable .npz file"),
        ("missing.npz", "no such inputs file"),
    ],
)
def test_inputs_that_do_not_suit_are_one_line(files, tmp_path, capsys, given, message):
    out = tmp_path / "m.onnx"
    status = cli.main(["export", str(files / "model.keras"), str(out), "--inputs", str(files / given)])
    assert status == 2
    line = _error(capsys)
    assert message in line
    assert not out.exists()


def test_inputs_the_model_cannot_run_write_nothing(files, tmp_path, capsys):
    given = ["--inputs", str(files / "short.npz")]
    out = tmp_path / "m.onnx"
    assert cli.main(["export", str(files / "model.keras"), str(out), *given]) != 0
    capsys.readouterr()
    assert not out.exists()
    assert cli.main(["convert", str(files / "model.keras"), str(tmp_path / "c.keras"),
                     "--to", "conv", *given]) == 2
    assert "the inputs given" in _error(capsys)
    assert not (tmp_path / "c.keras").exists()


@pytest.mark.parametrize("extra", [["--no-verify"], ["--to", "fcn"]])
def test_convert_refuses_inputs_it_would_not_use(files, tmp_path, capsys, extra):
    to = [] if "--to" in extra else ["--to", "conv"]
    args = ["convert", str(files / "model.keras"), str(tmp_path / "c.keras"), *to, *extra,
            "--inputs", str(files / "named.npz")]
    assert cli.main(args) == 2
    assert "--inputs" in _error(capsys)
