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
themselves: a parent reloads a child in its new form when the parent's
serialized config contains the child's; otherwise the parent is rebuilt
from its config as a reload would do it, and the child it builds is
compared with the changed one (after a round trip back to the original
form the two agree, and the model saves as the original did).

A converted model with such a change refuses to be saved, with a one-line
`UserInputError` that names the layer and suggests ONNX: ``model.save()``
raises it before touching any file, and so does `keras_1x1.io.save_model`;
``get_config()`` of the model and of each layer that would rebuild a
changed sublayer raises it too, so every other path that would write or
clone the original form (``keras.saving.save_model``, which has already
opened its file, ``keras.models.clone_model``, ``copy.deepcopy``) stops
with it. The conversion report carries the same note.
"""

import json

import keras

from keras_1x1.errors import UserInputError

from . import internals, tree

# Marks the refusing methods a converted model carries (see `refuse`);
# `keras_1x1.io.save_model` reads it without importing the converters.
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


def _as_saved(layer):
    """The layer's serialized config as a `.keras` file holds it (through
    JSON, so tuples come back as lists, as on a reload)."""
    return json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))


def _key(config):
    return json.dumps(config, sort_keys=True, default=str)


class _Rebuilt:
    """What a reload builds in place of a layer: the parent rebuilt from its
    serialized config (``build_config`` included), once per distinct config."""

    def __init__(self):
        self._twins = {}

    def child(self, parent, steps):
        """``(the layer a reload builds in `parent` at `steps`, None)``, or
        ``(None, why the parent cannot be rebuilt from its config)``.

        ``steps`` lead from the parent down (see `_steps`): a graph's layers
        by position (a rebuild may number their names anew), other layers'
        by attribute."""
        try:
            serialized = _as_saved(parent)
            config = dict(serialized.get("config", {}))
            config.pop("name", None)
            key = (type(parent).__name__, _key(config), _key(serialized.get("build_config")))
        except Exception as error:  # noqa: BLE001 - said in the refusal
            return None, _cause(error)
        if key not in self._twins:
            try:
                with internals.deferred_variables():
                    self._twins[key] = (keras.saving.deserialize_keras_object(serialized), None)
            except Exception as error:  # noqa: BLE001 - said in the refusal
                self._twins[key] = (None, _cause(error))
        layer, cause = self._twins[key]
        for step in steps:
            if layer is None:
                break
            layer = _follow(layer, step)
        return layer, cause


def _steps(chain):
    """How to get from ``chain[0]`` down to ``chain[-1]``: per link, the
    position in a graph's layers, or the attribute path in another layer."""
    steps = []
    for parent, child in zip(chain, chain[1:]):
        if tree.is_container(parent):
            steps.append(next(i for i, layer in enumerate(parent.layers) if layer is child))
        else:
            steps.append(next(name for layer, name in tree.children(parent) if layer is child))
    return steps


def _follow(layer, step):
    if isinstance(step, int):
        layers = layer.layers if tree.is_container(layer) else []
        return layers[step] if step < len(layers) else None
    return next((sub for sub, name in tree.children(layer) if name == step), None)


def _cause(error):
    text = " ".join(str(error).split())[:160]
    return f"{type(error).__name__}: {text}"


def _same_layer(a, b):
    """Same class and config, names aside (a rebuild may number them anew)."""
    if a is None or type(a) is not type(b):
        return False
    try:
        return _key(_unnamed(a.get_config())) == _key(_unnamed(b.get_config()))
    except Exception:  # noqa: BLE001
        return False


def _unnamed(config):
    if isinstance(config, dict):
        return {k: _unnamed(v) for k, v in config.items() if k != "name"}
    if isinstance(config, (list, tuple)):
        return [_unnamed(v) for v in config]
    return config


def carries_changes(model):
    """True when `model` (or a layer in it) carries a refusal: a converted
    model whose layers are not all what their parents' configs build."""
    return any(
        hasattr(vars(layer).get("get_config"), MARK)
        for layer in [model] + [site.layer for site in tree.walk(model)]
    )


def reloads_otherwise(model, changed, original=None):
    """``[(changed path, parent path, parent class, parent, cause)]`` for
    each changed object (by id) of `model` that a `.keras` reload would not
    give back: the first ancestor on its way down whose config does not hold
    the next (``cause`` says why it cannot be rebuilt from its config at
    all, or is None: it rebuilds another layer).

    ``original`` is the model `model` was converted from. When it carries
    no changes of an earlier conversion, each of its layers is what its
    parent's config builds, so a reload builds the original's layer at the
    same path (the parents' configs did not change): no rebuild is needed.
    """
    configs = _Configs()
    rebuilt = _Rebuilt()
    before = None
    if original is not None and not carries_changes(original):
        before = {site.path: site.layer for site in tree.walk(original)}
    found = []
    for site in tree.walk(model):
        if id(site.layer) not in changed:
            continue
        chain = [model] + [a.layer for a in site.ancestors] + [site.layer]
        names = [model.name] + [a.path for a in site.ancestors]
        for i, (parent, child) in enumerate(zip(chain, chain[1:])):
            if configs.holds(parent, child):
                continue
            if before is not None:
                twin, cause = before.get(site.path), None
            else:
                twin, cause = rebuilt.child(parent, _steps(chain[i:]))
            if not _same_layer(twin, site.layer):
                found.append((site.path, names[i], type(parent).__name__, parent, cause))
            break
    return found


def refusal_message(model, found):
    path, parent, cls, _, cause = found[0]
    others = len(found) - 1
    more = f" (and {others} more changed layer{'s' if others > 1 else ''})" if others else ""
    if cause is None:
        why = (
            f"'{parent}' ({cls}) builds its sublayers from its own config, so the "
            f"converted '{path}'{more} would reload as the original layer"
        )
    else:
        why = (
            f"'{parent}' ({cls}) holds the converted '{path}'{more} but builds its "
            f"sublayers from its own config, and that config does not rebuild ({cause})"
        )
    return (
        f"model '{model.name}' cannot be saved as .keras: {why}; export the converted "
        "model to ONNX instead (converters.export_onnx(model, path) or keras-1x1 export)"
    )


def refuse(model, message, parents=()):
    """Make every save of `model` raise `UserInputError(message)`: its
    ``save`` and ``get_config``, and the ``get_config`` of `parents`."""

    def save(*args, **kwargs):
        raise UserInputError(message)

    def get_config():
        raise UserInputError(message)

    for method in (save, get_config):
        setattr(method, MARK, message)
    object.__setattr__(model, "save", save)
    for target in (model, *parents):
        object.__setattr__(target, "get_config", get_config)


def clear(model):
    """Drop the refusing methods that copies took over from the model
    they came from (a conversion decides afresh)."""
    for layer in [model] + [site.layer for site in tree.walk(model)]:
        for name in ("save", "get_config"):
            if hasattr(vars(layer).get(name), MARK):
                object.__delattr__(layer, name)


def refusal(model):
    """The message `model` refuses saves with, or None."""
    return getattr(getattr(model, "save", None), MARK, None)


def _lost_class(model, original):
    """Why a save of `model` would not reload, when it is the plain
    Functional model rebuilt from a Functional subclass (whose config named
    its own constructor's arguments; the plain one's names every layer's),
    or None."""
    if original is None or not internals.is_plain_container(model):
        return None
    if internals.is_plain_container(original) and not carries_changes(original):
        return None
    try:
        serialized = _as_saved(model)
        with internals.deferred_variables():
            keras.saving.deserialize_keras_object(serialized)
    except Exception as error:  # noqa: BLE001 - said in the refusal
        return (
            f"model '{model.name}' cannot be saved as .keras: it is a plain Functional "
            "model (a Functional subclass rebuilt its layers from its own arguments), "
            f"and its layers' configs do not rebuild ({_cause(error)}); "
            "export the converted model to ONNX instead (converters.export_onnx(model, "
            "path) or keras-1x1 export)"
        )
    return None


def check_saves(model, changed, report, original=None):
    """Refuse saves of `model` when a changed layer would reload otherwise,
    with a note in the report; otherwise, when layers inside layers changed,
    note that a save reloads the converted form (changes in graphs alone
    always do)."""
    clear(model)
    lost = _lost_class(model, original)
    if lost is not None:
        refuse(model, lost)
        report.notes.append(f"saving: {lost[lost.index('.keras:') + 8:]}")
        return
    if not changed:
        return
    found = reloads_otherwise(model, changed, original)
    if found:
        message = refusal_message(model, found)
        refuse(model, message, [entry[3] for entry in found if entry[3] is not model])
        report.notes.append(
            f"saving: {message[message.index('.keras:') + 8:]}"
        )
    else:
        report.notes.append(
            "saving: a .keras save reloads the converted form (the config of every "
            "layer that holds a changed layer holds its config)"
        )
