"""The installed package: wheel contents, import names, version, commands."""

import importlib.metadata
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import keras_1x1

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_holds_only_the_keras_1x1_package(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("keras_1x1", "converters"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "-q", "-w", str(tmp_path / "dist"), str(source)],
        check=True,
    )
    (wheel,) = (tmp_path / "dist").glob("keras_1x1-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    outside = [
        n for n in names
        if not n.startswith("keras_1x1/") and not n.startswith("keras_1x1-")
    ]
    assert outside == []
    assert "keras_1x1/converters/__init__.py" in names
    assert "keras_1x1/__init__.py" in names
    assert not any(n.startswith("converters/") for n in names)


def test_converters_is_not_a_top_level_import(tmp_path):
    # Run from an empty folder so the checkout is not on sys.path.
    probe = "import keras_1x1.converters, importlib.util; print(importlib.util.find_spec('converters'))"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "None"


def test_public_names_and_submodules_resolve_on_first_use(tmp_path):
    # A fresh process: nothing else has imported the submodules yet.
    probe = (
        "from keras_1x1 import converters as c; "
        "print(c.to_form is c.canonical.to_form, callable(c.runtime.make_session), "
        "sorted(set(c.__all__) - set(dir(c))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "True True []"


def test_version_matches_installed_metadata():
    assert keras_1x1.__version__ == importlib.metadata.version("keras-1x1")


def test_command_line_version_and_help(tmp_path):
    exe = Path(sys.executable).with_name("keras-1x1")
    result = subprocess.run([str(exe), "--version"], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.strip() == f"keras-1x1 {keras_1x1.__version__}"
    assert result.stderr == ""
    result = subprocess.run(
        [sys.executable, "-m", "keras_1x1", "--help"], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0
    for command in ("convert", "export", "compare", "validate", "demo"):
        assert command in result.stdout
    result = subprocess.run([str(exe), "frobnicate"], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("keras-1x1: error:")
