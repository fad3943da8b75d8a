"""The keras-hub sweep's table (benchmarks/hub_configs.py) covers every
Backbone class keras-hub ships, each of its configurations is well formed,
and one builds and runs on its inputs. The sweep itself is a benchmark
(``benchmarks/run.py --only hub``)."""

import sys
from pathlib import Path

import pytest

keras_hub = pytest.importorskip("keras_hub")  # keras-hub needs Python >= 3.11

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_hub  # noqa: E402
import hub_configs  # noqa: E402


def _makes(value):
    if isinstance(value, hub_configs.Make):
        yield value
        for v in list(value.args) + list(value.kwargs.values()):
            yield from _makes(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _makes(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _makes(v)


def test_every_backbone_class_has_a_test_configuration_and_another_size():
    shipped = bench_hub.classes()
    configured = hub_configs.families()
    assert len(shipped) >= 80
    missing = sorted(set(shipped) - set(configured) - set(hub_configs.ABSTRACT))
    assert missing == []
    assert sorted(set(configured) - set(shipped)) == []
    for family in hub_configs.FAMILIES:
        assert family.alt is not None and family.alt.about, family.cls


def test_every_configuration_is_well_formed():
    names = hub_configs.config_names()
    assert len(names) == len(set(names)) == 2 * len(hub_configs.FAMILIES)
    for name in names:
        family, config, kind = hub_configs.lookup(name)
        assert isinstance(config.kwargs, dict) and config.kwargs, name
        for make in _makes(config.kwargs):
            assert bench_hub.resolve(make.target) is not None, (name, make.target)
        arrays = bench_hub.make_inputs(config.inputs)
        specs = config.inputs if isinstance(config.inputs, dict) else {"": config.inputs}
        arrays = arrays if isinstance(arrays, dict) else {"": arrays}
        for key, spec in specs.items():
            assert arrays[key].shape == tuple(spec.shape), (name, key)
            assert str(arrays[key].dtype) == spec.dtype, (name, key)


def test_a_configuration_builds_runs_and_has_candidates_the_walk_finds():
    from keras_1x1.converters.keras import signature

    model, inputs, sizes = bench_hub.build("BertBackbone/alt")
    assert "1 head" in sizes
    outputs = signature.run(model, inputs)
    assert outputs["sequence_output"].shape == (1, 8, 8)
    dense, conv, unbuilt = bench_hub.candidates(model)
    # Query, key, value, output and two feed-forward maps; the pooler is on vectors.
    assert (dense, conv, unbuilt) == (6, 0, 0)
