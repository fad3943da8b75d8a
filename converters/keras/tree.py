"""Every layer of a model at any depth, each with its path.

A model holds layers two ways, and both are walked:

- a Functional or Sequential model (a *container*) calls its layers in its
  graph: they have nodes, and are named by their layer names
  (``backbone/block1_conv``);
- any other layer with sublayers (a custom layer, a Keras composite such
  as `MultiHeadAttention`, a subclassed model) calls them in its Python
  ``call()``: they have no nodes, and are named by the attribute that holds
  them (``transformer_layer_0/_self_attention_layer/_query_dense``, with
  the index or key for a list or dict: ``stage_0/blocks/1``).

>>> import keras
>>> from keras_1x1.converters.keras import tree
>>> inputs = keras.Input((4, 8))
>>> attention = keras.layers.MultiHeadAttention(2, 4, name="attention")
>>> model = keras.Model(inputs, attention(inputs, inputs))
>>> [site.path for site in tree.walk(model)][1:3]
['attention', 'attention/_query_dense']
"""

import dataclasses

import keras

from . import internals


@dataclasses.dataclass(eq=False)
class Site:
    """Where one layer sits in a model.

    Attributes:
        layer: the layer.
        path: its names from the model down, joined by ``/``.
        parent: the model or layer that holds it.
        ancestors: the `Site`s from the top of the model down to the parent
            (empty for a layer of the model itself).
    """

    layer: keras.layers.Layer
    path: str
    parent: object
    ancestors: tuple = ()

    @property
    def in_graph(self):
        """True when a container's graph calls the layer (it has nodes)."""
        return is_container(self.parent)

    @property
    def parent_path(self):
        return self.ancestors[-1].path if self.ancestors else ""


def is_container(layer):
    """Functional and Sequential models (and their subclasses) carry a graph."""
    return isinstance(layer, keras.Sequential) or internals.is_functional(layer)


def children(parent):
    """``[(layer, name)]`` of the layers `parent` holds, in Keras' order."""
    if is_container(parent):
        return [(layer, layer.name) for layer in parent.layers]
    names = internals.attribute_names(parent)
    return [(layer, names.get(id(layer), layer.name)) for layer in internals.sublayers(parent)]


def walk(model, descend=None):
    """Yield a `Site` for every layer under `model`, depth first.

    A layer held in several places is yielded once (at its first path).
    ``descend(site)`` decides whether the walk enters a layer's own layers
    (default: always).
    """
    seen = set()

    def sites(parent, prefix, ancestors):
        return [Site(layer, f"{prefix}{name}", parent, ancestors) for layer, name in children(parent)]

    # An explicit stack (not recursion) so chains thousands of layers deep walk.
    stack = list(reversed(sites(model, "", ())))
    while stack:
        site = stack.pop()
        if id(site.layer) in seen:
            continue
        seen.add(id(site.layer))
        yield site
        if descend is None or descend(site):
            stack.extend(reversed(sites(site.layer, f"{site.path}/", site.ancestors + (site,))))


def layer_names(model):
    """The names of every layer at any depth (for naming new layers)."""
    return {site.layer.name for site in walk(model)}
