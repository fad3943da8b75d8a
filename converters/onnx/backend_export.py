"""ONNX export on Keras' JAX and torch backends, with each backend's own
exporter: jax2onnx on JAX, ``torch.onnx.export`` (torch.export, "dynamo")
on torch. TensorFlow is not imported.

Keras' ``model.export(format="onnx")`` calls the same exporters, but it
refuses a model that was built from ``keras.Input`` and never called ("The
model provided has never called"), names the outputs by position, and on
torch falls back to the TorchScript exporter (deprecated since torch 2.9)
whenever a dim is free. The exporters are called directly here instead:
the function exported returns the outputs in the order of their Keras
names, the batch dim is free, and other free dims stay free where the
exporter can keep them (else they take the sizes of the drawn inputs).
"""

import contextlib
import io

import numpy as np

from keras_1x1.errors import UserInputError, one_line

from ..keras import internals
from .export import EXPORTERS, feeds, model_outputs

# What each exporter writes when no opset is asked for, and the oldest opset
# it writes.
DEFAULT_OPSET = {"jax": 23, "torch": 20}
MIN_OPSET = {"jax": 18, "torch": 18}


def export(model, opset, backend):
    """``(onnx.ModelProto, input specs it was drawn for)`` of `model` on `backend`."""
    from ..keras import signature

    structure, _ = signature.input_structure(model)
    in_names = signature.input_names(model)
    out_names = signature.output_names(model)
    specs = signature.input_specs(model)
    forward = None
    if backend == "jax":
        # Traced as a pure function of the inputs, the weights its constants:
        # jax2onnx cannot trace a Keras variable read inside the call.
        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]

        def forward(packed):
            return model.stateless_call(trainable, non_trainable, packed, training=False)[0]

    def call(*args):
        return tuple(model_outputs(model, structure, out_names, args, forward))

    export_one = _jax if backend == "jax" else _torch
    failure = proto = None
    # Free dims kept free (one size per axis shared by the inputs), then
    # the batch alone free (an exporter that cannot keep a length symbolic,
    # a position table compared with it, gets the drawn one), then every
    # dim the drawn size (jax2onnx cannot map a reshape to a target computed
    # from a symbolic batch).
    rejected = None
    for free_lengths in ("free", "batch", "static"):
        try:
            proto = export_one(model, call, specs, in_names, out_names, opset, free_lengths)
            _for_onnxruntime(proto)
        except UserInputError:
            raise
        except Exception as error:  # noqa: BLE001 - said below when every try fails
            failure = error  # the last, most static try says what blocks it
            continue
        # A graph onnxruntime cannot run on the drawn inputs (jax2onnx can
        # write a Reshape that is wrong for a free batch) gives way to a
        # more static export; the last one is checked by the caller.
        if free_lengths == "static" or _runs(proto, specs):
            break
        rejected = proto
    else:
        if rejected is not None:
            proto = rejected  # the caller names the node onnxruntime rejects
    if proto is None:
        raise UserInputError(
            f"{EXPORTERS[backend]} cannot export model '{model.name}': "
            f"{type(failure).__name__}: {one_line(failure)}"
        ) from failure
    _name_outputs(proto, out_names)
    proto.producer_name = f"keras-1x1 ({EXPORTERS[backend]})"
    return proto, specs


def _for_onnxruntime(proto):
    """Valid ONNX an exporter writes that onnxruntime cannot run, rewritten
    as the ops it means: `_pools_onnxruntime_runs`, `_boolean_min_max`."""
    _pools_onnxruntime_runs(proto)
    _boolean_min_max(proto)


def _boolean_min_max(proto):
    """``Min`` / ``Max`` of booleans -> ``And`` / ``Or``, and of numbers and
    booleans -> on the booleans cast to numbers: jax2onnx writes
    ``jnp.minimum`` of two masks (keras-hub's decoders merge a padding mask
    with a causal one) as ``Min``, which ONNX defines on numbers of one
    type only."""
    import onnx

    nodes = [n for n in proto.graph.node if n.op_type in ("Min", "Max") and n.domain in ("", "ai.onnx")]
    if not nodes:
        return
    inferred = onnx.shape_inference.infer_shapes(proto)
    types = {
        v.name: v.type.tensor_type.elem_type
        for v in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output)
    }
    types.update({t.name: t.data_type for t in proto.graph.initializer})
    declared = {
        v.name: v.type.tensor_type.elem_type
        for v in list(proto.graph.value_info) + list(proto.graph.output)
        if v.type.tensor_type.elem_type
    }
    for node in nodes:
        kinds = [types.get(i) for i in node.input]
        boolean = [k == onnx.TensorProto.BOOL for k in kinds]
        if len(kinds) == 2 and all(boolean):
            node.op_type = "And" if node.op_type == "Min" else "Or"
        elif any(boolean) and None not in kinds and len({k for k in kinds if k != onnx.TensorProto.BOOL}) == 1:
            # A mask of numbers against a boolean one (onnx refuses mixed
            # types): the operands cast to the type jax2onnx declares for
            # the result (JAX promotes to the numbers, or keeps booleans).
            number = next(k for k in kinds if k != onnx.TensorProto.BOOL)
            result = declared.get(node.output[0], number)
            index = list(proto.graph.node).index(node)
            for i, kind in enumerate(kinds):
                if kind != result:
                    cast = onnx.helper.make_node(
                        "Cast", [node.input[i]], [f"{node.input[i]}__cast_{index}_{i}"], to=result
                    )
                    proto.graph.node.insert(list(proto.graph.node).index(node), cast)
                    node.input[i] = cast.output[0]
            if result == onnx.TensorProto.BOOL:
                node.op_type = "And" if node.op_type == "Min" else "Or"


def _pools_onnxruntime_runs(proto):
    """Pooling over more than 3 axes rewritten as the 2-D pooling it is.

    jax2onnx writes a Keras pooling of NHWC maps (``lax.reduce_window``) as
    ``MaxPool`` over all four axes of the maps, unsqueezed to 6-D, with
    windows of 1 on the batch and channels; onnxruntime pools over at most
    3 axes ("Unsupported pooling size"). The axes with a window of 1 (no
    stride, pad or dilation) go first, as batch and channel, the pooled ones
    after: ``Squeeze -> Transpose -> Pool -> Transpose -> Unsqueeze``.
    """
    from onnx import helper

    ops = {"MaxPool", "AveragePool", "LpPool"}
    graph = proto.graph
    version = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 18)
    if version < 13:
        return
    nodes = list(graph.node)
    shapes = None
    for node in nodes:
        if node.op_type not in ops or node.domain not in ("", "ai.onnx") or len(node.output) != 1:
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        kernel = list(attrs.get("kernel_shape", []))
        k = len(kernel)
        if k <= 3 or attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            continue
        strides = list(attrs.get("strides", [1] * k))
        dilations = list(attrs.get("dilations", [1] * k))
        pads = list(attrs.get("pads", [0] * 2 * k))
        through = [
            i for i in range(k)
            if kernel[i] == 1 and strides[i] == 1 and dilations[i] == 1 and pads[i] == pads[i + k] == 0
        ]
        pooled = [i for i in range(k) if i not in through]
        if not 1 <= len(through) <= 2 or not 1 <= len(pooled) <= 3 or len(through) + len(pooled) != k:
            continue
        # The pool's own batch and channel must be unit axes: they are
        # squeezed away (checked by the shapes onnx infers, once).
        if shapes is None:
            shapes = _inferred_shapes(proto)
        shape = shapes.get(node.input[0])
        if shape is None or shape[:2] != [1, 1]:
            continue
        name = node.name or node.output[0]

        def fresh(tag):
            return f"{name}__{tag}"

        axes = helper.make_tensor(fresh("units"), 7, [2], [0, 1])
        graph.initializer.append(axes)
        perm = through + pooled
        new = [helper.make_node("Squeeze", [node.input[0], axes.name], [fresh("squeezed")])]
        new.append(helper.make_node("Transpose", [fresh("squeezed")], [fresh("moved")], perm=perm))
        source = fresh("moved")
        if len(through) == 1:
            one = helper.make_tensor(fresh("one"), 7, [1], [1])
            graph.initializer.append(one)
            new.append(helper.make_node("Unsqueeze", [source, one.name], [fresh("channel")]))
            source = fresh("channel")
        kept = {a: v for a, v in attrs.items() if a not in ("kernel_shape", "strides", "dilations", "pads")}
        new.append(helper.make_node(
            node.op_type, [source], [fresh("pooled")],
            kernel_shape=[kernel[i] for i in pooled], strides=[strides[i] for i in pooled],
            dilations=[dilations[i] for i in pooled],
            pads=[pads[i] for i in pooled] + [pads[i + k] for i in pooled], **kept,
        ))
        result = fresh("pooled")
        if len(through) == 1:
            new.append(helper.make_node("Squeeze", [result, one.name], [fresh("unchanneled")]))
            result = fresh("unchanneled")
        back = [perm.index(i) for i in range(k)]
        new.append(helper.make_node("Transpose", [result], [fresh("back")], perm=back))
        new.append(helper.make_node("Unsqueeze", [fresh("back"), axes.name], [node.output[0]]))
        index = list(graph.node).index(node)
        graph.node.remove(node)
        for offset, made in enumerate(new):
            graph.node.insert(index + offset, made)


def _inferred_shapes(proto):
    """``{value name: dims}`` as onnx infers them (ints, None for free ones)."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(proto)
    return {
        value.name: [d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim]
        for value in list(inferred.graph.value_info) + list(inferred.graph.input)
    }


def _runs(proto, specs):
    """Whether onnxruntime runs the graph on inputs drawn from `specs`, and,
    where its batch is free, on one more row with the same outputs for the
    rows before (an exporter can bake the drawn batch into a graph whose
    dims coincide with it: keras-hub BERT at 2 tokens of width 2)."""
    import numpy as np

    from .runtime import make_session, run

    try:
        session = make_session(proto, "cpu")
        drawn = feeds(proto, specs)
        first = run(session, drawn)
        if not all(
            v.type.tensor_type.shape.dim and v.type.tensor_type.shape.dim[0].dim_param
            for v in proto.graph.input
        ):
            return True
        more = run(session, {k: np.concatenate([x, x[:1]]) for k, x in drawn.items()})
    except Exception:  # noqa: BLE001 - onnxruntime's own exceptions
        return False
    return all(
        b.shape[:1] == (a.shape[0] + 1,) and np.allclose(a, b[:-1], rtol=1e-4, atol=1e-5)
        for a, b in zip(first.values(), more.values())
    )


def _dims(spec, free_lengths):
    """The export shape of one input: the batch free ("batch") unless
    `free_lengths` is "static", other free dims "length<axis>" (shared by the
    inputs) when it is "free", else the drawn sizes."""
    from keras_1x1.numeric import BATCH, FREE_DIM

    dims = []
    for axis, dim in enumerate(spec.shape):
        if axis == 0:
            dims.append("batch" if free_lengths != "static" else BATCH)
        elif dim is None:
            dims.append(f"length{axis}" if free_lengths == "free" else spec.free or FREE_DIM)
        else:
            dims.append(int(dim))
    return dims


def _jax(model, call, specs, in_names, out_names, opset, free_lengths):
    import jax
    from jax2onnx import to_onnx

    from keras_1x1.numeric import dtype_name

    inputs = [
        jax.ShapeDtypeStruct(
            tuple(_dims(spec, free_lengths)),
            np.dtype(dtype_name(spec.dtype)),
        )
        for spec in specs
    ]
    kwargs = {"input_names": list(in_names), "return_mode": "proto"}
    if opset is not None:
        kwargs["opset"] = opset
    with internals.for_jax2onnx():
        return to_onnx(call, inputs=inputs, **kwargs)


def _torch(model, call, specs, in_names, out_names, opset, free_lengths):
    import warnings

    import torch

    from keras_1x1.numeric import draw_inputs

    drawn = draw_inputs(specs)
    args = tuple(torch.as_tensor(drawn[spec.name]) for spec in specs)

    class Exported(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *inputs):
            return call(*inputs)

    batch = torch.export.Dim("batch")
    dynamic = tuple(
        {
            axis: batch if axis == 0 else torch.export.Dim.AUTO
            for axis, dim in enumerate(spec.shape)
            if (axis == 0 and free_lengths != "static") or (dim is None and free_lengths == "free")
        }
        for spec in specs
    )
    kwargs = {
        "dynamo": True,
        "input_names": list(in_names),
        "output_names": list(out_names),
        "dynamic_shapes": (dynamic,),  # one entry: the tuple of `*inputs`
        "verbose": False,
    }
    if opset is not None:
        kwargs["opset_version"] = opset
    module = Exported().eval()
    # torch.onnx prints its progress (and emoji) to stdout.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(module, args, **kwargs)
    program.optimize()
    return program.model_proto


def _name_outputs(proto, out_names):
    """Name the graph outputs by their Keras names (jax2onnx names them by
    the op that made them)."""
    graph = proto.graph
    if len(graph.output) != len(out_names):
        return
    renames = {o.name: n for o, n in zip(graph.output, out_names) if o.name != n}
    if not renames:
        return
    taken = {v for node in graph.node for v in node.output} | {i.name for i in graph.initializer}
    clash = (set(renames.values()) & taken) - set(renames)
    if clash:
        # A Keras name an inner value already has: that value is renamed first.
        inner = {name: f"{name}__inner" for name in clash}
        _rename(graph, inner)
    _rename(graph, renames)


def _rename(graph, renames):
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in renames:
                node.input[i] = renames[name]
        for i, name in enumerate(node.output):
            if name in renames:
                node.output[i] = renames[name]
    for value in list(graph.output) + list(graph.value_info) + list(graph.input):
        if value.name in renames:
            value.name = renames[value.name]
    for tensor in graph.initializer:
        if tensor.name in renames:
            tensor.name = renames[tensor.name]
