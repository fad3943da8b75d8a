"""Rebuild a Keras model with some layers replaced, carrying every weight.

The engine under every converter. A *plan* maps layers that a model's
graph calls (by identity, at any nesting depth) to what replaces them:

- `Replace(layers, weights)`: every call of the layer becomes a call of the
  chain ``layers`` (applied one after the other); ``weights`` lists the
  arrays each new layer receives once the model is built.
- `IDENTITY`: every call passes its input through (the layer was folded
  into a neighbour).

*Swaps* replace layers that a parent layer calls in its Python ``call()``
(the sublayers of custom layers, Keras composites such as
`MultiHeadAttention`, subclassed models): `Swap(old, new, weights,
input_shape)`. The new layer computes the same shapes, so the parent's code
runs unchanged; in the parent's copy it takes the old layer's place
everywhere (its attribute and its entry in the tracked layers, so the
order of the weights is kept).

Every other layer is copied with its state, never rebuilt from its config
(`internals.LayerCopier`): layers whose config does not round trip copy
as well as any, objects shared by two layers stay shared, and the new model
shares no variable with the original, which is never touched. A model
whose graphs do not change (only layers inside layers do) is copied whole,
so it keeps its class and its graph. Otherwise Functional models go
through `keras.models.clone_model` with a `clone_function` and a
`call_function`, Sequential models are rebuilt from their layer list, and
the result is a plain Functional (or Sequential) model; a subclassed model
is always copied (with its swaps). Shared layers stay shared; nested models
are rebuilt recursively (on the shapes of the tensors they are now called
on).
"""

import contextlib
import sys

import keras

from keras_1x1.errors import UserInputError, one_line

from . import internals, signature


@contextlib.contextmanager
def deep_recursion(depth):
    """Room for Keras' recursive graph walks on a model `depth` layers deep.

    Keras maps a Functional graph recursively, one Python frame per layer
    in a chain, so a chain deeper than Python's default recursion limit
    (1,000) cannot be built without raising it; a model the user already
    has was built that way, and rebuilding it must not fail for less.
    """
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, 4 * depth + 1000))
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


@contextlib.contextmanager
def name_scopes(layer):
    """The name scopes `layer` was built in, so a layer built in its place
    gets variable paths like its own (``block/attention/query/kernel``)."""
    path = layer.path or ""
    with contextlib.ExitStack() as stack:
        for scope in path.split("/")[:-1]:
            stack.enter_context(keras.name_scope(scope))
        yield


class Swap:
    """Replace a sublayer that its parent calls in ``call()`` by a new layer.

    ``new`` is built on ``input_shape`` (in the old layer's name scope, so
    the variable paths read alike) and receives ``weights``, a list of
    ``(layer, arrays)``.
    """

    def __init__(self, old, new, weights, input_shape):
        self.old = old
        self.new = new
        self.weights = list(weights)
        self.input_shape = tuple(input_shape)


class Replace:
    """Replace every call of a layer by a chain of new layers."""

    def __init__(self, layers, weights):
        self.layers = list(layers)
        self.weights = list(weights)
        self.source = None  # the layer replaced, once the rebuild meets it

    def __call__(self, x):
        # Built in the name scopes of the layer it replaces, so that the
        # variable paths read alike (a model built under `name_scope`, as
        # NASNet is, keeps its paths through a round trip).
        scopes = name_scopes(self.source) if self.source is not None else contextlib.nullcontext()
        with scopes:
            for layer in self.layers:
                x = layer(x)
        return x


IDENTITY = object()


def is_model(layer):
    return isinstance(layer, keras.Model)


def check_rebuildable(model, what="model"):
    """Sequential, Functional and built subclassed models can be rewritten."""
    if isinstance(model, keras.Sequential):
        if not model.built or not model.inputs:
            raise UserInputError(
                f"{what} '{model.name}' is a Sequential model without a known "
                "input shape; build it first (start it with keras.Input(shape)) "
                "so its layers' shapes are known"
            )
        return
    if internals.is_functional(model):
        return
    if is_model(model):
        if not model.built:
            raise UserInputError(
                f"{what} '{model.name}' is a subclassed keras.Model "
                f"({type(model).__name__}) that was never built: call it on data "
                "(or build it) first, so the shapes its layers run on are known"
            )
        return
    raise UserInputError(
        f"expected a keras.Model, got {type(model).__name__}"
    )


def _containers(model):
    """The model and every container nested in its graphs."""
    yield model
    for layer in getattr(model, "layers", ()):
        if is_container(layer):
            yield from _containers(layer)


def is_container(layer):
    return isinstance(layer, keras.Sequential) or internals.is_functional(layer)


class Rebuilder:
    """Rebuild one model (and the models nested in it) following a plan.

    Args:
        plan: ``{id(layer): Replace or IDENTITY}`` for layers called in a
            graph.
        swaps: `Swap`s of layers called in a parent's ``call()``.
        containers: Functional/Sequential models that a layer holds (not a
            graph: no nodes) and that hold changed layers, deepest first;
            each is rebuilt and takes its old place in the parent's copy.
    """

    def __init__(self, plan, swaps=(), containers=()):
        self.plan = plan
        self.swaps = list(swaps)
        self.containers = list(containers)
        self._pending = []  # (new layer, list of arrays)
        self._nested = {}
        self.rebuilt = []  # the graphs nested in the model that were rebuilt
        self._copier = None
        self._copied = set()  # ids of the copies made (never rebuilt as nested models)

    # -- public -----------------------------------------------------------

    def rebuild(self, model, input_shapes=None, *, keep_compile=True):
        """The rebuilt model, built, with every weight assigned.

        ``input_shapes`` optionally gives new batch shapes for the top-level
        inputs (a list in the order of ``model.inputs``), e.g. with free
        spatial dims for a convolutionalized model.
        """
        check_rebuildable(model)
        self._copier = internals.LayerCopier(model)
        initializers = self._defer_initializers()
        for swap in self.swaps:
            self._build_swap(swap)
        depth = sum(len(getattr(m, "layers", ())) for m in _containers(model))
        with deep_recursion(depth):
            for container in self.containers:
                with name_scopes(container):
                    new = self._rebuild(container, None, "nested model")
                self._copier.seed(container, new)
            # With nothing to change in a graph, the model is copied whole:
            # it keeps its class (a keras-hub backbone stays one) and its
            # graph; a changed graph is rebuilt as a Functional model.
            whole = not is_container(model) or (not self.plan and input_shapes is None)
            if whole and getattr(model, "optimizer", None) is not None:
                # The compile state is made anew below, not copied: an
                # optimizer holds its distribution strategy, one per process.
                self._copier.seed(model.optimizer, None)
            new_model = self._copy(model) if whole else self._rebuild(model, input_shapes)
        self._assign_weights()
        for layer, name, initializer in initializers:
            setattr(layer, name, initializer)
        if getattr(model, "compiled", False):
            try:
                if not keep_compile:
                    raise ValueError("compile state not kept")
                new_model.compile_from_config(model.get_compile_config())
            except Exception:  # noqa: BLE001 - compile state is best effort
                if whole:
                    new_model.compiled = False
        return new_model

    # -- models -------------------------------------------------------------

    def _rebuild(self, model, input_shapes, what=None):
        check_rebuildable(model, what or ("nested model" if self._nested else "model"))
        if isinstance(model, keras.Sequential):
            return self._rebuild_sequential(model, input_shapes)
        return self._rebuild_functional(model, input_shapes)

    def _new_inputs(self, model, input_shapes):
        shapes = input_shapes or [None] * len(model.inputs)
        # The InputLayers' names, which an unnamed input's tensor does not have.
        names = signature.input_names(model)
        tensors = [
            keras.Input(
                batch_shape=tuple(shape) if shape is not None else tuple(x.shape),
                dtype=x.dtype,
                name=name,
            )
            for x, shape, name in zip(model.inputs, shapes, names)
        ]
        if isinstance(model, keras.Sequential):
            return tensors[0]
        return keras.tree.pack_sequence_as(model.input, tensors)

    def _rebuild_sequential(self, model, input_shapes):
        layers = []
        for layer in model.layers:
            action = self.plan.get(id(layer))
            if action is IDENTITY:
                continue
            if isinstance(action, Replace):
                layers.extend(action.layers)
                self._pending.extend(action.weights)
            elif is_container(layer):
                layers.append(self._nested_model(layer, None))
            else:
                layers.append(self._copy(layer))
        inputs = self._new_inputs(model, input_shapes)
        return keras.Sequential(
            [inputs] + layers, name=model.name, trainable=model.trainable
        )

    def _rebuild_functional(self, model, input_shapes):
        inputs = self._new_inputs(model, input_shapes)
        replaced = set()

        def clone_function(layer):
            action = self.plan.get(id(layer))
            if isinstance(action, Replace):
                if id(action) not in replaced:
                    replaced.add(id(action))
                    self._pending.extend(action.weights)
                    action.source = layer
                return action
            if action is IDENTITY or is_container(layer):
                return layer  # resolved at call time
            if isinstance(layer, keras.layers.Layer):
                return self._copy(layer)
            return layer  # a stateless keras.ops operation

        def call_function(op, *args, **kwargs):
            action = self.plan.get(id(op))
            if action is IDENTITY:
                return args[0]
            if isinstance(op, Replace):
                return op(args[0])
            if is_container(op) and id(op) not in self._copied:
                return self._nested_model(op, args[0])(*args, **kwargs)
            return op(*args, **kwargs)

        new_model = keras.models.clone_model(
            model,
            input_tensors=inputs,
            clone_function=clone_function,
            call_function=call_function,
        )
        new_model.trainable = model.trainable
        self._keep_order(model, new_model)
        return new_model

    def _keep_order(self, model, new_model):
        """Track the new layers in the order of the ones they stand for, so
        ``weights`` keep their order (a Functional subclass may track its
        layers in another order than its graph's)."""
        rank = {}
        for i, layer in enumerate(internals.tracked_layers(model)):
            action = self.plan.get(id(layer))
            if isinstance(action, Replace):
                counterparts = action.layers
            elif is_container(layer) and id(layer) in self._nested:
                counterparts = [self._nested[id(layer)]]
            else:
                counterparts = [dict.get(self._copier, id(layer))]
            for j, new in enumerate(counterparts):
                if new is not None:
                    rank.setdefault(id(new), (i, j))
        internals.order_layers(new_model, lambda layer: rank.get(id(layer)))

    def _touched(self, model):
        """True when the plan changes a layer in `model`'s graphs."""
        return any(
            id(layer) in self.plan for m in _containers(model) for layer in m.layers
        )

    def _nested_model(self, model, called_on):
        if id(model) not in self._nested and not self._touched(model):
            # Nothing in its graphs changes: copied whole (with any swaps
            # inside), so it keeps its class.
            self._nested[id(model)] = self._copy(model)
        if id(model) not in self._nested:
            shapes = None
            if called_on is not None:
                flat = keras.tree.flatten(called_on)
                if len(flat) == len(model.inputs):
                    # A tensor of another rank than the input it feeds is
                    # adjusted by Keras when the model runs (a trailing axis
                    # of 1 added or dropped): the model keeps its own shape.
                    shapes = [
                        tuple(t.shape) if len(t.shape) == len(x.shape) else tuple(x.shape)
                        for t, x in zip(flat, model.inputs)
                    ]
            self._nested[id(model)] = self._rebuild(model, shapes)
            self.rebuilt.append(self._nested[id(model)])
        return self._nested[id(model)]

    # -- layers and weights -------------------------------------------------

    def _copy(self, layer):
        """The layer's copy, with its weights and every swap inside it."""
        try:
            new = self._copier.copy(layer)
        except internals.CopyFailed as error:
            raise UserInputError(
                f"layer '{error.layer.name}' ({type(error.layer).__name__}) cannot be "
                f"copied: {error.cause}"
            ) from error
        self._copied.add(id(new))
        return new

    def _defer_initializers(self):
        """Build the new layers with zeros: every weight they get is carried
        over afterwards, and drawing random kernels first costs more than
        the copy (a BERT-base backbone: seconds). The initializers are put
        back once the weights are in, so the configs still name them."""
        new = [swap.new for swap in self.swaps]
        new += [layer for action in self.plan.values() if isinstance(action, Replace) for layer in action.layers]
        deferred = []
        stack = list(new)
        while stack:
            layer = stack.pop()
            stack.extend(internals.sublayers(layer))
            for name, value in list(vars(layer).items()):
                if name.endswith("_initializer") and isinstance(value, keras.initializers.Initializer):
                    deferred.append((layer, name, value))
                    setattr(layer, name, keras.initializers.Zeros())
        return deferred

    def _build_swap(self, swap):
        try:
            with name_scopes(swap.old):
                swap.new.build((None,) + swap.input_shape[1:])
        except Exception as error:  # noqa: BLE001 - named in the error
            text = one_line(error)
            raise UserInputError(
                f"layer '{swap.old.name}' cannot be rebuilt as {type(swap.new).__name__} "
                f"on inputs of shape {swap.input_shape}: {type(error).__name__}: {text}"
            ) from error
        self._pending.extend(swap.weights)
        self._copier.seed(swap.old, swap.new)

    def _assign_weights(self):
        for new, values in self._pending:
            shapes = [tuple(a.shape) for a in values]
            if not new.built and values:
                raise UserInputError(
                    f"layer '{new.name}' was not used in the rebuilt model"
                )
            expected = [tuple(v.shape) for v in new.weights]
            if expected != shapes:
                raise UserInputError(
                    f"layer '{new.name}' ({type(new).__name__}) now expects "
                    f"weights of shapes {expected}, but the original has "
                    f"{shapes}; its weights depend on the input shape"
                )
            for variable, value in zip(new.weights, values):
                variable.assign(value)
        self._pending = []
