"""Rewrite trained Keras models between the 1x1-conv and per-pixel-Dense forms.

>>> import keras
>>> from keras_1x1 import converters
>>> x = keras.Input((8, 8, 3), name="image")
>>> h = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="stem")(x)
>>> model = keras.Model(x, keras.layers.Conv2D(4, 1, name="pointwise")(h))
>>> dense = converters.conv_to_dense(model)
>>> [type(layer).__name__ for layer in dense.layers]
['InputLayer', 'Conv2D', 'Dense']
>>> dense.conversion_report.verified
True
>>> back = converters.dense_to_conv(dense)
>>> all((a == b).all() for a, b in zip(back.get_weights(), model.get_weights()))
True

Layers inside layers are reached too, e.g. the four projections of a
`MultiHeadAttention`:

>>> tokens = keras.Input((6, 8), name="tokens")
>>> attention = keras.layers.MultiHeadAttention(2, 4, name="attention")
>>> model = keras.Model(tokens, attention(tokens, tokens))
>>> conv = converters.dense_to_conv(model)
>>> [(e.path, e.result) for e in conv.conversion_report.converted][:2]
[('attention/_query_dense', 'Conv1D + Reshape'), ('attention/_key_dense', 'Conv1D + Reshape')]
"""

import keras

from keras_1x1.errors import UserInputError
from keras_1x1.layers import Conv1x1, PixelDense

from . import graph, heads, internals, pointwise, saving, tracing, tree
from .rebuild import IDENTITY, Rebuilder, Replace, Swap, check_rebuildable
from .report import ConversionReport
from .verify import verify as verify_outputs

TARGETS = ("keras", "keras_1x1")

# Layers that look pointwise but are a different map; reported with a reason.
_OTHER_CONVS = {
    "DepthwiseConv1D": "depthwise: scales each channel separately, no channel mixing",
    "DepthwiseConv2D": "depthwise: scales each channel separately, no channel mixing",
    "SeparableConv1D": "separable: a depthwise step before the pointwise one",
    "SeparableConv2D": "separable: a depthwise step before the pointwise one",
    "Conv1DTranspose": "transposed convolution",
    "Conv2DTranspose": "transposed convolution",
    "Conv3DTranspose": "transposed convolution",
}
_DENSE_CLASSES = (keras.layers.Dense, keras.layers.EinsumDense, keras.layers.TimeDistributed, PixelDense)


def _kind(layer):
    name = type(layer).__name__
    inner = layer
    while isinstance(inner, keras.layers.TimeDistributed):
        inner = inner.layer
        name = f"{name}({type(inner).__name__})"
    if isinstance(layer, keras.Sequential):
        inner = [type(l).__name__ for l in layer.layers if not isinstance(l, keras.layers.InputLayer)]
        name = f"Sequential({' + '.join(inner)})"
    return name


def _forms(layer, calls):
    """The forms a Conv1x1/PixelDense is called in."""
    return {call.kwargs.get("form") or layer.default_form for call in calls}


def _check(model, target):
    internals.check()
    if target not in TARGETS:
        raise UserInputError(
            f"target must be 'keras' or 'keras_1x1'. Received: target={target!r}"
        )
    check_rebuildable(model)


def _is_chain(layer, direction):
    """A Sequential of one of the two shapes converters make (see
    `pointwise.chain_map`), by its layer types."""
    if not isinstance(layer, keras.Sequential):
        return False
    kinds = [l for l in layer.layers if not isinstance(l, keras.layers.InputLayer)]
    if direction == "conv":
        return (
            len(kinds) == 2
            and pointwise.subsampling_pool(kinds[0]) is not None
            and isinstance(kinds[1], (keras.layers.Dense, keras.layers.EinsumDense, PixelDense))
        )
    convs = [l for l in kinds if isinstance(l, pointwise.CONV_CLASSES + (Conv1x1,))]
    reshapes = [l for l in kinds if isinstance(l, keras.layers.Reshape)]
    return len(convs) == 1 and reshapes and len(convs) + len(reshapes) == len(kinds) <= 3


class _Conversion:
    """One conversion: the walk, the decisions, the rebuild and the report.

    ``direction`` is "dense" (conv_to_dense) or "conv" (dense_to_conv).
    """

    def __init__(self, model, operation, direction, target):
        self.model = model
        self.direction = direction
        self.target = target
        self.report = ConversionReport(operation, target)
        self.taken = tree.layer_names(model)
        self.plan = {}
        self.swaps = []
        self.consumers = {}
        self.traced = None
        self.pairs = []  # (path, old layer, what replaces it), for naming a mismatch
        self.folded = set()  # layers whose conv takes the pool before them as strides

    def candidate(self, layer):
        """True for the layers this direction reports (converted or not)."""
        if _is_chain(layer, self.direction):
            return True
        if self.direction == "dense":
            return isinstance(layer, pointwise.CONV_CLASSES + (Conv1x1, PixelDense)) or (
                type(layer).__name__ in _OTHER_CONVS
                or (isinstance(layer, keras.layers.TimeDistributed) and "Conv" in _kind(layer))
            )
        return isinstance(layer, (Conv1x1,) + _DENSE_CLASSES)

    def descend(self, site):
        return not self.candidate(site.layer) and not isinstance(
            site.layer, keras.layers.TimeDistributed
        )

    def run(self, verify):
        sites = list(tree.walk(self.model, descend=self.descend))
        inside = [s.layer for s in sites if not s.in_graph and self.candidate(s.layer)]
        if inside or not tree.is_container(self.model):
            given = None if verify is True or verify is False or verify is None else verify
            self.traced = tracing.trace(self.model, record=inside, inputs=given)
            if self.traced.note:
                self.report.notes.append(f"tracing: {self.traced.note}")
        for site in sites:
            if self.candidate(site.layer):
                self.decide(site)
        containers = self.changed_containers(sites)
        rebuilder = Rebuilder(self.plan, self.swaps, containers)
        new_model = rebuilder.rebuild(self.model)
        changed = {id(swap.new) for swap in self.swaps} | {id(m) for m in rebuilder.rebuilt}
        changed |= {id(c) for c in self._rebuilt(new_model, containers)}
        saving.record(new_model, changed, self.report, self.model)
        return self.finish(new_model, verify)

    # -- deciding -------------------------------------------------------------

    def calls(self, site):
        if site.in_graph:
            return graph.calls(site.layer)
        return self.traced.calls_of(site.layer)

    def rebuilds(self, site):
        """True when the layer's graph is rebuilt around its replacement: a
        plain Functional or Sequential graph inside plain ones. In or under
        a Functional subclass (a keras-hub backbone, which may share a graph's
        layers with its attributes) the replacement takes the layer's place
        in a copy of the graph instead, like a sublayer's: the model keeps its
        class, its attributes and every layer it owns."""
        chain = [self.model] + [a.layer for a in site.ancestors] + [site.parent]
        return site.in_graph and all(
            internals.is_plain_container(layer) for layer in chain if tree.is_container(layer)
        )

    def decide(self, site):
        layer, path = site.layer, site.path
        kind = _kind(layer)
        calls = self.calls(site)
        if not site.in_graph and not calls:
            self.report.add(
                path, kind, "skipped",
                detail="never called while the model runs (a sublayer used in another mode)",
            )
            return
        found = self.find(layer, calls)
        if isinstance(found, str):
            self.report.add(path, kind, "skipped", detail=found)
            return
        if self.direction == "dense":
            planned = pointwise.to_dense(found, self.target, self.taken)
        else:
            strides = found.strides
            if self.rebuilds(site) and not isinstance(layer, keras.Sequential):
                pool = self.foldable_pool(layer, site.parent, found)
                if pool is not None:
                    strides = pointwise.subsampling_pool(pool)
                    self.plan[id(pool)] = IDENTITY
                    self.folded.add(id(layer))
                    pool_path = path[: -len(layer.name)] + pool.name
                    self.report.add(
                        pool_path, type(pool).__name__, "converted",
                        f"strides of '{layer.name}'", "a 1x1 pool only subsamples",
                    )
            planned = pointwise.to_conv(found, self.target, self.taken, strides=strides)
        if isinstance(planned, str):
            self.report.add(path, kind, "skipped", detail=planned)
            return
        if self.rebuilds(site):
            self.plan[id(layer)] = Replace(planned.layers, planned.weights)
            if id(layer) not in self.folded:  # the same input as the layer it replaces
                self.pairs.append((path, layer, self.plan[id(layer)]))
        else:
            new = planned.layers[0]
            if len(planned.layers) > 1:
                new = keras.Sequential(planned.layers, name=layer.name, trainable=layer.trainable)
            shape = pointwise.input_shape(found, calls[0].shape)
            self.swaps.append(Swap(layer, new, planned.weights, shape))
            self.pairs.append((path, layer, new))
        self.report.add(path, kind, "converted", planned.result, planned.detail)

    def find(self, layer, calls):
        """The layer's map, or the reason it is left as it is."""
        if isinstance(layer, keras.Sequential):
            found = pointwise.chain_map(layer, calls, self.direction)
            if found is None:
                return "a Sequential whose reshapes do not only merge or split channel axes"
            return found
        if self.direction == "dense":
            if isinstance(layer, pointwise.CONV_CLASSES + (Conv1x1,)):
                return pointwise.conv_map(layer, calls)
            if isinstance(layer, PixelDense):
                if _forms(layer, calls) == {"dense"} and self.target == "keras_1x1":
                    return "already in the dense form"
                return pointwise.dense_map(layer, calls)
            if type(layer).__name__ in _OTHER_CONVS:
                return _OTHER_CONVS[type(layer).__name__]
            return "a convolution inside TimeDistributed; apply it to the unwrapped layer"
        if isinstance(layer, Conv1x1):
            if _forms(layer, calls) == {"conv"} and self.target == "keras_1x1":
                return "already in the conv form"
            return pointwise.conv_map(layer, calls)
        return pointwise.dense_map(layer, calls)

    def foldable_pool(self, layer, parent, found):
        """A 1x1 subsampling pool whose only reader is `layer`'s only call."""
        if id(parent) not in self.consumers:  # one walk of each parent's graph
            self.consumers[id(parent)] = graph.Consumers(parent)
        readers = self.consumers[id(parent)]
        nodes = graph.call_nodes(layer, readers)
        if len(nodes) != 1 or not nodes[0].input_tensors:
            return None
        tensor = nodes[0].input_tensors[0]
        pool = graph.producer(tensor)
        if pool is None or pointwise.subsampling_pool(pool) is None:
            return None
        if len(graph.call_nodes(pool, readers)) != 1 or pool.data_format != found.data_format:
            return None
        if len(pool.strides) != found.spatial:
            return None
        if isinstance(parent, keras.Sequential):
            layers = parent.layers
            index = layers.index(layer) if layer in layers else -1
            return pool if index > 0 and layers[index - 1] is pool else None
        if not readers.only_reader(tensor):
            return None
        return pool

    # -- rebuilding -----------------------------------------------------------

    def changed_containers(self, sites):
        """Containers a layer holds (no graph calls them) with a change
        inside, deepest first."""
        # Only a graph rebuilt around a replacement: swapped layers take
        # their places in copies.
        changed = set(self.plan)
        holding = []
        for site in sites:
            if id(site.layer) not in changed:
                continue
            for ancestor in site.ancestors:
                if tree.is_container(ancestor.layer) and not ancestor.in_graph:
                    if ancestor not in holding:
                        holding.append(ancestor)
        holding.sort(key=lambda s: len(s.ancestors), reverse=True)
        self._holding = holding
        return [site.layer for site in holding]

    def _rebuilt(self, new_model, containers):
        """The rebuilt containers, as they sit in the new model."""
        if not containers:
            return []
        wanted = {site.path for site in self._holding}
        return [site.layer for site in tree.walk(new_model) if site.path in wanted]

    def finish(self, new_model, verify):
        if verify is not False and verify is not None:
            inputs = None if verify is True else verify
            specs = self.traced.specs if self.traced is not None else None
            verify_outputs(self.model, new_model, self.report, inputs=inputs, specs=specs,
                           pairs=self.pairs)
        new_model.conversion_report = self.report
        return new_model


def conv_to_dense(model, *, target="keras", verify=True):
    """Every pointwise convolution of `model` as a per-pixel Dense.

    Converts Conv1D/Conv2D/Conv3D whose kernel is all ones in size (at any
    strides, groups, padding, dilation and data_format) and `Conv1x1`, at
    any depth: in the model's graph, in nested models, and inside layers
    (custom layers, Keras composites, subclassed models). Strides become a
    1x1 subsampling pool before the Dense; groups become a block-diagonal
    kernel; channels_first becomes an EinsumDense on axis 1 (target
    "keras") or a channels_first `PixelDense` (target "keras_1x1"). The
    conv form of an attention projection (a 1x1 conv with the channel axes
    reshaped, as `dense_to_conv` makes it) becomes its EinsumDense again.

    Args:
        model: a Sequential, Functional or built subclassed `keras.Model`
            (nested models, shared layers, several inputs and outputs are
            fine). It is not changed.
        target: "keras" for built-in Keras layers only, "keras_1x1" for
            `PixelDense`.
        verify: compare the outputs of both models on random inputs drawn
            from the input specs (or on the inputs given here instead of
            True) and raise `keras_1x1.ConversionError` if they differ
            beyond the tolerance in `keras_1x1.numeric`.

    Returns:
        A new `keras.Model`; ``model.conversion_report`` lists every
        candidate layer at any depth, converted or skipped with its reason.
    """
    _check(model, target)
    return _Conversion(model, "conv_to_dense", "dense", target).run(verify)


def dense_to_conv(model, *, target="keras", verify=True):
    """Every per-pixel Dense of `model` as a 1x1 convolution.

    Converts Dense applied to inputs with spatial axes (rank 3 to 5),
    TimeDistributed(Dense) at any nesting, pointwise EinsumDense and
    `PixelDense`, at any depth (inside custom layers, Keras composites such
    as `MultiHeadAttention` and subclassed models too). A per-token Dense on
    ``(batch, tokens, channels)`` becomes a Conv1D with kernel 1; an
    attention EinsumDense (``abc,cde->abde``, ``abcd,cde->abe``) a Conv1D
    with its channel axes reshaped (a small Sequential). A Dense on a rank-2
    input has no spatial axes and is left alone (and reported). A
    block-diagonal kernel becomes a grouped convolution when its
    off-diagonal blocks are exactly zero; a 1x1 subsampling pool read only
    by the Dense becomes the convolution's strides. So
    ``dense_to_conv(conv_to_dense(m))`` has the structure and the
    bit-identical weights of ``m``.

    Args and returns: as for `conv_to_dense`; target "keras_1x1" gives
    `Conv1x1` layers.
    """
    _check(model, target)
    return _Conversion(model, "dense_to_conv", "conv", target).run(verify)


def convolutionalize(model, *, verify=True):
    """Turn a classifier head into convolutions that slide over larger images.

    A ``Flatten -> Dense (-> Dense ...)`` head becomes a convolution with an
    HxW kernel (padding "valid") followed by 1x1 convolutions, and the
    spatial input dims become None: on a larger image the model outputs a
    score map whose every position is the original classifier applied to the
    corresponding window (exactly, when the layers before the head do not
    pad). A ``GlobalAveragePooling -> Dense`` head gets the Dense moved
    before the pooling as a 1x1 convolution (both are linear, so the scores
    are unchanged) and the model gains a second output: the per-pixel class
    map (class activation map).

    Args:
        model: a Sequential or Functional classifier; it is not changed.
        verify: check the scores at the original input size, and for a
            Flatten head each window of a larger image, position by position.

    Returns:
        A new `keras.Model` with ``conversion_report``. Its compile state is
        not carried: the outputs changed shape.
    """
    internals.check()
    check_rebuildable(model)
    if not tree.is_container(model):
        raise UserInputError(
            f"convolutionalize needs a Sequential or Functional model; '{model.name}' "
            f"is a subclassed keras.Model ({type(model).__name__}) whose head is Python code"
        )
    report = ConversionReport("convolutionalize", "keras")
    head = heads.find_head(model)
    taken = graph.layer_names(model)
    plan, input_shape, layout, map_name = heads.plan_head(model, head, report, taken)
    new_model = Rebuilder(plan).rebuild(model, [input_shape], keep_compile=False)
    if map_name is not None:
        scores = new_model.outputs[0]
        class_map = new_model.get_layer(map_name).output
        new_model = keras.Model(new_model.inputs[0], [scores, class_map], name=model.name)
    if verify:
        heads.verify(model, new_model, report, layout=layout)
    new_model.conversion_report = report
    return new_model
