"""Show the whole job on the shipped reference model.

The seed example; conv -> dense -> conv on a trained Network-in-Network
digit classifier (held-out accuracy identical in every form, weights
bit-identical after the round trip); each form exported to ONNX with one
canonical fingerprint and the same onnxruntime outputs; a convolutionalized
classifier's score map over a canvas of digits. Ends with PASSED or FAILED.
"""

from ._common import FAILED, OK

GROUPS = ("loading",)


def add_arguments(parser):
    parser.add_argument("--model", metavar="PATH", help="a .keras model to use instead")


def run(args):
    from keras_1x1.demo import run as run_demo

    return OK if run_demo(model=args.model, unsafe=args.unsafe) else FAILED
