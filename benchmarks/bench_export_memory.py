"""Export memory: `export_onnx` against tf2onnx alone, peak memory and time.

tf2onnx deep-copies its whole graph before each optimizer pass and drops
the copy before; only Python's cyclic collector frees a dropped copy, so
left alone the weights pile up about twice per pass. `export_onnx` runs a
collection before each pass. Each side runs in a child process of its own
(the model built, the libraries warmed on a tiny export, then one export
timed, the peak resident size restarted just before it): "tf2onnx alone"
is `tf2onnx.convert.from_function` on the same traced function, nothing
else; `export_onnx` also loads the graph in onnxruntime and runs it. A
child that passes the memory cap is stopped, and its cell says so.

Quick mode: a small Dense stack only.
"""

import json
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import harness  # noqa: E402  (run.py puts benchmarks/ on sys.path)

_CAP_BYTES = 16 << 30

_CHILD = r"""
import json, os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import keras
from keras_1x1 import converters
from keras_1x1.converters.onnx import export

name, side = sys.argv[1], sys.argv[2]
if name.startswith("dense"):
    width, depth = map(int, name[len("dense"):].split("x"))
    x = inputs = keras.Input((width,))
    for _ in range(depth):
        x = keras.layers.Dense(width)(x)
    model = keras.Model(inputs, x)
elif name == "ResNet50":
    model = keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3))
else:
    import keras_hub
    model = keras_hub.models.BertBackbone(
        vocabulary_size=30522, num_layers=12, num_heads=12, hidden_dim=768,
        intermediate_dim=3072, max_sequence_length=512)


def tf2onnx_alone(model):
    import tf2onnx
    function, specs, _, _ = export.keras_function(model)
    return tf2onnx.convert.from_function(function, input_signature=specs, opset=17)


run = converters.export_onnx if side == "export_onnx" else tf2onnx_alone
run(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]))


def resident(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith(field))


with open("/proc/self/clear_refs", "w") as refs:
    refs.write("5")
start, began = resident("VmRSS"), time.perf_counter()
run(model)
print(json.dumps({"seconds": time.perf_counter() - began, "grown": resident("VmHWM") - start,
                  "weights": sum(int(w.numpy().nbytes) for w in model.weights)}))
"""


def _child(name, side):
    """``{"seconds", "grown", "weights"}`` of one export in a child, or
    ``{"stopped": seconds}`` when it passed the memory cap."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, name, side], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    began = time.perf_counter()
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as status:
                rss = next(int(line.split()[1]) * 1024 for line in status
                           if line.startswith("VmRSS"))
        except (OSError, StopIteration):
            rss = 0
        if rss > _CAP_BYTES:
            proc.kill()
            proc.communicate()
            return {"stopped": time.perf_counter() - began}
        time.sleep(0.2)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{name} ({side}) failed: {err[-500:]}")
    return json.loads(out.strip().splitlines()[-1])


def _cell(result):
    if "stopped" in result:
        return f"> {harness.fmt_bytes(_CAP_BYTES)} (stopped after {result['stopped']:.0f} s)"
    return harness.fmt_bytes(result["grown"])


def run(quick=False):
    if not os.path.exists("/proc/self/clear_refs"):
        return harness.Table("Export memory: needs Linux's /proc", ["model"], [])
    names = ["dense64x4"] if quick else ["dense1024x6", "ResNet50", "BERT-base"]
    rows = []
    for name in names:
        ours = _child(name, "export_onnx")
        alone = _child(name, "tf2onnx")
        weights = ours["weights"]
        ratio = (None if "stopped" in alone else ours["grown"] / alone["grown"])
        rows.append([
            name, harness.fmt_bytes(weights),
            _cell(alone), _cell(ours), ratio,
            None if "stopped" in alone else alone["grown"] / weights,
            ours["grown"] / weights,
            None if "stopped" in alone else ours["seconds"] / alone["seconds"],
        ])
    return harness.Table(
        "Export memory: export_onnx against tf2onnx alone (peak memory the export adds)",
        ["model", "weights", "tf2onnx alone", "export_onnx", "memory ratio",
         "alone x weights", "export_onnx x weights", "time ratio"],
        rows,
        notes=[
            "Peak resident memory an export adds to its process (VmHWM restarted just "
            "before it), each side in a child process of its own; ratios are export_onnx "
            "over tf2onnx alone (below 1: export_onnx needs less).",
            "export_onnx also loads the graph in onnxruntime and runs it once; tf2onnx "
            "alone does not.",
            f"A side that passes {harness.fmt_bytes(_CAP_BYTES)} is stopped.",
            "ResNet50 at 64x64 (keras.applications, weights=None); BERT-base: "
            "keras-hub BertBackbone, 12 layers, hidden 768, vocabulary 30522.",
        ],
    )
