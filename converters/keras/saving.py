"""Saving converted models as `.keras`, at any depth.

A `.keras` file stores configs, and loading rebuilds every object from its
config. A Functional or Sequential model's config holds the configs of its
layers, so a layer changed in its graph (at any nesting of such models)
reloads in the converted form with Keras alone. A custom layer, a Keras
composite such as `MultiHeadAttention` or a subclassed model builds its
sublayers in its own ``__init__``/``build`` from its own arguments: its
config does not hold them, and a reload would build the original sublayer.

So a converted model with such a change records it: its class becomes a
subclass of its own (same name, registered as ``keras_1x1>Converted``)
whose config is the original model's config plus the sublayers that
replace its own, each with its path (``encoder/_self_attention_layer/
_query_dense``), its serialized config and the config of the layer it
replaces. Loading (after ``import keras_1x1``) rebuilds the model from its
own config, puts each replacement in place (built in the name scopes of the
layer it replaces), and Keras then loads every weight by its path, as for
any model. A user's ``custom_objects`` reach every step. Which changes need
recording is read from the configs: a parent whose serialized config holds
the child's reloads it as it is; and a change back to what the original
config builds (the round trip) needs none, so the result of a round trip
saves exactly as the original did. A model whose graph is rebuilt (a plain
Functional or Sequential one) saves its new graph in its own config.
"""

import json

import keras

from keras_1x1.errors import UserInputError

from . import internals, pointwise, tree
from .rebuild import name_scopes


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


def _unnamed(config):
    if isinstance(config, dict):
        return {k: _unnamed(v) for k, v in config.items() if k != "name"}
    if isinstance(config, (list, tuple)):
        return [_unnamed(v) for v in config]
    return config


# -- recording the changes a config does not hold ---------------------------------------

# The attribute of a converted model that lists its replacements:
# ``{path: serialized config of the layer the original config builds there}``.
RECORD = "_keras_1x1_replaced"
_BASE = "_keras_1x1_base"
_CLASSES = {}


def base_class(model):
    """The class a converted model's own class stands in for."""
    return vars(type(model)).get(_BASE, type(model))


def replaced_paths(model):
    """``{path: the config the original builds there}`` recorded on `model`."""
    return dict(vars(model).get(RECORD) or {})


def _converted_class(base):
    """The registered subclass of `base` whose config records replacements."""
    if base not in _CLASSES:
        namespace = {
            "__module__": __name__,
            "__doc__": base.__doc__,
            _BASE: base,
            "get_config": _get_config,
            "from_config": classmethod(_from_config),
        }
        cls = type(base)(base.__name__, (base,), namespace)
        keras.saving.register_keras_serializable(package="keras_1x1", name="Converted")(cls)
        _CLASSES[base] = cls
    return _CLASSES[base]


def _set_record(model, record):
    base = base_class(model)
    object.__setattr__(model, "__class__", _converted_class(base) if record else base)
    if record:
        object.__setattr__(model, RECORD, dict(record))
    elif RECORD in vars(model):
        object.__delattr__(model, RECORD)


def _steps(site):
    """How to get from the model down to `site`: per link, the position in
    a graph's layers (a rebuild from a config may name them anew), the
    attribute path in another layer, or ``#i``, its place among the layers
    that layer tracks when no attribute holds it (an auto-named layer)."""
    chain = [a.layer for a in site.ancestors] + [site.layer]
    parents = [site.ancestors[0].parent if site.ancestors else site.parent] + chain[:-1]
    steps = []
    for parent, child in zip(parents, chain):
        if tree.is_container(parent):
            steps.append(next(i for i, layer in enumerate(parent.layers) if layer is child))
            continue
        named = internals.attribute_names(parent).get(id(child))
        if named is None:  # held by no attribute: its place among the tracked layers
            index = next(i for i, layer in enumerate(internals.sublayers(parent)) if layer is child)
            named = f"#{index}"
        steps.append(named)
    return steps


def _locate(model, steps):
    """``(parent, layer, path)`` at `steps` under `model`, or None."""
    parent, layer, names = None, model, []
    for step in steps:
        parent = layer
        children = tree.children(parent)
        if isinstance(step, int):
            found = [(l, n) for l, n in children if tree.is_container(parent)][step:step + 1]
        elif step.startswith("#"):
            index = int(step[1:])
            found = [(l, n) for l, n in children if not tree.is_container(parent)][index:index + 1]
        else:
            found = [(l, n) for l, n in children if n == step]
        if not found:
            return None
        layer, name = found[0]
        names.append(name)
    return parent, layer, "/".join(names)


def _get_config(self):
    """The original class's serialized model and the replacements."""
    cls = type(self)
    object.__setattr__(self, "__class__", base_class(self))
    try:
        model = keras.saving.serialize_keras_object(self)
    finally:
        object.__setattr__(self, "__class__", cls)
    sites = {site.path: site for site in tree.walk(self)}
    replacements = []
    for path, replaces in replaced_paths(self).items():
        site = sites.get(path)
        if site is None:
            raise UserInputError(
                f"model '{self.name}' cannot be saved as .keras: its converted layer "
                f"'{path}' is no longer in it"
            )
        replacements.append({
            "path": path, "steps": _steps(site), "layer": _as_saved(site.layer),
            "replaces": replaces,
        })
    return {"model": model, "replacements": replacements}


def _from_config(cls, config):
    """The original model from its config, with each replacement in place."""
    model = keras.saving.deserialize_keras_object(config["model"])
    record = {}
    holders = None
    for entry in config["replacements"]:
        found = _locate(model, entry["steps"])
        if found is None:
            raise ValueError(
                f"the converted layer '{entry['path']}' has no place in the rebuilt "
                f"'{model.name}' ({type(model).__name__})"
            )
        parent, old, path = found
        with name_scopes(old):
            new = keras.saving.deserialize_keras_object(entry["layer"])
        pointwise.restore_origin(new, entry["replaces"])
        # Every layer that holds the old one (a graph and an attribute may
        # share it) holds the new one instead, as in the converted model.
        holders = holders or internals.every_layer(model)
        for holder in holders:
            internals.replace_sublayer(holder, old, new)
        holders.append(new)
        record[path] = entry["replaces"]
    _set_record(model, record)
    return model


def record(model, changed, report, original=None):
    """Record on `model` the changed layers (ids in `changed`) that a reload
    from its config would not give back, with a note in the report.

    What the original config builds at a path is the original model's
    layer there, or what the original's own record says it replaced.
    """
    _set_record(model, {})
    recorded = replaced_paths(original) if original is not None else {}
    before = {s.path: s.layer for s in tree.walk(original)} if original is not None else {}
    configs = _Configs()
    kept, settled = {}, set()
    for site in tree.walk(model):
        if any(a.path in kept or a.path in settled for a in site.ancestors):
            continue
        if id(site.layer) not in changed and site.path not in recorded:
            continue
        chain = [model] + [a.layer for a in site.ancestors] + [site.layer]
        if all(configs.holds(p, c) for p, c in zip(chain, chain[1:])):
            continue
        base = recorded.get(site.path)
        if base is None and site.path in before:
            base = _as_saved(before[site.path])
        if base is not None and _same_config(base, _as_saved(site.layer)):
            settled.add(site.path)  # the original config builds it (and all in it) again
            continue
        kept[site.path] = base
    _set_record(model, kept)
    if kept:
        report.notes.append(
            f"saving: a .keras save records the {len(kept)} converted sublayer"
            f"{'s' if len(kept) > 1 else ''} that their parents' configs do not hold; "
            "it reloads in the converted form after `import keras_1x1`"
        )
    elif changed:
        report.notes.append(
            "saving: a .keras save needs no record (the config of every layer that "
            "holds a changed layer holds it, or builds it as it is now)"
        )


def _same_config(a, b):
    """Two serialized layers alike, names aside."""
    return a.get("class_name") == b.get("class_name") and _key(
        _unnamed(a.get("config"))
    ) == _key(_unnamed(b.get("config")))


# Registered when the package is imported, so `keras.saving.load_model`
# finds "keras_1x1>Converted" before any conversion ran in the process.
_converted_class(keras.Model)
