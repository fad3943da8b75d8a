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
- An attention projection (EinsumDense ``abc,cde->abde`` for query, key
  and value, ``abcd,cde->abe`` for the output) maps the channels of every
  position too, with the channel axes reshaped: its kernel ``(c, h, d)`` is
  the matrix ``(c, h*d)`` of a Conv1D with kernel 1 followed by a Reshape
  to ``(h, d)`` (the output one: a Reshape to ``h*d`` first). The conv form
  of such a map is a small `keras.Sequential` (a *chain*) named after the
  layer, and the way back gives the EinsumDense with its equation again.

Every function here reads a layer (and its calls: `Call` records of the
shapes it runs on) and returns either a `Plan` (new layers and the exact
arrays they receive) or a reason string for skipping it.
"""

import dataclasses
import math
import string

import keras
import numpy as np

from keras_1x1.kernels import block_diagonal, detect_groups, grouped_kernel
from keras_1x1.layers import Conv1x1, PixelDense

from . import graph

# The attribute a chain carries with the EinsumDense it came from (equation,
# bias axes, output shape), so the way back restores it letter for letter.
EINSUM_ORIGIN = "keras_1x1_einsum"
# The attribute a Dense carries with what only its conv form has (padding,
# dilation: they change nothing for a 1x1 window), restored on the way back.
CONV_ORIGIN = "keras_1x1_conv"

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
    # Channel axes reshaped around the map (attention projections): the
    # input's channel dims and the output's, e.g. (16,) and (2, 8).
    in_dims: tuple = ()
    out_dims: tuple = ()
    # Pass-through dims (static sizes or None), for the reshapes of a chain.
    positions: tuple = ()
    einsum: dict = None  # the EinsumDense it came from, when it did
    conv: dict = None  # the conv's padding and dilation, when it came from one

    @property
    def units(self):
        return self.kernel.shape[1]

    @property
    def reshaped(self):
        return len(self.in_dims) > 1 or len(self.out_dims) > 1


@dataclasses.dataclass
class Plan:
    layers: list  # the chain replacing every call
    weights: list  # (new layer, [arrays])
    result: str  # e.g. "MaxPooling2D + Dense"
    detail: str = ""


def input_shape(m, shape):
    """The shape a layer in the other form is built on: the recorded call
    `shape` with its channel dims read from the kernel where the trace did
    not know them (a sublayer called on a tensor of unknown width)."""
    shape = list(shape)
    channels = tuple(m.in_dims) or (m.kernel.shape[0],)
    if m.data_format == "channels_first" and not m.reshaped:
        positions = [1]
    else:
        positions = list(range(len(shape) - len(channels), len(shape)))
    for axis, size in zip(positions, channels):
        if 0 < axis < len(shape) and shape[axis] is None:
            shape[axis] = int(size)
    return tuple(shape)


# -- reading layers ---------------------------------------------------------


def shared_config(layer):
    """The configuration a layer in the other form takes over.

    The activation, initializers, regularizers and constraints are the
    layer's own objects, never read back from its serialized config: a
    config round trip can change the function (``keras.ops.gelu`` is the
    approximate GELU, its serialized name ``"gelu"`` the exact one), and a
    user's own callable may not deserialize at all.
    """
    config = layer.get_config()
    shared = {}
    for key in SHARED + ("kernel_constraint",):
        if key in vars(layer) or hasattr(type(layer), key):
            shared[key] = getattr(layer, key)
        elif key in config:
            shared[key] = config[key]
    shared["use_bias"] = bool(getattr(layer, "use_bias", True))
    shared["dtype"] = layer.dtype_policy
    shared["trainable"] = layer.trainable
    shared["name"] = layer.name
    shared.setdefault("kernel_constraint", None)
    return shared


def _not_plain(layer):
    """A reason when the layer's kernel is not a plain float variable."""
    mode = getattr(layer, "quantization_mode", None)
    if mode:
        return f"quantized ({mode}): its kernel is stored quantized and cannot be carried exactly"
    if getattr(layer, "lora_enabled", False):
        return "LoRA is enabled: merge or disable the LoRA factors first (kernel + A @ B is not exact in float)"
    return None


def _one_rank(calls):
    """The rank every call agrees on, or a reason."""
    ranks = {len(call.shape) for call in calls}
    if not ranks:
        return "never called on a symbolic input"
    if len(ranks) != 1:
        return f"called on inputs of ranks {sorted(ranks)}; one conv needs one rank"
    return ranks.pop()


def conv_map(layer, calls):
    """A pointwise convolution's map, or a reason it is not one."""
    if isinstance(layer, Conv1x1):
        if not layer.built:
            return "not built"
        rank = _one_rank(calls)
        if isinstance(rank, str):
            return rank
        spatial = rank - 2
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
        einsum=getattr(layer, EINSUM_ORIGIN, None),
        conv=None if isinstance(layer, Conv1x1) else {
            "padding": layer.padding, "dilation_rate": tuple(layer.dilation_rate)
        },
    )


def dense_map(layer, calls):
    """A per-pixel Dense's map (Dense, TimeDistributed(Dense), pointwise
    EinsumDense, PixelDense), or a reason it is not one."""
    depth = 0
    while isinstance(layer, keras.layers.TimeDistributed):
        layer, depth = layer.layer, depth + 1
    if depth and not isinstance(layer, keras.layers.Dense):
        return f"TimeDistributed({type(layer).__name__}) is not a Dense"
    reason = _not_plain(layer)
    if reason:
        return reason
    rank = _one_rank(calls)
    if isinstance(rank, str):
        return rank
    if isinstance(layer, keras.layers.EinsumDense) and len(_einsum_parts(layer.equation)[1]) > 2:
        return einsum_map(layer, calls, rank)
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
        einsum=_einsum_origin(layer) if depth == 0 else None,
        conv=getattr(layer, CONV_ORIGIN, None),
    )


def _einsum_origin(layer):
    """What rebuilds an EinsumDense letter for letter (None for other layers)."""
    if not isinstance(layer, keras.layers.EinsumDense):
        return None
    output_shape = layer.get_config()["output_shape"]
    return {
        "equation": layer.equation,
        "bias_axes": layer.bias_axes,
        "output_shape": list(output_shape) if isinstance(output_shape, (list, tuple)) else output_shape,
    }


# -- EinsumDense with several channel axes (attention projections) -------------------


def _einsum_parts(equation):
    try:
        lhs, out = equation.replace(" ", "").split("->")
        inp, ker = lhs.split(",")
    except ValueError:
        return "", "", ""
    return inp, ker, out


def parse_reshaped_einsum(equation, rank):
    """How an EinsumDense with a kernel of 3 or more axes is a per-position
    map, or a reason it is not one.

    Per position means: the input is ``(positions..., input channels...)``
    and the output ``(positions..., output channels...)`` with the same
    leading position axes (the batch first), and the kernel holds exactly
    the input and the output channel axes. Returns ``(positions, inputs,
    outputs, permutation)`` (letters; the permutation takes the kernel to
    the order ``inputs + outputs``).
    """
    inp, ker, out = _einsum_parts(equation)
    if not ker:
        return f"equation {equation!r} does not have one input and one kernel"
    if "..." in equation:
        return f"equation {equation!r}: an ellipsis with a {len(ker)}-axis kernel is not supported"
    if len(inp) != rank:
        return f"equation {equation!r} does not match rank {rank}"
    lead = 0
    while lead < min(len(inp), len(out)) and inp[lead] == out[lead] and inp[lead] not in ker:
        lead += 1
    positions, inputs, outputs = inp[:lead], inp[lead:], out[lead:]
    if not inputs or not outputs:
        return f"equation {equation!r} does not map channel axes to channel axes"
    if any(a in ker for a in positions) or sorted(ker) != sorted(inputs + outputs):
        return (
            f"equation {equation!r} mixes positions: its kernel '{ker}' is not the input "
            f"channels '{inputs}' and output channels '{outputs}'"
        )
    if set(inputs) & set(outputs) or len(set(ker)) != len(ker):
        return f"equation {equation!r} repeats an axis"
    if lead < 2:
        return "no position axis besides the batch: nothing to convolve over"
    permutation = [ker.index(a) for a in inputs + outputs]
    return positions, inputs, outputs, permutation


def einsum_map(layer, calls, rank):
    """The map of an attention-style EinsumDense (``abc,cde->abde``,
    ``abcd,cde->abe``), or a reason it is not one."""
    parsed = parse_reshaped_einsum(layer.equation, rank)
    if isinstance(parsed, str):
        return parsed
    positions, inputs, outputs, permutation = parsed
    spatial = len(positions) - 1
    if spatial > 3:
        return f"{spatial} position axes: Keras has no {spatial}-D convolution"
    weights = layer.get_weights()
    kernel = np.transpose(weights[0], permutation)
    in_dims = tuple(kernel.shape[: len(inputs)])
    out_dims = tuple(kernel.shape[len(inputs):])
    bias = weights[1] if len(weights) > 1 else None
    if bias is not None:
        if sorted(layer.bias_axes or "") != sorted(outputs) or tuple(bias.shape) != out_dims:
            return (
                f"bias_axes={layer.bias_axes!r} is not every output channel axis "
                f"'{outputs}' in order"
            )
        bias = bias.reshape(-1)
    shape = calls[0].shape
    dims = [shape[1 + i] for i in range(spatial)]
    for call in calls[1:]:
        dims = [d if d == e else None for d, e in zip(dims, call.shape[1:])]
    return PointwiseMap(
        kernel=kernel.reshape(math.prod(in_dims), math.prod(out_dims)),
        bias=bias,
        spatial=spatial,
        data_format="channels_last",
        strides=(1,) * spatial,
        groups=1,
        source=layer,
        config=shared_config(layer),
        in_dims=in_dims,
        out_dims=out_dims,
        positions=tuple(dims),
        einsum=_einsum_origin(layer),
    )


def canonical_einsum(spatial, n_in, n_out):
    """The equation of a per-position map in Keras' own letters
    (``abc,cde->abde`` for one position axis, one input and two output
    channel axes), and its output channel letters."""
    letters = string.ascii_lowercase
    positions = letters[: spatial + 1]
    inputs = letters[spatial + 1 : spatial + 1 + n_in]
    outputs = letters[spatial + 1 + n_in : spatial + 1 + n_in + n_out]
    return f"{positions}{inputs},{inputs}{outputs}->{positions}{outputs}", outputs


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


def remap_constraint(constraint, mapping):
    """A constraint with its `axis` entries mapped (a config, or an object
    rebuilt from its config with the new axes); None drops them. A
    constraint without axes is carried as it is."""
    if constraint is None:
        return None
    as_object = not isinstance(constraint, dict)
    config = keras.constraints.serialize(constraint) if as_object else constraint
    if not isinstance(config, dict) or "axis" not in config.get("config", {}):
        return constraint
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
    return keras.constraints.deserialize(config) if as_object else config


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


def _to_einsum(m):
    """The EinsumDense form of a map whose channel axes are reshaped."""
    n = m.spatial
    origin = m.einsum
    if origin is not None:
        equation, bias_axes = origin["equation"], origin["bias_axes"]
        output_shape = tuple(origin["output_shape"])
        parsed = parse_reshaped_einsum(equation, n + 1 + len(m.in_dims))
        if isinstance(parsed, str):
            origin = None
    if origin is None:
        equation, outputs = canonical_einsum(n, len(m.in_dims), len(m.out_dims))
        bias_axes = outputs if m.bias is not None else None
        output_shape = tuple(m.positions) + tuple(m.out_dims)
        parsed = parse_reshaped_einsum(equation, n + 1 + len(m.in_dims))
    permutation = parsed[3]
    kwargs = layer_kwargs(m.config, m.source.name, use_bias=m.bias is not None,
                          kernel_axes=lambda a: a)
    del kwargs["use_bias"]  # EinsumDense has a bias when it has bias_axes
    dense = keras.layers.EinsumDense(
        equation, output_shape=output_shape, bias_axes=bias_axes, **kwargs
    )
    kernel = m.kernel.reshape(m.in_dims + m.out_dims)
    kernel = np.transpose(kernel, np.argsort(permutation))
    arrays = [kernel] + ([m.bias.reshape(m.out_dims)] if m.bias is not None else [])
    return Plan([dense], [(dense, arrays)], "EinsumDense", f"'{equation}'")


def _to_plain_einsum(m):
    """The EinsumDense a 1x1 conv came from, with its equation again."""
    origin = m.einsum
    rank = m.spatial + 2
    parsed = parse_pointwise_einsum(origin["equation"], rank)
    if isinstance(parsed, str) or parsed[0] != m.data_format or any(s != 1 for s in m.strides):
        return None
    _, kernel_order, _ = parsed
    kwargs = layer_kwargs(m.config, m.source.name, use_bias=m.bias is not None,
                          kernel_axes=lambda a: a - m.spatial if a >= m.spatial else a)
    del kwargs["use_bias"]
    bias_axes = origin["bias_axes"] if m.bias is not None else None
    dense = keras.layers.EinsumDense(
        origin["equation"], output_shape=origin["output_shape"], bias_axes=bias_axes, **kwargs
    )
    arrays = [m.kernel.T if kernel_order == "dc" else m.kernel]
    if m.bias is not None:
        shape = (-1,) if m.data_format == "channels_last" else (-1,) + (1,) * m.spatial
        arrays.append(m.bias.reshape(shape))
    return Plan([dense], [(dense, arrays)], "EinsumDense", f"'{origin['equation']}' again")


def to_dense(m, target, taken):
    """The dense form of a pointwise map."""
    if m.reshaped:
        return _to_einsum(m)
    if m.einsum is not None and target == "keras" and m.groups == 1:
        planned = _to_plain_einsum(m)
        if planned is not None:
            return planned
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
    if m.conv is not None:
        object.__setattr__(dense, CONV_ORIGIN, dict(m.conv))
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
    if m.reshaped:
        return _to_chain(m, target, kwargs, kernel, groups)
    if target == "keras_1x1":
        conv = Conv1x1(
            m.units, strides=strides, groups=groups, data_format=m.data_format, **kwargs
        )
        arrays = [kernel]
    else:
        origin = m.conv or {}
        dilation = tuple(origin.get("dilation_rate", ()))
        conv = KERAS_CONV[n](
            m.units,
            1,
            strides=strides,
            padding=origin.get("padding", "valid"),
            data_format=m.data_format,
            dilation_rate=dilation if len(dilation) == n else 1,
            groups=groups,
            **kwargs,
        )
        arrays = [kernel.reshape((1,) * n + kernel.shape)]
    if m.bias is not None:
        arrays.append(m.bias)
    if m.einsum is not None:
        object.__setattr__(conv, EINSUM_ORIGIN, dict(m.einsum))
    return Plan([conv], [(conv, arrays)], type(conv).__name__, "; ".join(detail))


def _target_shape(positions, channels):
    """A Reshape target: the position dims (one free one as -1), then the
    channel dims; None when two position dims are free."""
    free = [d for d in positions if d is None]
    if len(free) > 1:
        return None
    return tuple(-1 if d is None else d for d in positions) + tuple(channels)


def _to_chain(m, target, kwargs, kernel, groups):
    """A reshaped map as a chain: [Reshape] + 1x1 conv + [Reshape]."""
    n = m.spatial
    before = _target_shape(m.positions, (m.kernel.shape[0],)) if len(m.in_dims) > 1 else ()
    after = _target_shape(m.positions, m.out_dims) if len(m.out_dims) > 1 else ()
    if before is None or after is None:
        return "two free position axes cannot both be kept by a Reshape"
    name = kwargs["name"]
    if target == "keras_1x1":
        conv = Conv1x1(m.units, groups=groups, data_format="channels_last", **kwargs)
        arrays = [kernel]
    else:
        conv = KERAS_CONV[n](m.units, 1, padding="valid", groups=groups, **kwargs)
        arrays = [kernel.reshape((1,) * n + kernel.shape)]
    if m.bias is not None:
        arrays.append(m.bias)
    dtype = m.config["dtype"]
    layers = []
    if before:
        layers.append(keras.layers.Reshape(before, name=f"{name}_merge_channels", dtype=dtype))
    layers.append(conv)
    if after:
        layers.append(keras.layers.Reshape(after, name=f"{name}_split_channels", dtype=dtype))
    chain = keras.Sequential(layers, name=name, trainable=m.config["trainable"])
    if m.einsum is not None:
        object.__setattr__(chain, EINSUM_ORIGIN, dict(m.einsum))
    shapes = f"{'x'.join(map(str, m.in_dims))} -> {'x'.join(map(str, m.out_dims))}"
    result = " + ".join(type(layer).__name__ for layer in layers)
    return Plan([chain], [(conv, arrays)], result, f"channels {shapes} reshaped around the conv")


def restore_origin(layer, replaced):
    """Put back on a reloaded converted layer what only the form it
    replaced had (``replaced``: that layer's serialized config), as the
    conversion left it: an EinsumDense's equation, a conv's padding and
    dilation. A `.keras` file keeps them in its record of replacements."""
    if not isinstance(replaced, dict):
        return
    name, config = replaced.get("class_name"), replaced.get("config") or {}
    if name == "EinsumDense" and isinstance(layer, (keras.Sequential,) + CONV_CLASSES + (Conv1x1,)):
        output_shape = config.get("output_shape")
        object.__setattr__(layer, EINSUM_ORIGIN, {
            "equation": config.get("equation"),
            "bias_axes": config.get("bias_axes"),
            "output_shape": list(output_shape) if isinstance(output_shape, (list, tuple)) else output_shape,
        })
    elif name in {c.__name__ for c in CONV_CLASSES} and isinstance(layer, (keras.layers.Dense, keras.layers.EinsumDense, PixelDense)):
        object.__setattr__(layer, CONV_ORIGIN, {
            "padding": config.get("padding", "valid"),
            "dilation_rate": tuple(config.get("dilation_rate", ())),
        })


# -- chains: a small Sequential that is one per-position map ----------------------------


def chain_map(chain, calls, direction):
    """The map of a chain the converters make, or None when `chain` is not one.

    Two shapes count: ``[Reshape] + 1x1 conv + [Reshape]`` with at least one
    Reshape that only merges or splits the channel axes (the conv form of
    an attention projection; ``direction`` "dense" reads it), and
    ``[1x1 subsampling pool] + per-pixel Dense`` (the dense form of a strided
    1x1 conv inside a layer; ``direction`` "conv" reads it). A returned
    string is the reason the chain is left as it is.
    """
    layers = [layer for layer in chain.layers if not isinstance(layer, keras.layers.InputLayer)]
    if not calls or not layers:
        return None
    rank = _one_rank(calls)
    if isinstance(rank, str):
        return None
    if direction == "conv":
        if len(layers) != 2 or subsampling_pool(layers[0]) is None:
            return None
        dense = layers[1]
        if not isinstance(dense, (keras.layers.Dense, keras.layers.EinsumDense, PixelDense)):
            return None
        found = dense_map(dense, graph.calls(dense, chain))
        if isinstance(found, str) or found.reshaped:
            return found if isinstance(found, str) else None
        pool = layers[0]
        if getattr(pool, "data_format", found.data_format) != found.data_format:
            return None
        if len(pool.strides) != found.spatial:
            return None
        found.strides = tuple(pool.strides)
        found.config = {**found.config, "name": chain.name}
        return found
    convs = [i for i, layer in enumerate(layers) if isinstance(layer, CONV_CLASSES + (Conv1x1,))]
    if len(convs) != 1:
        return None
    k = convs[0]
    before, conv, after = layers[:k], layers[k], layers[k + 1:]
    if len(before) > 1 or len(after) > 1 or not (before or after):
        return None
    if not all(isinstance(layer, keras.layers.Reshape) for layer in before + after):
        return None
    found = conv_map(conv, graph.calls(conv, chain))
    if isinstance(found, str):
        return found
    if found.data_format != "channels_last" or any(s != 1 for s in found.strides):
        return None
    n = found.spatial
    shape = tuple(calls[0].shape)
    if before:
        target = tuple(before[0].target_shape)
        if len(target) != n + 1:
            return None
        in_dims = shape[1 + n:]
        if any(d is None for d in in_dims) or math.prod(in_dims) != target[-1]:
            return None
        if any(t not in (-1, None, d) and d is not None for t, d in zip(target[:-1], shape[1:1 + n])):
            return None
    else:
        if len(shape) != n + 2:
            return None
        in_dims = shape[-1:]
    positions = tuple(shape[1:1 + n])
    if after:
        target = tuple(after[0].target_shape)
        out_dims = target[n:]
        if len(target) <= n or any(d in (-1, None) for d in out_dims):
            return None
        if math.prod(out_dims) != found.units:
            return None
        if any(t not in (-1, None, d) and d is not None for t, d in zip(target[:n], positions)):
            return None
    else:
        out_dims = (found.units,)
    found.in_dims, found.out_dims, found.positions = tuple(in_dims), tuple(out_dims), positions
    found.config = {**found.config, "name": chain.name, "trainable": chain.trainable}
    found.einsum = getattr(chain, EINSUM_ORIGIN, None)
    if found.groups > 1:
        return "a grouped conv between reshapes: convert its groups first"
    return found


def subsampling_pool(layer):
    """Strides of a pool that only subsamples (pool size 1), else None."""
    if not isinstance(layer, POOL_CLASSES):
        return None
    if any(p != 1 for p in layer.pool_size):
        return None
    return tuple(layer.strides)
