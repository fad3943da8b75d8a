"""Export a Keras model to ONNX.

tf2onnx writes the graph; --form chooses what is written:

  raw     tf2onnx's graph as it is;
  matmul  the canonical graph, every pointwise op as MatMul+Add on the
          channel axis (what CPU and GPU compilers prefer);
  conv    the canonical graph, every pointwise op as an NCHW Conv 1x1 (what
          neural accelerators prefer);
  accelerator
          the conv form with tokens channels first through attention too:
          heads split and merged on the channel axis, K transposed once
          per attention (the layout of Apple's ANE transformers and
          Qualcomm's HTP guidance);
  best    matmul or conv, whichever runs faster in onnxruntime here (both
          are timed side by side and the times printed).

Which to pick: for a network of convolutions (ResNet, MobileNet,
EfficientNet, ConvNeXt) conv, which keeps every tensor channels first and
runs 0.82x to 1.06x the time of tf2onnx's export on the CPU over the
keras.applications zoo (parity where tf2onnx wrote the same convs, faster
where the forms differ: squeeze-and-excite blocks, ConvNeXt); for a
transformer (per-token maps on batch x tokens x channels) matmul, which
needs no transposes. Both have the one canonical fingerprint. See the
README's table.

The file is written atomically and put in place only when it runs in
onnxruntime (CPU) with the outputs of the Keras model on the same inputs
(drawn from the model's input specs, or --inputs);
with --provider cuda or qnn also there (qnn: every node on Qualcomm's HTP,
outputs within fp16 tolerances, the ops it ran listed).
"""

from ._common import FAILED, OK, Progress, read_inputs, say

GROUPS = ("loading", "writing", "feeding", "checking")


def add_arguments(parser):
    parser.add_argument("input", metavar="IN", help="model file (.keras or .h5)")
    parser.add_argument("output", metavar="OUT", help="file to write: .onnx, or .tflite for LiteRT")
    parser.add_argument("--opset", type=int, default=None, help="ONNX opset (tf2onnx: 13 to 18, default 17; jax2onnx and torch.onnx: 18 or newer, default theirs)")
    parser.add_argument("--form", choices=("raw", "matmul", "conv", "accelerator", "best"), default="raw")


def _value_text(value):
    import numpy as np
    import onnx

    tensor = value.type.tensor_type
    dims = [
        str(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?")
        for d in tensor.shape.dim
    ]
    dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type)
    return f"{value.name} ({', '.join(dims)}) {np.dtype(dtype)}"


def _graph_line(proto):
    ops = {}
    for node in proto.graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    counted = sorted(ops.items(), key=lambda kv: (-kv[1], kv[0]))
    return f"graph: {len(proto.graph.node)} nodes (" + ", ".join(f"{k} {v}" for k, v in counted) + ")"


def run(args):
    from keras_1x1 import io
    from keras_1x1.converters.onnx import canonical, check, export, fingerprint
    from keras_1x1.errors import UserInputError

    import keras

    backend = keras.backend.backend()
    opset = export.check_opset(args.opset, backend)
    source = io.existing_file(args.input, "model file")
    if source.suffix.lower() not in io.MODEL_SUFFIXES:
        raise UserInputError(f"{source}: expected a Keras model file ending in .keras or .h5")
    out = io.output_path(
        args.output, overwrite=args.overwrite, inputs=[args.input], suffixes=(".onnx", ".tflite")
    )
    if out.suffix.lower() == ".tflite":
        return _litert(args, source, out)
    progress = Progress(3 if args.form == "raw" else 4)
    progress(f"loading {source}")
    model = io.load_model(source, unsafe=args.unsafe, compile=False)
    inputs = read_inputs(args, model)
    progress(f"exporting with {export.EXPORTERS.get(backend, backend)} (opset {opset})")
    proto = export.export_onnx(model, opset=opset, inputs=inputs)
    timings = []
    if args.form == "best":
        progress("timing the matmul and the conv form in onnxruntime")
        from keras_1x1.converters.onnx import deploy

        found = deploy.fastest(proto, inputs=inputs)
        proto = found.model
        timings = [
            f"{form} form: {seconds * 1e3:.3f} ms per run" + ("  <- written" if form == found.form else "")
            for form, seconds in found.seconds.items()
        ]
    elif args.form != "raw":
        progress(f"rewriting to the {args.form} form")
        proto = canonical.to_form(proto, args.form)

    lines = [
        f"export {source} -> {out}",
        f"form: {args.form}, opset {opset}",
        _graph_line(proto),
        "inputs: " + ", ".join(_value_text(v) for v in proto.graph.input),
        "outputs: " + ", ".join(_value_text(v) for v in proto.graph.output),
        f"canonical fingerprint: {fingerprint.fingerprint(proto)}",
    ] + timings
    results = []
    with io.atomic_output(out) as tmp:
        tmp.write_bytes(proto.SerializeToString())
        progress("checking the written file in onnxruntime against Keras")
        results.append(
            ("CPU", check.check(model, {"written file": tmp}, inputs=inputs, graphs=False)))
        if results[-1][1].ok and args.provider != "cpu":
            results.append(
                (args.provider.upper(),
                 check.check(model, {"written file": tmp}, inputs=inputs, graphs=False,
                             providers=args.provider))
            )
        ok = all(result.ok for _, result in results)
        if not ok:
            raise io.Discard
    for where, result in results:
        lines.append(f"onnxruntime ({where}) against Keras:")
        (candidate,) = result.candidates
        lines += [f"  {line}" for line in candidate.run_lines()]
        lines += [f"  {s.line()}" for s in result.outputs]
    if not ok:
        where = next(where for where, result in results if not result.ok)
        why = "its outputs do not match Keras" if where == "CPU" else (
            f"on {where} it does not run, or its outputs do not match Keras")
        lines.append(f"{out} was not written: {why}")
    lines.append("PASSED" if ok else "FAILED")
    say("\n".join(lines))
    return OK if ok else FAILED


def _litert(args, source, out):
    """``export IN OUT.tflite``: the model in the form asked for, through
    LiteRT's converter, checked in the LiteRT interpreter against Keras."""
    from keras_1x1 import io
    from keras_1x1.converters.keras import convert
    from keras_1x1.converters.litert import census, export
    from keras_1x1.errors import ConversionError, UserInputError

    if args.form in ("best", "accelerator") or args.opset is not None or args.provider != "cpu":
        raise UserInputError(
            "a .tflite export takes --form raw, matmul or conv (the Keras model as it "
            "is, or converted to the dense or the conv form first), and no --opset or --provider"
        )
    progress = Progress(3 if args.form == "raw" else 4)
    progress(f"loading {source}")
    model = io.load_model(source, unsafe=args.unsafe, compile=False)
    inputs = read_inputs(args, model)
    lines = [f"export {source} -> {out}", f"form: {args.form} (LiteRT)"]
    if args.form != "raw":
        progress(f"converting to the {'conv' if args.form == 'conv' else 'dense'} form (verified in Keras)")
        rewrite = convert.dense_to_conv if args.form == "conv" else convert.conv_to_dense
        model = rewrite(model, verify=True if inputs is None else inputs)
        lines.append(f"{args.form} form: {model.conversion_report.summary()}")
    progress("converting with LiteRT's converter and checking it in the LiteRT interpreter")
    try:
        data, names = export.convert_keras(model)
        stats = export.check(data, model, names, inputs)
    except ConversionError as error:
        lines += [str(error), f"{out} was not written", "FAILED"]
        say("\n".join(lines))
        return FAILED
    feeds = None if inputs is None else {names.get(k, k): v for k, v in inputs.items()}
    lines.append(census(data, feeds).census_line())
    lines.append("LiteRT interpreter (XNNPACK) against Keras:")
    lines += [f"  {line.line()}" for line in stats]
    with io.atomic_output(out) as tmp:
        tmp.write_bytes(data)
    lines.append("PASSED")
    say("\n".join(lines))
    return OK
