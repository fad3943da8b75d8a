"""Rebuild a Keras model with some layers replaced, carrying every weight.

The engine under every converter. A *plan* maps layers of the original model
(by identity, at any nesting depth) to what replaces them:

- `Replace(layers, weights)`: every call of the layer becomes a call of the
  chain ``layers`` (applied one after the other); ``weights`` lists the
  arrays each new layer receives once the model is built.
- `IDENTITY`: every call passes its input through (the layer was folded
  into a neighbour).

Every other layer is cloned from its config and gets the original's weights,
so the new model shares no variable with the original, which is never
touched. Functional models go through `keras.models.clone_model` with a
`clone_function` and a `call_function`; Sequential models are rebuilt from
their layer list. Shared layers stay shared; nested models are rebuilt
recursively (on the shapes of the tensors they are now called on).
"""

import contextlib
import sys

import keras

from keras_1x1.errors import UserInputError

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


class Replace:
    """Replace every call of a layer by a chain of new layers."""

    def __init__(self, layers, weights):
        self.layers = list(layers)
        self.weights = list(weights)

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


IDENTITY = object()


def is_model(layer):
    return isinstance(layer, keras.Model)


def check_rebuildable(model, what="model"):
    """Sequential and Functional models can be rewritten; subclassed cannot."""
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
        raise UserInputError(
            f"{what} '{model.name}' is a subclassed keras.Model "
            f"({type(model).__name__}): its wiring is Python code in call() "
            "that cannot be rewritten; rebuild it as a Functional model "
            "(keras.Model(inputs, outputs)) or use keras_1x1.Conv1x1 / "
            "PixelDense inside its call()"
        )
    raise UserInputError(
        f"expected a keras.Model, got {type(model).__name__}"
    )


def _models(model):
    """The model and every model nested in it."""
    yield model
    for layer in getattr(model, "layers", ()):
        if is_model(layer):
            yield from _models(layer)


class Rebuilder:
    """Rebuild one model (and the models nested in it) following a plan."""

    def __init__(self, plan):
        self.plan = plan
        self._pending = []  # (new layer, old layer or list of arrays)
        self._nested = {}

    # -- public -----------------------------------------------------------

    def rebuild(self, model, input_shapes=None, *, keep_compile=True):
        """The rebuilt model, built, with every weight assigned.

        ``input_shapes`` optionally gives new batch shapes for the top-level
        inputs (a list in the order of ``model.inputs``), e.g. with free
        spatial dims for a convolutionalized model.
        """
        check_rebuildable(model)
        depth = sum(len(getattr(m, "layers", ())) for m in _models(model))
        with deep_recursion(depth):
            new_model = self._rebuild(model, input_shapes)
        self._assign_weights()
        if keep_compile and getattr(model, "compiled", False):
            try:
                new_model.compile_from_config(model.get_compile_config())
            except Exception:  # noqa: BLE001 - compile state is best effort
                pass
        return new_model

    # -- models -------------------------------------------------------------

    def _rebuild(self, model, input_shapes):
        check_rebuildable(model, "nested model" if self._nested else "model")
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
            elif is_model(layer):
                layers.append(self._nested_model(layer, None))
            else:
                layers.append(self._clone(layer))
        inputs = self._new_inputs(model, input_shapes)
        return keras.Sequential(
            [inputs] + layers, name=model.name, trainable=model.trainable
        )

    def _rebuild_functional(self, model, input_shapes):
        inputs = self._new_inputs(model, input_shapes)
        replaced = set()

        def clone_function(layer):
            action = self.plan.get(id(layer))
            if action is IDENTITY or is_model(layer):
                return layer  # resolved at call time
            if isinstance(action, Replace):
                if id(action) not in replaced:
                    replaced.add(id(action))
                    self._pending.extend(action.weights)
                return action
            if isinstance(layer, keras.layers.Layer):
                return self._clone(layer)
            return layer  # a stateless keras.ops operation

        def call_function(op, *args, **kwargs):
            action = self.plan.get(id(op))
            if action is IDENTITY:
                return args[0]
            if isinstance(op, Replace):
                return op(args[0])
            if is_model(op):
                return self._nested_model(op, args[0])(*args, **kwargs)
            return op(*args, **kwargs)

        new_model = keras.models.clone_model(
            model,
            input_tensors=inputs,
            clone_function=clone_function,
            call_function=call_function,
        )
        new_model.trainable = model.trainable
        return new_model

    def _nested_model(self, model, called_on):
        if id(model) not in self._nested:
            shapes = None
            if called_on is not None:
                flat = keras.tree.flatten(called_on)
                if len(flat) == len(model.inputs):
                    shapes = [tuple(t.shape) for t in flat]
            self._nested[id(model)] = self._rebuild(model, shapes)
        return self._nested[id(model)]

    # -- layers and weights -------------------------------------------------

    def _clone(self, layer):
        if isinstance(layer, keras.layers.Lambda) and not layer.weights:
            # Its function is already in memory; re-deserializing it would
            # need unsafe deserialization for nothing. It has no state, so
            # the new model can call the same object.
            return layer
        new = type(layer).from_config(layer.get_config())
        self._pending.append((new, layer))
        return new

    def _assign_weights(self):
        for new, source in self._pending:
            if isinstance(source, list):
                values = source
                shapes = [tuple(a.shape) for a in source]
            else:
                values = source.weights  # variables: assigned without a numpy copy
                shapes = [tuple(v.shape) for v in values]
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
