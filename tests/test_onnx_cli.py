"""`keras-1x1 export` and `keras-1x1 compare`: reports, exit codes, errors.

The commands run through `keras_1x1.cli.main` (its parser, its error
handling), in this process and in a real one.
"""

import os
import subprocess
import sys

import keras
import pytest

from keras_1x1 import UserInputError, cli
from keras_1x1.cli._common import parse_tolerances

L = keras.layers


@pytest.fixture
def main():
    return cli.main


def _build(form, name="pw"):
    x = keras.Input((8, 8, 16), name="image")
    h = L.Conv2D(16, 3, padding="same", name="stem")(x)
    h = (L.Conv2D(24, 1, name=name) if form == "conv" else L.Dense(24, name=name))(h)
    return keras.Model(x, L.ReLU(name="relu")(h))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    keras.utils.set_random_seed(0)
    conv, dense = _build("conv"), _build("dense")
    dense.save(folder / "dense_before.keras")
    for layer in dense.layers:
        if layer.weights:
            source = conv.get_layer(layer.name).get_weights()
            layer.set_weights([w.reshape(v.shape) for w, v in zip(source, layer.get_weights())])
    conv.save(folder / "conv.keras")
    dense.save(folder / "dense.keras")
    # The same model with one weight moved by 1e-5: outputs a little apart.
    layer = dense.get_layer("pw")
    kernel, bias = layer.get_weights()
    kernel[0, 0] += 1e-5
    layer.set_weights([kernel, bias])
    dense.save(folder / "nudged.keras")
    return folder


@pytest.mark.parametrize("form", ["raw", "matmul", "conv", "best"])
def test_export_each_form_verifies_against_keras(main, files, tmp_path, capsys, monkeypatch, form):
    monkeypatch.setenv("KERAS_1X1_PROGRESS", "1")
    out = tmp_path / f"{form}.onnx"
    status = main(["export", str(files / "conv.keras"), str(out), "--form", form])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    lines = captured.out.strip().splitlines()
    assert lines[-1] == "PASSED"
    assert f"form: {form}, opset 17" in captured.out
    assert "relu: ok" in captured.out
    assert out.exists()
    if form == "best":  # both timed, the faster written
        timed = [line for line in lines if " form: " in line and "ms per run" in line]
        assert len(timed) == 2 and sum("<- written" in line for line in timed) == 1
    assert "checking the written file in onnxruntime" in captured.err  # progress


def test_exported_forms_share_the_fingerprint(main, files, tmp_path, capsys):
    prints = set()
    for source, form in (("conv.keras", "conv"), ("dense.keras", "matmul"), ("dense.keras", "raw")):
        assert (
            main(["export", str(files / source), str(tmp_path / f"{form}.onnx"), "--form", form])
            == 0
        )
        line = next(
            t for t in capsys.readouterr().out.splitlines() if t.startswith("canonical fingerprint")
        )
        prints.add(line)
    assert len(prints) == 1


def test_export_refuses_an_existing_output(main, files, tmp_path, capsys):
    out = tmp_path / "model.onnx"
    out.write_bytes(b"keep me")
    assert main(["export", str(files / "conv.keras"), str(out)]) == 2
    err = capsys.readouterr().err
    assert "model.onnx: exists; pass --overwrite (overwrite=True) to replace it" in err
    assert out.read_bytes() == b"keep me"
    assert main(["export", str(files / "conv.keras"), str(out), "--overwrite"]) == 0
    assert out.read_bytes() != b"keep me"


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--opset", "19"], "opset 19 is not supported: tf2onnx exports at most opset 18"),
        (["--opset", "11"], "opset 11 is not supported"),
    ],
)
def test_export_bad_opset(main, files, tmp_path, capsys, extra, message):
    assert main(["export", str(files / "conv.keras"), str(tmp_path / "m.onnx"), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("keras-1x1: error: ") and message in err[-1]
    assert not (tmp_path / "m.onnx").exists()


def test_export_bad_inputs(main, files, tmp_path, capsys):
    assert main(["export", str(tmp_path / "missing.keras"), str(tmp_path / "m.onnx")]) == 2
    assert "missing.keras: no such model file" in capsys.readouterr().err
    onnx_file = tmp_path / "x.onnx"
    onnx_file.write_bytes(b"\x00")
    assert main(["export", str(onnx_file), str(tmp_path / "m.onnx")]) == 2
    assert "expected a Keras model file ending in .keras or .h5" in capsys.readouterr().err
    assert main(["export", str(files / "conv.keras"), str(tmp_path / "m.txt")]) == 2
    assert "output must end in .onnx" in capsys.readouterr().err


def test_export_refuses_lambda_without_unsafe(main, tmp_path, capsys):
    x = keras.Input((4,), name="x")
    model = keras.Model(x, L.Lambda(lambda t: t * 2.0)(x))
    model.save(tmp_path / "lambda.keras")
    out = tmp_path / "lambda.onnx"
    assert main(["export", str(tmp_path / "lambda.keras"), str(out)]) == 2
    assert "--unsafe" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "lambda.keras"), str(out), "--unsafe"]) == 0
    assert capsys.readouterr().out.strip().endswith("PASSED")


def test_compare_passes_and_fails(main, files, tmp_path, capsys):
    assert main(["export", str(files / "dense.keras"), str(tmp_path / "dense.onnx")]) == 0
    capsys.readouterr()
    assert main(["compare", str(files / "conv.keras"), str(tmp_path / "dense.onnx")]) == 0
    out = capsys.readouterr().out
    assert "canonical graphs: identical" in out
    assert out.strip().splitlines()[-1] == "PASSED"

    assert main(["compare", str(files / "conv.keras"), str(files / "dense_before.keras")]) == 1
    out = capsys.readouterr().out
    assert "canonical graphs: DIFFERENT" in out
    assert out.strip().splitlines()[-1] == "FAILED"


def test_compare_tolerances(main, files, tmp_path, capsys):
    conv, nudged = str(files / "conv.keras"), str(files / "nudged.keras")
    assert main(["export", nudged, str(tmp_path / "d.onnx")]) == 0
    capsys.readouterr()
    args = ["compare", conv, str(tmp_path / "d.onnx")]
    assert main(args) == 0  # within the default tolerance
    capsys.readouterr()
    assert main(args + ["--atol", "relu:0", "--rtol", "0"]) == 1
    assert "relu: MISMATCH" in capsys.readouterr().out
    assert main(args + ["--atol", "1e-3", "relu:1e-3"]) == 0
    capsys.readouterr()
    assert main(args + ["--atol", "tiny"]) == 2
    assert "must be a number or OUTPUT:NUMBER" in capsys.readouterr().err
    assert main(args + ["--atol", "logits:1e-3"]) == 2
    assert "atol names unknown outputs logits" in capsys.readouterr().err
    assert main(args + ["--atol", "1e-3", "1e-4"]) == 2
    assert "--atol is given twice for all outputs (0.001 and 0.0001)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["compare", "--atol", "1e-3", conv, str(tmp_path / "d.onnx")])
    assert info.value.code == 2
    assert "give them after the files" in capsys.readouterr().err


def test_compare_cuda_and_corrupt_files(main, files, tmp_path, capsys):
    import onnxruntime as ort

    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"garbage that is not a protobuf \xff\xfe")
    assert main(["compare", str(files / "conv.keras"), str(corrupt)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("keras-1x1: error: ") and "corrupt.onnx" in err[-1]
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        assert main(["export", str(files / "dense.keras"), str(tmp_path / "d.onnx")]) == 0
        capsys.readouterr()
        status = main(
            ["compare", str(tmp_path / "d.onnx"), str(tmp_path / "d.onnx"), "--provider", "cuda"]
        )
        assert status == 2
        assert "CUDA was requested" in capsys.readouterr().err


def test_tolerance_parsing():
    assert parse_tolerances(None) is None
    assert parse_tolerances(["1e-5", "out:2e-3", "a:b:0.5"]) == {
        None: 1e-5,
        "out": 2e-3,
        "a:b": 0.5,
    }
    with pytest.raises(UserInputError, match="zero or positive"):
        parse_tolerances(["-1"])


def test_command_line_in_a_subprocess(files, tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    out = tmp_path / "m.onnx"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "keras_1x1",
            "export",
            str(files / "conv.keras"),
            str(out),
            "--form",
            "conv",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "PASSED"
    run = subprocess.run(
        [sys.executable, "-m", "keras_1x1", "compare", str(files / "dense.keras"), str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "PASSED"


@pytest.fixture
def outputs_off_by_one(monkeypatch):
    """onnxruntime whose every output is 1 off: what a wrong graph would give."""
    from keras_1x1.converters.onnx import runtime

    real = runtime.run
    monkeypatch.setattr(runtime, "run", lambda session, feeds: {
        name: value + 1.0 for name, value in real(session, feeds).items()
    })


def test_export_does_not_write_a_file_whose_outputs_differ(
    main, files, tmp_path, capsys, outputs_off_by_one
):
    out = tmp_path / "m.onnx"
    out.write_bytes(b"previous")
    assert main(["export", str(files / "conv.keras"), str(out), "--overwrite"]) == 1
    captured = capsys.readouterr().out
    assert "relu: MISMATCH" in captured
    assert f"{out} was not written: its outputs do not match Keras" in captured
    assert captured.strip().splitlines()[-1] == "FAILED"
    assert out.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]  # no temporary left
