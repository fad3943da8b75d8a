"""Which layers are pointwise maps, and what replaces them in the other form.

Mathematics (DESIGN section 2):

- A convolution whose kernel is all ones in size is a Dense over the channel
  axis at every position: kernel ``(1,..,1,Cin,Cout) <-> (Cin,Cout)``.
- Strides subsample first (``x[:, ::s, ::s, :]``); for a 1x1 window padding
  "same" and "valid" agree and dilation does nothing.
- Groups make the Dense kernel block-diagonal; back to groups only when the
  off-diagonal blocks are exactly zero.
- channels_first: the map acts on axis 1 and the bias broadcasts as
  ``(Cout, 1, ..)``.

Every function here reads a layer and returns either a `Plan` (new layers
and the exact arrays they receive) or a reason string for skipping it.
"""

import dataclasses

import keras
import numpy as np

from keras_1x1.kernels import block_diagonal, detect_groups, grouped_kernel
from keras_1x1.layers import Conv1x1, PixelDense

from . import graph

CONV_CLASSES = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
KERAS_CONV = {1: keras.layers.Conv1D, 2: keras.layers.Conv2D, 3: keras.layers.Conv3D}
KERAS_POOL = {
    1: keras.layers.MaxPooling1D,
    2: keras.layers.MaxPooling2D,
    3: keras.layers.MaxPooling3D,
}
POOL_CLASSES = tuple(KERAS_POOL.values()) + (
    keras.layers.AveragePooling1D,
    keras.layers.AveragePooling2D,
    keras.layers.AveragePooling3D,
)
SPATIAL_LETTERS = "xyz"

# Constructor arguments shared by convolutions, Dense and EinsumDense.
SHARED = (
    "activation",
    "kernel_initializer",
    "bias_initializer",
    "kernel_regularizer",
    "bias_regularizer",
    "activity_regularizer",
    "bias_constraint",
)


@dataclasses.dataclass
class PointwiseMap:
    """A layer's linear map, independent of the form it is written in."""

    kernel: np.ndarray  # (Cin, Cout), block-diagonal when grouped
    bias: object  # (Cout,) or None
    spatial: int  # number of spatial axes
    data_format: str
    strides: tuple
    groups: int
    source: keras.layers.Layer  # the layer that holds the configuration
    config: dict  # activation, initializers, ... as config entries

    @property
    def units(self):
        return self.kernel.shape[1]


@dataclasses.dataclass
class Plan:
    layers: list  # the chain replacing every call
    weights: list  # (new layer, [arrays])
    result: str  # e.g. "MaxPooling2D + Dense"
    detail: str = ""


# -- reading layers ---------------------------------------------------------


def shared_config(layer):
    config = layer.get_config()
    shared = {key: config[key] for key in SHARED if key in config}
    shared["use_bias"] = bool(getattr(layer, "use_bias", True))
    shared["dtype"] = layer.dtype_policy
    shared["trainable"] = layer.trainable
    shared["name"] = layer.name
    shared["kernel_constraint"] = config.get("kernel_constraint")
    return shared


def _not_plain(layer):
    """A reason when the layer's kernel is not a plain float variable."""
    mode = getattr(layer, "quantization_mode", None)
    if mode:
        return f"quantized ({mode}): its kernel is stored quantized and cannot be carried exactly"
    if getattr(layer, "lora_enabled", False):
        return "LoRA is enabled: merge or disable the LoRA factors first (kernel + A @ B is not exact in float)"
    return None


def conv_map(layer):
    """A pointwise convolution's map, or a reason it is not one."""
    if isinstance(layer, Conv1x1):
        if not layer.built:
            return "not built"
        shapes = graph.input_shapes(layer)
        ranks = {len(s) for s in shapes}
        if len(ranks) != 1:
            return "called on inputs of different ranks" if ranks else "never called"
        spatial = ranks.pop() - 2
        strides = layer._spatial_strides(spatial + 2)
        groups = layer.groups
    else:
        size = tuple(layer.kernel_size)
        if any(k != 1 for k in size):
            return f"kernel {'x'.join(map(str, size))} is not {'x'.join('1' * len(size))}"
        reason = _not_plain(layer)
        if reason:
            return reason
        spatial = len(size)
        strides = tuple(layer.strides)
        groups = layer.groups
    weights = layer.get_weights()
    kernel = weights[0].reshape(weights[0].shape[-2], weights[0].shape[-1])
    if groups > 1:
        kernel = block_diagonal(kernel, groups)
    return PointwiseMap(
        kernel=kernel,
        bias=weights[1] if len(weights) > 1 else None,
        spatial=spatial,
        data_format=layer.data_format,
        strides=tuple(strides),
        groups=groups,
        source=layer,
        config=shared_config(layer),
    )


def dense_map(layer):
    """A per-pixel Dense's map (Dense, TimeDistributed(Dense), pointwise
    EinsumDense, PixelDense), or a reason it is not one."""
    outer = layer
    depth = 0
    while isinstance(layer, keras.layers.TimeDistributed):
        layer, depth = layer.layer, depth + 1
    if depth and not isinstance(layer, keras.layers.Dense):
        return f"TimeDistributed({type(layer).__name__}) is not a Dense"
    reason = _not_plain(layer)
    if reason:
        return reason
    shapes = graph.input_shapes(outer)
    if not shapes:
        return "never called on a symbolic input"
    ranks = {len(s) for s in shapes}
    if len(ranks) != 1:
        return f"called on inputs of ranks {sorted(ranks)}; one conv needs one rank"
    rank = ranks.pop()
    data_format = "channels_last"
    weights = layer.get_weights()
    kernel, bias = weights[0], (weights[1] if len(weights) > 1 else None)
    if isinstance(layer, keras.layers.EinsumDense):
        parsed = parse_pointwise_einsum(layer.equation, rank)
        if isinstance(parsed, str):
            return parsed
        data_format, kernel_order, has_bias_axes = parsed
        if layer.bias_axes and not has_bias_axes:
            return f"bias_axes={layer.bias_axes!r} is not the output channel axis"
        if kernel_order == "dc":
            kernel = kernel.T
        if bias is not None:
            bias = bias.reshape(-1)
    elif isinstance(layer, PixelDense):
        data_format = layer.data_format
    if rank == 2:
        return "rank-2 input: no spatial axes, nothing to convolve over"
    if rank > 5:
        return f"rank-{rank} input: Keras has no {rank - 2}-D convolution"
    return PointwiseMap(
        kernel=kernel,
        bias=bias,
        spatial=rank - 2,
        data_format=data_format,
        strides=(1,) * (rank - 2),
        groups=1,
        source=layer,
        config=shared_config(layer),
    )


def parse_pointwise_einsum(equation, rank):
    """(data_format, kernel order "cd"/"dc", bias on output channel) or a reason.

    Pointwise means: the kernel has two axes, one contracted channel axis
    that sits last (channels_last) or second (channels_first) in the input,
    replaced in place by the output channel axis; every other axis passes
    through in order.
    """
    try:
        lhs, out = equation.replace(" ", "").split("->")
        inp, ker = lhs.split(",")
    except ValueError:
        return f"equation {equation!r} does not have one input and one kernel"
    tokens_in = _einsum_tokens(inp)
    tokens_out = _einsum_tokens(out)
    if len(ker) != 2 or "..." in ker:
        return f"kernel '{ker}' has {len(ker)} axes; a pointwise map has 2"
    contracted = [a for a in ker if a in tokens_in and a not in tokens_out]
    produced = [a for a in ker if a in tokens_out and a not in tokens_in]
    if len(contracted) != 1 or len(produced) != 1:
        return f"equation {equation!r} does not map one channel axis to another"
    c, d = contracted[0], produced[0]
    position = tokens_in.index(c)
    if [d if t == c else t for t in tokens_in] != tokens_out:
        return f"equation {equation!r} reorders or drops axes"
    if position == len(tokens_in) - 1:
        data_format = "channels_last"
    elif position == 1 and "..." not in tokens_in[:1]:
        data_format = "channels_first"
    else:
        return f"equation {equation!r} contracts axis {position}, not the channel axis"
    if "..." not in tokens_in and len(tokens_in) != rank:
        return f"equation {equation!r} does not match rank {rank}"
    return data_format, ker if ker == c + d else "dc", True


def _einsum_tokens(spec):
    tokens, i = [], 0
    while i < len(spec):
        if spec.startswith("...", i):
            tokens.append("...")
            i += 3
        else:
            tokens.append(spec[i])
            i += 1
    return tokens


# -- constraints whose axes name kernel axes ----------------------------------


def remap_constraint(config, mapping):
    """A constraint config with its `axis` entries mapped; None drops them."""
    if not isinstance(config, dict) or "axis" not in config.get("config", {}):
        return config
    axes = config["config"]["axis"]
    single = isinstance(axes, int)
    axes = [axes] if single else list(axes)
    mapped = []
    for axis in axes:
        new = mapping(axis)
        for a in new if isinstance(new, list) else [new]:
            if a is not None and a not in mapped:
                mapped.append(a)
    config = {**config, "config": {**config["config"]}}
    if not mapped:
        mapped = [0]
    config["config"]["axis"] = mapped[0] if single or len(mapped) == 1 else mapped
    return config


# -- building the other form --------------------------------------------------


def layer_kwargs(config, name, *, use_bias, kernel_axes, activation=None):
    """Constructor arguments of a layer that takes over a map's configuration.

    ``config`` comes from `shared_config`; ``kernel_axes`` maps an axis of
    the old kernel to the new kernel's axes (for constraints that name
    axes, as ``MaxNorm(axis=...)`` does); ``activation`` overrides the old
    layer's.
    """
    kwargs = {key: config[key] for key in SHARED if key in config}
    kwargs["kernel_constraint"] = remap_constraint(config.get("kernel_constraint"), kernel_axes)
    if activation is not None:
        kwargs["activation"] = activation
    kwargs.update(
        use_bias=use_bias, dtype=config["dtype"], trainable=config["trainable"], name=name
    )
    return kwargs


def to_dense(m, target, taken):
    """The dense form of a pointwise map."""
    n = m.spatial
    layers, weights, detail = [], [], []
    if any(s != 1 for s in m.strides):
        pool = KERAS_POOL[n](
            pool_size=1,
            strides=m.strides,
            padding="valid",
            data_format=m.data_format,
            name=graph.unique_name(f"{m.source.name}_subsample", taken),
            dtype=m.config["dtype"],
        )
        layers.append(pool)
        detail.append(f"strides {m.strides} as a 1x1 subsampling pool")
    if m.groups > 1:
        detail.append(f"groups={m.groups} as a block-diagonal kernel")
    kwargs = layer_kwargs(
        m.config,
        m.source.name,
        use_bias=m.bias is not None,
        kernel_axes=lambda a: a - n if a >= n else (a if a < 0 else None),
    )
    arrays = [m.kernel] + ([m.bias] if m.bias is not None else [])
    if target == "keras_1x1":
        dense = PixelDense(m.units, data_format=m.data_format, **kwargs)
    elif m.data_format == "channels_last":
        dense = keras.layers.Dense(m.units, **kwargs)
    else:
        # channels_first: contract axis 1, the bias broadcasts as (d, 1, ..).
        spatial = SPATIAL_LETTERS[:n]
        equation = f"bc{spatial},cd->bd{spatial}"
        del kwargs["use_bias"]  # EinsumDense has a bias when it has bias_axes
        dense = keras.layers.EinsumDense(
            equation,
            output_shape=(m.units,) + (None,) * n,
            bias_axes="d" if m.bias is not None else None,
            **kwargs,
        )
        if m.bias is not None:
            arrays[1] = m.bias.reshape((-1,) + (1,) * n)
        detail.append(f"EinsumDense '{equation}'")
    layers.append(dense)
    weights.append((dense, arrays))
    result = " + ".join(type(layer).__name__ for layer in layers)
    return Plan(layers, weights, result, "; ".join(detail))


def to_conv(m, target, taken, strides=None):
    """The conv form of a pointwise map (strides from a folded pool)."""
    n = m.spatial
    strides = tuple(strides) if strides else (1,) * n
    groups = detect_groups(m.kernel)
    kernel = grouped_kernel(m.kernel, groups) if groups > 1 else m.kernel
    kwargs = layer_kwargs(
        m.config,
        m.source.name,
        use_bias=m.bias is not None,
        kernel_axes=lambda a: a + n if a >= 0 else a,
    )
    detail = []
    if groups > 1:
        detail.append(f"groups={groups}: the off-diagonal blocks are exactly zero")
    if any(s != 1 for s in strides):
        detail.append(f"strides {strides} from the subsampling pool before it")
    if target == "keras_1x1":
        conv = Conv1x1(
            m.units, strides=strides, groups=groups, data_format=m.data_format, **kwargs
        )
        arrays = [kernel]
    else:
        conv = KERAS_CONV[n](
            m.units,
            1,
            strides=strides,
            padding="valid",
            data_format=m.data_format,
            groups=groups,
            **kwargs,
        )
        arrays = [kernel.reshape((1,) * n + kernel.shape)]
    if m.bias is not None:
        arrays.append(m.bias)
    return Plan([conv], [(conv, arrays)], type(conv).__name__, "; ".join(detail))


def subsampling_pool(layer):
    """Strides of a pool that only subsamples (pool size 1), else None."""
    if not isinstance(layer, POOL_CLASSES):
        return None
    if any(p != 1 for p in layer.pool_size):
        return None
    return tuple(layer.strides)
