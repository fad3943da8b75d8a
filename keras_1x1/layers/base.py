"""The shared body of `Conv1x1` and `PixelDense`.

Both layers hold one kernel of shape ``(in_channels // groups, units)`` and
one bias of shape ``(units,)``, and compute the same linear map at every
spatial position, either as a real convolution (``form="conv"``) or as one
matrix multiply over the channel axis (``form="dense"``).
"""

import math

import keras
from keras import activations, constraints, initializers, ops, regularizers

FORMS = ("conv", "dense")


def _positive_int(value):
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


class PointwiseBase(keras.layers.Layer):
    """A per-position linear map over the channel axis, in two forms."""

    # The form used when `call` gets `form=None`; set by each public class.
    default_form = None
    # The name of the width argument in the public class ("filters"/"units").
    units_argument = "units"

    def __init__(
        self,
        units,
        *,
        strides=1,
        groups=1,
        data_format=None,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        name = self.units_argument
        if not _positive_int(units):
            raise ValueError(
                f"Received an invalid value for `{name}`, expected a positive "
                f"integer. Received: {name}={units!r}"
            )
        if _positive_int(strides):
            strides_value = strides
        elif (
            isinstance(strides, (tuple, list))
            and 1 <= len(strides) <= 3
            and all(_positive_int(s) for s in strides)
        ):
            strides_value = tuple(strides)
        else:
            raise ValueError(
                "Received an invalid value for `strides`, expected a positive "
                "integer or a tuple of 1 to 3 positive integers. "
                f"Received: strides={strides!r}"
            )
        if not _positive_int(groups):
            raise ValueError(
                "Received an invalid value for `groups`, expected a positive "
                f"integer. Received: groups={groups!r}"
            )
        if units % groups:
            raise ValueError(
                f"`{name}` must be divisible by `groups`. "
                f"Received: {name}={units}, groups={groups}"
            )
        if data_format is None:
            data_format = keras.config.image_data_format()
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError(
                "`data_format` must be 'channels_last' or 'channels_first'. "
                f"Received: data_format={data_format!r}"
            )
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.units = units
        self.strides = strides_value
        self.groups = groups
        self.data_format = data_format
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.kernel = None
        self.bias = None

    # -- shapes ---------------------------------------------------------------

    @property
    def channel_axis(self):
        return 1 if self.data_format == "channels_first" else -1

    def _spatial_strides(self, rank):
        """The strides as a tuple with one entry per spatial axis."""
        spatial = rank - 2
        if isinstance(self.strides, int):
            return (self.strides,) * spatial
        if len(self.strides) != spatial:
            raise ValueError(
                f"`strides` has {len(self.strides)} entries but the input has "
                f"{spatial} spatial axes. Received: strides={self.strides}"
            )
        return self.strides

    def _check_input_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) not in (3, 4, 5):
            raise ValueError(
                f"{type(self).__name__} expects inputs of rank 3, 4 or 5 "
                "(batch, 1 to 3 spatial axes, channels). "
                f"Received: input_shape={input_shape}"
            )
        self._spatial_strides(len(input_shape))
        channels = input_shape[self.channel_axis]
        if channels is None:
            raise ValueError(
                f"{type(self).__name__} needs a known channel count on axis "
                f"{self.channel_axis} (data_format={self.data_format!r}). "
                f"Received: input_shape={input_shape}"
            )
        return channels

    def build(self, input_shape):
        channels = self._check_input_shape(input_shape)
        if channels % self.groups:
            raise ValueError(
                "`groups` must divide the number of input channels. "
                f"Received: groups={self.groups}, input channels={channels} "
                f"(input_shape={tuple(input_shape)})"
            )
        self.kernel = self.add_weight(
            name="kernel",
            shape=(channels // self.groups, self.units),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.units,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        self.built = True

    @property
    def input_channels(self):
        """Input channels the layer was built for (None before build)."""
        if self.kernel is None:
            return None
        return self.kernel.shape[0] * self.groups

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        strides = self._spatial_strides(len(input_shape))
        if self.data_format == "channels_first":
            spatial = input_shape[2:]
        else:
            spatial = input_shape[1:-1]
        spatial = tuple(
            None if d is None else math.ceil(d / s)
            for d, s in zip(spatial, strides)
        )
        if self.data_format == "channels_first":
            return (input_shape[0], self.units) + spatial
        return (input_shape[0],) + spatial + (self.units,)

    # -- computation ----------------------------------------------------------

    def call(self, inputs, form=None):
        if form is None:
            form = self.default_form
        if form not in FORMS:
            raise ValueError(
                "`form` must be None, 'conv' or 'dense'. "
                f"Received: form={form!r}"
            )
        channels = self._check_input_shape(inputs.shape)
        if channels != self.input_channels:
            raise ValueError(
                f"{type(self).__name__} '{self.name}' was built for "
                f"{self.input_channels} input channels (axis "
                f"{self.channel_axis}); a layer keeps its kernel across "
                f"calls. Received: input_shape={tuple(inputs.shape)}"
            )
        strides = self._spatial_strides(len(inputs.shape))
        channels_first = self.data_format == "channels_first"

        # Work channels-last: for channels_first inputs the map acts on axis 1
        # (y[b, d, ...] = sum_c x[b, c, ...] W[c, d]); moving the axis keeps
        # one code path and adds the bias on the channel axis unambiguously
        # (Keras' TF `ops.add` guesses the bias axis from the shapes and
        # picks the last axis when it has as many entries as there are
        # channels).
        x = ops.moveaxis(inputs, 1, -1) if channels_first else inputs
        activated = False
        if form == "conv":
            y = self._conv_channels_last(x, strides)
            if self.use_bias:
                y = ops.add(y, self.bias)
        elif keras.backend.backend() != "tensorflow":
            # JAX and torch multiply over the last axis of any rank as fast;
            # and jax2onnx cannot export a reshape to a size computed from
            # a free batch dim.
            y = self._dense_channels_last(self._subsample(x, strides))
            if self.use_bias:
                y = ops.add(y, self.bias)
        else:
            # The matrix multiply, bias and activation run on the 2-D view
            # (positions, channels), so TensorFlow fuses them into one op;
            # the reshape back comes last.
            x = self._subsample(x, strides)
            lead = tuple(ops.shape(x)[:-1])
            y = self._dense_channels_last(ops.reshape(x, (-1, x.shape[-1])))
            if self.use_bias:
                y = ops.add(y, self.bias)
            if self.activation is not None and not channels_first:
                y = self.activation(y)
                activated = True
            y = ops.reshape(y, lead + (self.units,))
        if channels_first:
            y = ops.moveaxis(y, -1, 1)
        if self.activation is not None and not activated:
            y = self.activation(y)
        return y

    @staticmethod
    def _subsample(x, strides):
        """x[:, ::s, ::s, :]: what a strided 1x1 window reads."""
        if all(s == 1 for s in strides):
            return x
        return x[(slice(None),) + tuple(slice(None, None, s) for s in strides)]

    def _conv_channels_last(self, x, strides):
        # The kernel viewed as (1, .., 1, in_channels // groups, units); the
        # backend convolution reads groups from the channel counts. Padding
        # does not matter for a 1x1 window: "valid" and "same" agree.
        kernel = ops.reshape(self.kernel, (1,) * len(strides) + tuple(self.kernel.shape))
        return ops.conv(x, kernel, strides=strides, padding="valid", data_format="channels_last")

    def _dense_channels_last(self, x):
        if self.groups == 1:
            return ops.matmul(x, self.kernel)
        # One batched matrix multiply over the channel axis, a block per group.
        g = self.groups
        per_group = self.kernel.shape[0]
        lead = tuple(ops.shape(x)[:-1])
        x = ops.reshape(x, lead + (g, per_group))
        kernel = ops.reshape(self.kernel, (per_group, g, self.units // g))
        y = ops.einsum("...gc,cgd->...gd", x, kernel)
        return ops.reshape(y, lead + (self.units,))

    # -- serialization --------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "data_format": self.data_format,
                "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "kernel_constraint": constraints.serialize(self.kernel_constraint),
                "bias_constraint": constraints.serialize(self.bias_constraint),
            }
        )
        return config
