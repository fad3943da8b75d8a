import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.pop("KERAS_1X1_PROGRESS", None)  # stage lines only where a test asks for them

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import keras_1x1  # noqa: E402,F401  (registers the layers, loads TF quietly)


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Each test starts from float32, channels_last and a fixed seed."""
    keras.utils.set_random_seed(1234)
    yield
    keras.mixed_precision.set_global_policy("float32")
    keras.config.set_image_data_format("channels_last")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
