"""Rewrite a trained model between the conv and dense forms.

Every pointwise convolution becomes a per-pixel Dense (--to dense), every
per-pixel Dense a 1x1 convolution (--to conv), or a Flatten/GlobalPooling
-> Dense classifier head convolutions that slide over larger images (--to
fcn). Prints the report of every candidate layer, verifies that the outputs
match (on inputs drawn from the model's input specs, or --inputs), then writes OUT atomically (an existing OUT needs --overwrite).
"""

from ._common import OK, Progress, read_inputs, say

GROUPS = ("loading", "writing", "feeding")


def add_arguments(parser):
    parser.add_argument("input", metavar="IN", help="model file (.keras or .h5)")
    parser.add_argument("output", metavar="OUT", help="model file to write (.keras or .h5)")
    parser.add_argument("--to", required=True, choices=("dense", "conv", "fcn"))
    parser.add_argument(
        "--target",
        choices=("keras", "keras_1x1"),
        default="keras",
        help="keras: built-in layers only; keras_1x1: Conv1x1/PixelDense",
    )
    parser.add_argument(
        "--no-verify",
        dest="verify",
        action="store_false",
        help="skip comparing the outputs of the old and new model",
    )


def run(args):
    from keras_1x1 import io
    from keras_1x1.converters.keras import convert, graph
    from keras_1x1.errors import ConversionError, UserInputError

    if args.to == "fcn" and args.target != "keras":
        raise UserInputError("--target applies to --to dense and --to conv only")
    if args.inputs is not None and (args.to == "fcn" or not args.verify):
        raise UserInputError(
            "--inputs are what --to dense and --to conv verify on; "
            + ("--to fcn checks its own sizes" if args.to == "fcn" else "drop --no-verify"))
    output = io.output_path(
        args.output, overwrite=args.overwrite, inputs=[args.input], suffixes=io.MODEL_SUFFIXES
    )
    progress = Progress(3)
    progress(f"loading {args.input}")
    model = io.load_model(args.input, unsafe=args.unsafe)
    verify = read_inputs(args, model) if args.inputs is not None else args.verify
    checking = " and verifying the outputs" if args.verify else ""
    layers = sum(1 for _ in graph.walk(model))
    progress(f"converting{checking}: {layers} layers of '{model.name}' (--to {args.to})")
    try:
        if args.to == "dense":
            new = convert.conv_to_dense(model, target=args.target, verify=verify)
        elif args.to == "conv":
            new = convert.dense_to_conv(model, target=args.target, verify=verify)
        else:
            new = convert.convolutionalize(model, verify=args.verify)
    except ConversionError as error:
        if error.report is not None:
            say(str(error.report))
        raise
    say(str(new.conversion_report))
    progress(f"writing {output}")
    io.save_model(new, output, overwrite=args.overwrite)
    say(f"wrote {output}")
    say("PASSED" if args.verify else "written without verification (--no-verify)")
    return OK
