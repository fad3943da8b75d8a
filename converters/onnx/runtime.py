"""onnxruntime sessions that run where they were asked to, and safe ONNX loading.

- Providers are ``"cpu"`` and ``"cuda"``. When CUDA is asked for and the
  session does not actually run on ``CUDAExecutionProvider`` (onnxruntime
  falls back to the CPU silently when the CUDA libraries cannot be loaded),
  that is a `UserInputError` naming CUDA, never a quiet CPU run.
- Strict sessions (the default) turn TF32 off on CUDA (``use_tf32=0``), so
  float32 MatMul and Conv keep their 23-bit mantissa and comparisons stay
  meaningful.
- ``onnxruntime`` and ``onnxruntime-gpu`` install the same files; with both
  installed, whichever came last wins and the CUDA provider may be missing.
  `installation_problem` detects it and says how to fix it.
- `load_onnx` turns corrupt or foreign files into one-line `UserInputError`
  messages and refuses external data stored outside the model's folder.

>>> import numpy as np, onnx
>>> from onnx import helper
>>> graph = helper.make_graph(
...     [helper.make_node("Relu", ["x"], ["y"])], "relu",
...     [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 2])],
...     [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 2])])
>>> model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
>>> session = make_session(model, "cpu")
>>> session.get_providers()[0]
'CPUExecutionProvider'
>>> run(session, {"x": np.array([[-1.0, 2.0]], "float32")})["y"].tolist()
[[0.0, 2.0]]
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.metadata
import warnings
from pathlib import Path

import numpy as np

from keras_1x1.errors import UserInputError, one_line

__all__ = [
    "PROVIDERS",
    "Provider",
    "TABLE",
    "placed_session",
    "provider_spec",
    "input_specs",
    "installation_problem",
    "load_onnx",
    "load_onnx_bytes",
    "make_session",
    "output_names",
    "provider_name",
    "run",
]

@dataclasses.dataclass(frozen=True)
class Provider:
    """One execution provider, as every check treats it.

    Attributes:
        key: what users write (``--provider``).
        name: onnxruntime's name for it.
        shown: how messages name it.
        runtime: how reports name where a graph ran.
        exact: it computes float32 as float32. When False (the HTP runs
            fp16), a graph run there is compared with the reference run in
            float32 on the CPU, with `tolerance`.
        tolerance: ``(atol, rtol)`` for its outputs, or None for the
            defaults by dtype.
        placed: it reports where each node ran, and a node it cannot run
            fails the check (`htp.Placement`).
    """

    key: str
    name: str
    shown: str
    runtime: str
    exact: bool = True
    tolerance: tuple | None = None
    placed: bool = False


def _table():
    from keras_1x1.numeric import HTP_FP16

    return {
        "cpu": Provider("cpu", "CPUExecutionProvider", "the CPU", "onnxruntime CPUExecutionProvider"),
        "cuda": Provider("cuda", "CUDAExecutionProvider", "CUDA", "onnxruntime CUDAExecutionProvider"),
        "qnn": Provider(
            "qnn", "QNNExecutionProvider", "Qualcomm's HTP (qnn)",
            "onnxruntime QNNExecutionProvider (HTP, fp16)",
            exact=False, tolerance=HTP_FP16, placed=True,
        ),
    }


TABLE = _table()
PROVIDERS = {key: p.name for key, p in TABLE.items()}
_ORT_DISTRIBUTIONS = (
    "onnxruntime",
    "onnxruntime-gpu",
    "onnxruntime-directml",
    "onnxruntime-openvino",
    "onnxruntime-silicon",
    "onnxruntime-training",
    "ort-nightly",
    "ort-nightly-gpu",
)


# -- installation ----------------------------------------------------------------------


def _normalized(name):
    return name.lower().replace("_", "-").replace(".", "-")


@functools.lru_cache(maxsize=None)
def installed_onnxruntimes():
    """Names of the onnxruntime distributions installed (normally one).

    Read once per process (a scan of every installed package's metadata);
    every session checks it.
    """
    found = set()
    for dist in importlib.metadata.distributions():
        try:
            name = dist.metadata["Name"]
        except Exception:  # noqa: BLE001 - a broken distribution record
            continue
        if name and _normalized(name) in _ORT_DISTRIBUTIONS:
            found.add(_normalized(name))
    return tuple(sorted(found))


def installation_problem(distributions=None):
    """A one-line explanation when several onnxruntime packages are installed."""
    if distributions is None:
        distributions = installed_onnxruntimes()
    if len(distributions) < 2:
        return None
    names = " and ".join(distributions)
    keep = "onnxruntime-gpu" if "onnxruntime-gpu" in distributions else distributions[-1]
    return (
        f"{names} are installed together; they overwrite each other's files, so "
        "the CUDA provider may be missing or broken. Fix: pip uninstall -y "
        f"{' '.join(distributions)} && pip install {keep} (onnxruntime-gpu also "
        "runs on the CPU; install plain onnxruntime only for CPU-only machines)"
    )


def provider_name(provider):
    """``"cpu"``/``"cuda"``/``"qnn"`` (or an onnxruntime provider name) -> the provider name."""
    if provider is None:
        return PROVIDERS["cpu"]
    key = str(provider).strip()
    if key.lower() in PROVIDERS:
        return PROVIDERS[key.lower()]
    if key in PROVIDERS.values():
        return key
    raise UserInputError(f"unknown provider {provider!r}; use 'cpu', 'cuda' or 'qnn'")


def provider_spec(key):
    """The `Provider` for a key or an onnxruntime provider name."""
    name = provider_name(key)
    return next(p for p in TABLE.values() if p.name == name)


def placed_session(model, key, shapes):
    """``(session, placement)`` on a provider: `placement` (`htp.Placement`)
    for one that reports where each node ran, else None. `shapes` are the
    input shapes a provider that takes static shapes fixes."""
    if provider_spec(key).placed:
        from . import htp

        if not isinstance(model, __import__("onnx").ModelProto):
            model = load_onnx_bytes(bytes(model)) if isinstance(model, (bytes, bytearray)) else load_onnx(model)
        return htp.session(model, shapes or {})
    return make_session(model, key), None


def _ort():
    try:
        import onnxruntime as ort
    except ImportError as error:
        problem = installation_problem()
        raise UserInputError(
            problem or f"onnxruntime cannot be imported ({error}); pip install onnxruntime"
        ) from error
    return ort


def cuda_available():
    """Whether onnxruntime offers the CUDA provider (not whether it will load)."""
    return PROVIDERS["cuda"] in _ort().get_available_providers()


# -- loading ---------------------------------------------------------------------------


def _check_proto(model, where):
    if not isinstance(model, __import__("onnx").ModelProto):
        raise UserInputError(f"{where}: not an ONNX model")
    if not model.ir_version or not model.HasField("graph") or not model.opset_import:
        raise UserInputError(
            f"{where}: not an ONNX model (no graph, IR version or opset; the file "
            "may be of another format or truncated)"
        )
    if not model.graph.output:
        raise UserInputError(f"{where}: the ONNX graph has no outputs")
    return model


def load_onnx_bytes(data, where="ONNX data"):
    """Parse ONNX bytes; a `UserInputError` for anything that is not ONNX."""
    import onnx

    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as error:  # noqa: BLE001 - protobuf's DecodeError and friends
        raise UserInputError(
            f"{where}: not a valid ONNX file (cannot parse the protobuf: {type(error).__name__})"
        ) from None
    return _check_proto(model, where)


def _external_locations(model):
    import onnx

    from .onnx_internals import all_tensors

    for tensor in all_tensors(model):
        if tensor.HasField("data_location") and tensor.data_location == onnx.TensorProto.EXTERNAL:
            info = {e.key: e.value for e in tensor.external_data}
            yield tensor.name, info.get("location", "")


def load_onnx(path, *, load_external_data=True):
    """Load an ``.onnx`` file with one-line errors; external data must stay in its folder."""
    from keras_1x1.io import existing_file

    path = existing_file(path, "ONNX file")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UserInputError(f"{path}: cannot read: {error.strerror}") from None
    if data[:2] == b"PK":
        raise UserInputError(f"{path}: is a zip archive (a .keras model?), not an ONNX file")
    if data[:8] == b"\x89HDF\r\n\x1a\n":
        raise UserInputError(f"{path}: is an HDF5 file (an .h5 model?), not an ONNX file")
    model = load_onnx_bytes(data, where=str(path))
    folder = path.resolve().parent
    external = False
    for name, location in _external_locations(model):
        external = True
        if not location:
            raise UserInputError(f"{path}: tensor '{name}' has external data without a location")
        target = Path(location)
        resolved = (folder / target).resolve()
        if target.is_absolute() or ".." in target.parts or not resolved.is_relative_to(folder):
            raise UserInputError(
                f"{path}: tensor '{name}' points to external data outside the "
                f"model's folder ({location}); refusing to read it"
            )
        if not resolved.is_file():
            raise UserInputError(
                f"{path}: external data file {location} of tensor '{name}' is missing"
            )
    if external and load_external_data:
        from onnx import external_data_helper

        try:
            external_data_helper.load_external_data_for_model(model, str(folder))
        except Exception as error:  # noqa: BLE001
            raise UserInputError(f"{path}: cannot read its external data: {error}") from None
    return model


# -- sessions --------------------------------------------------------------------------


def make_session(model, provider="cpu", *, strict=True, threads=None, spinning=None, shapes=None):
    """An onnxruntime InferenceSession that really runs on `provider`.

    Args:
        model: an ``onnx.ModelProto``, serialized bytes or a path.
        provider: ``"cpu"``, ``"cuda"`` or ``"qnn"`` (every node on the HTP,
            `keras_1x1.converters.onnx.htp`, or `htp.HtpFallback`).
        shapes: ``{input name: shape}`` the free input dims are fixed to
            (the HTP takes static shapes only).
        strict: turn TF32 off on CUDA (exact float32 arithmetic).
        threads: intra-op threads (None: onnxruntime's default).
        spinning: False stops the intra-op threads from busy-waiting after
            a run (None: onnxruntime's default, which spins). Sessions that
            take turns on a few cores, as in a latency comparison, should
            not spin: one session's spinning threads slow the next one.
    """
    import onnx

    ort = _ort()
    name = provider_name(provider)
    if provider_spec(name).placed:
        return placed_session(model, name, shapes)[0]
    problem = installation_problem()
    if name == PROVIDERS["cuda"]:
        if problem:
            raise UserInputError(f"CUDA was requested, but {problem}")
        available = ort.get_available_providers()
        if name not in available:
            raise UserInputError(
                "CUDA was requested, but this onnxruntime has no "
                f"CUDAExecutionProvider (available: {', '.join(available)}); install "
                "onnxruntime-gpu (pip uninstall -y onnxruntime && pip install "
                "onnxruntime-gpu) on a machine with an NVIDIA GPU and CUDA"
            )
        providers = [(name, {"use_tf32": "0" if strict else "1"})]
    else:
        providers = [name]
        if problem:  # the CPU provider usually survives the mix; say so anyway
            warnings.warn(problem, RuntimeWarning, stacklevel=2)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = int(threads)
    if spinning is not None:
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    if isinstance(model, onnx.ModelProto):
        source = model.SerializeToString()
    elif isinstance(model, (bytes, bytearray)):
        source = bytes(model)
    else:
        source = str(load_onnx_path_checked(model))
    try:
        session = ort.InferenceSession(source, sess_options=options, providers=providers)
    except Exception as error:  # noqa: BLE001 - onnxruntime's own exceptions
        text = one_line(error)
        if name == PROVIDERS["cuda"]:
            raise UserInputError(
                f"CUDA was requested, but onnxruntime cannot create a CUDA session: {text}"
            ) from error
        raise UserInputError(f"onnxruntime cannot load the model: {text}") from error
    actual = session.get_providers()
    if not actual or actual[0] != name:
        raise UserInputError(
            f"{'CUDA' if name == PROVIDERS['cuda'] else name} was requested, but the "
            f"session runs on {', '.join(actual) or 'nothing'} (onnxruntime fell back; "
            "check that the CUDA and cuDNN libraries onnxruntime-gpu needs are installed)"
        )
    return session


def load_onnx_path_checked(path):
    """Validate an ONNX path (format, external data) and return it."""
    load_onnx(path, load_external_data=False)
    return Path(path)


def input_specs(session_or_model):
    """``[(name, shape with None for dynamic dims, numpy dtype), ...]``."""
    import onnx

    if isinstance(session_or_model, onnx.ModelProto):
        graph = session_or_model.graph
        initializers = {i.name for i in graph.initializer}
        specs = []
        for value in graph.input:
            if value.name in initializers:
                continue
            tensor = value.type.tensor_type
            shape = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
            dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type)
            specs.append((value.name, shape, np.dtype(dtype)))
        return specs
    specs = []
    for arg in session_or_model.get_inputs():
        shape = [d if isinstance(d, int) else None for d in arg.shape]
        specs.append((arg.name, shape, _ort_dtype(arg.type)))
    return specs


def output_names(session):
    return [o.name for o in session.get_outputs()]


_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
}


def _ort_dtype(text):
    return np.dtype(_ORT_TYPES.get(text, "float32"))


def run(session, feeds):
    """Run a session on ``{input name: array}``; ``{output name: array}``."""
    names = output_names(session)
    wanted = {arg.name: _ort_dtype(arg.type) for arg in session.get_inputs()}
    missing = [n for n in wanted if n not in feeds]
    if missing:
        raise UserInputError(f"no input given for {', '.join(missing)}")
    inputs = {n: np.asarray(feeds[n]).astype(wanted[n], copy=False) for n in wanted}
    # A failing kernel raises (and the caller says what failed in one
    # line): onnxruntime's own log of it is not printed.
    quiet = _ort().RunOptions()
    quiet.log_severity_level = 4
    values = session.run(names, inputs, quiet)
    return dict(zip(names, values))
