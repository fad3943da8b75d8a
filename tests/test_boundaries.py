"""The rooms and their doors: what imports what, what is imported when, and
the private attributes of other libraries, each read from one place."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from keras_1x1 import cli

ROOT = Path(__file__).resolve().parents[1]
# The library: everything but the command line, the demo and the
# `python -m keras_1x1` entry point.
LIBRARY = [
    p
    for p in (ROOT / "keras_1x1").rglob("*.py")
    if not {"cli", "demo"} & set(p.parts) and p.name != "__main__.py"
] + list((ROOT / "converters").rglob("*.py"))


def _imports(path):
    """Every module a file imports, absolute names (relative ones resolved
    against its package)."""
    tree = ast.parse(path.read_text())
    parts = path.relative_to(ROOT).with_suffix("").parts
    package = (
        ("keras_1x1", "converters") + parts[1:] if parts[0] == "converters" else parts
    )
    if package[-1] != "__init__":
        package = package[:-1]
    else:
        package = package[:-1]
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module
            names.append(module)
            names += [f"{module}.{a.name}" for a in node.names]
    return names


def test_the_library_never_imports_the_command_line_or_the_demo():
    offending = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in LIBRARY
        for name in _imports(path)
        if name.startswith(("keras_1x1.cli", "keras_1x1.demo"))
    ]
    assert LIBRARY and offending == []


def test_inside_converters_imports_are_relative():
    offending = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in (ROOT / "converters").rglob("*.py")
        for name in _imports(path)
        if name.startswith("converters")
    ]
    assert offending == []


def _fresh(code, tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip()


def test_importing_the_package_imports_neither_keras_nor_tensorflow(tmp_path):
    code = (
        "import os, sys\n"
        "before = os.readlink('/proc/self/fd/2')\n"
        "import keras_1x1, keras_1x1.converters, keras_1x1.cli\n"
        "from keras_1x1 import converters\n"
        "converters.compare, converters.check, converters.fingerprint\n"
        "assert os.readlink('/proc/self/fd/2') == before, 'stderr was redirected'\n"
        "print(sorted(m for m in ('keras', 'tensorflow', 'tf2onnx') if m in sys.modules))\n"
    )
    assert _fresh(code, tmp_path) == "[]"


def test_help_and_version_answer_without_tensorflow(tmp_path):
    code = (
        "import sys, contextlib, io\n"
        "from keras_1x1.cli import main\n"
        "for argv in (['--version'], ['--help'], ['compare', '--help'], ['export', '--help']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        try:\n"
        "            main(argv)\n"
        "        except SystemExit as done:\n"
        "            assert done.code == 0, argv\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    assert _fresh(code, tmp_path) == "False False"


def _tiny_onnx(path, weight):
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 2])],
        [numpy_helper.from_array(np.asarray(weight, "float32"), "W")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def test_comparing_two_onnx_files_imports_neither_keras_nor_tensorflow(tmp_path):
    _tiny_onnx(tmp_path / "a.onnx", [[1, 2], [3, 4]])
    _tiny_onnx(tmp_path / "b.onnx", [[1, 2], [3, 4]])
    code = (
        "import sys\n"
        "from keras_1x1.cli import main\n"
        "status = main(['compare', 'a.onnx', 'b.onnx'])\n"
        "print(status, sorted(m for m in ('keras', 'tensorflow', 'tf2onnx') if m in sys.modules))\n"
    )
    out = _fresh(code, tmp_path).splitlines()
    assert "canonical graphs: identical" in "\n".join(out)
    assert out[-2] == "PASSED" and out[-1] == "0 []"


def test_an_internal_error_has_its_own_status_and_one_line(monkeypatch, capsys, tmp_path):
    from keras_1x1.cli import compare

    def broken(args):
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")

    monkeypatch.setattr(compare, "run", broken)
    status = cli.main(["compare", str(tmp_path / "a.onnx"), str(tmp_path / "b.onnx")])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 3 and status not in (0, 1, 2)
    assert len(err) == 1
    assert err[0].startswith("keras-1x1: internal error: TypeError: unsupported operand")
    assert "a bug in keras-1x1" in err[0] and "--debug" in err[0]


# -- other libraries' internals ---------------------------------------------------------


def test_every_private_attribute_read_exists_in_the_installed_versions():
    from keras_1x1.converters.keras import internals
    from keras_1x1.converters.onnx import onnx_internals, onnxscript_internals

    assert internals.check() is True
    assert onnxscript_internals.check() is True
    assert onnx_internals.check() is True


def test_a_missing_keras_attribute_fails_loudly():
    import keras

    from keras_1x1.converters.keras import internals

    class NotAKerasLayer:
        name = "imposter"

    with pytest.raises(internals.KerasInternalsChanged, match=r"keras .* has no Layer._inbound_nodes"):
        internals.inbound_nodes(NotAKerasLayer())
    with pytest.raises(internals.KerasInternalsChanged, match="_nodes_by_depth"):
        internals.nodes_by_depth(keras.layers.Dense(2))


def test_no_module_outside_the_internals_reads_those_attributes():
    import re

    attributes = (
        "_inbound_nodes", "_nodes_by_depth", "_keras_history", "_outputs_struct",
        "_functional", "_layers", "_rewrite_rule", "merge_metadata", "_target_pattern",
        "_get_all_tensors", "_convert_data_format",
    )
    private = [re.compile(rf"\.{name}\b") for name in attributes] + [re.compile(r"keras\.src\b")]
    internals = {"internals.py", "onnx_internals.py", "onnxscript_internals.py"}
    offending = [
        f"{path.relative_to(ROOT)}: {pattern.pattern}"
        for path in LIBRARY
        if path.name not in internals
        for pattern in private
        if pattern.search(path.read_text())
    ]
    assert offending == []
