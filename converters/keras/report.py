"""The conversion report: every candidate layer, converted or skipped."""

import dataclasses


@dataclasses.dataclass
class LayerReport:
    """What happened to one candidate layer.

    Attributes:
        path: the layer's name, prefixed by the names of the nested models
            that hold it (``"backbone/block1_conv"``).
        kind: the layer's class name (``"Conv2D"``, ``"TimeDistributed(Dense)"``).
        status: ``"converted"`` or ``"skipped"``.
        result: what it became (``"Dense"``, ``"MaxPooling2D + Dense"``).
        detail: for a converted layer, how (``"strides (2, 2) as subsampling"``);
            for a skipped one, why (``"kernel 3x3 is not 1x1"``).
    """

    path: str
    kind: str
    status: str
    result: str = ""
    detail: str = ""

    @property
    def converted(self):
        return self.status == "converted"


@dataclasses.dataclass
class ConversionReport:
    """Every candidate layer of one conversion, and the verification result.

    ``model.conversion_report`` holds it on every model the converters return;
    ``str(report)`` is the table the command line prints. ``inputs``
    describes the inputs the verification drew (``token_ids 2x32 int32 in
    [0, 50) (indexes the table ...)``); ``notes`` what else to know (how a
    `.keras` save reloads, a class the result does not keep).
    """

    operation: str
    target: str
    layers: list = dataclasses.field(default_factory=list)
    verification: list = dataclasses.field(default_factory=list)
    verified: bool = False
    notes: list = dataclasses.field(default_factory=list)
    inputs: list = dataclasses.field(default_factory=list)

    def add(self, path, kind, status, result="", detail=""):
        self.layers.append(LayerReport(path, kind, status, result, detail))

    @property
    def converted(self):
        return [entry for entry in self.layers if entry.converted]

    @property
    def skipped(self):
        return [entry for entry in self.layers if not entry.converted]

    @property
    def max_error(self):
        errors = [stats.max_abs for stats in self.verification]
        return max(errors) if errors else None

    def table(self):
        rows = [("layer", "type", "status", "became / reason")]
        for entry in self.layers:
            text = entry.result if entry.converted else entry.detail
            if entry.converted and entry.detail:
                text = f"{entry.result} ({entry.detail})"
            rows.append((entry.path, entry.kind, entry.status, text))
        widths = [max(len(str(row[i])) for row in rows) for i in range(3)]
        lines = []
        for i, row in enumerate(rows):
            cells = [str(cell).ljust(width) for cell, width in zip(row, widths)]
            lines.append("  ".join(cells + [str(row[3])]).rstrip())
            if i == 0:
                lines.append("  ".join("-" * w for w in widths + [len(row[3])]))
        return "\n".join(lines)

    def summary(self):
        n_conv, n_skip = len(self.converted), len(self.skipped)
        text = (
            f"{self.operation} (target={self.target}): {n_conv} converted, "
            f"{n_skip} skipped"
        )
        if self.verified:
            text += f"; outputs verified, max abs error {self.max_error:.3g}"
        elif not self.verification:
            text += "; outputs not verified"
        return text

    def __str__(self):
        parts = [self.summary()]
        if self.layers:
            parts.append(self.table())
        else:
            parts.append(
                "note: no candidate layer in this model for this direction; "
                "the result computes the same with the same layers"
            )
        parts += [f"note: {note}" for note in self.notes]
        parts += [f"drawn: {text}" for text in self.inputs]
        parts += [stats.line() for stats in self.verification]
        return "\n".join(parts)
