"""The layers: `Conv1x1` and `PixelDense`, one pointwise map in two forms.

Both hold one kernel ``(in_channels // groups, units)`` and one bias
``(units,)`` and are registered for Keras serialization (package
``keras_1x1``); `base.PointwiseBase` holds the shared mathematics.
"""

from .conv1x1 import Conv1x1
from .pixel_dense import PixelDense

__all__ = ["Conv1x1", "PixelDense"]
