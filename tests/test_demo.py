"""`keras-1x1 demo` and `keras-1x1 validate`, as a user runs them."""

import subprocess
import sys
from pathlib import Path

import keras
import pytest

from keras_1x1 import cli
from keras_1x1.converters.onnx import runtime
from model_zoo import randomize

EXE = str(Path(sys.executable).with_name("keras-1x1"))
L = keras.layers


def test_demo_runs_the_main_job(tmp_path):
    result = subprocess.run([EXE, "demo"], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert out.strip().splitlines()[-1] == "PASSED"
    assert "[FAIL]" not in out
    assert "held-out accuracy, conv (round trip)  98.89% (445/450)" in out
    assert "the conv and dense forms have the same canonical ONNX graph" in out
    assert "fastest on this machine:" in out
    png = tmp_path / "keras-1x1-demo" / "score_map.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(list((tmp_path / "keras-1x1-demo").glob("*.onnx"))) == 4
    assert result.stderr == ""


@pytest.fixture
def mixed_model(tmp_path):
    inputs = keras.Input((6, 6, 3), name="image")
    x = L.Conv2D(8, 3, padding="same", activation="relu", name="c3")(inputs)
    x = L.Conv2D(8, 1, strides=2, name="pw")(x)
    x = L.Dense(4, activation="softmax", name="pixel")(x)
    path = tmp_path / "mixed.keras"
    randomize(keras.Model(inputs, x)).save(path)
    return path


def test_validate_passes_on_a_mixed_model(mixed_model, capsys):
    assert cli.main(["validate", str(mixed_model)]) == 0
    out = capsys.readouterr().out
    assert "canonical graphs: identical" in out
    assert out.count("ok  max abs") == 4  # raw and canonical, both forms
    assert out.strip().endswith("PASSED")


def test_validate_on_cuda_never_falls_back(mixed_model, capsys):
    if runtime.cuda_available():
        assert cli.main(["validate", str(mixed_model), "--provider", "cuda"]) == 0
    else:
        assert cli.main(["validate", str(mixed_model), "--provider", "cuda"]) == 2
        assert "CUDA" in capsys.readouterr().err


def test_validate_fails_when_onnxruntime_outputs_differ(mixed_model, capsys, monkeypatch):
    # The canonical graphs are identical; only the outputs are wrong.
    real = runtime.run
    monkeypatch.setattr(runtime, "run", lambda session, feeds: {
        name: value + 1.0 for name, value in real(session, feeds).items()
    })
    assert cli.main(["validate", str(mixed_model)]) == 1
    out = capsys.readouterr().out
    assert "canonical graphs: identical" in out
    assert out.count("MISMATCH") == 4
    assert out.strip().endswith("FAILED")
