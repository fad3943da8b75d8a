"""Reading the structure of a Keras model: layers, call sites, consumers."""

import keras

from .rebuild import is_model


def walk(model, prefix=""):
    """Yield ``(layer, path, parent_model)`` for every layer, depth first.

    Nested models are yielded and then entered; a layer shared by several
    models is yielded once.
    """
    seen = set()

    def visit(current, prefix):
        for layer in current.layers:
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            path = f"{prefix}{layer.name}"
            yield layer, path, current
            if is_model(layer):
                yield from visit(layer, f"{path}/")

    yield from visit(model, prefix)


def layer_names(model):
    return {layer.name for layer, _, _ in walk(model)}


def unique_name(base, taken):
    """`base`, or `base_1`, `base_2`, ... whichever is not taken yet."""
    name, i = base, 0
    while name in taken:
        i += 1
        name = f"{base}_{i}"
    taken.add(name)
    return name


def call_nodes(layer):
    """The nodes where `layer` is called on symbolic tensors."""
    return list(getattr(layer, "_inbound_nodes", []))


def input_shapes(layer):
    """The shape of the first input at every call of `layer`."""
    shapes = []
    for node in call_nodes(layer):
        tensors = node.input_tensors
        if tensors:
            shapes.append(tuple(tensors[0].shape))
    return shapes


def call_kwargs(layer):
    return [dict(node.arguments.kwargs) for node in call_nodes(layer)]


def producer(tensor):
    """The layer (or op) that produced a symbolic tensor, or None for inputs."""
    history = getattr(tensor, "_keras_history", None)
    return None if history is None else history.operation


class Consumers:
    """How many calls read each symbolic tensor of one model's graph."""

    def __init__(self, model):
        self.counts = {}
        self.outputs = {id(t) for t in keras.tree.flatten(model.outputs)}
        nodes_by_depth = getattr(model, "_nodes_by_depth", {})
        for nodes in nodes_by_depth.values():
            for node in nodes:
                for tensor in node.input_tensors:
                    self.counts[id(tensor)] = self.counts.get(id(tensor), 0) + 1

    def only_reader(self, tensor):
        """True when exactly one call reads `tensor` and it is not an output."""
        return self.counts.get(id(tensor), 0) == 1 and id(tensor) not in self.outputs
