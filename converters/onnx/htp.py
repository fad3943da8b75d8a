"""Qualcomm's HTP (Hexagon NPU) through onnxruntime-qnn's plugin execution provider.

The provider ``"qnn"`` runs a graph on the HTP backend of the
``onnxruntime-qnn`` plugin (an optional extra: ``pip install
keras-1x1[qnn]``). On a Snapdragon that backend is the NPU itself; on x86
Linux it is Qualcomm's simulator, which computes what the NPU computes
(fp16 arithmetic here) but cannot time it: its profile's cycle counts are
timed on the host.

- Shapes must be static: every free input dim is fixed to the size of the
  inputs the graph is run on (`fixed`).
- Every node runs on the HTP or the check fails: a session is made with
  onnxruntime's record of which provider took which node
  (``session.record_ep_graph_assignment_info``), and any node placed on
  the CPU is named with its op (`HtpFallback`). Nothing ever runs half on
  the CPU without saying so.
- `Placement.census` counts the ops the HTP ran, as onnxruntime placed
  them (the provider's own layout transposes included).

Tolerances for its outputs are `keras_1x1.numeric.HTP_FP16`.
"""

from __future__ import annotations

import collections
import dataclasses
import functools

from keras_1x1.errors import UserInputError, one_line

__all__ = ["HtpFallback", "Placement", "fixed", "session", "PROVIDER", "PACKAGE"]

PROVIDER = "QNNExecutionProvider"
PACKAGE = "onnxruntime-qnn"
# The HTP options: fp16 arithmetic on a Snapdragon 8 Gen 2 class HTP (v73),
# the backend the plugin ships.
_OPTIONS = {"enable_htp_fp16_precision": "1", "soc_model": "60", "htp_arch": "73"}


class HtpFallback(Exception):
    """Nodes the HTP cannot run: onnxruntime would place them on the CPU."""

    def __init__(self, placement):
        self.placement = placement
        super().__init__(placement.fallback_line())


@dataclasses.dataclass
class Placement:
    """Where onnxruntime placed each node of a graph.

    Attributes:
        htp: ``[(node name, op type)]`` on the HTP.
        cpu: ``[(node name, op type)]`` left to the CPU (empty on success).
    """

    htp: list
    cpu: list

    @property
    def census(self):
        """``{op type: count}`` of what the HTP ran, most frequent first."""
        counts = collections.Counter(op for _, op in self.htp)
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def census_line(self):
        ops = ", ".join(f"{op} {n}" for op, n in self.census.items())
        return f"ran on the HTP: {len(self.htp)} nodes ({ops})"

    def fallback_line(self):
        ops = collections.Counter(op for _, op in self.cpu)
        shown = ", ".join(f"'{name}' ({op})" for name, op in self.cpu[:8])
        more = f" and {len(self.cpu) - 8} more" if len(self.cpu) > 8 else ""
        return (
            f"{len(self.cpu)} of {len(self.cpu) + len(self.htp)} nodes cannot run on the HTP "
            f"and would fall back to the CPU: {shown}{more} (ops: "
            + ", ".join(f"{op} {n}" for op, n in sorted(ops.items()))
            + ")"
        )


@functools.lru_cache(maxsize=None)
def _plugin():
    """``(onnxruntime, the plugin module, its devices)``, registered once."""
    from .runtime import _ort

    ort = _ort()
    try:
        import onnxruntime_qnn as qnn
    except ImportError as error:
        raise UserInputError(
            f"the qnn provider needs the {PACKAGE} package (pip install {PACKAGE}, or "
            f"keras-1x1[qnn]); it is not installed ({one_line(error)})"
        ) from error
    name = qnn.get_ep_name()
    if not any(d.ep_name == name for d in ort.get_ep_devices()):
        try:
            ort.register_execution_provider_library(name, qnn.get_library_path())
        except Exception as error:  # noqa: BLE001 - onnxruntime's own exceptions
            raise UserInputError(
                f"onnxruntime cannot load the {PACKAGE} plugin: {one_line(error)} "
                "(it needs onnxruntime 1.24.2 or newer)"
            ) from error
    devices = [d for d in ort.get_ep_devices() if d.ep_name == name]
    if not devices:
        raise UserInputError(f"the {PACKAGE} plugin offers no device to run on")
    return ort, qnn, devices


def available():
    """Whether the qnn provider can be used here."""
    try:
        _plugin()
    except UserInputError:
        return False
    return True


def fixed(proto, shapes):
    """A copy of `proto` whose free input dims are the sizes in `shapes`
    (``{input name: shape}``); the HTP takes static shapes only."""
    import onnx

    model = onnx.ModelProto()
    model.CopyFrom(proto)
    for value in model.graph.input:
        shape = shapes.get(value.name)
        if shape is None:
            continue
        dims = value.type.tensor_type.shape.dim
        if len(dims) != len(shape):
            continue
        for dim, size in zip(dims, shape):
            if not dim.HasField("dim_value"):
                dim.Clear()
                dim.dim_value = int(size)
    # Shapes recorded inside the graph were inferred for the free dims.
    del model.graph.value_info[:]
    return model


def session(proto, shapes):
    """``(session, Placement)`` for `proto` on the HTP with its inputs fixed
    to `shapes`; raises `HtpFallback` when a node would run on the CPU."""
    ort, qnn, devices = _plugin()
    model = fixed(proto, shapes)
    _name_nodes(model)
    options = ort.SessionOptions()
    options.log_severity_level = 4
    options.add_provider_for_devices(devices, {"backend_path": qnn.get_qnn_htp_path(), **_OPTIONS})
    options.add_session_config_entry("session.record_ep_graph_assignment_info", "1")
    try:
        made = ort.InferenceSession(model.SerializeToString(), sess_options=options)
    except Exception as error:  # noqa: BLE001 - onnxruntime's own exceptions
        raise UserInputError(
            f"onnxruntime cannot make an HTP session for the graph: {one_line(error)}"
        ) from error
    placement = Placement([], [])
    for part in made.get_provider_graph_assignment_info():
        nodes = [(n.name, n.op_type) for n in part.get_nodes()]
        (placement.htp if part.ep_name == PROVIDER else placement.cpu).extend(nodes)
    if placement.cpu or not placement.htp:
        raise HtpFallback(placement)
    return made, placement


def _name_nodes(model):
    """Give every unnamed node a name, so a fallback can be pointed at."""
    taken = {n.name for n in model.graph.node if n.name}
    for i, node in enumerate(model.graph.node):
        if not node.name:
            name = f"{node.op_type}_{i}"
            while name in taken:
                name = "_" + name
            node.name = name
            taken.add(name)
