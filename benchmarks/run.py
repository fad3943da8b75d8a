"""Run the keras-1x1 benchmarks and print their tables (``make bench``).

Discovers every ``benchmarks/bench_<name>.py``, calls its ``run(quick=...)``
(which returns a `harness.Table` or a list of them), prints each table as it
is done, and writes them all to ``bench-results/latest.md`` (ignored by
git; ``--quick`` runs write ``bench-results/latest-quick.md`` instead, so a
smoke run never overwrites real numbers).

Timings are never asserted on. The exit status is 0 when every selected
benchmark ran, 1 when one crashed (its traceback is printed and the others
still run), 2 for bad usage (for example an unknown ``--only`` name).

Usage::

    .venv/bin/python benchmarks/run.py                 # everything, full size
    .venv/bin/python benchmarks/run.py --quick         # smoke run, seconds
    .venv/bin/python benchmarks/run.py --only layers   # bench_layers.py only
    .venv/bin/python benchmarks/run.py --list
"""

import argparse
import datetime
import importlib
import os
import sys
import time
import traceback
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = ROOT / "bench-results"

if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import harness  # noqa: E402


def discover():
    """{short name: module name} for every benchmarks/bench_*.py, sorted."""
    return {
        p.stem[len("bench_") :]: p.stem for p in sorted(HERE.glob("bench_*.py"))
    }


def _select(available, only):
    if not only:
        return list(available)
    chosen = []
    for name in only:
        key = Path(name).stem
        if key.startswith("bench_"):
            key = key[len("bench_") :]
        if key not in available:
            raise KeyError(name)
        if key not in chosen:
            chosen.append(key)
    return chosen


def _as_tables(result, module):
    if isinstance(result, harness.Table):
        return [result]
    if isinstance(result, (list, tuple)) and all(
        isinstance(t, harness.Table) for t in result
    ):
        return list(result)
    raise TypeError(
        f"{module}.run() must return a harness.Table or a list of them. "
        f"Received: {type(result).__name__}"
    )


def _write_atomic(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description="Run the keras-1x1 benchmarks and print their tables.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small inputs and few rounds: a smoke run that takes seconds",
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="run only this benchmark (e.g. 'layers' for bench_layers.py); "
        "may be repeated",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="where to write the tables (default bench-results/latest.md, "
        "or bench-results/latest-quick.md with --quick)",
    )
    parser.add_argument(
        "--list", action="store_true", help="list the benchmarks and exit"
    )
    args = parser.parse_args(argv)

    available = discover()
    if args.list:
        for name, module in available.items():
            print(f"{name:12s} benchmarks/{module}.py")
        return 0
    try:
        selected = _select(available, args.only)
    except KeyError as exc:
        print(
            f"benchmarks/run.py: error: unknown benchmark {exc.args[0]!r}; "
            f"available: {', '.join(available) or 'none'}",
            file=sys.stderr,
        )
        return 2
    output = args.output or RESULTS / (
        "latest-quick.md" if args.quick else "latest.md"
    )

    from keras_1x1.cli._common import native_stderr_quiet

    # TensorFlow's and onnxruntime's native start-up chatter stays off the
    # tables; the benchmarks' own lines go through sys.stderr as usual.
    with native_stderr_quiet():
        return _run_selected(args, available, selected, output)


def _run_selected(args, available, selected, output):
    mode = "quick" if args.quick else "full"
    stamp = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    header = (
        f"# keras-1x1 benchmarks ({mode} mode)\n\n"
        f"Run {stamp}: `benchmarks/run.py"
        + (" --quick" if args.quick else "")
        + "".join(f" --only {n}" for n in (args.only or []))
        + "`\n\n"
        f"Machine: {harness.machine_line()}\n"
    )
    print(header, flush=True)

    sections = [header]
    failed = []
    for name in selected:
        module_name = available[name]
        started = time.perf_counter()
        print(
            f"[{name}] running benchmarks/{module_name}.py ...",
            file=sys.stderr,
            flush=True,
        )
        try:
            module = importlib.import_module(module_name)
            tables = _as_tables(module.run(quick=args.quick), module_name)
        except Exception:
            failed.append(name)
            tb = traceback.format_exc()
            print(f"[{name}] CRASHED:\n{tb}", file=sys.stderr, flush=True)
            sections.append(f"## {name}: CRASHED\n\n```\n{tb}```\n")
            continue
        elapsed = time.perf_counter() - started
        print(f"[{name}] done in {elapsed:.1f} s", file=sys.stderr, flush=True)
        for table in tables:
            text = table.to_markdown(machine=False)
            print(text, flush=True)
            sections.append(text)

    # The machine line (versions, GPUs seen) may have changed once TF loaded.
    sections[0] = header.replace(
        header.splitlines()[-1], f"Machine: {harness.machine_line()}"
    )
    _write_atomic(output, "\n".join(sections))
    try:
        shown = output.resolve().relative_to(Path.cwd())
    except ValueError:
        shown = output
    print(f"Tables written to {shown}", file=sys.stderr)
    if failed:
        print(f"FAILED: {', '.join(failed)} crashed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
