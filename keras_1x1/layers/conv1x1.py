"""`Conv1x1`: a 1x1 convolution that can also run as a per-pixel Dense."""

import keras

from .base import PointwiseBase


@keras.saving.register_keras_serializable(package="keras_1x1")
class Conv1x1(PointwiseBase):
    """A pointwise (1x1, 1 or 1x1x1) convolution, in either of its two forms.

    ``y[b, p, :] = x[b, s * p, :] @ kernel + bias`` at every spatial position
    ``p``, for inputs with 1, 2 or 3 spatial axes. The kernel has shape
    ``(in_channels // groups, filters)`` and the bias ``(filters,)``: the same
    layout as `PixelDense`, so weights move between the two with
    ``set_weights(get_weights())``.

    Called as ``layer(x)`` it runs a real convolution. Called as
    ``layer(x, form="dense")`` it subsamples by ``strides`` and runs one
    matrix multiply over the channel axis (a batched one, a block per group,
    when ``groups > 1``). Calling one layer in both forms ties them: one
    kernel, two views.

    Args:
        filters: number of output channels, a positive integer.
        strides: an integer or a tuple with one integer per spatial axis.
        groups: number of channel groups; must divide both the input
            channels and `filters`.
        data_format: ``"channels_last"`` or ``"channels_first"``; defaults to
            Keras' image data format.
        activation: activation applied after the bias.
        use_bias: whether to add a bias.
        kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer, activity_regularizer, kernel_constraint,
        bias_constraint: as for `keras.layers.Conv2D`.

    Example:

    >>> import numpy as np, keras_1x1
    >>> layer = keras_1x1.Conv1x1(8, strides=2)
    >>> x = np.random.rand(2, 6, 6, 4).astype("float32")
    >>> layer(x).shape
    TensorShape([2, 3, 3, 8])
    >>> np.allclose(layer(x), layer(x, form="dense"), atol=1e-6)
    True
    """

    default_form = "conv"
    units_argument = "filters"

    def __init__(
        self,
        filters,
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
        super().__init__(
            filters,
            strides=strides,
            groups=groups,
            data_format=data_format,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            **kwargs,
        )
        self.filters = filters

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "strides": self.strides,
                "groups": self.groups,
            }
        )
        return config
