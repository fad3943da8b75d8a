"""The canonical form's rules and passes, each on a small graph built for it:
the rewrite it makes, and the numbers it keeps."""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from keras_1x1 import converters
from keras_1x1.converters.onnx import runtime


def _model(nodes, inputs, outputs, initializers):
    graph = helper.make_graph(nodes, "rule", inputs, outputs, initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(proto, feeds):
    return runtime.run(runtime.make_session(proto, "cpu"), feeds)


def _ops(proto):
    return [n.op_type for n in proto.graph.node]


def _pointwise_conv(pads):
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(5, 3, 1, 1)).astype("float32")
    bias = rng.normal(size=(5,)).astype("float32")
    conv = helper.make_node("Conv", ["x", "W", "B"], ["y"], kernel_shape=[1, 1], pads=pads)
    side = 4 + pads[0] + pads[2]
    return _model(
        [conv],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5, side, side])],
        [numpy_helper.from_array(weight, "W"), numpy_helper.from_array(bias, "B")],
    )


def test_a_padded_1x1_conv_is_not_a_pointwise_map():
    x = np.random.default_rng(1).normal(size=(2, 3, 4, 4)).astype("float32")
    unpadded, padded = _pointwise_conv([0, 0, 0, 0]), _pointwise_conv([1, 1, 1, 1])
    canonical_unpadded = converters.canonicalize(unpadded)
    canonical_padded = converters.canonicalize(padded)
    # Unpadded: a MatMul on the channel axis.
    assert "MatMul" in _ops(canonical_unpadded) and "Conv" not in _ops(canonical_unpadded)
    # Padded: the border is the bias alone, which no MatMul gives.
    assert "Conv" in _ops(canonical_padded)
    for raw, canonical in ((unpadded, canonical_unpadded), (padded, canonical_padded)):
        np.testing.assert_allclose(
            _run(canonical, {"x": x})["y"], _run(raw, {"x": x})["y"], rtol=1e-5, atol=1e-6
        )
    assert converters.fingerprint(padded) != converters.fingerprint(unpadded)
    assert onnx.checker.check_model(canonical_padded) is None
