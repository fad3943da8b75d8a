"""Every private attribute of Keras that keras-1x1 reads, in one place.

Keras has no public API for some of what rewriting a model needs: the
calls of a layer (nodes), the graph of a Functional model by depth, the
layer that produced a symbolic tensor, a Sequential model's inner graph,
the structure of a model's outputs, a layer's tracked sublayers and the
attributes that hold them, copying a layer without its config, recording
the calls of sublayers during a symbolic trace, and the backend convolution
the ONNX export traces. They are read here and nowhere else. Each accessor reads the attribute directly (never ``getattr`` with a
default), so a Keras release that renames one fails loudly with
`KerasInternalsChanged` instead of silently seeing "no calls" and returning
an unchanged model; `check()` probes them all on a small model.
"""

import contextlib
import copy
import functools
import sys

import keras


class KerasInternalsChanged(RuntimeError):
    """This Keras no longer has an attribute keras-1x1 reads."""


def _missing(what, error):
    return KerasInternalsChanged(
        f"keras {keras.__version__} has no {what} ({error}); this keras-1x1 "
        "supports the Keras 3 releases up to 3.15, so keras-1x1 needs an update"
    )


def _read(obj, attribute, what):
    try:
        return getattr(obj, attribute)
    except AttributeError as error:
        raise _missing(what, error) from None


# -- a layer's attributes on every backend --------------------------------------------


def _modules(obj):
    """The submodules torch keeps out of ``__dict__`` (a Keras layer is a
    ``torch.nn.Module`` on the torch backend), or None."""
    modules = vars(obj).get("_modules")
    return modules if isinstance(modules, dict) else None


def state(obj):
    """``{name: value}`` of an object's attributes, as it reads them.

    On the torch backend a Keras layer is a ``torch.nn.Module``, and torch
    keeps every attribute that holds a module (each sublayer, a Sequential's
    inner graph) in ``_modules`` instead of ``__dict__``; those are merged in.
    """
    own = vars(obj)
    modules = _modules(obj)
    if not modules:
        return own
    merged = dict(own)
    merged.update(modules)
    return merged


def set_state(obj, key, value):
    """Set an attribute past Keras' tracking, where the object keeps it."""
    modules = _modules(obj)
    if modules is not None and key in modules:
        modules[key] = value
    else:
        object.__setattr__(obj, key, value)


# -- layers and their calls ------------------------------------------------------------


def inbound_nodes(layer):
    """The nodes where `layer` was called on symbolic tensors (every graph)."""
    return list(_read(layer, "_inbound_nodes", "Layer._inbound_nodes"))


def producer(tensor):
    """The operation that produced a symbolic tensor (an `InputLayer` for a
    model input), or None for a tensor no operation made.

    Keras sets ``_keras_history`` only on tensors an operation produced and
    tests for it the same way; `check()` makes sure the mechanism is there.
    """
    history = getattr(tensor, "_keras_history", None)
    return None if history is None else history.operation


def tracked_layers(layer):
    """The layer's direct sublayers, in the order Keras tracks them.

    The same list Keras reads for ``layer.weights``: replacing an entry in
    place keeps the order of the weights.
    """
    return _read(layer, "_layers", "Layer._layers")


def order_layers(model, rank):
    """Reorder the layers `model` tracks by ``rank(layer)`` (stable; None
    sorts last), in place: the order of ``model.layers`` and of its weights."""
    layers = tracked_layers(model)
    keyed = sorted(
        range(len(layers)),
        key=lambda i: (rank(layers[i]) is None, rank(layers[i]) or 0, i),
    )
    layers[:] = [layers[i] for i in keyed]


def sublayers(layer):
    """The layer's direct sublayers (`tracked_layers` without metrics), in
    the order Keras tracks them."""
    return list(_read(layer, "_flatten_layers", "Layer._flatten_layers")(
        include_self=False, recursive=False
    ))


# Attributes where Keras and TensorFlow keep their own references to a
# layer's sublayers; the names a user gave are the other attributes.
_BOOKKEEPING = frozenset(
    ("_layers", "_auto_config", "_tracker", "_functional", "_operations",
     "_inbound_nodes", "_outbound_nodes", "_inputs", "_outputs", "_nodes_by_depth",
     "_operations_by_depth", "_nodes", "_inputs_struct", "_outputs_struct",
     # TensorFlow's checkpoint dependencies of a trackable object
     "_self_unconditional_checkpoint_dependencies", "_self_unconditional_dependency_names",
     "_self_unconditional_deferred_dependencies", "_self_tracked_trackables")
)


def attribute_names(parent):
    """``{id(sublayer): attribute path}`` for the layers `parent` holds.

    A layer in an attribute is named by it (``_query_dense``), one in a list
    or dict attribute by the attribute and its index or key
    (``transformer_layers/0``); the first attribute that holds a layer wins.
    Keras' and TensorFlow's bookkeeping references do not count.
    """
    names = {}
    for key, value in state(parent).items():
        if key in _BOOKKEEPING:
            continue
        if isinstance(value, keras.layers.Layer):
            names.setdefault(id(value), key)
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                if isinstance(item, keras.layers.Layer):
                    names.setdefault(id(item), f"{key}/{i}")
        elif isinstance(value, dict):
            for k, item in value.items():
                if isinstance(item, keras.layers.Layer):
                    names.setdefault(id(item), f"{key}/{k}")
    return names


def replace_sublayer(parent, old, new):
    """Put `new` in every place of `parent` that holds `old`: its attributes
    (set past Keras' tracking, so nothing is appended), the items of its
    lists, tuples and dicts at any nesting (a graph's operations by depth),
    and its tracked layers (the same slot, so the weights keep their
    order)."""

    def swapped(value, depth=0):
        if value is old:
            return new
        if depth > 4:
            return value
        if isinstance(value, list):
            value[:] = [swapped(item, depth + 1) for item in value]  # past tracking
        elif isinstance(value, dict):
            for key, item in list(value.items()):
                replaced = swapped(item, depth + 1)
                if replaced is not item:
                    dict.__setitem__(value, key, replaced)  # past tracking
        elif isinstance(value, tuple) and not hasattr(value, "_fields"):
            items = [swapped(item, depth + 1) for item in value]
            if any(a is not b for a, b in zip(items, value)):
                return type(value)(items)
        return value

    for key, value in list(state(parent).items()):
        replaced = swapped(value)
        if replaced is not value:
            set_state(parent, key, replaced)
    if isinstance(parent, keras.Sequential) and state(parent).get("_functional") is not None:
        replace_sublayer(state(parent)["_functional"], old, new)
    if is_functional(parent) and any(
        node.operation is old for nodes in nodes_by_depth(parent).values() for node in nodes
    ):
        # A layer of a graph: its calls become the new layer's.
        for nodes in nodes_by_depth(parent).values():
            for node in nodes:
                if node.operation is old:
                    node.operation = new
        _rekey_nodes(parent)


def every_layer(root):
    """Every layer reachable from `root` through attributes, lists, tuples
    and dicts (a graph's operations, an attribute holding a sub-model), each
    once, `root` first: every place that may hold a given layer."""
    found, seen, stack = [], set(), [root]
    while stack:
        value = stack.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, keras.layers.Layer):
            found.append(value)
            stack.extend(v for k, v in state(value).items() if k not in ("_tracker", "_inbound_nodes", "_outbound_nodes"))
        elif isinstance(value, (list, tuple)):
            stack.extend(value)
        elif isinstance(value, dict):
            stack.extend(value.values())
    return found


# -- copying layers without their configs ---------------------------------------------


class CopyFailed(Exception):
    """A layer could not be copied; ``layer`` and ``cause`` say which and why."""

    def __init__(self, layer, cause):
        super().__init__(f"{layer.name}: {cause}")
        self.layer = layer
        self.cause = cause


def _saveable_class():
    try:
        from keras.src.saving.keras_saveable import KerasSaveable
    except ImportError as error:
        raise _missing("keras.src.saving.keras_saveable.KerasSaveable", error) from None
    return KerasSaveable


def _dynamic_backend_class():
    try:
        from keras.src.utils.backend_utils import DynamicBackend
    except ImportError as error:
        raise _missing("keras.src.utils.backend_utils.DynamicBackend", error) from None
    return DynamicBackend


def _no_tracking():
    try:
        from keras.src.utils.tracking import DotNotTrackScope
    except ImportError as error:
        raise _missing("keras.src.utils.tracking.DotNotTrackScope", error) from None
    return DotNotTrackScope()


def _graph_operations(layer):
    """The operations of a Functional model's graph (a Sequential's inner one)."""
    attributes = state(layer)
    if "_functional" in attributes:
        inner = attributes["_functional"]
        return [] if inner is None else [inner] + list(_read(inner, "_operations", "Functional._operations"))
    if "_operations" in attributes and is_functional(layer):
        return list(attributes["_operations"])
    return []


class LayerCopier(dict):
    """Copies layers without their configs, as one consistent copy.

    ``copy.deepcopy`` of a Keras layer saves it to a ``.keras`` buffer and
    rebuilds it from its config (`KerasSaveable.__reduce__`), which fails for
    layers whose config does not round trip. This copier builds each layer
    with ``cls.__new__`` instead and deep-copies its state (variables get
    their own storage with the same values), with one memo for every layer
    it copies: an object held by two layers (a tied embedding, a shared
    sublayer) is copied once and stays shared. It is the memo `copy.deepcopy`
    consults, so a layer reached anywhere in the state (a node, a list, a
    constructor argument) is copied the same way.

    What a layer's copy does not take: its calls in graphs outside it (nodes;
    the graph of a Functional model it holds comes along), compiled
    functions, and nothing of its config is read. ``seed(old, new)`` makes
    every reference to `old` in the copies a reference to `new` (how changed
    sublayers are put in place).
    """

    def __init__(self, *roots):
        super().__init__()
        self._operations = {}
        self._kept_nodes = set()
        self._readers = []
        self._saveable = _saveable_class()
        self._dynamic_backend = _dynamic_backend_class()
        # Modules are shared (a seed generator holds the backend module).
        for module in list(sys.modules.values()):
            if module is not None:
                self[id(module)] = module
        for root in roots:
            self.register(root)

    def register(self, root):
        """Make every layer and operation under `root` copyable by reference."""
        stack = [root]
        while stack:
            op = stack.pop()
            if id(op) in self._operations:
                continue
            self._operations[id(op)] = op
            if isinstance(op, keras.layers.Layer):
                stack.extend(sublayers(op))
            stack.extend(_graph_operations(op))

    def seed(self, old, new):
        self.register(old)
        self[id(old)] = new

    def get(self, key, default=None):
        value = dict.get(self, key, _ABSENT)
        if value is not _ABSENT:
            return value
        op = self._operations.get(key)
        if op is None:
            return default
        return self._copy(op)

    def copy(self, layer):
        """The copy of `layer` (made on first request)."""
        self.register(layer)
        with _no_tracking():
            new = self.get(id(layer))
            # The calls that read each copied operation's outputs, once every
            # operation is copied (copying them on the way would walk the
            # graph forward, one Python frame per layer).
            while self._readers:
                op, nodes = self._readers.pop()
                vars(op)["_outbound_nodes"] = [
                    copy.deepcopy(node, self) for node in nodes if id(node) in self._kept_nodes
                ]
        return new

    def _copy(self, op):
        cls = type(op)
        try:
            new = cls.__new__(cls)
        except Exception as error:  # noqa: BLE001 - named in the error
            raise CopyFailed(op, f"{cls.__name__}.__new__ failed: {error}") from error
        self[id(op)] = new
        # `Layer.__new__` wraps `build` and `quantize` around the instance;
        # the copy keeps its own wrappers, bound to itself.
        own = {k: v for k, v in vars(new).items() if k in ("build", "quantize")}
        graph = _graph_nodes(op)
        for node in graph:
            self._kept_nodes.add(id(node))
        # A graph's operations are copied from its inputs on, so each one
        # finds the tensors it reads already copied: no recursion down the
        # whole graph (thousands of layers deep).
        for node in reversed(graph):
            if node.operation is not op:
                self.get(id(node.operation))
        own_state = vars(op)  # torch's ``_modules`` is one of its entries
        for value in state(op).values():
            self._register_values(value)
        copied = {}
        for key, value in own_state.items():
            if key in own:
                copied[key] = own[key]
            elif key == "_inbound_nodes":
                copied[key] = [
                    copy.deepcopy(node, self) for node in value if id(node) in self._kept_nodes
                ]
            elif key == "_outbound_nodes":
                copied[key] = []
                self._readers.append((new, list(value)))
            elif key in ("train_function", "test_function", "predict_function"):
                copied[key] = None  # compiled for the original; rebuilt on demand
            else:
                try:
                    copied[key] = copy.deepcopy(value, self)
                except CopyFailed:
                    raise
                except Exception as error:  # noqa: BLE001 - named in the error
                    raise CopyFailed(
                        op, f"its attribute '{key}' cannot be copied ({type(error).__name__}: {error})"
                    ) from error
        vars(new).clear()
        vars(new).update(copied)
        if "_nodes" in copied and "_nodes_by_depth" in copied:
            _rekey_nodes(new)
        return new

    def _register_values(self, value, depth=0):
        """Register the Keras objects (metrics, optimizers...) a state holds."""
        if isinstance(value, self._saveable):
            self.register(value)
        elif isinstance(value, self._dynamic_backend) and id(value) not in self:
            # A proxy to a backend module, which `copy.deepcopy` cannot
            # rebuild (its `__getattr__` recurses): a new proxy to the same.
            self[id(value)] = type(value)(_read(value, "_backend", "DynamicBackend._backend"))
        elif depth < 3 and isinstance(value, (list, tuple, set)):
            for item in value:
                self._register_values(item, depth + 1)
        elif depth < 3 and isinstance(value, dict):
            for item in value.values():
                self._register_values(item, depth + 1)


_ABSENT = object()


def _rekey_nodes(function):
    """A copied graph names its nodes anew: Keras keys them by the id of
    their operation and their place in its calls (``{id}_ib-{index}``)."""
    try:
        from keras.src.ops.function import make_node_key
    except ImportError as error:
        raise _missing("keras.src.ops.function.make_node_key", error) from None
    keys = set()
    for nodes in vars(function)["_nodes_by_depth"].values():
        for node in nodes:
            calls = vars(node.operation)["_inbound_nodes"]
            if not any(n is node for n in calls):
                calls.append(node)
            index = next(i for i, n in enumerate(calls) if n is node)
            keys.add(make_node_key(node.operation, index))
    vars(function)["_nodes"] = keys


def _graph_nodes(op):
    """The nodes of the graph a Functional (or Sequential) model holds, from
    its outputs to its inputs."""
    if isinstance(op, keras.Sequential):
        inner = state(op).get("_functional")
        return [] if inner is None else _graph_nodes(inner)
    if not is_functional(op):
        return []
    by_depth = nodes_by_depth(op)
    return [node for depth in sorted(by_depth) for node in by_depth[depth]]


@contextlib.contextmanager
def deferred_variables():
    """Layers built inside get variables without values (no random draws,
    no memory): for rebuilding a layer from its config only to read the
    configs of what it builds. Keras keeps such variables in a global list
    until they are initialized; the ones made here are dropped from it."""
    try:
        from keras.src.backend.common import global_state
        from keras.src.backend.common.stateless_scope import StatelessScope
    except ImportError as error:
        raise _missing("keras.src.backend.common.stateless_scope.StatelessScope", error) from None
    pending = global_state.get_global_attribute("uninitialized_variables", [], set_to_default=True)
    before = len(pending)
    try:
        with StatelessScope(initialize_variables=False):
            yield
    finally:
        del pending[before:]


# -- recording the calls of sublayers --------------------------------------------------


@contextlib.contextmanager
def recording_calls(layers, record):
    """Call ``record(layer, args, kwargs)`` at every call of each layer.

    Sublayers called inside their parent's ``call()`` get no nodes; wrapping
    their ``call`` for one instance (an instance attribute, removed after)
    sees every call, on whatever tensors it runs.
    """
    saved = []
    try:
        for layer in layers:
            saved.append((layer, vars(layer).get("call", _ABSENT)))
            bound = layer.call

            def call(*args, __layer=layer, __call=bound, **kwargs):
                if _runs:  # inside one of the runs of a symbolic call on torch
                    _runs[-1].append((record, __layer, args, kwargs))
                else:
                    record(__layer, args, kwargs)
                return __call(*args, **kwargs)

            object.__setattr__(layer, "call", call)
        yield
    finally:
        for layer, original in saved:
            if original is _ABSENT:
                object.__delattr__(layer, "call")
            else:
                object.__setattr__(layer, "call", original)


@contextlib.contextmanager
def _backend_numpy_replaced(name, make):
    """Inside, the backend's ``keras.src.backend.numpy.<name>`` (what
    ``keras.ops.<name>`` runs) is ``make(original)``."""
    try:
        from keras.src import backend
    except ImportError as error:
        raise _missing("keras.src.backend", error) from None
    module = _read(backend, "numpy", "keras.src.backend.numpy")
    original = _read(module, name, f"keras.src.backend.numpy.{name}")
    setattr(module, name, make(original))
    try:
        yield
    finally:
        setattr(module, name, original)


def recording_takes(record):
    """Call ``record(table, indices, axis)`` at every lookup (``ops.take``)
    that Keras runs on the backend while inside, the table as it was handed
    in (a `keras.Variable` for an embedding's own table)."""

    def make(original):
        def take(x, indices, axis=None):
            record(x, indices, axis)
            return original(x, indices, axis=axis)

        return take

    return _backend_numpy_replaced("take", make)


@contextlib.contextmanager
def for_jax2onnx():
    """Inside, the backend ops that jax2onnx's own versions of ``jax.numpy``
    misread get what they expect:

    - ``ops.arange(n)`` runs as ``arange(0, n)``: jax2onnx's ``jnp.arange``
      reads the ``stop=None`` Keras passes on as a value ("Error
      interpreting argument to jax.numpy.arange as a JAX value", every
      keras-hub decoder's causal mask);
    - ``ops.tile(x)`` gets ``x`` as a tensor: Keras hands a variable on
      (keras-hub ViT's class token), which jax2onnx's ``jnp.tile`` cannot
      abstract ("Triggering __jax_array__() during abstractification").
    """
    from keras import ops

    def arange(original):
        def call(start, stop=None, step=None, dtype=None):
            if stop is None:
                start, stop = 0, start
            return original(start, stop, step=step, dtype=dtype)

        return call

    def tile(original):
        def call(x, repeats):
            return original(ops.convert_to_tensor(x), repeats)

        return call

    with _backend_numpy_replaced("arange", arange), _backend_numpy_replaced("tile", tile):
        yield


# The calls recorded in each run of `fn` by `symbolic_call` on torch.
_runs = []


def symbolic_call(fn, *args):
    """Run ``fn`` on symbolic backend tensors standing for the
    `keras.KerasTensor` arguments (no data, no variable changes); returns
    its output specs. The calls `recording_calls` sees are recorded once,
    with the dims the inputs leave free as None, on every backend.

    TensorFlow and JAX run ``fn`` once on symbolic tensors. Keras' torch
    backend runs it on real (or "meta") tensors instead, with every free dim
    83, retrying on the CPU when "meta" fails, and again with 89 to learn
    which output dims are free. The calls of the runs that returned are
    merged here the same way: a dim the two runs gave different sizes is
    free.
    """
    try:
        from keras.src.backend import compute_output_spec
    except ImportError as error:
        raise _missing("keras.src.backend.compute_output_spec", error) from None
    if keras.backend.backend() != "torch":
        return compute_output_spec(fn, *args)
    returned = []

    def run(*inner, **kwargs):
        _runs.append([])
        try:
            result = fn(*inner, **kwargs)
        finally:
            calls = _runs.pop()
        returned.append(calls)
        return result

    result = compute_output_spec(run, *args)
    first, second = returned[0], returned[-1]
    if len(first) != len(second) or any(a[1] is not b[1] for a, b in zip(first, second)):
        second = first  # the runs called different layers: keep the first's sizes
    for (record, layer, args_1, kwargs_1), (_, _, args_2, kwargs_2) in zip(first, second):
        args, kwargs = keras.tree.map_structure(_merged_spec, (args_1, kwargs_1), (args_2, kwargs_2))
        if _runs:
            _runs[-1].append((record, layer, args, kwargs))
        else:
            record(layer, args, kwargs)
    return result


def _merged_spec(a, b):
    """A `keras.KerasTensor` for a tensor two runs gave, free where they differ."""
    if not (keras.ops.is_tensor(a) and keras.ops.is_tensor(b)) or isinstance(a, keras.KerasTensor):
        return a
    shape = tuple(x if x == y else None for x, y in zip(a.shape, b.shape))
    return keras.KerasTensor(shape, keras.backend.standardize_dtype(a.dtype))


# -- models ----------------------------------------------------------------------------


def is_functional(model):
    """Functional models (and their subclasses) carry a graph of nodes."""
    return isinstance(model, keras.Model) and hasattr(model, "_nodes_by_depth")


def is_plain_container(layer):
    """A Functional or Sequential model of Keras' own classes (whose config
    lists its layers), not a subclass with a config of its own."""
    # A converted model's class stands in for the class it records (see
    # `keras_1x1.converters.keras.saving`).
    cls = vars(type(layer)).get("_keras_1x1_base", type(layer))
    if cls is keras.Sequential:
        return True
    try:
        from keras.src.models.functional import Functional
    except ImportError as error:
        raise _missing("keras.src.models.functional.Functional", error) from None
    return cls is Functional


def functional_graph(model):
    """The Functional graph of a model: a Sequential model's inner one."""
    if isinstance(model, keras.Sequential):
        return _read(model, "_functional", "Sequential._functional")
    return model


def nodes_by_depth(model):
    """``{depth: [node, ...]}`` of a model's own graph."""
    graph = functional_graph(model)
    if graph is None:  # a Sequential model that was never built
        return {}
    return _read(graph, "_nodes_by_depth", "Functional._nodes_by_depth")


def output_structure(model):
    """The structure the model returns its outputs in (a dict, list, tensor)."""
    return _read(functional_graph(model), "_outputs_struct", "Functional._outputs_struct")


# -- the backend convolution the ONNX export traces ------------------------------------


def _backend_nn():
    """Keras' TensorFlow backend ``nn`` module (None on another backend)."""
    if keras.backend.backend() != "tensorflow":
        return None
    try:
        from keras.src.backend.tensorflow import nn
    except ImportError as error:
        raise _missing("keras.src.backend.tensorflow.nn", error) from None
    _read(nn, "conv", "keras.src.backend.tensorflow.nn.conv")
    _read(nn, "_convert_data_format", "keras.src.backend.tensorflow.nn._convert_data_format")
    return nn


@contextlib.contextmanager
def convolutions_without_xla():
    """Trace Keras convolutions as plain TensorFlow Conv ops (for the export).

    Keras' TensorFlow backend runs grouped convolutions and channels_first
    Conv3D inside a nested ``tf.function(jit_compile=True)``, because the
    TensorFlow CPU kernels cannot execute them. tf2onnx cannot see inside
    such a call and would leave a ``StatefulPartitionedCall`` node in the
    ONNX graph. A graph traced for tf2onnx is only converted, never run, so
    the plain op (which TensorFlow can build, with ``groups`` read from the
    channel counts) is what the export needs.
    """
    module = _backend_nn()
    if module is None:
        yield
        return
    original = module.conv
    convert_format = module._convert_data_format

    def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
        import tensorflow as tf

        from keras.src.backend import standardize_data_format

        tf_format = convert_format(standardize_data_format(data_format), len(inputs.shape))
        return tf.nn.convolution(
            inputs, kernel, strides, padding.upper(), data_format=tf_format, dilations=dilation_rate
        )

    module.conv = conv
    try:
        yield
    finally:
        module.conv = original


@functools.lru_cache(maxsize=None)
def check():
    """Probe every attribute above on a small model; raises when one is gone."""
    inputs = keras.Input((2, 3), name="probe")
    dense = keras.layers.Dense(2)
    outputs = dense(inputs)
    model = keras.Model(inputs, {"y": outputs})
    sequential = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    _read(outputs, "_keras_history", "KerasTensor._keras_history")
    for ok, what in (
        (bool(inbound_nodes(dense)), "Layer._inbound_nodes holding a layer's calls"),
        (producer(outputs) is dense, "KerasTensor._keras_history naming its layer"),
        (bool(nodes_by_depth(model)), "Functional._nodes_by_depth holding the graph"),
        (isinstance(output_structure(model), dict), "Functional._outputs_struct"),
        (bool(nodes_by_depth(sequential)), "Sequential._functional holding its graph"),
        (dense in tracked_layers(model), "Layer._layers holding the sublayers"),
        (dense in sublayers(model), "Layer._flatten_layers listing the sublayers"),
        (bool(_graph_operations(sequential)), "Sequential._functional._operations"),
    ):
        if not ok:
            raise _missing(what, "it is there but no longer means what it did")
    _backend_nn()
    try:
        from keras.src.backend import standardize_data_format  # noqa: F401
    except ImportError as error:
        raise _missing("keras.src.backend.standardize_data_format", error) from None
    _saveable_class()
    _no_tracking()
    twin = LayerCopier(dense).copy(dense)
    LayerCopier(model).copy(model).get_config()  # a copied graph keys its nodes anew
    if twin.kernel is dense.kernel or not twin.built or inbound_nodes(twin):
        raise _missing("a layer copy of its own", "the copy shares state with the original")
    seen = []
    with recording_calls([dense], lambda layer, args, kwargs: seen.append(layer)):
        symbolic_call(lambda x: dense(x), keras.KerasTensor((None, 2, 3)))
    if seen != [dense] or "call" in vars(dense):
        raise _missing("Layer.call recorded per instance", "the call was not seen")
    return True

