"""Reading the structure of a Keras model: layers, call sites, consumers."""

import dataclasses

import keras

from . import internals


@dataclasses.dataclass(frozen=True)
class Call:
    """One call of a layer: its first input's shape and dtype, and the
    keyword arguments that are not tensors (a node's, or one recorded
    while tracing the model)."""

    shape: tuple
    dtype: str
    kwargs: dict


def plain_kwargs(kwargs):
    return {
        key: value
        for key, value in kwargs.items()
        if value is None or isinstance(value, (bool, int, float, str))
    }


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
            if isinstance(layer, keras.Model):
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


def call_nodes(layer, model=None):
    """The nodes where `layer` is called on symbolic tensors.

    With `model` (a model, or its `Consumers`), only the calls that belong
    to that model's graph. A
    Sequential model loaded from a file calls its layers again each time a
    layer is added while it is rebuilt, so its layers carry calls from
    graphs that no longer exist; only the last graph's count.
    """
    nodes = internals.inbound_nodes(layer)
    if model is None:
        return nodes
    members = model.nodes if isinstance(model, Consumers) else graph_nodes(model)
    return [node for node in nodes if id(node) in members]


def graph_nodes(model):
    """The ids of the nodes of `model`'s own graph."""
    return {id(node) for nodes in internals.nodes_by_depth(model).values() for node in nodes}


def calls(layer, model=None):
    """A `Call` for every node of `layer` (in `model`'s graph, if given)."""
    found = []
    for node in call_nodes(layer, model):
        tensors = node.input_tensors
        if tensors:
            tensor = tensors[0]
            found.append(
                Call(
                    tuple(tensor.shape),
                    keras.backend.standardize_dtype(tensor.dtype),
                    plain_kwargs(dict(node.arguments.kwargs)),
                )
            )
    return found


producer = internals.producer


class Consumers:
    """How many calls read each symbolic tensor of one model's graph.

    Also holds the ids of the graph's nodes (`nodes`); pass it for `model`
    to `call_nodes` to read many layers' calls without walking the graph
    each time.
    """

    def __init__(self, model):
        self.counts = {}
        self.outputs = {id(t) for t in keras.tree.flatten(internals.functional_graph(model).outputs)}
        self.nodes = graph_nodes(model)
        for nodes in internals.nodes_by_depth(model).values():
            for node in nodes:
                for tensor in node.input_tensors:
                    self.counts[id(tensor)] = self.counts.get(id(tensor), 0) + 1

    def only_reader(self, tensor):
        """True when exactly one call reads `tensor` and it is not an output."""
        return self.counts.get(id(tensor), 0) == 1 and id(tensor) not in self.outputs
