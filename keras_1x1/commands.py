"""The `convert` and `validate` commands (see `keras_1x1.cli`)."""

import sys
import time

import numpy as np

from keras_1x1._progress import Progress
from keras_1x1.errors import ConversionError, UserInputError


def _pick(tolerance, name):
    """A tolerance for one output from ``{output or None: value}``."""
    if not tolerance:
        return None
    return tolerance.get(name, tolerance.get(None))


def count_layers(model):
    from keras_1x1.converters import graph

    return sum(1 for _ in graph.walk(model))


def run_convert(args):
    from keras_1x1 import converters, io

    if args.to == "fcn" and args.target != "keras":
        raise UserInputError("--target applies to --to dense and --to conv only")
    output = io.output_path(
        args.output, overwrite=args.overwrite, inputs=[args.input], suffixes=io.MODEL_SUFFIXES
    )
    progress = Progress(3)
    progress(f"loading {args.input}")
    model = io.load_model(args.input, unsafe=args.unsafe)
    checking = " and verifying the outputs" if args.verify else ""
    progress(f"converting{checking}: {count_layers(model)} layers of '{model.name}' (--to {args.to})")
    try:
        if args.to == "dense":
            new = converters.conv_to_dense(model, target=args.target, verify=args.verify)
        elif args.to == "conv":
            new = converters.dense_to_conv(model, target=args.target, verify=args.verify)
        else:
            new = converters.convolutionalize(model, verify=args.verify)
    except ConversionError as error:
        if error.report is not None:
            print(error.report)
        raise
    print(new.conversion_report)
    progress(f"writing {output}")
    io.save_model(new, output, overwrite=args.overwrite)
    print(f"wrote {output}")
    print("PASSED" if args.verify else "written without verification (--no-verify)")
    return 0


def run_validate(args):
    """Both forms of IN, exported to ONNX: one canonical graph, same outputs."""
    from keras_1x1 import converters, io
    from keras_1x1._cmd_onnx import parse_tolerances
    from keras_1x1.converters import canonical, onnx_export, runtime
    from keras_1x1.numeric import error_stats, sample_array

    atol = parse_tolerances(args.atol, "--atol")
    rtol = parse_tolerances(args.rtol, "--rtol")
    provider = runtime.provider_name(args.provider)
    progress = Progress(5)
    progress(f"loading {args.input}")
    model = io.load_model(args.input, unsafe=args.unsafe, compile=False)
    progress("converting to the conv form and to the dense form (each verified in Keras)")
    forms = {
        "conv": converters.dense_to_conv(model),
        "dense": converters.conv_to_dense(model),
    }
    for form, converted in forms.items():
        print(f"{form} form: {converted.conversion_report.summary()}")
    progress("exporting both forms to ONNX with tf2onnx")
    raw = {form: onnx_export.export_onnx(converted) for form, converted in forms.items()}
    progress("canonicalizing both graphs")
    canonical_graphs = {form: canonical.canonical_ir(proto) for form, proto in raw.items()}
    prints = {
        form: canonical.fingerprint_of_canonical(graph)
        for form, graph in canonical_graphs.items()
    }
    same = prints["conv"] == prints["dense"]
    for form, value in prints.items():
        print(f"canonical fingerprint, {form} form: {value}")
    if not same:
        print(f"the canonical graphs differ: {canonical.graph_diff(raw['conv'], raw['dense'])}")
    progress(f"running every graph in onnxruntime ({args.provider}) against Keras")
    rng = np.random.default_rng(0)
    feeds = {
        name: sample_array(shape, dtype, rng)
        for name, shape, dtype in runtime.input_specs(raw["conv"])
    }
    expected = onnx_export.run_keras(model, feeds)
    ok = same
    import onnx_ir as ir

    for form in forms:
        graphs = {
            "raw": raw[form],
            "canonical": ir.serde.serialize_model(canonical_graphs[form]),
        }
        for variant, proto in graphs.items():
            session = runtime.make_session(proto, provider)
            actual = runtime.run(session, feeds)
            for name, reference in expected.items():
                stats = error_stats(
                    f"{form} form, {variant} ONNX: {name}",
                    actual[name],
                    reference,
                    atol=_pick(atol, name),
                    rtol=_pick(rtol, name),
                )
                ok = ok and stats.ok
                print(f"  {stats.line()}")
    print("canonical graphs: " + ("identical" if same else "DIFFERENT"))
    print("PASSED" if ok else "FAILED")
    return 0 if ok else 1
