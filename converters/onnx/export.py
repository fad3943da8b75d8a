"""Export Keras models to ONNX with tf2onnx.

tf2onnx's ``from_keras`` does not understand Keras 3 Sequential models, so the
model is wrapped in a ``tf.function`` whose input signature is built from the
model's inputs (batch dimension ``None``) and converted with
``tf2onnx.convert.from_function``. The wrapped function returns a dict, so
the ONNX outputs carry the Keras output names; the ONNX inputs carry the
Keras input names.

>>> import keras
>>> from keras_1x1 import converters
>>> x = keras.Input((8, 8, 3), name="image")
>>> model = keras.Model(x, keras.layers.Conv2D(4, 1, name="pointwise")(x))
>>> proto = converters.export_onnx(model)
>>> [i.name for i in proto.graph.input], [o.name for o in proto.graph.output]
(['image'], ['pointwise'])
>>> [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim][1:]
[8, 8, 3]
"""

import contextlib
import dataclasses
import gc
import re

from keras_1x1.errors import UserInputError, one_line

__all__ = ["export_onnx", "check_opset", "DEFAULT_OPSET", "EXPORTERS", "MIN_OPSET", "MAX_OPSET"]

# 17 is supported by every onnxruntime since 1.13 and by tf2onnx >= 1.13;
# 18 is the highest opset tf2onnx 1.17 emits. Below 13 several ops this
# package rewrites (Unsqueeze/Squeeze/Slice with tensor inputs) change form.
DEFAULT_OPSET = 17
MIN_OPSET = 13
MAX_OPSET = 18

# The exporter of each Keras backend.
EXPORTERS = {"tensorflow": "tf2onnx", "jax": "jax2onnx", "torch": "torch.onnx"}


def check_opset(opset, backend="tensorflow"):
    """The opset to use: `DEFAULT_OPSET` for None (on JAX and torch, their
    exporter's own default), else a checked integer."""
    if backend != "tensorflow":
        from . import backend_export

        if opset is None:
            return backend_export.DEFAULT_OPSET[backend]
        if isinstance(opset, bool) or not isinstance(opset, int):
            raise UserInputError(f"opset must be an integer, got {opset!r}")
        low = backend_export.MIN_OPSET[backend]
        if opset < low:
            raise UserInputError(
                f"opset {opset} is not supported on the {backend} backend: its exporter "
                f"writes opset {low} or newer"
            )
        return opset
    if opset is None:
        return DEFAULT_OPSET
    if isinstance(opset, bool) or not isinstance(opset, int):
        raise UserInputError(f"opset must be an integer, got {opset!r}")
    if opset > MAX_OPSET:
        raise UserInputError(
            f"opset {opset} is not supported: tf2onnx exports at most opset "
            f"{MAX_OPSET}; use --opset {MAX_OPSET} or lower"
        )
    if opset < MIN_OPSET:
        raise UserInputError(
            f"opset {opset} is not supported: keras-1x1 exports opset {MIN_OPSET} to {MAX_OPSET}"
        )
    return opset


def export_onnx(model, path=None, *, opset=None, overwrite=False, inputs=None):
    """Export a Keras model to ONNX; returns the ``onnx.ModelProto``.

    Args:
        model: a Sequential or Functional `keras.Model` (built, with inputs).
        path: where to write the `.onnx` file (atomically), or None.
        opset: the ONNX opset, 13 to 18 (tf2onnx's limit); default 17.
        overwrite: replace an existing `path`.
        inputs: what the graph is checked on in onnxruntime before it is
            returned or written: ``{input name: array}`` or a structure the
            model takes (a model that accepts only inputs of its own: image
            positions that must match its images, say). Default: inputs
            drawn from the model's input specs.

    The ONNX graph keeps the Keras input names and output names, and its
    batch dimension is dynamic.
    """
    import keras

    backend = keras.backend.backend()
    if backend not in ("tensorflow", "jax", "torch"):
        raise UserInputError(f"ONNX export is not supported on Keras' {backend} backend")
    opset = check_opset(opset, backend)
    if path is not None:
        from keras_1x1.io import output_path

        output_path(path, overwrite=overwrite, suffixes=(".onnx",))
    given = None if inputs is None else _given_feeds(model, inputs)
    proto = (_convert(model, opset, given) if backend == "tensorflow"
             else _convert_other(model, opset, backend, given))
    if path is not None:
        from keras_1x1.io import write_bytes

        write_bytes(proto.SerializeToString(), path, overwrite=overwrite, suffixes=(".onnx",))
    return proto


def keras_function(model, shapes=None):
    """``(tf.function, input specs, input names, output names)``: the model's
    inference call with a free batch dim (or its inputs at ``shapes``, one
    per input), its outputs a dict by name (what tf2onnx and LiteRT's
    converter convert)."""
    import keras
    import tensorflow as tf

    from ..keras import internals, signature

    if not isinstance(model, keras.Model):
        raise UserInputError(f"expected a keras.Model, got {type(model).__name__}")
    internals.check()
    structure, flat = signature.input_structure(model)
    in_names = signature.input_names(model)
    if len(set(in_names)) != len(in_names):
        raise UserInputError(f"model '{model.name}' has repeated input names {in_names}")
    out_names = signature.output_names(model)
    specs = []
    for i, (tensor, name) in enumerate(zip(flat, in_names)):
        shape = (None,) + tuple(tensor.shape[1:]) if shapes is None else tuple(shapes[i])
        dtype = tf.as_dtype(keras.backend.standardize_dtype(tensor.dtype))
        specs.append(tf.TensorSpec(shape, dtype, name=_tf_name(name)))

    def call(*args):
        return dict(zip(out_names, model_outputs(model, structure, out_names, args)))

    return tf.function(call, input_signature=specs, autograph=False), specs, in_names, out_names


def model_outputs(model, structure, out_names, args, forward=None):
    """The model's outputs on flat input ``args``, in the order of
    `out_names`; ``forward(packed inputs)`` runs it (default: its inference
    call)."""
    import keras

    from ..keras import signature

    if isinstance(structure, (dict, list, tuple)):
        packed = keras.tree.pack_sequence_as(structure, list(args))
    else:
        packed = args[0]
    result = forward(packed) if forward is not None else model(packed, training=False)
    values = signature.output_values(model, result)
    if len(values) != len(out_names):
        raise UserInputError(
            f"model '{model.name}' returned {len(values)} outputs, expected {len(out_names)}"
        )
    return values


def _given_feeds(model, inputs):
    """``{input name: array}`` of the inputs a user gave for the check."""
    import keras
    import numpy as np

    from ..keras import signature

    names = signature.input_names(model)
    if isinstance(inputs, dict) and set(inputs) <= set(names):
        values = inputs
    else:
        flat = keras.tree.flatten(inputs)
        if len(flat) != len(names):
            raise UserInputError(
                f"inputs: model '{model.name}' takes {len(names)} input(s) "
                f"({', '.join(names)}), {len(flat)} given")
        values = dict(zip(names, flat))
    return {name: np.asarray(keras.ops.convert_to_numpy(v)) for name, v in values.items()}


# What tf2onnx's graph optimizer is run without when onnxruntime rejects
# the graph it wrote, in turn. Its reshape optimizer rewrites a Reshape's
# computed shape into constants, 0 ("copy the input's dim here") and -1,
# by positions it reads from shapes that its transpose optimizer may have
# moved; on models with unit axes (one head, a rotary table of one pair)
# the rewritten Reshape asks for another shape than TensorFlow's, and
# onnxruntime refuses it at run time. Without it (then without the
# transpose optimizer too) tf2onnx writes the graph TensorFlow computes.
_TF2ONNX_RETRIES = (("reshape_optimizer",), ("reshape_optimizer", "optimize_transpose"))


def _convert(model, opset, given=None):
    """tf2onnx's graph of the model, with free sizes where the model can be
    traced so and onnxruntime runs the graph, else at the sizes of the
    inputs it is checked on."""
    try:
        return _convert_checked(model, opset, given)
    except _Untraceable as error:
        failure, reason = error, error.reason
    except _Rejected as error:
        failure, reason = error, str(error)
    # Layers that branch on a size (a Python loop over the sequence, an
    # `if` on a length) trace only where the size is known, or trace to a
    # graph of control flow on sizes (an If whose branch a length decides)
    # that onnxruntime cannot type: trace again at the sizes of the check's
    # inputs, the batch free, then fixed too, where TensorFlow decides it.
    from ..keras import signature

    feeds = given if given is not None else _accepted_feeds(model)
    fixed = [tuple(feeds[name].shape) for name in signature.input_names(model)]
    for shapes in ([(None,) + shape[1:] for shape in fixed], fixed):
        try:
            proto = _convert_checked(model, opset, feeds, shapes)
        except (_Untraceable, _Rejected):
            continue
        proto.doc_string = (
            f"traced at fixed input sizes ({', '.join(_shape_text(s) for s in shapes)}): "
            f"with free sizes, {reason}")
        return proto
    if isinstance(failure, _Rejected):
        raise UserInputError(str(failure)) from failure
    raise UserInputError(
        f"model '{model.name}' cannot be traced as a TensorFlow graph, with free sizes or at "
        f"the sizes of its inputs ({', '.join(_shape_text(s) for s in fixed)}): {reason}"
    ) from failure


def _convert_checked(model, opset, given=None, shapes=None):
    """The first of tf2onnx's graphs (with its whole optimizer, then
    without the optimizers of `_TF2ONNX_RETRIES`; each as written, then with
    its zero dims kept) that onnxruntime runs."""
    first = None
    for without in ((),) + _TF2ONNX_RETRIES:
        proto = _convert_once(model, opset, without, shapes)
        for candidate in (proto, _zero_dims_kept(proto)):
            if candidate is None:
                continue
            try:
                _check_runs(candidate, model, given=given)
            except _Rejected as error:
                first = first or error
                continue
            return candidate
    raise _Rejected(str(first)) from first


def _zero_dims_kept(proto):
    """A copy of `proto` whose Reshapes to a shape computed at run time
    keep a 0 in it as a dim of size 0 (``allowzero=1``), or None when it has
    none or its opset predates ``allowzero`` (14).

    tf2onnx writes TensorFlow's Reshape as ONNX's with ``allowzero`` unset,
    where a 0 in the shape means "copy the input's dim". In TensorFlow it
    is a dim of size 0: a rotary part of 0 features (a head dim times a
    rotary percentage below one pair), say, reshaped to its own computed
    shape. A shape computed at run time holds real dims, so ``allowzero``
    gives TensorFlow's meaning; a constant shape may be tf2onnx's own, with
    0 as "copy", and is left as it is.
    """
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < 14:
        return None
    graph = proto.graph
    constant = {t.name for t in graph.initializer}
    constant.update(o for n in graph.node if n.op_type == "Constant" for o in n.output)
    computed = [
        i for i, node in enumerate(graph.node)
        if node.op_type == "Reshape" and node.domain in ("", "ai.onnx")
        and node.input[1] not in constant
        and not any(a.name == "allowzero" and a.i for a in node.attribute)
    ]
    if not computed:
        return None
    from onnx import helper

    kept = type(proto)()
    kept.CopyFrom(proto)
    for i in computed:
        node = kept.graph.node[i]
        for attribute in [a for a in node.attribute if a.name == "allowzero"]:
            node.attribute.remove(attribute)
        node.attribute.append(helper.make_attribute("allowzero", 1))
    return kept


class _Untraceable(UserInputError):
    """The model's call cannot be traced as a TensorFlow graph."""

    def __init__(self, model, error):
        self.reason = f"{type(error).__name__}: {one_line(error)}"
        super().__init__(f"model '{model.name}' cannot be traced as a TensorFlow graph: {self.reason}")


def _shape_text(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _accepted_feeds(model):
    """``{input name: array}`` of drawn inputs the Keras model runs on."""
    from keras_1x1.numeric import draw_inputs

    from ..keras import signature

    return draw_inputs(signature.accepted(model)[0])


def _convert_once(model, opset, without=(), shapes=None):
    """tf2onnx's graph of the model (its inputs at `shapes`, default free
    batch and the model's own dims), its graph optimizer run `without` the
    optimizers named."""
    from ..keras import internals

    function, specs, in_names, out_names = keras_function(model, shapes)
    try:
        with internals.convolutions_without_xla():
            function.get_concrete_function(*specs)
    except UserInputError:
        raise
    except Exception as error:  # noqa: BLE001 - the model's own code, re-raised with context
        raise _Untraceable(model, error) from error
    with _tf2onnx_quiet(), _tf2onnx_optimizers(without):
        import tf2onnx

        try:
            with internals.convolutions_without_xla():
                proto, _ = tf2onnx.convert.from_function(
                    function,
                    input_signature=specs,
                    opset=opset,
                    custom_op_handlers=_CUSTOM_OP_HANDLERS,
                )
        except UserInputError:
            raise
        except Exception as error:  # noqa: BLE001 - re-raised with context
            text = one_line(error)
            raise UserInputError(
                f"tf2onnx cannot export model '{model.name}': {type(error).__name__}: {text}"
            ) from error
    concrete = function.get_concrete_function(*specs)
    _captures_as_initializers(proto, concrete, specs)
    _check_converted(proto, model)
    _restore_names(proto, in_names, out_names, [_tf_name(n) for n in in_names])
    ranks = {name: tensor.shape.rank for name, tensor in concrete.structured_outputs.items()}
    match_output_ranks(proto, ranks, model.name)
    proto.producer_name = "keras-1x1 (tf2onnx)"
    return proto


@contextlib.contextmanager
def _tf2onnx_optimizers(without=()):
    """tf2onnx's graph optimizer without the optimizers named in `without`
    (its ``optimize_graph`` reads them from ``_get_optimizers()``), garbage
    collected before each pass.

    Before each pass tf2onnx deep-copies the whole graph (to fall back to
    on an optimizer's error) and drops the graph before it. A graph's nodes
    and the graph refer to each other, so only Python's cyclic collector
    frees a dropped one, and it seldom runs, since the protos behind a
    graph (every constant) are not Python objects it counts: a model's
    weights piled up about twice per pass (a ResNet of 395 MB of weights
    went past 24 GiB). A collection before each pass frees them.
    """
    from tf2onnx import optimizer

    every = optimizer._get_optimizers

    def collected(factory):
        def make():  # called as each pass starts
            gc.collect()
            return factory()
        return make

    kept = type(every())((k, collected(v)) for k, v in every().items() if k not in without)
    optimizer._get_optimizers = lambda: kept
    # The objects alive now (TensorFlow's, Keras', the model's) are not
    # tf2onnx's graphs: frozen, a collection does not walk them, and costs
    # milliseconds, not a tenth of a second. Not where the caller froze
    # objects of its own, which thawing would release.
    freeze = gc.get_freeze_count() == 0
    if freeze:
        gc.freeze()
    try:
        yield
    finally:
        optimizer._get_optimizers = every
        if freeze:
            gc.unfreeze()


def _convert_other(model, opset, backend, given=None):
    """The export on JAX (jax2onnx) or torch (torch.onnx), checked the same way."""
    import keras

    from ..keras import internals
    from . import backend_export

    if not isinstance(model, keras.Model):
        raise UserInputError(f"expected a keras.Model, got {type(model).__name__}")
    internals.check()
    proto, specs = backend_export.export(model, opset, backend)
    _check_converted(proto, model, EXPORTERS[backend])
    try:
        _check_runs(proto, model, specs, given=given)
    except _Rejected as error:
        raise UserInputError(str(error)) from error
    return proto


def match_output_ranks(proto, ranks, model_name):
    """Give each graph output the rank TensorFlow's function gives it.

    tf2onnx's optimizer, depending on the order of its node names, can drop
    the Squeeze of leading unit axes before a graph output (a conv on a map
    of one channel comes out ``(1, N, H, W, 1)`` for ``(N, H, W, 1)``). Such
    axes are squeezed again; any other difference of rank is refused.

    Args:
        proto: tf2onnx's model, its outputs named as in Keras (changed in place).
        ranks: ``{output name: rank}`` of the TensorFlow function's outputs.
    """
    import numpy as np
    from onnx import helper, numpy_helper

    graph = proto.graph
    taken = {o for n in graph.node for o in n.output} | {i.name for i in graph.initializer}
    for value in graph.output:
        want = ranks.get(value.name)
        tensor = value.type.tensor_type
        if want is None or not tensor.HasField("shape"):
            continue
        dims = tensor.shape.dim
        extra = len(dims) - want
        if extra == 0:
            continue
        if extra < 0 or not all(d.HasField("dim_value") and d.dim_value == 1 for d in dims[:extra]):
            raise UserInputError(
                f"tf2onnx wrote output '{value.name}' of model '{model_name}' with rank "
                f"{len(dims)}, where Keras gives rank {want}"
            )
        inner, axes = f"{value.name}__unsqueezed", f"{value.name}__squeeze_axes"
        while inner in taken or axes in taken:
            inner, axes = "_" + inner, "_" + axes
        for node in graph.node:
            for i, name in enumerate(node.output):
                if name == value.name:
                    node.output[i] = inner
            for i, name in enumerate(node.input):
                if name == value.name:
                    node.input[i] = inner
        graph.initializer.append(numpy_helper.from_array(np.arange(extra, dtype=np.int64), axes))
        graph.node.append(helper.make_node("Squeeze", [inner, axes], [value.name]))
        del dims[:extra]


def _erfc(ctx, node, name, args):
    """TensorFlow's Erfc (exact GELU uses it), which tf2onnx lacks: 1 - Erf(x)."""
    import numpy as np
    from tf2onnx import utils

    dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(node.input[0]))
    node.type = "Erf"
    one = ctx.make_const(utils.make_name(f"{node.name}_one"), np.array(1, dtype=dtype))
    sub = ctx.insert_new_node_on_output("Sub", node.output[0], name=utils.make_name(f"{node.name}_erfc"))
    ctx.replace_inputs(sub, [one.output[0], node.output[0]])
    return node


_CUSTOM_OP_HANDLERS = {"Erfc": (_erfc, [])}


@contextlib.contextmanager
def _tf2onnx_quiet():
    """tf2onnx logs every step of a conversion at INFO; keep its warnings."""
    import logging

    logger = logging.getLogger("tf2onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _captures_as_initializers(proto, concrete, specs):
    """Turn constants the traced function captured into initializers.

    A layer that keeps a computed tensor rather than a variable (Keras'
    ``Normalization`` after ``adapt`` or with a given mean and variance, as
    in EfficientNet) is captured by the ``tf.function`` as an extra input;
    tf2onnx freezes variables but exports such captures as graph inputs the
    caller would have to feed. Their values are known here, so they become
    initializers and the graph has the model's inputs only.
    """
    from onnx import numpy_helper

    import tensorflow as tf

    values = {}
    for external, internal in concrete.graph.captures:
        if external.dtype == tf.resource or not hasattr(external, "numpy"):
            continue
        values[internal.name] = external
    wanted = {f"{spec.name}:0" for spec in specs} | {spec.name for spec in specs}
    kept = []
    for value in proto.graph.input:
        if value.name in values and value.name not in wanted:
            array = values[value.name].numpy()
            proto.graph.initializer.append(numpy_helper.from_array(array, value.name))
        else:
            kept.append(value)
    if len(kept) != len(proto.graph.input):
        del proto.graph.input[:]
        proto.graph.input.extend(kept)


def _check_converted(proto, model, exporter="tf2onnx"):
    """Refuse graphs where the exporter left ops ONNX does not define."""
    import onnx

    unknown = sorted(
        {
            f"{n.op_type}" + (f" ({n.domain})" if n.domain else "")
            for n in proto.graph.node
            if not onnx.defs.has(n.op_type, n.domain or "")
        }
    )
    if unknown:
        raise UserInputError(
            f"{exporter} could not convert every op of model '{model.name}': "
            f"{', '.join(unknown)} remain in the graph"
        )


def feeds(proto, specs):
    """Inputs drawn from `specs`, by the graph's input names (in order, where
    the graph names them otherwise)."""
    from keras_1x1.numeric import draw_inputs

    names = [v.name for v in proto.graph.input]
    drawn = draw_inputs(specs)
    if set(names) - set(drawn) and len(names) == len(specs):
        drawn = dict(zip(names, drawn.values()))
    return drawn


class _Rejected(UserInputError):
    """onnxruntime cannot load or run the exporter's graph."""


def _check_runs(proto, model, specs=None, given=None):
    """Refuse graphs onnxruntime cannot load, or cannot run on the inputs
    `given` (``{input name: array}``), else on inputs drawn from the model's
    input specs (``specs``, or read from the model: integer ranges from its
    tables, lengths within its position tables): one line names the node
    and its op."""
    from ..keras import signature
    from .runtime import make_session, run

    specs = signature.input_specs(model) if specs is None and given is None else specs
    session = None
    try:
        session = make_session(proto, "cpu")
        run(session, given if given is not None else feeds(proto, specs))
        return
    except Exception as error:  # noqa: BLE001 - onnxruntime's own exceptions
        failure = error
    if session is None or given is not None:  # cannot load it, or the user's inputs fail
        raise _Rejected(_rejected(proto, model, failure)) from failure
    # Inputs the Keras model itself refuses say nothing of the graph: the
    # graph runs on inputs the model accepts, or it is refused. TensorFlow
    # runs a strided conv longer than its input without complaint (on
    # nothing), so the other lengths the model accepts are tried too.
    for tried in _other_specs(model, specs):
        try:
            run(session, feeds(proto, tried))
            return
        except Exception:  # noqa: BLE001 - the first failure is the one reported
            continue
    raise _Rejected(_rejected(proto, model, failure)) from failure


def _other_specs(model, specs):
    """Specs other than `specs` with inputs the Keras model runs on: those
    `signature.accepted` finds, then each free length it would try."""
    from ..keras import signature

    # Not a length of 1: it broadcasts against anything, so a graph that
    # runs there alone is not shown to run at all.
    try:
        first = signature.accepted(model, specs)[0]
    except Exception:  # noqa: BLE001 - the model accepts none of them
        return
    if first != specs and all(spec.free != 1 for spec in first):
        yield first
    if not any(d is None for spec in specs for d in spec.shape[1:]):
        return
    for length in signature.free_lengths(model):
        tried = [dataclasses.replace(spec, free=length) for spec in specs]
        if length == 1 or tried == first:
            continue
        try:
            outputs = signature.run(model, signature.sample_inputs(model, specs=tried))
        except Exception:  # noqa: BLE001 - the model refuses this length
            continue
        if all(value.size for value in outputs.values()):
            yield tried


# onnxruntime names the node in its messages as "Name:'node'" (at run time)
# or "Node (node)", "in node (node)", "node with name 'node'" (when it
# loads the graph).
_NODE_IN_MESSAGE = re.compile(
    r"(?:Name:\s*'([^']+)'|[Nn]ode \(([^)]+)\)|node with name '([^']+)'"
    r"|[Nn]ode name:\s*([^\s,]+)|node ([^\s,:]+):)"
)


def _rejected(proto, model, error):
    """The one line that says which node of tf2onnx's graph onnxruntime rejects."""
    text = one_line(error, None)
    text = text.replace("onnxruntime cannot load the model: ", "")
    text = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", text)
    by_name = {n.name: n for n in proto.graph.node}
    node = None
    for match in _NODE_IN_MESSAGE.finditer(text):
        name = next(g for g in match.groups() if g)
        node = by_name.get(name) or by_name.get(name.rstrip("'\"."))
        if node is not None:
            break
    if node is None:
        ops = [n for n in proto.graph.node if re.search(rf"\b{re.escape(n.op_type)}\b", text)]
        node = ops[0] if len(ops) == 1 else None
    where = f"node '{node.name}' ({node.op_type})" if node is not None else "a node it does not name"
    return (
        f"onnxruntime rejects {_exporter(proto)}'s graph of model '{model.name}' at {where}: "
        f"{text[:300]}"
    )


def _exporter(proto):
    """The exporter that wrote `proto` ("keras-1x1 (tf2onnx)" names tf2onnx)."""
    match = re.search(r"\(([^)]+)\)", proto.producer_name)
    return match.group(1) if match else "the exporter"


def _tf_name(name):
    """A name TensorFlow accepts for a TensorSpec."""
    cleaned = re.sub(r"[^A-Za-z0-9_.\-/]", "_", name)
    if not re.match(r"[A-Za-z0-9.]", cleaned[:1]):
        cleaned = "x" + cleaned
    return cleaned


def _restore_names(proto, in_names, out_names, tf_in_names):
    """Rename graph inputs back to the Keras names; order outputs as Keras."""
    graph = proto.graph
    wanted = dict(zip(tf_in_names, in_names))
    renames = {}
    for value in graph.input:
        want = wanted.get(value.name.split(":")[0])
        if want is not None and value.name != want:
            renames[value.name] = want
    if renames:
        for value in graph.input:
            value.name = renames.get(value.name, value.name)
        for node in graph.node:
            for i, name in enumerate(node.input):
                if name in renames:
                    node.input[i] = renames[name]
    by_name = {o.name: o for o in graph.output}
    if set(by_name) == set(out_names):
        ordered = [by_name[n] for n in out_names]
        copies = [type(o)() for o in ordered]
        for copy, original in zip(copies, ordered):
            copy.CopyFrom(original)
        del graph.output[:]
        graph.output.extend(copies)
