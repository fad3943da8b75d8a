"""The runtimes that want 1x1 convs: Qualcomm's HTP and LiteRT, form by form.

For convnets of the keras.applications zoo and the keras-hub transformers
(from the small configurations of ``hub_configs``), one row per model:

- **HTP** (onnxruntime-qnn's plugin EP, whose HTP backend is Qualcomm's
  simulator on x86 Linux): the raw tf2onnx export, the matmul form and the
  conv form, each with its inputs fixed to the test inputs. A form either
  runs entirely on the HTP (then its fp16 error against Keras, relative to
  the output's scale) or is named with the ops that would fall back.
- **LiteRT** (``export_tflite``, the interpreter with XNNPACK): the model
  as written, in its dense form and in its conv form: how many ops, whether
  XNNPACK took every one of them, and the ops left to LiteRT's CPU kernels.

The simulator computes what the HTP computes but cannot time it (its cycle
counts are host-timed), so nothing here is a speed figure. Each row runs in
a process of its own. ``KERAS_1X1_ACCEL`` picks rows by name
(``MobileNetV2,BertBackbone/test``).
"""

import json
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import harness  # noqa: E402  (run.py puts benchmarks/ on sys.path)

ZOO = ["MobileNetV2", "ResNet50", "EfficientNetB0", "ConvNeXtTiny"]
ZOO_SIZE = 64
QUICK_SIZE = 32
HUB = ["BertBackbone/test", "GPT2Backbone/test", "LlamaBackbone/test", "ViTBackbone/test"]
QUICK = ["MobileNet"]
FORMS = ("raw", "matmul", "conv", "accelerator")


def _model(name, size):
    """``(model, {input name: array})``."""
    import numpy as np

    if "/" in name:
        import bench_hub

        model, inputs, _ = bench_hub.build(name)
        from keras_1x1.converters.keras import signature

        names = signature.input_names(model)
        if not isinstance(inputs, dict):
            inputs = {names[0]: inputs}
        return model, {k: np.asarray(v) for k, v in inputs.items()}
    import bench_zoo

    from keras_1x1.converters.keras import signature

    model = bench_zoo._build(name, size)
    x = np.random.default_rng(1).normal(size=(2, size, size, 3)).astype("float32")
    return model, {signature.input_names(model)[0]: x}


def _relative(got, want):
    import numpy as np

    scale = max(float(np.abs(want).max()), 1e-12)
    return float(np.abs(got.astype("float64") - want).max()) / scale


def _htp_cell(proto, feeds, expected):
    from keras_1x1.converters.onnx import htp, runtime
    from keras_1x1.errors import UserInputError

    names = [v.name for v in proto.graph.input]
    feeds = dict(zip(names, feeds.values())) if set(names) - set(feeds) else feeds
    try:
        session, placement = htp.session(proto, {k: v.shape for k, v in feeds.items()})
    except htp.HtpFallback as error:
        ops = sorted({op for _, op in error.placement.cpu})
        return f"no: {len(error.placement.cpu)} nodes fall back ({', '.join(ops)})"
    except UserInputError as error:  # the HTP refuses the graph: the row says why
        return f"no: {' '.join(str(error).split())[:160]}"
    outputs = runtime.run(session, {k: feeds[k] for k in names})
    worst = max(_relative(outputs[name], want) for name, want in expected.items())
    return f"yes ({len(placement.htp)} nodes), {worst:.1e} of scale"


def _litert_cell(model, feeds, expected):
    from keras_1x1.converters import litert
    from keras_1x1.converters.litert import export

    try:
        data, names = export.convert_keras(model)
        outputs = litert.run_tflite(data, {names.get(k, k): v for k, v in feeds.items()})
        census = litert.census(data, {names.get(k, k): v for k, v in feeds.items()})
    except Exception as error:  # noqa: BLE001 - a row says why
        return f"FAILED: {' '.join(str(error).split())[:120]}"
    worst = max(_relative(outputs[name], want) for name, want in expected.items())
    if census.delegated:
        return f"{census.nodes} ops, all on XNNPACK, {worst:.1e}"
    left = ", ".join(f"{op} {n}" for op, n in census.left.items())
    return f"{census.nodes} ops, XNNPACK {census.nodes - sum(census.left.values())} ({left} left), {worst:.1e}"


def row(name, size=ZOO_SIZE):
    import gc

    from keras_1x1 import converters
    from keras_1x1.converters.keras import signature
    from keras_1x1.converters.onnx import canonical

    model, feeds = _model(name, size)
    expected = signature.run(model, feeds)
    cells = [name]
    raw = converters.export_onnx(model)
    counts, prints = [], set()
    for form in FORMS:
        proto = raw if form == "raw" else canonical.to_form(raw, form)
        cells.append(_htp_cell(proto, feeds, expected))
        ops = [n.op_type for n in proto.graph.node]
        counts.append(f"{ops.count('Transpose')}/{ops.count('Reshape')}")
        prints.add(converters.fingerprint(proto))
        del proto
        gc.collect()
    del raw
    for form, rewrite in (
        ("as written", None),
        ("dense", converters.conv_to_dense),
        ("conv", converters.dense_to_conv),
    ):
        other = model if rewrite is None else rewrite(model)
        if rewrite is not None and not other.conversion_report.converted:
            cells.append("(as written)")
            continue
        cells.append(_litert_cell(other, feeds, expected))
        gc.collect()
    return cells + [" ".join(counts), "yes" if len(prints) == 1 else "NO"]


def _child_row(name, size):
    return _child(f"row({name!r}, {size})", name, 8)


def _child(call, name, blanks):
    """The row `bench_accel.<call>` makes in a process of its own; a
    FAILED row after `blanks` empty cells when it makes none."""
    here = os.path.dirname(os.path.abspath(__file__))
    code = (
        f"import json, sys; sys.path.insert(0, {here!r}); import bench_accel; "
        f"print('ACCEL-ROW ' + json.dumps(bench_accel.{call}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("ACCEL-ROW "):
            return json.loads(line[len("ACCEL-ROW "):])
    lines = [l for l in done.stderr.splitlines() if l.strip() and "WARNING" not in l]
    why = lines[-1] if lines else f"process exited with status {done.returncode}"
    return [name] + [""] * blanks + ["FAILED: " + " ".join(why.split())[:200]]


def run(quick=False):
    """The accelerator table; and unless quick, or rows are picked, the
    transformer blocks table (``KERAS_1X1_ACCEL=blocks``: that one only)."""
    names = QUICK if quick else ZOO + HUB
    only = os.environ.get("KERAS_1X1_ACCEL")
    if only == "blocks":
        return blocks()
    if only:
        names = [n.strip() for n in only.split(",") if n.strip()]
    rows = []
    for name in names:
        started = time.perf_counter()
        rows.append(_child_row(name, QUICK_SIZE if quick else ZOO_SIZE))
        print(f"  [accel] {name}: {time.perf_counter() - started:.0f} s: {rows[-1][1:]}", flush=True)
    table = harness.Table(
        "Accelerators: each form on Qualcomm's HTP (simulated) and in LiteRT",
        ["model", "HTP raw", "HTP matmul", "HTP conv", "HTP accelerator",
         "LiteRT as written", "LiteRT dense form", "LiteRT conv form",
         "Transposes/Reshapes raw matmul conv accelerator", "one fingerprint"],
        rows,
        notes=[
            f"zoo models at {QUICK_SIZE if quick else ZOO_SIZE} pixels square, batch 2, random weights; keras-hub "
            "backbones at their test configurations (bench_hub), their test inputs.",
            "HTP: onnxruntime-qnn's HTP backend (Qualcomm's simulator here), fp16, inputs "
            "fixed to the test inputs; 'yes' means every node ran there, with the worst "
            "output error against Keras relative to the output's scale; 'no' names the ops "
            "that would fall back to the CPU. Not a speed figure.",
            "LiteRT: export_tflite of the model as written, of conv_to_dense and of "
            "dense_to_conv of it; ops in the file, whether the XNNPACK delegate took "
            "them all, the ops left to LiteRT's CPU kernels, and the worst output error "
            "against Keras relative to scale.",
            "Transposes/Reshapes: the ONNX graph of each form (tf2onnx's, the canonical "
            "matmul form, the conv form, the accelerator form); one fingerprint: all four "
            "have the canonical fingerprint.",
        ],
    )
    return table if quick or only else [table, blocks()]


# -- transformer blocks, form by form -------------------------------------------------------

# keras-hub transformers at sizes where no dim is a coincidence: 4 heads of
# dim 8, width 32, 8 tokens (the test configurations have head dim 1).
BLOCKS = ("BertBackbone", "GPT2Backbone", "LlamaBackbone", "ViTBackbone")
BLOCK_TOKENS = 8


def _transformer(name, layers):
    """``(model, {input name: array})`` of one keras-hub transformer."""
    import keras
    import keras_hub
    import numpy as np

    from keras_1x1.converters.keras import signature

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    shared = dict(num_layers=layers, hidden_dim=32)
    if name == "ViTBackbone":
        model = keras_hub.models.ViTBackbone(
            image_shape=(32, 32, 3), patch_size=8, num_heads=4, mlp_dim=64, **shared)
        feeds = {"images": rng.normal(size=(2, 32, 32, 3)).astype("float32")}
    else:
        heads = dict(num_query_heads=4, num_key_value_heads=2) if name == "LlamaBackbone" else dict(num_heads=4)
        if name != "LlamaBackbone":
            heads["max_sequence_length"] = 16
        model = getattr(keras_hub.models, name)(
            vocabulary_size=50, intermediate_dim=64, **heads, **shared)
        feeds = {
            "token_ids": rng.integers(0, 50, (2, BLOCK_TOKENS)).astype("int32"),
            "padding_mask": np.ones((2, BLOCK_TOKENS), "int32"),
            "segment_ids": np.zeros((2, BLOCK_TOKENS), "int32"),
        }
    import bench_hub

    bench_hub.randomize(model)  # distinct weights: no two projections fold into one
    names = signature.input_names(model)
    return model, {k: feeds[k] for k in names}


def _census(proto):
    ops = [n.op_type for n in proto.graph.node]
    return ops.count("Transpose"), ops.count("Reshape")


def _seconds(protos, feeds, rounds=30):
    """Median seconds per run of each graph in onnxruntime (CPU), interleaved."""
    import time as clock

    import numpy as np

    from keras_1x1.converters.onnx import runtime

    sessions = {k: runtime.make_session(p, "cpu", spinning=False) for k, p in protos.items()}
    samples = {k: [] for k in sessions}
    for i in range(rounds):
        for k, session in sessions.items():
            names = [v.name for v in protos[k].graph.input]
            start = clock.perf_counter()
            runtime.run(session, {n: feeds[n] for n in names})
            samples[k].append(clock.perf_counter() - start)
    return {k: float(np.median(v)) for k, v in samples.items()}


def block_row(name):
    """One transformer: per form, Transposes and Reshapes per block (the
    difference between 3 and 2 layers) and in the whole 2-layer graph, the
    simulated HTP, and CPU latency against the raw export."""
    from keras_1x1 import converters
    from keras_1x1.converters.keras import signature
    from keras_1x1.converters.onnx import canonical

    counts = {}
    for layers in (2, 3):
        model, feeds = _transformer(name, layers)
        raw = converters.export_onnx(model)
        protos = {form: raw if form == "raw" else canonical.to_form(raw, form) for form in FORMS}
        counts[layers] = {form: _census(p) for form, p in protos.items()}
    expected = signature.run(model, feeds)  # the 3-layer model, whose protos these are
    cells = [name]
    for form in FORMS:
        (t2, r2), (t3, r3) = counts[2][form], counts[3][form]
        cells.append(f"{t3 - t2} / {r3 - r2} ({t3} / {r3})")
    cells.append(_htp_cell(protos["accelerator"], feeds, expected))
    seconds = _seconds(protos, feeds)
    cells.append(" ".join(f"{seconds[f] / seconds['raw']:.2f}" for f in FORMS[1:]))
    prints = {converters.fingerprint(p) for p in protos.values()}
    return cells + ["yes" if len(prints) == 1 else "NO"]


def _child_block_row(name):
    return _child(f"block_row({name!r})", name, len(FORMS) + 2)


def blocks():
    rows = []
    for name in BLOCKS:
        started = time.perf_counter()
        rows.append(_child_block_row(name))
        print(f"  [accel blocks] {name}: {time.perf_counter() - started:.0f} s: {rows[-1][1:]}", flush=True)
    return harness.Table(
        "Transformer blocks: Transposes / Reshapes per block in each form",
        ["model"] + [f"{form}" for form in FORMS]
        + ["accelerator on the HTP", "CPU time vs raw: matmul conv accelerator", "one fingerprint"],
        rows,
        notes=[
            "keras-hub backbones with random weights: width 32, 4 heads of dim 8 (Llama: 2 key/value "
            f"heads), feed-forward 64, {BLOCK_TOKENS} tokens (ViT: 32x32 images, 8x8 patches), batch 2.",
            "Per block: the graph of 3 layers less that of 2; in brackets the whole 3-layer graph "
            "(what is outside the blocks: entrance, masks, exit).",
            "HTP: the accelerator form of the 3-layer model on onnxruntime-qnn's simulated HTP, fp16, "
            "error relative to the output's scale. CPU time: onnxruntime on this machine, median of "
            "30 interleaved runs, relative to tf2onnx's export (not the HTP: its simulator cannot time).",
        ],
    )
