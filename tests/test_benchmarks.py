"""Every benchmark runs (quick mode); timings are never asserted."""

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_benchmarks_run_in_quick_mode(tmp_path):
    out = tmp_path / "bench.md"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--output", str(out)],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    text = out.read_text()
    assert "Conv2D(1x1)" in text
    assert "clone_model + set_weights" in text
    backends = next(line for line in text.splitlines() if line.startswith("| tensorflow "))
    cells = [cell.strip() for cell in backends.split("|")[1:-1]]
    assert float(cells[1]) > 0 and float(cells[2]) > 0  # TensorFlow's row has its ratios
    if importlib.util.find_spec("keras_hub") is not None:
        assert "BertBackbone" in text and "conv form (dense_to_conv)" in text
    else:
        assert "keras-hub is not installed" in text
    if importlib.util.find_spec("onnxruntime_qnn") and importlib.util.find_spec("ai_edge_litert"):
        assert "Accelerators: each form on Qualcomm's HTP" in text
        row = next(line for line in text.splitlines() if line.startswith("| MobileNet "))
        assert row.count("yes (") == 4 and "XNNPACK" in row  # every form on the HTP
