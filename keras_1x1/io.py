"""Reading model files safely and writing outputs atomically.

Every path a user gives goes through here, so that bad input gets one clear
line (`UserInputError`) and nothing is ever half-written: outputs go to a
temporary file in the destination folder and are renamed into place only
after they are complete.
"""

import contextlib
import os
import tempfile
import zipfile
from pathlib import Path

from keras_1x1.errors import UserInputError, one_line

KERAS_SUFFIXES = (".keras",)
H5_SUFFIXES = (".h5", ".hdf5")
MODEL_SUFFIXES = KERAS_SUFFIXES + H5_SUFFIXES


def existing_file(path, what="file"):
    """The path as a `Path`, or a `UserInputError` naming what is wrong."""
    path = Path(path)
    if not path.exists():
        raise UserInputError(f"{path}: no such {what}")
    if path.is_dir():
        raise UserInputError(f"{path}: is a directory, expected a {what}")
    if not os.access(path, os.R_OK):
        raise UserInputError(f"{path}: permission denied")
    return path


def load_model(path, *, unsafe=False, compile=True):
    """Load a `.keras` or legacy `.h5` Keras model, refusing unsafe code.

    Keras' `safe_mode=True` is used unless `unsafe` is set: a model with a
    Lambda layer would run arbitrary code when loaded.
    """
    import keras

    path = existing_file(path, "model file")
    suffix = path.suffix.lower()
    if suffix not in MODEL_SUFFIXES:
        raise UserInputError(
            f"{path}: expected a Keras model file ending in .keras or .h5"
        )
    if suffix in KERAS_SUFFIXES and not zipfile.is_zipfile(path):
        raise UserInputError(
            f"{path}: not a .keras model archive (not a zip file, or truncated)"
        )
    if suffix in H5_SUFFIXES:
        import h5py

        if not h5py.is_hdf5(path):
            raise UserInputError(f"{path}: not an HDF5 model file")
    try:
        return _load(keras, path, unsafe=unsafe, compile=compile)
    except UserInputError:
        raise
    except Exception as error:  # noqa: BLE001 - re-raised with context
        raise UserInputError(_explain_load_error(path, error)) from error


def _load(keras, path, *, unsafe, compile):
    import keras_1x1.layers  # noqa: F401  (registers Conv1x1 and PixelDense)

    try:
        return keras.saving.load_model(path, compile=compile, safe_mode=not unsafe)
    except Exception as error:
        # A compile config that cannot be rebuilt (a custom loss, say)
        # should not stop a conversion: load the model without it.
        if not compile or "compile" not in str(error).lower():
            raise
        return keras.saving.load_model(path, compile=False, safe_mode=not unsafe)


def _explain_load_error(path, error):
    text = one_line(error, None)
    lowered = text.lower()
    if "lambda" in lowered and ("safe_mode" in lowered or "unsafe" in lowered):
        return (
            f"{path}: the model has a Lambda layer, and loading it runs code "
            "stored in the file; pass --unsafe if you trust the file"
        )
    if "safe_mode" in lowered:
        return (
            f"{path}: loading this model would run code stored in the file; "
            "pass --unsafe if you trust the file"
        )
    for marker in ("Could not locate class '", "Unknown layer: '", "Unknown layer: "):
        if marker in text:
            name = text.split(marker, 1)[1].split("'", 1)[0].split(".", 1)[0].strip()
            return (
                f"{path}: the model needs the custom layer or object '{name}', "
                "which is not registered; import the module that defines it and "
                "decorate the class with @keras.saving.register_keras_serializable()"
            )
    if isinstance(error, (zipfile.BadZipFile, EOFError)) or "zip" in lowered:
        return f"{path}: the .keras archive is damaged or truncated ({text})"
    return f"{path}: cannot load the model: {type(error).__name__}: {text}"


def output_path(path, *, overwrite=False, inputs=(), suffixes=None):
    """Check an output path before any work is done on it."""
    text = os.fspath(path)
    if text.endswith(("/", os.sep)):
        raise UserInputError(f"{text}: names a folder; give the output file's name")
    path = Path(path)
    if suffixes and path.suffix.lower() not in suffixes:
        raise UserInputError(
            f"{path}: output must end in {' or '.join(suffixes)}"
        )
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        raise UserInputError(f"{path}: the output folder {parent} does not exist")
    if not parent.is_dir():
        raise UserInputError(f"{path}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserInputError(f"{path}: the output folder {parent} is not writable")
    if path.is_dir():
        raise UserInputError(f"{path}: is a directory")
    for source in inputs:
        if path.exists() and Path(source).exists() and path.samefile(source):
            raise UserInputError(
                f"{path}: is also the input; write to a new file so the input stays intact"
            )
    if path.exists() and not overwrite:
        raise UserInputError(
            f"{path}: exists; pass --overwrite (overwrite=True) to replace it"
        )
    return path


class Discard(Exception):
    """Raise inside `atomic_output` to drop what was written: the temporary
    file is removed, `path` is left as it was, and no error escapes."""


@contextlib.contextmanager
def atomic_output(path):
    """Yield a temporary path next to `path`; rename it into place on success.

    On any failure (including KeyboardInterrupt) the temporary file is
    removed and an existing file at `path` is left untouched; raising
    `Discard` does the same without an error (a file that failed a check).
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=parent
        )
    except OSError as error:
        raise UserInputError(f"{path}: cannot write to {parent}: {error.strerror}") from None
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        # mkstemp makes the file private (0600); give it the permissions a
        # plainly created file would have.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except Discard:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    except OSError as error:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        reason = error.strerror or str(error)
        raise UserInputError(f"{path}: writing failed ({reason}); nothing was written") from error
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def save_model(model, path, *, overwrite=False):
    """Save a Keras model atomically as .keras or .h5 (by the suffix).

    A converted model saves its record of replaced sublayers with it (see
    `keras_1x1.converters.keras.saving`) and reloads in its converted form.
    """
    import logging

    path = output_path(path, overwrite=overwrite, suffixes=MODEL_SUFFIXES)
    # Keras warns that .h5 is a legacy format; the user asked for it by name.
    absl = logging.getLogger("absl")
    level = absl.level
    absl.setLevel(logging.ERROR)
    try:
        with atomic_output(path) as tmp:
            model.save(tmp, overwrite=True)
    finally:
        absl.setLevel(level)
    return path


def write_bytes(data, path, *, overwrite=False, suffixes=None):
    """Write bytes atomically."""
    path = output_path(path, overwrite=overwrite, suffixes=suffixes)
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)
    return path


INPUT_SUFFIXES = (".npz", ".npy")


def load_inputs(path):
    """The arrays of an inputs file (the command line's ``--inputs``).

    A ``.npz`` holds one array per input: ``{input name: array}``, or a
    list in the model's input order when its names are numpy's own
    ``arr_0``, ``arr_1``, ... (``np.savez(path, x, y)``). A ``.npy`` holds
    the one input of a single-input model. Pickled objects are refused.
    """
    import re

    import numpy as np

    path = existing_file(path, "inputs file")
    suffix = path.suffix.lower()
    if suffix not in INPUT_SUFFIXES:
        raise UserInputError(
            f"{path}: inputs must be a .npz file (one array per input, by name) or a .npy file"
        )
    with open(path, "rb") as handle:
        magic = handle.read(6)
    if not magic.startswith(b"\x93NUMPY" if suffix == ".npy" else b"PK\x03\x04"):
        raise UserInputError(f"{path}: not a readable {suffix} file (numpy's np.save or np.savez writes one)")
    try:
        loaded = np.load(path, allow_pickle=False)
        if suffix == ".npy":
            return _input_array(path, "the array", loaded)
        with loaded:
            arrays = {name: _input_array(path, name, loaded[name]) for name in loaded.files}
    except UserInputError:
        raise
    except ValueError as error:
        if "pickle" in str(error).lower():
            raise UserInputError(f"{path}: holds Python objects, not arrays; save plain arrays") from None
        raise UserInputError(f"{path}: not a readable {suffix} file: {one_line(error)}") from None
    except Exception as error:  # noqa: BLE001 - numpy's and zipfile's own errors, one line
        raise UserInputError(f"{path}: not a readable {suffix} file: {one_line(error)}") from None
    if not arrays:
        raise UserInputError(f"{path}: holds no arrays")
    positional = [re.fullmatch(r"arr_(\d+)", name) for name in arrays]
    if all(positional):
        order = sorted(int(match.group(1)) for match in positional)
        if order != list(range(len(order))):
            raise UserInputError(f"{path}: arrays arr_0 .. arr_{len(order) - 1} expected, got {', '.join(arrays)}")
        return [arrays[f"arr_{i}"] for i in order]
    return arrays


def _input_array(path, name, value):
    import numpy as np

    value = np.asarray(value)
    if value.dtype.kind not in "biuf":
        raise UserInputError(f"{path}: {name} holds {value.dtype}, not numbers or booleans")
    return value
