"""Keep TensorFlow's native start-up chatter off the terminal.

TensorFlow's shared libraries print CUDA probing notes on stderr before its
logging is configured, so ``TF_CPP_MIN_LOG_LEVEL`` cannot silence them. When
the level is 2 or more (the default keras-1x1 sets), the native stderr is
pointed at /dev/null while TensorFlow loads and probes its devices. Python
exceptions are unaffected: they propagate after stderr is restored.
"""

import contextlib
import os


def wanted():
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0")) >= 2
    except ValueError:
        return False


@contextlib.contextmanager
def native_stderr_silenced():
    if not wanted():
        yield
        return
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(null)
        os.close(saved)


def probe_devices():
    """Let TensorFlow probe its devices now, quietly (command line only).

    Also keeps TensorFlow's Python logger to errors: its retracing notes
    are about TensorFlow internals, not about the user's model.
    """
    with native_stderr_silenced():
        import tensorflow as tf

        tf.config.list_physical_devices()
    if wanted():
        tf.get_logger().setLevel("ERROR")
