"""Compare two models: same canonical ONNX graph? same outputs?

`compare(a, b)` takes Keras models, ONNX models or paths (``.keras``,
``.h5``, ``.onnx``) in any pairing. Keras models run in Keras (TensorFlow)
and are exported with tf2onnx for the graph comparison; ONNX models run in
onnxruntime on the requested provider (``"cpu"`` or ``"cuda"``; CUDA never
falls back to the CPU).

Default tolerances come from `keras_1x1.numeric` by output dtype: for
float32, ``atol=1e-5`` and ``rtol=1e-4`` of the output's scale. A 1x1 Conv
and a MatMul add their 256 products in a different order and differ by about
4e-6 in onnxruntime on the CPU; deep models accumulate that to about 1e-5 of
the output scale. `atol` and `rtol` may be one number or a dict
``{output name: number}`` where the key ``None`` applies to all outputs.

>>> from keras_1x1 import converters
>>> result = converters.compare("conv.keras", "dense.onnx")      # doctest: +SKIP
>>> result.same_graph, result.ok                                 # doctest: +SKIP
(True, True)
>>> print(result)                                                # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from keras_1x1.errors import UserInputError

__all__ = ["compare", "CompareResult", "DEFAULT_SEED"]

DEFAULT_SEED = 0


@dataclasses.dataclass
class CompareResult:
    """The outcome of `compare`.

    Attributes:
        a, b: labels of the two models.
        same_graph: whether the canonical ONNX graphs are identical (None
            when a graph could not be built).
        fingerprint_a, fingerprint_b: the canonical fingerprints.
        diff: where the canonical graphs differ (None when they do not).
        outputs: one `keras_1x1.numeric.OutputStats` per output (max abs,
            max rel and mean abs error of b against a).
        notes: how inputs and outputs were matched, and what ran where.
        ok: every output within tolerance. Two different graphs can still
            compute the same outputs; `same_graph` says whether they are
            the same computation.
    """

    a: str
    b: str
    same_graph: bool | None
    fingerprint_a: str | None
    fingerprint_b: str | None
    diff: str | None
    outputs: list
    notes: list = dataclasses.field(default_factory=list)
    runtimes: tuple = ("", "")
    inputs: dict = dataclasses.field(default_factory=dict)

    @property
    def ok(self):
        return bool(self.outputs) and all(o.ok for o in self.outputs)

    @property
    def stats(self):
        """``{output name: OutputStats}``."""
        return {o.name: o for o in self.outputs}

    def summary(self):
        lines = [
            f"A: {self.a}, run in {self.runtimes[0]}",
            f"B: {self.b}, run in {self.runtimes[1]}",
        ]
        if self.inputs:
            shown = ", ".join(
                f"{name} {tuple(v.shape)} {v.dtype}" for name, v in self.inputs.items()
            )
            lines.append(f"inputs: {shown}")
        if self.same_graph is None:
            lines.append("canonical graphs: not compared")
        elif self.same_graph:
            lines.append(f"canonical graphs: identical (fingerprint {self.fingerprint_a[:16]})")
        else:
            lines.append(
                f"canonical graphs: DIFFERENT (A {self.fingerprint_a[:16]}, "
                f"B {self.fingerprint_b[:16]})"
            )
            if self.diff:
                lines.append(f"  {self.diff}")
        for note in self.notes:
            lines.append(f"note: {note}")
        lines.append("outputs (B against A):")
        if not self.outputs:
            lines.append("  none compared")
        for stats in self.outputs:
            lines.append(f"  {stats.line()}")
        lines.append("PASSED" if self.ok else "FAILED")
        return "\n".join(lines)

    def __str__(self):
        return self.summary()


# -- the two sides ---------------------------------------------------------------------


@dataclasses.dataclass
class _Side:
    label: str
    keras_model: object = None
    proto: object = None
    path: Path | None = None
    _raw: object = None

    @property
    def is_keras(self):
        return self.keras_model is not None

    def onnx_model(self, opset=None):
        """The ONNX graph: the file's, or the Keras model's tf2onnx export."""
        if self.proto is not None:
            return self.proto
        if self._raw is None:
            from .onnx_export import export_onnx

            self._raw = export_onnx(self.keras_model, opset=opset)
        return self._raw


def _side(model, name, *, unsafe):
    import onnx

    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        suffix = path.suffix.lower()
        if suffix == ".onnx":
            from .runtime import load_onnx

            return _Side(str(path), proto=load_onnx(path), path=path)
        from keras_1x1.io import MODEL_SUFFIXES, load_model

        if suffix in MODEL_SUFFIXES:
            return _Side(
                str(path), keras_model=load_model(path, unsafe=unsafe, compile=False), path=path
            )
        raise UserInputError(f"{path}: expected a .keras, .h5 or .onnx file")
    if isinstance(model, onnx.ModelProto):
        return _Side(f"ONNX model '{model.graph.name or 'graph'}'", proto=model)
    try:
        import onnx_ir as ir

        if isinstance(model, ir.Model):
            return _Side("ONNX model", proto=ir.serde.serialize_model(model))
    except ImportError:  # pragma: no cover
        pass
    import keras

    if isinstance(model, keras.Model):
        return _Side(f"Keras model '{model.name}'", keras_model=model)
    raise UserInputError(
        f"{name}: expected a Keras model, an ONNX model or a path, got {type(model).__name__}"
    )


def _specs(side):
    """``[(name, shape, dtype)]`` of a side's inputs."""
    if side.is_keras:
        import keras

        from .onnx_export import _flat_inputs, input_names

        _, flat = _flat_inputs(side.keras_model)
        names = input_names(side.keras_model)
        return [
            (n, [None] + list(t.shape[1:]), np.dtype(keras.backend.standardize_dtype(t.dtype)))
            for n, t in zip(names, flat)
        ]
    from .runtime import input_specs

    return input_specs(side.proto)


def _draw_inputs(specs, seed):
    from keras_1x1.numeric import sample_array

    rng = np.random.default_rng(seed)
    return {name: sample_array(shape, dtype, rng) for name, shape, dtype in specs}


def _normalize_inputs(inputs, specs):
    names = [s[0] for s in specs]
    if isinstance(inputs, dict):
        return {str(k): np.asarray(v) for k, v in inputs.items()}
    if isinstance(inputs, (list, tuple)):
        if len(inputs) != len(names):
            raise UserInputError(f"{len(inputs)} inputs given, the model takes {len(names)}")
        return {n: np.asarray(v) for n, v in zip(names, inputs)}
    if len(names) != 1:
        raise UserInputError(f"the model takes {len(names)} inputs; pass a dict")
    return {names[0]: np.asarray(inputs)}


def _feeds_for(side_specs, values, label, notes):
    """Map the drawn inputs (named after A's inputs) to a side's input names."""
    names = [s[0] for s in side_specs]
    if set(names) <= set(values):
        feeds = {n: values[n] for n in names}
    elif len(names) == len(values):
        notes.append(
            f"inputs of {label} matched by position ({', '.join(names)} <- "
            f"{', '.join(values)}): the names differ"
        )
        feeds = dict(zip(names, values.values()))
    else:
        raise UserInputError(
            f"cannot match the inputs of {label} ({', '.join(names)}) to {', '.join(values)}"
        )
    for name, shape, _ in side_specs:
        _check_shape(name, shape, np.shape(feeds[name]), label)
    return feeds


def _check_shape(name, shape, actual, label):
    """Refuse an input whose static dims differ from what the model takes."""
    expected = "(" + ", ".join("N" if d is None or isinstance(d, str) else str(d) for d in shape) + ")"
    fits = len(shape) == len(actual) and all(
        d is None or isinstance(d, str) or int(d) == a for d, a in zip(shape, actual)
    )
    if not fits:
        raise UserInputError(
            f"{label} takes input '{name}' of shape {expected}, but the inputs have "
            f"shape {tuple(actual)}; the two models take different inputs"
        )


def _run(side, feeds, provider):
    if side.is_keras:
        from keras_1x1._quiet import native_stderr_silenced

        from .onnx_export import run_keras

        with native_stderr_silenced():
            return run_keras(side.keras_model, feeds)
    from .runtime import make_session, run

    session = make_session(side.path if side.path is not None else side.proto, provider)
    return run(session, feeds)


def _tolerance(value, name, other_name, what):
    if value is None:
        return None
    if isinstance(value, dict):
        for key in (name, other_name, None):
            if key in value:
                return float(value[key])
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise UserInputError(
            f"{what} must be a number or a dict of numbers, got {value!r}"
        ) from None


def _check_tolerance_keys(value, names, what):
    if isinstance(value, dict):
        unknown = [k for k in value if k is not None and k not in names]
        if unknown:
            raise UserInputError(
                f"{what} names unknown outputs {', '.join(map(str, unknown))}; "
                f"the outputs are {', '.join(names)}"
            )


def _provider(providers):
    from .runtime import provider_name

    if providers is None:
        return provider_name("cpu")
    if isinstance(providers, (list, tuple)):
        if len(providers) != 1:
            raise UserInputError(
                "give one provider ('cpu' or 'cuda'); a list would let onnxruntime fall back"
            )
        providers = providers[0]
    return provider_name(providers)


def compare(
    a,
    b,
    *,
    inputs=None,
    providers=None,
    atol=None,
    rtol=None,
    seed=DEFAULT_SEED,
    unsafe=False,
    opset=None,
):
    """Compare two models' canonical ONNX graphs and their outputs.

    Args:
        a, b: Keras models, ONNX ModelProtos, or paths to ``.keras``,
            ``.h5`` or ``.onnx`` files. A is the reference.
        inputs: ``{input name: array}`` (or one array, or a list by
            position); drawn from A's input specs with `seed` when None
            (dynamic dims: batch 2, others 16).
        providers: ``"cpu"`` (default) or ``"cuda"`` for the ONNX sides.
        atol, rtol: a number, or ``{output name: number}`` with ``None`` as
            the key for all outputs; defaults by dtype (float32: 1e-5, 1e-4).
        unsafe: allow loading Keras files with Lambda layers.
        opset: the opset used to export Keras models for the graph check.

    Returns:
        A `CompareResult`; ``print(result)`` shows a report ending in PASSED
        or FAILED.
    """
    from keras_1x1.numeric import error_stats

    from . import canonical

    provider = _provider(providers)
    side_a = _side(a, "A", unsafe=unsafe)
    side_b = _side(b, "B", unsafe=unsafe)
    notes = []
    if side_a.is_keras and side_b.is_keras and provider != "CPUExecutionProvider":
        raise UserInputError(
            f"{'CUDA' if 'CUDA' in provider else provider} was requested, but A and B "
            "are both Keras models, which run in TensorFlow; export one of them "
            "to ONNX (keras-1x1 export) to compare on the CUDA provider"
        )

    # Graphs.
    fingerprint_a = fingerprint_b = diff = None
    same_graph = None
    try:
        graph_a = canonical.canonical_ir(side_a.onnx_model(opset))
        graph_b = canonical.canonical_ir(side_b.onnx_model(opset))
    except UserInputError as error:
        notes.append(f"canonical graphs not compared: {error}")
    else:
        fingerprint_a = canonical.fingerprint_of_canonical(graph_a)
        fingerprint_b = canonical.fingerprint_of_canonical(graph_b)
        same_graph = fingerprint_a == fingerprint_b
        if not same_graph:
            diff = canonical.diff_canonical(graph_a, graph_b)

    # Outputs.
    specs_a = _specs(side_a)
    specs_b = _specs(side_b)
    if inputs is None:
        values = _draw_inputs(specs_a, seed)
    else:
        values = _normalize_inputs(inputs, specs_a)
    feeds_a = _feeds_for(specs_a, values, "A", [])
    feeds_b = _feeds_for(specs_b, values, "B", notes)
    out_a = _run(side_a, feeds_a, provider)
    out_b = _run(side_b, feeds_b, provider)
    pairs = _match_outputs(list(out_a), list(out_b), notes)
    _check_tolerance_keys(atol, list(out_a) + list(out_b), "atol")
    _check_tolerance_keys(rtol, list(out_a) + list(out_b), "rtol")
    outputs = []
    for name_a, name_b in pairs:
        label = name_a if name_a == name_b else f"{name_a}/{name_b}"
        outputs.append(
            error_stats(
                label,
                out_b[name_b],
                out_a[name_a],
                atol=_tolerance(atol, name_a, name_b, "atol"),
                rtol=_tolerance(rtol, name_a, name_b, "rtol"),
            )
        )
    runtime_name = f"onnxruntime {provider}"
    runtimes = tuple("Keras (TensorFlow)" if s.is_keras else runtime_name for s in (side_a, side_b))
    return CompareResult(
        a=side_a.label,
        b=side_b.label,
        same_graph=same_graph,
        fingerprint_a=fingerprint_a,
        fingerprint_b=fingerprint_b,
        diff=diff,
        outputs=outputs,
        notes=notes,
        runtimes=runtimes,
        inputs=feeds_a,
    )


def _match_outputs(names_a, names_b, notes):
    if set(names_a) == set(names_b):
        return [(n, n) for n in names_a]
    if len(names_a) == len(names_b):
        notes.append(
            "outputs matched by position: the names differ ("
            + ", ".join(f"{x} <-> {y}" for x, y in zip(names_a, names_b))
            + ")"
        )
        return list(zip(names_a, names_b))
    raise UserInputError(
        f"A has outputs {', '.join(names_a)} and B has {', '.join(names_b)}; they cannot be matched"
    )
