"""Deployment forms, measured: which of the two runs faster here.

`canonical.to_form` writes a model in its MatMul form (pointwise ops as
MatMul + Add on channels-last tensors) or its Conv form (as NCHW Conv 1x1).
Which one a runtime executes faster depends on the model: in a network of
3x3 convolutions (which onnxruntime runs channels first) the Conv form
keeps every tensor NCHW and needs no transposes between layers; in a
transformer, whose per-token maps act on (batch, tokens, channels), the
MatMul form needs none either. `fastest` builds both and times them side by
side in onnxruntime (interleaved rounds, the median of each) and returns the
faster.

>>> import numpy as np, onnx
>>> from onnx import helper, numpy_helper
>>> weight = np.ones((4, 3, 1, 1), "float32")
>>> graph = helper.make_graph(
...     [helper.make_node("Conv", ["x", "W"], ["y"], kernel_shape=[1, 1])], "conv",
...     [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 3, 8, 8])],
...     [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 4, 8, 8])],
...     [numpy_helper.from_array(weight, "W")])
>>> model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
>>> result = fastest(model, rounds=3)
>>> result.form in ("matmul", "conv"), sorted(result.seconds)
(True, ['conv', 'matmul'])
"""

from __future__ import annotations

import dataclasses
import time

__all__ = ["fastest", "Fastest"]


@dataclasses.dataclass
class Fastest:
    """The faster deployment form: its name, the model, and the median
    seconds per run of each form."""

    form: str
    model: object
    seconds: dict
    forms: dict = dataclasses.field(repr=False, default_factory=dict)


def fastest(onnx_model, *, inputs=None, provider="cpu", rounds=15, seed=0):
    """The faster of ``to_form(onnx_model, "matmul")`` and ``"conv"`` here.

    Args:
        onnx_model: an ONNX model or a path.
        inputs: ``{input name: array}`` to time on; drawn from the model's
            input specs (`keras_1x1.numeric`) when None.
        provider: the onnxruntime provider to time on ("cpu" or "cuda").
        rounds: interleaved rounds (each runs every form once).

    Returns:
        A `Fastest`.
    """
    import numpy as np

    from keras_1x1.numeric import InputSpec, draw_inputs

    from . import canonical, runtime

    forms = {form: canonical.to_form(onnx_model, form) for form in ("matmul", "conv")}
    sessions = {
        form: runtime.make_session(proto, provider, spinning=False) for form, proto in forms.items()
    }
    if inputs is None:
        specs = [
            InputSpec(name, tuple(shape), dtype.name)
            for name, shape, dtype in runtime.input_specs(forms["matmul"])
        ]
        inputs = draw_inputs(specs, seed)
    samples = {form: [] for form in sessions}
    for session in sessions.values():
        runtime.run(session, inputs)  # warm up
    order = list(sessions)
    for i in range(max(1, rounds)):
        for form in order[i % 2:] + order[: i % 2]:
            start = time.perf_counter()
            runtime.run(sessions[form], inputs)
            samples[form].append(time.perf_counter() - start)
    seconds = {form: float(np.median(values)) for form, values in samples.items()}
    best = min(seconds, key=seconds.get)
    return Fastest(best, forms[best], seconds, forms)
