"""The one checking pipeline: canonical graphs and outputs against a reference.

`check(reference, candidates)` is what `compare`, `keras-1x1 validate`,
`keras-1x1 export` and the demo run; they only format its `CompareResult`.
It

1. loads every side (Keras models, ONNX models, or paths to ``.keras``,
   ``.h5`` and ``.onnx`` files);
2. computes the canonical fingerprint of each side that asks for one (a
   Keras side is exported with tf2onnx first);
3. draws one set of inputs from the reference's input specs (or takes the
   caller's), feeds it to every side, matching inputs by name (or by
   position, with a note);
4. runs each side: Keras in Keras (TensorFlow), ONNX in onnxruntime on the
   requested provider, never falling back from CUDA to the CPU;
5. compares every output of every candidate with the reference's, with the
   tolerances of `keras_1x1.numeric` (or the caller's).

Keras and TensorFlow are imported only when a side is a Keras model, so two
ONNX files are compared where only onnx, onnxscript and onnxruntime are
installed.

>>> import numpy as np, onnx
>>> from onnx import helper, numpy_helper
>>> def tiny(w):
...     graph = helper.make_graph(
...         [helper.make_node("MatMul", ["x", "W"], ["y"])], "tiny",
...         [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 2])],
...         [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 2])],
...         [numpy_helper.from_array(np.asarray(w, "float32"), "W")])
...     return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
>>> result = compare(tiny([[1, 2], [3, 4]]), tiny([[1, 2], [3, 4]]))
>>> result.same_graph, result.ok
(True, True)
>>> compare(tiny([[1, 2], [3, 4]]), tiny([[1, 2], [3, 5]])).ok
False
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

from keras_1x1.errors import UserInputError
from keras_1x1.numeric import (
    InputSpec,
    check_tolerance_names,
    draw_inputs,
    error_stats,
    tolerance_for,
)

__all__ = ["check", "compare", "CompareResult", "Candidate", "DEFAULT_SEED"]

DEFAULT_SEED = 0

KERAS_RUNTIME = "Keras (TensorFlow)"


# -- the result ------------------------------------------------------------------------


@dataclasses.dataclass
class Candidate:
    """One model checked against the reference.

    Attributes:
        label: what it is ("B", "conv form, raw ONNX", a path).
        runtime: where it ran ("onnxruntime CPUExecutionProvider", Keras).
        fingerprint: its canonical fingerprint (None when not asked for or
            not computable).
        diff: where its canonical graph differs from the reference's.
        outputs: one `keras_1x1.numeric.OutputStats` per output, against
            the reference.
    """

    label: str
    runtime: str
    fingerprint: str | None = None
    diff: str | None = None
    outputs: list = dataclasses.field(default_factory=list)
    placement: object = None  # where each node ran: `htp.Placement` or LiteRT's `Census`
    failure: str | None = None  # why it did not run (nodes the HTP cannot run)

    @property
    def ok(self):
        return not self.failure and bool(self.outputs) and all(o.ok for o in self.outputs)

    def run_lines(self):
        """Where it ran, for a report: the op census of the HTP or of LiteRT,
        or why it did not run."""
        if self.failure:
            return [f"FAILED: {self.failure}"]
        if self.placement is not None:
            return [self.placement.census_line()]
        return []


@dataclasses.dataclass
class CompareResult:
    """The outcome of a check: graphs and outputs of candidates against a reference.

    Attributes:
        reference: the reference's label; ``a`` is the same.
        reference_runtime: where the reference ran.
        reference_fingerprint: its canonical fingerprint, if computed.
        candidates: one `Candidate` per model checked.
        inputs: the arrays every side was fed, by the reference's input names.
        drawn: how the inputs were drawn (None when the caller gave them).
        notes: how inputs and outputs were matched, graphs not compared.

    ``ok`` is True when every output of every candidate is within
    tolerance. ``same_graph`` is True when every fingerprint computed is
    the same (None when fewer than two were). Two different graphs can
    still compute the same outputs; ``same_graph`` says whether they are
    the same computation.
    """

    reference: str
    reference_runtime: str
    reference_fingerprint: str | None
    candidates: list
    inputs: dict = dataclasses.field(default_factory=dict)
    drawn: list | None = None
    notes: list = dataclasses.field(default_factory=list)

    # -- verdicts

    @property
    def ok(self):
        return bool(self.candidates) and all(c.ok for c in self.candidates)

    @property
    def fingerprints(self):
        """``{label: fingerprint}`` of every side whose graph was compared."""
        found = {}
        if self.reference_fingerprint is not None:
            found[self.reference] = self.reference_fingerprint
        for candidate in self.candidates:
            if candidate.fingerprint is not None:
                found[candidate.label] = candidate.fingerprint
        return found

    @property
    def same_graph(self):
        prints = [self.reference_fingerprint] + [c.fingerprint for c in self.candidates]
        prints = [p for p in prints if p is not None]
        if len(prints) < 2:
            return None
        return len(set(prints)) == 1

    @property
    def outputs(self):
        """Every `OutputStats`, labelled by candidate when there are several."""
        if len(self.candidates) == 1:
            return list(self.candidates[0].outputs)
        return [
            dataclasses.replace(stats, name=f"{c.label}: {stats.name}")
            for c in self.candidates
            for stats in c.outputs
        ]

    @property
    def stats(self):
        """``{output label: OutputStats}``."""
        return {o.name: o for o in self.outputs}

    # -- the two-model view (`compare`)

    @property
    def a(self):
        return self.reference

    @property
    def b(self):
        return self.candidates[0].label if self.candidates else None

    @property
    def fingerprint_a(self):
        return self.reference_fingerprint

    @property
    def fingerprint_b(self):
        return self.candidates[0].fingerprint if self.candidates else None

    @property
    def diff(self):
        return next((c.diff for c in self.candidates if c.diff), None)

    # -- text

    def summary(self):
        if len(self.candidates) == 1:
            return self._summary_of_two()
        lines = [f"reference: {self.reference}, run in {self.reference_runtime}"]
        lines += self._input_lines()
        prints = self.fingerprints
        if prints:
            verdict = {True: "identical", False: "DIFFERENT", None: "not compared"}[self.same_graph]
            lines.append(f"canonical graphs: {verdict}")
            for label, value in prints.items():
                lines.append(f"  {label}: {value[:16]}")
            if self.diff:
                lines.append(f"  {self.diff}")
        lines += [f"note: {note}" for note in self.notes]
        for candidate in self.candidates:
            lines.append(f"{candidate.label}, run in {candidate.runtime}, against the reference:")
            lines += [f"  {line}" for line in candidate.run_lines()]
            lines += [f"  {stats.line()}" for stats in candidate.outputs] or ["  none compared"]
        lines.append("PASSED" if self.ok and self.same_graph is not False else "FAILED")
        return "\n".join(lines)

    def _summary_of_two(self):
        (candidate,) = self.candidates
        lines = [
            f"A: {self.reference}, run in {self.reference_runtime}",
            f"B: {candidate.label}, run in {candidate.runtime}",
        ]
        lines += self._input_lines()
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
        lines += [f"note: {note}" for note in self.notes]
        lines += [f"B {line}" for line in candidate.run_lines()]
        lines.append("outputs (B against A):")
        lines += [f"  {stats.line()}" for stats in candidate.outputs] or ["  none compared"]
        lines.append("PASSED" if self.ok else "FAILED")
        return "\n".join(lines)

    def _input_lines(self):
        if self.drawn:
            return [f"inputs drawn: {'; '.join(self.drawn)}"]
        if self.inputs:
            shown = ", ".join(
                f"{name} {tuple(v.shape)} {v.dtype}" for name, v in self.inputs.items()
            )
            return [f"inputs: {shown}"]
        return []

    def __str__(self):
        return self.summary()


# -- the sides -------------------------------------------------------------------------


@dataclasses.dataclass
class _Side:
    label: str
    keras_model: object = None
    proto: object = None
    path: Path | None = None
    role: str = ""  # how messages name it: "A", "B", or the label
    _export: object = None
    tflite: bytes | None = None  # a LiteRT model: run in LiteRT, no ONNX graph
    export_inputs: dict | None = None  # what a Keras model's export is checked on

    def __post_init__(self):
        self.role = self.role or self.label

    @property
    def is_keras(self):
        return self.keras_model is not None

    @property
    def is_litert(self):
        return self.tflite is not None

    def onnx_model(self, opset=None):
        """The ONNX graph: the file's, or the Keras model's tf2onnx export."""
        if self.is_litert:
            raise UserInputError("a LiteRT model has no ONNX graph to compare (its ops are listed)")
        if self.proto is not None:
            return self.proto
        if self._export is None:
            from .export import export_onnx

            self._export = export_onnx(self.keras_model, opset=opset, inputs=self.export_inputs)
        return self._export

    def specs(self, ranges=True):
        """The inputs' specs; with `ranges`, the values each accepts (read
        from the Keras model, or from the ONNX graph's tables)."""
        if self.is_litert:
            from ..litert.interpreter import input_specs

            return input_specs(self.tflite)
        if self.is_keras:
            from ..keras import signature

            try:  # lengths the model accepts (a position table read whole fixes one)
                return signature.accepted(self.keras_model)[0]
            except Exception:  # noqa: BLE001 - the run on these inputs says why
                return signature.input_specs(self.keras_model)
        from .limits import input_specs
        from .runtime import input_specs as plain_specs

        if ranges:
            return input_specs(self.proto)
        return [InputSpec(name, tuple(shape), dtype.name) for name, shape, dtype in plain_specs(self.proto)]

    def run(self, feeds, provider):
        """``(outputs, placement)`` on `feeds`: where each node ran when the
        runtime says (the HTP's `htp.Placement`, LiteRT's `Census`), else
        None. Raises `htp.HtpFallback` for a node the HTP cannot run."""
        if self.is_keras:
            from ..keras import signature

            return signature.run(self.keras_model, feeds), None
        if self.is_litert:  # LiteRT, whatever onnxruntime provider was asked
            from ..litert.interpreter import run_with_census

            return run_with_census(self.tflite, feeds)
        from .runtime import placed_session, run

        model = self.path if self.path is not None else self.proto
        session, placement = placed_session(model, provider, {k: v.shape for k, v in feeds.items()})
        return run(session, feeds), placement

    def runtime(self, provider):
        from .runtime import provider_spec

        if self.is_litert:
            from ..litert.interpreter import RUNTIME

            return RUNTIME
        return KERAS_RUNTIME if self.is_keras else provider_spec(provider).runtime


def _keras_model_class():
    """``keras.Model`` when Keras is already imported (a Keras model exists
    only then), else None: checking an ONNX file never imports Keras."""
    keras = sys.modules.get("keras")
    return getattr(keras, "Model", None) if keras is not None else None


def side(model, role, *, unsafe=False, label=None):
    """One side of a check from a model or a path; `role` names it in messages."""
    import onnx

    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        suffix = path.suffix.lower()
        if suffix == ".onnx":
            from .runtime import load_onnx

            return _Side(label or str(path), proto=load_onnx(path), path=path, role=role)
        if suffix == ".tflite":
            from ..litert.interpreter import load_tflite

            return _Side(label or str(path), tflite=load_tflite(path), path=path, role=role)
        from keras_1x1.io import MODEL_SUFFIXES, load_model

        if suffix in MODEL_SUFFIXES:
            loaded = load_model(path, unsafe=unsafe, compile=False)
            return _Side(label or str(path), keras_model=loaded, path=path, role=role)
        raise UserInputError(f"{path}: expected a .keras, .h5, .onnx or .tflite file")
    if isinstance(model, onnx.ModelProto):
        name = f"ONNX model '{model.graph.name or 'graph'}'"
        return _Side(label or name, proto=model, role=role)
    ir = sys.modules.get("onnx_ir")
    if ir is not None and isinstance(model, ir.Model):
        return _Side(label or "ONNX model", proto=ir.serde.serialize_model(model), role=role)
    model_class = _keras_model_class()
    if model_class is not None and isinstance(model, model_class):
        return _Side(label or f"Keras model '{model.name}'", keras_model=model, role=role)
    raise UserInputError(
        f"{role}: expected a Keras model, an ONNX model or a path, got {type(model).__name__}"
    )


# -- inputs ----------------------------------------------------------------------------


def _normalize_inputs(inputs, specs):
    import numpy as np

    names = [s.name for s in specs]
    if isinstance(inputs, dict):
        return {str(k): np.asarray(v) for k, v in inputs.items()}
    if isinstance(inputs, (list, tuple)):
        if len(inputs) != len(names):
            raise UserInputError(f"{len(inputs)} inputs given, the model takes {len(names)}")
        return {n: np.asarray(v) for n, v in zip(names, inputs)}
    if len(names) != 1:
        raise UserInputError(f"the model takes {len(names)} inputs; pass a dict")
    return {names[0]: np.asarray(inputs)}


def _feeds_for(specs, values, label, notes):
    """The drawn inputs (named after the reference's) under a side's input names."""
    import numpy as np

    names = [s.name for s in specs]
    if set(names) <= set(values):
        feeds = {n: values[n] for n in names}
    elif len(names) == len(values):
        notes.append(
            f"inputs matched by position: the names of {label}'s differ ("
            f"{', '.join(names)} <- {', '.join(values)})"
        )
        feeds = dict(zip(names, values.values()))
    else:
        raise UserInputError(
            f"cannot match the inputs of {label} ({', '.join(names)}) to {', '.join(values)}"
        )
    for spec in specs:
        _check_shape(spec, np.shape(feeds[spec.name]), label)
    return feeds


def _check_shape(spec, actual, label):
    """Refuse an input whose static dims differ from what the model takes."""
    free = [d is None or isinstance(d, str) for d in spec.shape]
    expected = "(" + ", ".join("N" if f else str(d) for f, d in zip(free, spec.shape)) + ")"
    fits = len(spec.shape) == len(actual) and all(
        f or int(d) == a for f, d, a in zip(free, spec.shape, actual)
    )
    if not fits:
        raise UserInputError(
            f"{label} takes input '{spec.name}' of shape {expected}, but the inputs have "
            f"shape {tuple(actual)}; the two models take different inputs"
        )


def _match_outputs(names_a, names_b, ref, label, notes):
    if set(names_a) == set(names_b):
        return [(n, n) for n in names_a]
    if len(names_a) == len(names_b):
        notes.append(
            f"outputs matched by position: the names of {label}'s differ ("
            + ", ".join(f"{x} <-> {y}" for x, y in zip(names_a, names_b))
            + ")"
        )
        return list(zip(names_a, names_b))
    raise UserInputError(
        f"{ref} has outputs {', '.join(names_a)} and {label} has "
        f"{', '.join(names_b)}; they cannot be matched"
    )


def _provider(providers):
    from .runtime import provider_name

    if providers is None:
        return provider_name("cpu")
    if isinstance(providers, (list, tuple)):
        if len(providers) != 1:
            raise UserInputError(
                "give one provider ('cpu', 'cuda' or 'qnn'); a list would let onnxruntime fall back"
            )
        providers = providers[0]
    return provider_name(providers)


# -- the pipeline ----------------------------------------------------------------------


def check(
    reference,
    candidates,
    *,
    inputs=None,
    providers=None,
    atol=None,
    rtol=None,
    seed=DEFAULT_SEED,
    unsafe=False,
    opset=None,
    graphs=True,
    canonical_too=False,
):
    """Check candidates against a reference: canonical graphs and outputs.

    Args:
        reference: a Keras model, an ONNX model or a path; its outputs are
            the expected ones.
        candidates: ``{label: model or path}``.
        inputs: ``{input name: array}`` (or one array, or a list by
            position); drawn from the reference's input specs when None.
        providers: ``"cpu"`` (default), ``"cuda"`` or ``"qnn"`` for the ONNX
            sides. With ``"qnn"`` every ONNX side (the reference too) runs on
            Qualcomm's HTP and is compared, with the fp16 tolerances of
            `keras_1x1.numeric.HTP_FP16`, to the reference run in float32
            (Keras, or onnxruntime on the CPU); a side with a node the HTP
            cannot run fails, naming it.
        atol, rtol: a number, or ``{output name: number}`` with ``None`` as
            the key for the others; defaults by dtype (`keras_1x1.numeric`).
        seed: the seed of the drawn inputs.
        unsafe: allow loading Keras files with Lambda layers.
        opset: the opset Keras sides are exported with for the graph check.
        graphs: compare canonical graphs: True for every side, "candidates"
            for the candidates only (the reference is a Keras model whose
            graph is not in question), False for none.
        canonical_too: also run each ONNX candidate's canonical graph (as
            "<label>, canonical"), which shows that canonicalizing changed
            no output.

    Returns:
        A `CompareResult`.
    """
    ref = side(reference, "the reference", unsafe=unsafe)
    sides = [side(model, label, unsafe=unsafe, label=label) for label, model in candidates.items()]
    return _check(
        ref, sides, inputs=inputs, providers=providers, atol=atol, rtol=rtol, seed=seed,
        opset=opset, graphs=graphs, canonical_too=canonical_too,
    )


def _check(ref, sides, *, inputs, providers, atol, rtol, seed, opset, graphs, canonical_too):
    from .canonical import canonical_ir
    from .diff import diff_canonical
    from .fingerprint import fingerprint_of_canonical

    from .htp import HtpFallback
    from .runtime import provider_spec

    provider = _provider(providers)
    spec = provider_spec(provider)
    if spec.key != "cpu" and all(s.is_keras for s in [ref, *sides]):
        which = f"{ref.role} and {sides[0].role} are both" if len(sides) == 1 else "all are"
        raise UserInputError(
            f"{spec.shown} was requested, but {which} Keras models, which run in TensorFlow; "
            f"export one of them to ONNX (keras-1x1 export) to check it on {spec.shown}"
        )
    notes = []
    results = [Candidate(s.label, s.runtime(provider)) for s in sides]
    if inputs is not None:
        # A Keras side's export is checked on the inputs given, not drawn ones.
        given = _normalize_inputs(inputs, ref.specs())
        for s in [ref, *sides]:
            if s.is_keras:
                s.export_inputs = _feeds_for(s.specs(ranges=False), given, s.role, [])

    # Graphs: each compared with the reference's (or, for graphs="candidates",
    # with the first candidate's).
    ref_print = None
    canonical = {}
    litert = [s.role for s in [ref, *sides] if s.is_litert]
    if litert and graphs:
        notes.append(
            f"{' and '.join(litert)}: LiteRT, whose graph has no canonical ONNX form; "
            "its ops are listed instead"
        )
    if graphs:
        compared = [s for s in ([ref] if graphs is True else []) + sides if not s.is_litert]
        for s in compared:
            try:
                canonical[id(s)] = canonical_ir(s.onnx_model(opset))
            except UserInputError as error:
                notes.append(f"canonical graph of {s.role} not built: {error}")
        base_side = compared[0] if compared else None
        base = canonical.get(id(base_side))
        base_print = None if base is None else fingerprint_of_canonical(base)
        if graphs is True:
            ref_print = base_print
        for s, candidate in zip(sides, results):
            graph = canonical.get(id(s))
            if graph is None:
                continue
            candidate.fingerprint = fingerprint_of_canonical(graph)
            if base is not None and s is not base_side and candidate.fingerprint != base_print:
                candidate.diff = diff_canonical(base, graph)
    runs = list(zip(sides, results))
    if canonical_too:
        import onnx_ir as ir

        for s, candidate in list(runs):
            if s.is_keras or s.is_litert:
                continue
            graph = canonical.get(id(s))
            if graph is None:
                graph = canonical_ir(s.onnx_model(opset))
            twin_side = _Side(f"{s.label}, canonical", proto=ir.serde.serialize_model(graph))
            twin = Candidate(twin_side.label, twin_side.runtime(provider), candidate.fingerprint)
            at = runs.index((s, candidate)) + 1
            runs.insert(at, (twin_side, twin))
        results = [candidate for _, candidate in runs]

    # Inputs: drawn once from the reference's specs, fed to every side.
    specs = ref.specs()
    drawn = None
    if inputs is None:
        values = draw_inputs(specs, seed)
        drawn = [spec.describe() for spec in specs]
    else:
        values = _normalize_inputs(inputs, specs)
    ref_feeds = _feeds_for(specs, values, ref.role, [])

    # Outputs. Where the provider computes in lower precision, the
    # reference's float32 outputs are the expected ones, and an ONNX
    # reference runs there as a candidate too.
    reference_provider = provider if spec.exact else "CPUExecutionProvider"
    expected, _ = ref.run(ref_feeds, reference_provider)
    if not spec.exact and not ref.is_keras and not ref.is_litert:
        runs.insert(0, (ref, Candidate(ref.label, ref.runtime(provider))))
        results = [candidate for _, candidate in runs]
        for s, candidate in runs:  # the reference is among them: say which is which
            if s.role != s.label:
                candidate.label = f"{s.role}: {s.label}"
    for s, candidate in runs:
        feeds = _feeds_for(s.specs(ranges=False), values, s.role, notes)
        # LiteRT runs in float32 on its own, whatever provider was asked.
        tolerances = provider_spec("cpu") if s.is_litert else spec
        try:
            actual, candidate.placement = s.run(feeds, provider)
        except HtpFallback as error:
            candidate.placement, candidate.failure = error.placement, str(error)
            continue
        pairs = _match_outputs(list(expected), list(actual), ref.role, s.role, notes)
        names = list(expected) + list(actual)
        check_tolerance_names(atol, names, "atol")
        check_tolerance_names(rtol, names, "rtol")
        for name_a, name_b in pairs:
            candidate.outputs.append(
                error_stats(
                    name_a if name_a == name_b else f"{name_a}/{name_b}",
                    actual[name_b],
                    expected[name_a],
                    atol=_default(tolerance_for(atol, name_a, name_b, what="atol"), 0, tolerances),
                    rtol=_default(tolerance_for(rtol, name_a, name_b, what="rtol"), 1, tolerances),
                )
            )
    return CompareResult(
        reference=ref.label,
        reference_runtime=ref.runtime(reference_provider),
        reference_fingerprint=ref_print,
        candidates=results,
        inputs=ref_feeds,
        drawn=drawn,
        notes=notes,
    )


def _default(given, which, spec):
    """The tolerance given, or the provider's (``which``: 0 atol, 1 rtol)."""
    if given is not None or spec.tolerance is None:
        return given
    return spec.tolerance[which]


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
        inputs, providers, atol, rtol, seed, unsafe, opset: as for `check`.

    Returns:
        A `CompareResult`; ``print(result)`` shows a report ending in PASSED
        or FAILED. ``.ok`` (PASSED) means every output agrees within
        tolerance; ``.same_graph`` says whether the canonical graphs are
        identical.
    """
    return _check(
        side(a, "A", unsafe=unsafe),
        [side(b, "B", unsafe=unsafe)],
        inputs=inputs, providers=providers, atol=atol, rtol=rtol, seed=seed,
        opset=opset, graphs=True, canonical_too=False,
    )
