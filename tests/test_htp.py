"""The `qnn` provider: Qualcomm's HTP through onnxruntime-qnn's plugin EP.

On x86 Linux the plugin's HTP backend is Qualcomm's simulator: these are
real HTP sessions, compiled and run by it, not mocks.
"""

import builtins

import keras
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from keras_1x1 import UserInputError, cli, converters
from keras_1x1.converters.onnx import htp, runtime
from keras_1x1.numeric import HTP_FP16

L = keras.layers

pytest.importorskip("onnxruntime_qnn")


def _graph(second_op="Relu", batch="N"):
    """A 1x1 Conv (4 -> 8 channels) then `second_op`, on NCHW maps."""
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(8, 4, 1, 1)).astype("float32")
    nodes = [
        helper.make_node("Conv", ["x", "W"], ["c"], name="pointwise"),
        helper.make_node(second_op, ["c"], ["y"], name="after"),
    ]
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 4, 5, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 8, 5, 5])],
        [numpy_helper.from_array(weight, "W")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_a_graph_runs_on_the_htp_with_its_free_dims_fixed():
    proto = _graph()
    x = np.random.default_rng(1).normal(size=(3, 4, 5, 5)).astype("float32")
    session, placement = htp.session(proto, {"x": x.shape})
    assert session.get_providers()[0] == "QNNExecutionProvider"
    assert [i.shape for i in session.get_inputs()] == [[3, 4, 5, 5]]  # fixed, not "N"
    assert not placement.cpu and placement.census["Conv"] == 1
    got = runtime.run(session, {"x": x})["y"]
    want = runtime.run(runtime.make_session(proto, "cpu"), {"x": x})["y"]
    error = np.abs(got - want).max() / np.abs(want).max()
    assert 0 < error < HTP_FP16[1]  # fp16 arithmetic: close, not equal


def test_a_node_the_htp_cannot_run_is_named_never_run_on_the_cpu():
    proto = _graph("Erf")  # the HTP has no Erf (exact GELU)
    with pytest.raises(htp.HtpFallback) as caught:
        htp.session(proto, {"x": (1, 4, 5, 5)})
    assert caught.value.placement.cpu == [("after", "Erf")]
    assert "'after' (Erf)" in str(caught.value) and "fall back to the CPU" in str(caught.value)


def test_compare_on_the_htp_runs_both_sides_there_against_float32():
    a, b = _graph(), _graph()
    result = converters.compare(a, b, providers="qnn")
    assert result.ok, result.summary()
    assert result.reference_runtime == "onnxruntime CPUExecutionProvider"
    assert [c.runtime for c in result.candidates] == [runtime.TABLE["qnn"].runtime] * 2
    assert all(c.placement.census == {"Conv": 1, "Relu": 1} or "Conv" in c.placement.census
               for c in result.candidates)
    stats = result.candidates[1].outputs[0]
    assert (stats.atol, stats.rtol) == HTP_FP16
    assert "of scale" in stats.line()
    assert "ran on the HTP" in result.summary()


def test_compare_on_the_htp_fails_naming_the_node_that_would_fall_back():
    result = converters.compare(_graph(), _graph("Erf"), providers="qnn")
    assert not result.ok
    failed = result.candidates[1]
    assert failed.failure and "'after' (Erf)" in failed.failure
    assert "FAILED" in result.summary().splitlines()[-1]
    assert "'after' (Erf)" in result.summary()


def test_the_htp_tolerance_refuses_a_real_difference():
    other = _graph()
    weight = other.graph.initializer[0]
    array = numpy_helper.to_array(weight).copy()
    array *= 1.2  # a tenth of the scale and more: far past fp16 rounding
    weight.CopyFrom(numpy_helper.from_array(array, weight.name))
    result = converters.compare(_graph(), other, providers="qnn")
    assert not result.ok and result.same_graph is False
    assert result.candidates[0].ok  # the reference on the HTP itself passes


def test_a_missing_plugin_is_one_line_naming_the_package(monkeypatch):
    real_import = builtins.__import__

    def without_plugin(name, *args, **kwargs):
        if name == "onnxruntime_qnn":
            raise ImportError("No module named 'onnxruntime_qnn'")
        return real_import(name, *args, **kwargs)

    htp._plugin.cache_clear()
    monkeypatch.setattr(builtins, "__import__", without_plugin)
    try:
        with pytest.raises(UserInputError, match="onnxruntime-qnn") as caught:
            converters.compare(_graph(), _graph(), providers="qnn")
        assert "\n" not in str(caught.value)
    finally:
        monkeypatch.undo()
        htp._plugin.cache_clear()


def _dense_model():
    keras.utils.set_random_seed(0)
    x = keras.Input((6, 6, 3), name="image")
    h = L.Conv2D(8, 3, padding="same", activation="relu", name="stem")(x)
    h = L.Dense(16, activation="relu", name="expand")(h)
    return keras.Model(x, L.Dense(4, name="project")(h))


def test_both_forms_of_a_keras_model_run_entirely_on_the_htp(tmp_path, capsys):
    model = _dense_model()
    model.save(tmp_path / "dense.keras")
    assert cli.main(["validate", str(tmp_path / "dense.keras"), "--provider", "qnn"]) == 0
    out = capsys.readouterr().out
    assert out.count("ran on the HTP") == 4  # raw and canonical graph of each form
    assert "fall back" not in out and out.strip().endswith("PASSED")


def test_export_checks_the_written_file_on_the_htp_and_refuses_what_falls_back(tmp_path, capsys):
    model = _dense_model()
    model.save(tmp_path / "dense.keras")
    out = tmp_path / "conv.onnx"
    status = cli.main(["export", str(tmp_path / "dense.keras"), str(out), "--form", "conv",
                       "--provider", "qnn"])
    text = capsys.readouterr().out
    assert status == 0, text
    assert "onnxruntime (QNN) against Keras" in text and "ran on the HTP" in text
    assert out.exists()

    x = keras.Input((6, 6, 3), name="image")
    gelu = keras.Model(x, L.Dense(4, activation=keras.activations.gelu, name="project")(x))
    gelu.save(tmp_path / "gelu.keras")
    refused = tmp_path / "gelu.onnx"
    status = cli.main(["export", str(tmp_path / "gelu.keras"), str(refused), "--provider", "qnn"])
    text = capsys.readouterr().out
    assert status == 1 and "Erf" in text and "fall back to the CPU" in text
    assert not refused.exists()


def test_a_transformer_runs_entirely_on_the_htp_in_both_forms():
    keras_hub = pytest.importorskip("keras_hub")
    keras.utils.set_random_seed(0)
    bert = keras_hub.models.BertBackbone(
        vocabulary_size=50, num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32,
        max_sequence_length=16,
    )
    conv = converters.dense_to_conv(bert)
    raw = converters.export_onnx(bert)
    conv_form = converters.to_form(converters.export_onnx(conv), "conv")
    censuses = []
    for proto in (raw, conv_form):
        result = converters.compare(bert, proto, providers="qnn")
        assert result.ok and result.same_graph, result.summary()
        (candidate,) = result.candidates
        assert not candidate.placement.cpu
        censuses.append(candidate.placement.census)
    # Every per-token map of the conv form is a Conv on the HTP (6 a layer).
    assert censuses[1].get("Conv", 0) >= 12 > censuses[0].get("Conv", 0)


def test_the_accelerator_form_runs_entirely_on_the_htp():
    """BERT's accelerator form (tokens (B, C, 1, S), K transposed once per
    attention), and one attention whose scores meet their scale and their
    softmax alone: the HTP compiles a product, a scalar Mul and a softmax
    over the keys' axis in a row only with the scale on an operand."""
    keras_hub = pytest.importorskip("keras_hub")
    keras.utils.set_random_seed(0)
    bert = keras_hub.models.BertBackbone(
        vocabulary_size=50, num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32,
        max_sequence_length=16,
    )
    x = keras.Input((16, 32), name="tokens")
    attention = keras.Model(x, L.MultiHeadAttention(4, 8, name="attention")(x, x))
    for model in (bert, attention):
        accelerator = converters.to_form(converters.export_onnx(model), "accelerator")
        result = converters.compare(model, accelerator, providers="qnn")
        assert result.ok and result.same_graph, result.summary()
        (candidate,) = result.candidates
        assert not candidate.placement.cpu and candidate.placement.census.get("Conv", 0) >= 4
