"""`PixelDense`: a Dense layer at every pixel that can also run as a 1x1 conv."""

import keras

from .base import PointwiseBase


@keras.saving.register_keras_serializable(package="keras_1x1")
class PixelDense(PointwiseBase):
    """A Dense layer applied at every spatial position, with tied weights.

    ``y[b, p, :] = x[b, p, :] @ kernel + bias`` for every spatial position
    ``p`` of an input with 1, 2 or 3 spatial axes; with
    ``data_format="channels_first"`` the map acts on axis 1. The kernel has
    shape ``(in_channels, units)`` and the bias ``(units,)``: the same layout
    as `Conv1x1`, so weights move between the two with
    ``set_weights(get_weights())``.

    Called as ``layer(x)`` it runs one matrix multiply over the channel axis
    (never a loop over positions, unlike `keras.layers.TimeDistributed`).
    Called as ``layer(x, form="conv")`` it runs the same map as a real 1x1
    convolution. Calling one layer in both forms ties them: one kernel, two
    views, through training and `.keras` save/load.

    Args:
        units: number of output channels, a positive integer.
        data_format: ``"channels_last"`` or ``"channels_first"``; defaults to
            Keras' image data format.
        activation: activation applied after the bias.
        use_bias: whether to add a bias.
        kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer, activity_regularizer, kernel_constraint,
        bias_constraint: as for `keras.layers.Dense`.

    Example:

    >>> import keras, keras_1x1
    >>> inputs = keras.Input((7, 7, 16))
    >>> shared = keras_1x1.PixelDense(4)
    >>> model = keras.Model(inputs, [shared(inputs), shared(inputs, form="conv")])
    >>> len(model.weights)   # one kernel and one bias for both outputs
    2
    """

    default_form = "dense"
    units_argument = "units"

    def __init__(
        self,
        units,
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
        for name in ("strides", "groups"):
            if name in kwargs:
                raise ValueError(
                    f"PixelDense has no `{name}` (it is a Dense at every position); "
                    f"use Conv1x1 for a strided or grouped pointwise map. "
                    f"Received: {name}={kwargs[name]!r}"
                )
        super().__init__(
            units,
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

    def get_config(self):
        config = super().get_config()
        config["units"] = self.units
        return config
