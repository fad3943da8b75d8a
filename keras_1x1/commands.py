"""The `convert` and `validate` commands (see `keras_1x1.cli`)."""

import sys
import time

from keras_1x1.errors import ConversionError, UserInputError


class Progress:
    """Numbered stage lines with elapsed times, so long work shows it moves."""

    def __init__(self, stages, stream=None):
        self.stages = stages
        self.step = 0
        self.start = time.perf_counter()
        self.stream = stream or sys.stdout

    def __call__(self, text):
        self.step += 1
        elapsed = time.perf_counter() - self.start
        print(f"[{self.step}/{self.stages} {elapsed:6.1f}s] {text}", file=self.stream, flush=True)


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
