"""Every example in the docstrings of the installed package runs and says
what it shows (``make test`` runs them here, against the installed package)."""

import doctest
import importlib
import pkgutil

import pytest

import keras_1x1
import keras_1x1.converters


def _modules():
    # keras_1x1.converters installs from another folder (package-dir), so
    # it is walked on its own.
    found = {"keras_1x1", "keras_1x1.converters"}
    for package in (keras_1x1, keras_1x1.converters):
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            found.add(info.name)
    return sorted(name for name in found if not name.endswith("__main__"))


MODULES = _modules()


def test_every_module_is_found():
    assert "keras_1x1.converters.keras.convert" in MODULES
    assert "keras_1x1.converters.onnx.canonical" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
