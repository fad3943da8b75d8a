"""onnxruntime sessions (no silent CPU fallback for CUDA) and safe ONNX loading."""

import warnings

import keras
import numpy as np
import onnx
import pytest
from keras_1x1.converters.onnx import runtime
from onnx import TensorProto, helper, numpy_helper

from keras_1x1 import UserInputError, converters

L = keras.layers


def _has_cuda():
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


requires_cuda = pytest.mark.skipif(not _has_cuda(), reason="no CUDAExecutionProvider here")


def _tiny_model(weight=None):
    """y = x @ W + b, built with onnx.helper."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=(4, 3)).astype("float32") if weight is None else weight
    b = rng.normal(size=(3,)).astype("float32")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["h"]), helper.make_node("Add", ["h", "b"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


# -- providers --------------------------------------------------------------------------


def test_cpu_session_runs_on_the_cpu():
    session = runtime.make_session(_tiny_model(), "cpu")
    assert session.get_providers()[0] == "CPUExecutionProvider"
    x = np.ones((2, 4), "float32")
    (y,) = runtime.run(session, {"x": x}).values()
    assert y.shape == (2, 3)


@pytest.mark.parametrize("spinning, entry", [(None, None), (False, "0"), (True, "1")])
def test_thread_spinning_is_onnxruntimes_default_unless_set(spinning, entry):
    session = runtime.make_session(_tiny_model(), "cpu", threads=1, spinning=spinning)
    options = session.get_session_options()
    key = "session.intra_op.allow_spinning"
    if entry is None:
        with pytest.raises(RuntimeError, match=key):  # not set: onnxruntime decides
            options.get_session_config_entry(key)
    else:
        assert options.get_session_config_entry(key) == entry
    assert options.intra_op_num_threads == 1


@pytest.mark.skipif(_has_cuda(), reason="this machine has CUDA")
def test_asking_for_cuda_without_cuda_is_an_error_naming_cuda():
    with pytest.raises(
        UserInputError,
        match="CUDA was requested, but this onnxruntime has no CUDAExecutionProvider",
    ):
        runtime.make_session(_tiny_model(), "cuda")
    # The comparison does not fall back to the CPU either.
    with pytest.raises(UserInputError, match="CUDA"):
        converters.compare(_tiny_model(), _tiny_model(), providers="cuda")


class _FallingBackOrt:
    """onnxruntime as it behaves when the CUDA libraries cannot be loaded: the
    provider is offered, the session is created, and it runs on the CPU."""

    def __init__(self, real):
        self.real = real
        self.SessionOptions = real.SessionOptions

    def get_available_providers(self):
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]

    def InferenceSession(self, source, sess_options=None, providers=None):
        return self.real.InferenceSession(source, sess_options=sess_options, providers=["CPUExecutionProvider"])


def test_a_session_that_fell_back_to_the_cpu_is_an_error(monkeypatch):
    import onnxruntime

    monkeypatch.setattr(runtime, "installed_onnxruntimes", lambda: ["onnxruntime-gpu"])
    monkeypatch.setattr(runtime, "_ort", lambda: _FallingBackOrt(onnxruntime))
    with pytest.raises(UserInputError, match="CUDA was requested, but the session runs on CPUExecutionProvider"):
        runtime.make_session(_tiny_model(), "cuda")
    # The CPU is still fine.
    assert runtime.make_session(_tiny_model(), "cpu").get_providers()[0] == "CPUExecutionProvider"


def test_unknown_provider_is_refused():
    with pytest.raises(UserInputError, match="unknown provider 'tpu'; use 'cpu', 'cuda' or 'qnn'"):
        runtime.make_session(_tiny_model(), "tpu")


@pytest.mark.cuda
@requires_cuda
def test_cuda_session_really_runs_on_cuda_with_tf32_off():
    session = runtime.make_session(_tiny_model(), "cuda")
    assert session.get_providers()[0] == "CUDAExecutionProvider"
    options = session.get_provider_options()["CUDAExecutionProvider"]
    assert options.get("use_tf32") == "0"
    x = np.random.default_rng(1).normal(size=(8, 4)).astype("float32")
    (on_gpu,) = runtime.run(session, {"x": x}).values()
    (on_cpu,) = runtime.run(runtime.make_session(_tiny_model(), "cpu"), {"x": x}).values()
    np.testing.assert_allclose(on_gpu, on_cpu, rtol=1e-6, atol=1e-6)


@pytest.mark.cuda
@requires_cuda
def test_conv_and_dense_forms_compare_on_cuda():
    x = keras.Input((8, 8, 32), name="image")
    conv = keras.Model(x, L.Conv2D(32, 1, name="pw")(x))
    dense = keras.Model(x, L.Dense(32, name="pw")(x))
    dense.get_layer("pw").set_weights(
        [
            w.reshape(v.shape)
            for w, v in zip(conv.get_layer("pw").get_weights(), dense.get_layer("pw").get_weights())
        ]
    )
    result = converters.compare(
        converters.export_onnx(conv), converters.export_onnx(dense), providers="cuda"
    )
    assert result.same_graph and result.ok, result.summary()
    assert "CUDAExecutionProvider" in result.summary()


class _Distribution:
    def __init__(self, name):
        self.metadata = {"Name": name}


def test_two_onnxruntime_packages_are_detected_with_the_fix(monkeypatch):
    assert runtime.installation_problem(["onnxruntime"]) is None
    message = runtime.installation_problem(["onnxruntime", "onnxruntime-gpu"])
    assert "onnxruntime and onnxruntime-gpu are installed together" in message
    assert "pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-gpu" in message
    # What is installed is read from the package metadata, whatever the
    # spelling of the names.
    installed = [_Distribution("numpy"), _Distribution("onnxruntime_gpu"), _Distribution("onnxruntime")]
    monkeypatch.setattr(runtime.importlib.metadata, "distributions", lambda: installed)
    runtime.installed_onnxruntimes.cache_clear()
    try:
        assert runtime.installed_onnxruntimes() == ("onnxruntime", "onnxruntime-gpu")
        assert "installed together" in runtime.installation_problem()
    finally:
        runtime.installed_onnxruntimes.cache_clear()


def test_sessions_report_two_onnxruntime_packages(monkeypatch):
    both = ["onnxruntime", "onnxruntime-gpu"]
    monkeypatch.setattr(runtime, "installed_onnxruntimes", lambda: ["onnxruntime"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        runtime.make_session(_tiny_model(), "cpu")  # one package: no warning
    monkeypatch.setattr(runtime, "installed_onnxruntimes", lambda: both)
    with pytest.warns(RuntimeWarning, match="installed together"):
        session = runtime.make_session(_tiny_model(), "cpu")
    assert session.get_providers()[0] == "CPUExecutionProvider"
    with pytest.raises(UserInputError, match="CUDA was requested, but onnxruntime and"):
        runtime.make_session(_tiny_model(), "cuda")


# -- loading files ----------------------------------------------------------------------


def test_a_valid_file_loads(tmp_path):
    path = tmp_path / "tiny.onnx"
    onnx.save(_tiny_model(), str(path))
    assert runtime.load_onnx(path).graph.name == "tiny"


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "not an ONNX model"),
        (b"this is plain text, not a model\n", "not a valid ONNX file|not an ONNX model"),
        (bytes(range(256)) * 4, "not a valid ONNX file|not an ONNX model"),
        (b"PK\x03\x04" + b"\x00" * 40, "is a zip archive"),
        (b"\x89HDF\r\n\x1a\n" + b"\x00" * 40, "is an HDF5 file"),
    ],
    ids=["empty", "text", "binary", "zip", "hdf5"],
)
def test_foreign_files_are_one_line_errors(tmp_path, content, message):
    path = tmp_path / "model.onnx"
    path.write_bytes(content)
    with pytest.raises(UserInputError, match=message) as info:
        runtime.load_onnx(path)
    assert "\n" not in str(info.value)
    with pytest.raises(UserInputError):
        converters.fingerprint(str(path))


def test_truncated_file_is_an_error(tmp_path):
    data = _tiny_model().SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserInputError, match="cut.onnx"):
        runtime.load_onnx(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(UserInputError, match="no such ONNX file"):
        runtime.load_onnx(tmp_path / "nothing.onnx")
    with pytest.raises(UserInputError, match="is a directory"):
        runtime.load_onnx(tmp_path)


def _with_external_weight(location):
    model = _tiny_model()
    weight = model.graph.initializer[0]
    weight.data_location = TensorProto.EXTERNAL
    weight.ClearField("raw_data")
    weight.ClearField("float_data")
    entry = weight.external_data.add()
    entry.key, entry.value = "location", location
    return model


def test_external_data_outside_the_folder_is_refused(tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.zeros(12, "float32").tobytes())
    folder = tmp_path / "models"
    folder.mkdir()
    for location in ("../secret.bin", str(secret)):
        path = folder / "model.onnx"
        path.write_bytes(_with_external_weight(location).SerializeToString())
        with pytest.raises(UserInputError, match="outside the model's folder"):
            runtime.load_onnx(path)
        with pytest.raises(UserInputError, match="outside the model's folder"):
            runtime.make_session(path)


def test_external_data_inside_the_folder_loads(tmp_path):
    weight = np.arange(12, dtype="float32").reshape(4, 3)
    (tmp_path / "weights.bin").write_bytes(weight.tobytes())
    path = tmp_path / "model.onnx"
    path.write_bytes(_with_external_weight("weights.bin").SerializeToString())
    loaded = runtime.load_onnx(path)
    np.testing.assert_array_equal(numpy_helper.to_array(loaded.graph.initializer[0]), weight)
    (tmp_path / "weights.bin").unlink()
    with pytest.raises(UserInputError, match="weights.bin of tensor 'W' is missing"):
        runtime.load_onnx(path)
