"""The `export` and `compare` commands of ``keras-1x1``.

`run_export(args)` and `run_compare(args)` take the argparse Namespace built
by `keras_1x1.cli` and return the exit status: 0 PASSED, 1 FAILED. Bad input
raises `UserInputError` (the CLI prints it on one line and exits with 2).
"""


import numpy as np

from keras_1x1._progress import Progress
from keras_1x1.errors import UserInputError

__all__ = ["run_export", "run_compare", "parse_tolerances"]

ONNX_SUFFIXES = (".onnx",)


def _say(text):
    print(text, flush=True)


def parse_tolerances(values, what="tolerance"):
    """``["1e-5", "out:1e-3"]`` -> ``{None: 1e-5, "out": 1e-3}`` (None stays None).

    Already parsed dicts (as `keras_1x1.cli` may pass) are returned as they are.
    """
    if values is None or isinstance(values, dict):
        return values
    if isinstance(values, (int, float)):
        return {None: float(values)}
    result = {}
    for value in values:
        name, _, number = str(value).rpartition(":")
        try:
            parsed = float(number)
        except ValueError:
            raise UserInputError(
                f"{what} must be a number or OUTPUT:NUMBER, got {value!r}"
            ) from None
        if not parsed >= 0:
            raise UserInputError(f"{what} must be zero or positive, got {value!r}")
        key = name or None
        if key in result:
            target = f"output '{key}'" if key else "all outputs"
            raise UserInputError(
                f"{what} is given twice for {target} ({result[key]:g} and {parsed:g}); "
                "give one value, or OUTPUT:VALUE per output"
            )
        result[key] = parsed
    return result


def run_export(args):
    """``keras-1x1 export IN OUT [--opset N] [--form raw|matmul|conv]``.

    Exports with tf2onnx, rewrites to the requested form, writes OUT
    atomically, then runs the written file in onnxruntime (CPU) against
    Keras on random inputs. OUT is only put in place when the outputs match.
    """
    from keras_1x1 import io
    from keras_1x1.converters import canonical, onnx_export

    form = getattr(args, "form", None) or "raw"
    if form not in canonical.FORMS:
        raise UserInputError(f"--form must be one of {', '.join(canonical.FORMS)}, got {form!r}")
    opset = onnx_export.check_opset(getattr(args, "opset", None))
    source = io.existing_file(args.input, "model file")
    if source.suffix.lower() not in io.MODEL_SUFFIXES:
        raise UserInputError(f"{source}: expected a Keras model file ending in .keras or .h5")
    out = io.output_path(
        args.output,
        overwrite=getattr(args, "overwrite", False),
        inputs=[args.input],
        suffixes=ONNX_SUFFIXES,
    )
    progress = Progress(3 if form == "raw" else 4)
    progress(f"loading {source}")
    model = io.load_model(source, unsafe=getattr(args, "unsafe", False), compile=False)
    progress(f"exporting with tf2onnx (opset {opset})")
    proto = onnx_export.export_onnx(model, opset=opset)
    if form != "raw":
        progress(f"rewriting to the {form} form")
        proto = canonical.to_form(proto, form)
    data = proto.SerializeToString()

    lines = [f"export {source} -> {out}", f"form: {form}, opset {opset}"]
    ops = {}
    for node in proto.graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    lines.append(
        f"graph: {len(proto.graph.node)} nodes ("
        + ", ".join(f"{k} {v}" for k, v in sorted(ops.items(), key=lambda kv: (-kv[1], kv[0])))
        + ")"
    )
    lines.append("inputs: " + ", ".join(_value_text(v) for v in proto.graph.input))
    lines.append("outputs: " + ", ".join(_value_text(v) for v in proto.graph.output))
    lines.append(f"canonical fingerprint: {canonical.fingerprint(proto)}")

    verified = {}

    class _Mismatch(Exception):
        pass

    try:
        with io.atomic_output(out) as tmp:
            tmp.write_bytes(data)
            progress("checking the written file in onnxruntime against Keras")
            verified["stats"] = _verify(model, tmp)
            if not all(s.ok for s in verified["stats"]):
                raise _Mismatch
    except _Mismatch:
        pass
    stats = verified.get("stats", [])
    ok = bool(stats) and all(s.ok for s in stats)
    lines.append("onnxruntime (CPU) against Keras:")
    lines.extend(f"  {s.line()}" for s in stats)
    if not ok:
        lines.append(f"{out} was not written: its outputs do not match Keras")
    lines.append("PASSED" if ok else "FAILED")
    _say("\n".join(lines))
    return 0 if ok else 1


def _value_text(value):
    tensor = value.type.tensor_type
    dims = [
        str(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?")
        for d in tensor.shape.dim
    ]
    import onnx

    dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type)
    return f"{value.name} ({', '.join(dims)}) {np.dtype(dtype)}"


def _verify(model, path):
    import importlib

    from keras_1x1.converters import onnx_export, runtime

    compare_module = importlib.import_module("keras_1x1.converters.comparison")
    from keras_1x1.numeric import error_stats

    specs = compare_module._specs(compare_module._Side("model", keras_model=model))
    feeds = compare_module._draw_inputs(specs, compare_module.DEFAULT_SEED)
    expected = onnx_export.run_keras(model, feeds)
    session = runtime.make_session(path, "cpu")
    actual = runtime.run(session, feeds)
    stats = []
    for name, value in expected.items():
        if name not in actual:
            stats.append(error_stats(name, np.zeros(0), value))
            stats[-1].message = "missing from the ONNX outputs"
            continue
        stats.append(error_stats(name, actual[name], value))
    return stats


def run_compare(args):
    """``keras-1x1 compare A B [--provider cpu|cuda] [--atol X] [--rtol Y]``."""
    from keras_1x1.converters.comparison import compare

    atol = parse_tolerances(getattr(args, "atol", None), "--atol")
    rtol = parse_tolerances(getattr(args, "rtol", None), "--rtol")
    Progress(1)(f"comparing {args.a} and {args.b}")
    result = compare(
        args.a,
        args.b,
        providers=getattr(args, "provider", None) or "cpu",
        atol=atol,
        rtol=rtol,
        unsafe=getattr(args, "unsafe", False),
    )
    _say(result.summary())
    return 0 if result.ok else 1
