# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# Each creates .venv when it is missing and installs the package into it.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: demo test test-backends test-onnx-only bench models clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The stamps are redone whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[demo]"
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/keras-1x1 demo

# Two workers (pytest-xdist): the suite is a few hundred independent tests,
# most of them single-threaded TensorFlow work.
test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -n 2

# The layers, converters, saving, export and CLI again on Keras' JAX and torch
# backends (CPU), each in its own pytest run. TORCH_SPEC names the torch to
# install: the CPU build this machine keeps (PyPI's default wheel for Linux
# is a CUDA build of several GB).
TORCH_SPEC ?= torch==2.13.0
$(VENV)/.installed-backends: pyproject.toml $(VENV)/.installed-test
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[test,jax,torch]"
	touch $@

test-backends: $(VENV)/.installed-backends
	KERAS_BACKEND=jax $(BIN)/python -m pytest -q tests/test_backends.py
	KERAS_BACKEND=torch $(BIN)/python -m pytest -q tests/test_backends.py

# The ONNX side where only numpy, onnx, onnxscript and onnxruntime are
# installed (a deployment box): keras-1x1 without its Keras dependencies.
ONNX_VENV := .venv-onnx
test-onnx-only:
	rm -rf $(ONNX_VENV)
	$(PYTHON) -m venv $(ONNX_VENV)
	$(ONNX_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(ONNX_VENV)/bin/python -m pip install --quiet numpy onnx onnxscript onnx-ir onnxruntime
	$(ONNX_VENV)/bin/python -m pip install --quiet --no-deps -e .
	$(ONNX_VENV)/bin/python tests/deploy/onnx_only.py

bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/run.py

# Retrain the shipped reference models (deterministic; see models/README.md).
models: $(VENV)/.installed-test
	$(BIN)/python models/train.py

clean:
	rm -rf $(VENV) $(ONNX_VENV) build dist *.egg-info .pytest_cache .hypothesis
