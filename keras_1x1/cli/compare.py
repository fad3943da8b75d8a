"""Compare two models: their canonical ONNX graphs and their outputs.

A and B are .keras, .h5, .onnx or .tflite (LiteRT) files in any pairing; A
is the reference.
Both are fed the same inputs, drawn from A's input specs (or --inputs); every output of B
is compared with A's (max abs, max rel and mean abs error, within --atol and
--rtol, per output as OUTPUT:VALUE). Ends with PASSED when every output
agrees, FAILED otherwise; whether the canonical graphs are identical is
printed beside it (files from other exporters may compute the same outputs
with another graph; a LiteRT file has no canonical graph, and its op census
is printed instead). Two .onnx files are compared without Keras or
TensorFlow. With --provider qnn every ONNX side runs on Qualcomm's HTP
(onnxruntime-qnn) against A run in float32, with fp16 tolerances, and a
node the HTP cannot run fails the check, named.
"""

from ._common import FAILED, OK, Progress, parse_tolerances, read_inputs, say

GROUPS = ("loading", "feeding", "checking", "tolerance")


def add_arguments(parser):
    parser.add_argument("a", metavar="A", help="the reference model")
    parser.add_argument("b", metavar="B", help="the model compared with it")


def run(args):
    from keras_1x1.converters.onnx.check import compare

    atol = parse_tolerances(args.atol, "--atol")
    rtol = parse_tolerances(args.rtol, "--rtol")
    inputs = read_inputs(args)
    Progress(1)(f"comparing {args.a} and {args.b}")
    result = compare(
        args.a, args.b, inputs=inputs, providers=args.provider, atol=atol, rtol=rtol, unsafe=args.unsafe
    )
    say(result.summary())
    return OK if result.ok else FAILED
