"""The ONNX side on a deployment box: `make test-onnx-only` runs this in a
virtual environment holding numpy, onnx, onnxscript and onnxruntime, and
keras-1x1 installed with --no-deps (no Keras, no TensorFlow, no tf2onnx).

Two ONNX graphs of one pointwise map, in its conv form (NCHW Conv 1x1) and
its dense form (Transpose, MatMul, Add, Transpose), built with onnx.helper,
are compared with the `keras-1x1` command: one canonical graph, the same
outputs, PASSED. A third with one weight changed: FAILED, exit status 1.
"""

import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

EXE = str(Path(sys.executable).with_name("keras-1x1"))


def _graph(nodes, initializers, name):
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 4, 4])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", 5, 4, 4])],
        initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def conv_form(kernel, bias):
    weight = np.ascontiguousarray(kernel.T.reshape(5, 3, 1, 1))
    return _graph(
        [helper.make_node("Conv", ["image", "W", "B"], ["features"], kernel_shape=[1, 1])],
        [numpy_helper.from_array(weight, "W"), numpy_helper.from_array(bias, "B")],
        "conv_form",
    )


def dense_form(kernel, bias):
    return _graph(
        [
            helper.make_node("Transpose", ["image"], ["nhwc"], perm=[0, 2, 3, 1]),
            helper.make_node("MatMul", ["nhwc", "K"], ["mm"]),
            helper.make_node("Add", ["mm", "b"], ["biased"]),
            helper.make_node("Transpose", ["biased"], ["features"], perm=[0, 3, 1, 2]),
        ],
        [numpy_helper.from_array(kernel, "K"), numpy_helper.from_array(bias, "b")],
        "dense_form",
    )


def _compare(a, b):
    return subprocess.run([EXE, "compare", str(a), str(b)], capture_output=True, text=True)


def main():
    for name in ("keras", "tensorflow", "tf2onnx"):
        if importlib.util.find_spec(name) is not None:
            sys.exit(f"onnx_only: {name} is installed here; this check needs an environment without it")
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(3, 5)).astype("float32")
    bias = rng.normal(size=(5,)).astype("float32")
    changed = kernel.copy()
    changed[1, 2] += 0.5
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        onnx.save(conv_form(kernel, bias), folder / "conv.onnx")
        onnx.save(dense_form(kernel, bias), folder / "dense.onnx")
        onnx.save(dense_form(changed, bias), folder / "changed.onnx")

        same = _compare(folder / "conv.onnx", folder / "dense.onnx")
        print(same.stdout)
        assert same.returncode == 0, same.stderr
        assert "canonical graphs: identical" in same.stdout
        assert same.stdout.strip().splitlines()[-1] == "PASSED"

        other = _compare(folder / "conv.onnx", folder / "changed.onnx")
        assert other.returncode == 1, (other.stdout, other.stderr)
        assert "canonical graphs: DIFFERENT" in other.stdout
        assert other.stdout.strip().splitlines()[-1] == "FAILED"

        version = subprocess.run([EXE, "--version"], capture_output=True, text=True)
        assert version.returncode == 0 and version.stdout.startswith("keras-1x1 ")
    print("onnx_only: compare works with numpy, onnx, onnxscript and onnxruntime alone")


if __name__ == "__main__":
    main()
