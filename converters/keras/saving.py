"""What a `.keras` save of a converted model gives back, and refusing the
saves that would reload something else.

A `.keras` file stores configs, and loading rebuilds every object from its
config. A Functional or Sequential model's config holds the configs of its
layers, so a layer changed in its graph (at any nesting of such models)
reloads in the converted form. A custom layer, a Keras composite such as
`MultiHeadAttention` or a subclassed model builds its sublayers in its own
``__init__``/``build`` from its own arguments: its config does not hold
them, and a changed sublayer would reload as the original layer (whose
weights then no longer fit). Which case applies is read from the configs
themselves: a parent reloads a child in its new form exactly when the
parent's serialized config contains the child's.

A converted model with such a change refuses to be saved, with a one-line
`UserInputError` that names the layer and suggests ONNX: ``model.save()``,
``keras.saving.save_model`` and ``model.get_config()`` (every path that
would write or copy the original form) raise it, and
`keras_1x1.io.save_model` raises it before touching any file. The
conversion report carries the same note.
"""

from keras_1x1.errors import UserInputError

from . import internals, tree

# Marks the refusing methods a converted model carries (see `refuse`).
MARK = "keras_1x1_refusal"


def _configs_within(config, found):
    """Every nested ``{"class_name": ..., "config": {...}}`` of a config."""
    stack = [config]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            if "class_name" in value and isinstance(value.get("config"), dict):
                found.append((value["class_name"], value["config"]))
            stack.extend(value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend(value)
    return found


class _Configs:
    """Which children each parent's serialized config holds (read once per parent)."""

    def __init__(self):
        self._held = {}

    def holds(self, parent, child):
        if internals.is_plain_container(parent):
            return True  # a Functional or Sequential config lists its layers
        if id(parent) not in self._held:
            try:
                self._held[id(parent)] = _configs_within(parent.get_config(), [])
            except Exception:  # noqa: BLE001 - a config that cannot be read holds nothing
                self._held[id(parent)] = []
        try:
            config = child.get_config()
        except Exception:  # noqa: BLE001
            return False
        name = type(child).__name__
        return any(cls == name and held == config for cls, held in self._held[id(parent)])


def reloads_otherwise(model, changed):
    """``[(changed path, parent path, parent class)]`` for each changed
    object (by id) of `model` that a `.keras` reload would not give back:
    the first ancestor on its way down whose config does not hold the next."""
    configs = _Configs()
    found = []
    for site in tree.walk(model):
        if id(site.layer) not in changed:
            continue
        chain = [model] + [a.layer for a in site.ancestors] + [site.layer]
        names = [model.name] + [a.path for a in site.ancestors]
        for i, (parent, child) in enumerate(zip(chain, chain[1:])):
            if not configs.holds(parent, child):
                found.append((site.path, names[i], type(parent).__name__))
                break
    return found


def refusal_message(model, found):
    path, parent, cls = found[0]
    others = len(found) - 1
    more = f" (and {others} more changed layer{'s' if others > 1 else ''})" if others else ""
    return (
        f"model '{model.name}' cannot be saved as .keras: '{parent}' ({cls}) builds its "
        f"sublayers from its own config, so the converted '{path}'{more} would reload as "
        "the original layer; export the converted model to ONNX instead "
        "(converters.export_onnx(model, path) or keras-1x1 export)"
    )


def refuse(model, message):
    """Make every save of `model` raise `UserInputError(message)`."""

    def save(*args, **kwargs):
        raise UserInputError(message)

    def get_config():
        raise UserInputError(message)

    for method in (save, get_config):
        setattr(method, MARK, message)
        object.__setattr__(model, method.__name__, method)


def clear(model):
    """Drop refusing methods a copy took over from the model it came from."""
    for name in ("save", "get_config"):
        if hasattr(vars(model).get(name), MARK):
            object.__delattr__(model, name)


def refusal(model):
    """The message `model` refuses saves with, or None."""
    return getattr(getattr(model, "save", None), MARK, None)


def check_saves(model, changed, report):
    """Refuse saves of `model` when a changed layer would reload otherwise,
    with a note in the report; otherwise, when anything was converted, note
    that a save reloads the converted form."""
    clear(model)
    if not report.converted:
        return
    found = reloads_otherwise(model, changed) if changed else []
    if found:
        message = refusal_message(model, found)
        refuse(model, message)
        report.notes.append(
            f"saving: {message[message.index('.keras:') + 8:]}"
        )
    else:
        report.notes.append(
            "saving: a .keras save reloads the converted form (every changed layer "
            "sits in the config of a Functional or Sequential model, or of a layer "
            "whose config holds it)"
        )
