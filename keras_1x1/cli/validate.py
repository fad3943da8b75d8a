"""Check that a model's conv form and dense form are the same map.

Converts IN to both forms (each conversion verified in Keras), exports each
to ONNX with the backend's exporter (tf2onnx on TensorFlow), and checks that the two canonical graphs are
identical and that every onnxruntime output (of the raw and the canonical
graph of each form) matches the original model in Keras. Ends with PASSED
or FAILED.
"""

from ._common import FAILED, OK, Progress, parse_tolerances, read_inputs, say

GROUPS = ("loading", "feeding", "checking", "tolerance")


def add_arguments(parser):
    parser.add_argument("input", metavar="IN", help="model file (.keras or .h5)")


def run(args):
    from keras_1x1 import io
    from keras_1x1.converters.keras import convert
    from keras_1x1.converters.onnx import check, export, runtime

    atol = parse_tolerances(args.atol, "--atol")
    rtol = parse_tolerances(args.rtol, "--rtol")
    runtime.provider_name(args.provider)
    progress = Progress(4)
    progress(f"loading {args.input}")
    model = io.load_model(args.input, unsafe=args.unsafe, compile=False)
    inputs = read_inputs(args, model)
    verify = True if inputs is None else inputs
    progress("converting to the conv form and to the dense form (each verified in Keras)")
    forms = {
        "conv form": convert.dense_to_conv(model, verify=verify),
        "dense form": convert.conv_to_dense(model, verify=verify),
    }
    for form, converted in forms.items():
        say(f"{form}: {converted.conversion_report.summary()}")
    import keras

    from keras_1x1.converters.onnx.export import EXPORTERS

    backend = keras.backend.backend()
    progress(f"exporting both forms to ONNX with {EXPORTERS.get(backend, backend)}")
    raw = {f"{form}, raw ONNX": export.export_onnx(m, inputs=inputs) for form, m in forms.items()}
    progress(f"canonicalizing, and running every graph in onnxruntime ({args.provider}) against Keras")
    result = check.check(
        model,
        raw,
        inputs=inputs,
        providers=args.provider,
        atol=atol,
        rtol=rtol,
        graphs="candidates",
        canonical_too=True,
    )
    say(result.summary())
    return OK if result.ok and result.same_graph else FAILED
