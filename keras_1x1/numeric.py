"""Tolerances, error statistics and sample inputs shared by every check.

An output passes when ``max|actual - expected| <= atol + rtol * scale``,
where ``scale`` is the largest magnitude in the expected output. The error
is measured against the output's scale rather than element by element, so
entries near zero (where float rounding is relatively large) do not fail a
map that is right everywhere. Any NaN or Inf fails. The reported max rel
is taken over the entries whose expected magnitude is at least atol (a
relative error against a zero is not a number anyone can use).

Default tolerances by output dtype, and why:

- float32: atol 1e-5, rtol 1e-4. A 1x1 Conv and a MatMul over 256 channels
  add in a different order and differ by about 4e-6 in onnxruntime; deep
  models (ResNet152) accumulate that to about 1e-5 of the output scale.
- float16: atol 1e-2, rtol 1e-2 (10 mantissa bits: 1e-3 per op, grows
  with depth). bfloat16: atol 5e-2, rtol 5e-2 (7 mantissa bits).
- float64: atol 1e-10, rtol 1e-9.
- On Qualcomm's HTP (`HTP_FP16`, provider ``qnn``) a float32 graph is
  computed in fp16 (11-bit significands, 4.9e-4 per rounding): atol 1e-3,
  rtol 5e-2 of the output's scale. Measured here on the simulator: 1e-3
  to 3e-3 of the scale for convnets, 1e-2 to 2e-2 for 2-layer transformers
  (LayerNorm and softmax amplify it). It proves the graph runs there and
  computes the same map to fp16 precision; the exact proof of a conversion
  is the float32 one on the CPU.

Some models amplify rounding (BatchNorm statistics that cancel a large
offset, a near tie before a sharp softmax): two forms of the same map,
whose additions run in another order, then differ by far more than any
fixed tolerance, though every weight was carried exactly. Such an output
is judged against the model's own rounding noise as well: how far the
original's output moves when its weights and inputs move by one ulp
(``noise``). It passes when its error is within `NOISE_FACTOR` times that
noise, and the check says the noise floor decided. A real change (a wrong
weight, another function) moves the output far beyond it.
"""

from __future__ import annotations

import dataclasses

import numpy as np

# How many times the model's own rounding noise an output may differ by
# (the two forms each round in their own way; a few draws estimate it).
NOISE_FACTOR = 4.0

# (atol, rtol) of a float32 graph run in fp16 on the HTP, against float32.
HTP_FP16 = (1e-3, 5e-2)

TOLERANCES = {
    "float64": (1e-10, 1e-9),
    "float32": (1e-5, 1e-4),
    "float16": (1e-2, 1e-2),
    "bfloat16": (5e-2, 5e-2),
}


def dtype_name(dtype):
    name = getattr(dtype, "name", None) or str(dtype)
    return name.replace("tf.", "").replace("torch.", "")


def default_tolerance(dtype):
    """(atol, rtol) for outputs of `dtype` (the float32 pair for others)."""
    return TOLERANCES.get(dtype_name(dtype), TOLERANCES["float32"])


@dataclasses.dataclass
class OutputStats:
    """How far one output is from its reference."""

    name: str
    shape: tuple
    max_abs: float
    max_rel: float
    mean_abs: float
    scale: float
    atol: float
    rtol: float
    nonfinite: int = 0
    message: str = ""
    noise: float = 0.0  # the reference model's own rounding noise, when measured

    @property
    def allowed(self):
        return max(self.atol + self.rtol * self.scale, NOISE_FACTOR * self.noise)

    @property
    def by_noise(self):
        """True when the noise floor, not the tolerance, lets it pass."""
        return self.ok and self.max_abs > self.atol + self.rtol * self.scale

    @property
    def ok(self):
        return not self.message and self.nonfinite == 0 and self.max_abs <= self.allowed

    def _of_scale(self):
        if not self.scale or not np.isfinite(self.max_abs):
            return ""
        return f" ({self.max_abs / self.scale:.2g} of scale)"

    def line(self):
        status = "ok" if self.ok else "MISMATCH"
        if self.message:
            return f"{self.name}: {status}: {self.message}"
        text = (
            f"{self.name}: {status}  max abs {self.max_abs:.3g}{self._of_scale()}  max rel "
            f"{self.max_rel:.3g}  mean abs {self.mean_abs:.3g}  (allowed "
            f"{self.atol + self.rtol * self.scale:.3g} = atol {self.atol:g} + "
            f"rtol {self.rtol:g} x scale {self.scale:.3g})"
        )
        if self.noise:
            text = text[:-1] + (
                f"; rounding noise {self.noise:.3g}: allowed {self.allowed:.3g} = "
                f"{NOISE_FACTOR:g} x noise{', which decided' if self.by_noise else ''})"
            )
        if self.nonfinite:
            text += f"  {self.nonfinite} NaN/Inf values"
        return text


def error_stats(name, actual, expected, *, atol=None, rtol=None):
    """Compare two arrays; tolerances default by the expected dtype."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    default_atol, default_rtol = default_tolerance(
        expected.dtype if expected.dtype == actual.dtype else _wider(actual, expected)
    )
    atol = default_atol if atol is None else float(atol)
    rtol = default_rtol if rtol is None else float(rtol)
    if actual.shape != expected.shape:
        return OutputStats(
            name, tuple(expected.shape), np.inf, np.inf, np.inf, 0.0, atol, rtol,
            message=f"shape {tuple(actual.shape)} != {tuple(expected.shape)}",
        )
    a = actual.astype("float64")
    e = expected.astype("float64")
    nonfinite = int(np.count_nonzero(~np.isfinite(a)) + np.count_nonzero(~np.isfinite(e)))
    if a.size == 0:
        return OutputStats(name, tuple(e.shape), 0.0, 0.0, 0.0, 0.0, atol, rtol, nonfinite)
    finite = np.isfinite(a) & np.isfinite(e)
    diff = np.abs(a[finite] - e[finite])
    ref = np.abs(e[finite])
    max_abs = float(diff.max()) if diff.size else (np.inf if nonfinite else 0.0)
    scale = float(ref.max()) if ref.size else 0.0
    # Relative error where it means something: elements whose reference is
    # at least atol (near zero only the absolute error is meaningful).
    meaningful = ref >= max(atol, np.finfo("float32").tiny)
    max_rel = float((diff[meaningful] / ref[meaningful]).max()) if meaningful.any() else 0.0
    mean_abs = float(diff.mean()) if diff.size else 0.0
    return OutputStats(
        name, tuple(e.shape), max_abs, max_rel, mean_abs, scale, atol, rtol, nonfinite
    )


def _wider(a, b):
    # The looser of the two dtypes' tolerances decides.
    names = [dtype_name(a.dtype), dtype_name(b.dtype)]
    return max(names, key=lambda n: default_tolerance(n)[0])


# -- tolerances given by the user --------------------------------------------------


def tolerance_for(value, *names, what="tolerance"):
    """The tolerance one output gets from what the user gave.

    ``value`` is None (the dtype default applies), a number (every output),
    or ``{output name: number}`` where the key None applies to every output
    not named. ``names`` are the output's names, tried in order (an output
    matched across two models may have two).
    """
    if value is None:
        return None
    if isinstance(value, dict):
        for key in (*names, None):
            if key in value:
                return float(value[key])
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        from keras_1x1.errors import UserInputError

        raise UserInputError(f"{what} must be a number or a dict of numbers, got {value!r}") from None


def check_tolerance_names(value, names, what="tolerance"):
    """Refuse per-output tolerances that name outputs that do not exist."""
    if isinstance(value, dict):
        unknown = [k for k in value if k is not None and k not in names]
        if unknown:
            from keras_1x1.errors import UserInputError

            raise UserInputError(
                f"{what} names unknown outputs {', '.join(map(str, unknown))}; "
                f"the outputs are {', '.join(names)}"
            )


# -- inputs drawn for a check -------------------------------------------------------

# Every check draws its inputs here: the batch has BATCH samples and every
# other dimension left free (None) gets FREE_DIM entries, unless the spec
# caps it (a sequence length within a position table).
BATCH = 2
FREE_DIM = 32


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """What one model input accepts, for drawing inputs that it can run on.

    Attributes:
        name: the input's name.
        shape: its shape; None (or a symbolic name) for free dimensions,
            the first one being the batch.
        dtype: a numpy dtype name.
        low, high: integer inputs get values in ``[low, high)`` (default
            ``[0, 10)``); ``low == high - 1`` draws a constant (a mask of ones).
            A bool input with ``low`` set is that constant (a mask of
            ``True``); without, random.
        free: the size of the free non-batch dimensions (default `FREE_DIM`).
        why: where the range or size comes from, for the report.
    """

    name: str
    shape: tuple
    dtype: str = "float32"
    low: int | None = None
    high: int | None = None
    free: int | None = None
    why: str = ""

    def concrete_shape(self, batch=BATCH):
        dims = []
        for i, d in enumerate(self.shape):
            if d is None or isinstance(d, str) or (isinstance(d, int) and d < 0):
                d = batch if i == 0 else (self.free or FREE_DIM)
            dims.append(int(d))
        return tuple(dims)

    def describe(self, batch=BATCH):
        shape = "x".join(map(str, self.concrete_shape(batch)))
        text = f"{self.name} {shape} {self.dtype}"
        name = dtype_name(self.dtype)
        if name.startswith(("int", "uint")):
            low, high = self._range()
            text += f" = {low}" if high - low == 1 else f" in [{low}, {high})"
        elif name == "bool":
            if self.low is not None:
                text += f" = {bool(self.low)}"
        else:
            text += " ~ N(0, 1)"
        return text + (f" ({self.why})" if self.why else "")

    def _range(self):
        low = 0 if self.low is None else int(self.low)
        high = 10 if self.high is None else int(self.high)
        return low, max(high, low + 1)

    def draw(self, rng, batch=BATCH):
        dims = self.concrete_shape(batch)
        name = dtype_name(self.dtype)
        if name.startswith(("int", "uint")):
            low, high = self._range()
            return rng.integers(low, high, size=dims).astype(name)
        if name == "bool":
            if self.low is not None:
                return np.full(dims, bool(self.low))
            return rng.random(size=dims) < 0.5
        if name == "bfloat16":
            import ml_dtypes

            return rng.normal(size=dims).astype(ml_dtypes.bfloat16)
        return rng.normal(size=dims).astype(name if name != "string" else "float32")


def draw_inputs(specs, seed=0, *, batch=BATCH):
    """``{name: array}``, one array per `InputSpec`, from one seeded generator."""
    rng = np.random.default_rng(seed)
    return {spec.name: spec.draw(rng, batch) for spec in specs}


def sample_array(shape, dtype, rng, *, batch=BATCH):
    """A random array for a bare ``(shape, dtype)`` spec."""
    return InputSpec("x", tuple(shape), dtype_name(dtype)).draw(rng, batch)
