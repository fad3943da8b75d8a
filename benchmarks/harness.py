"""A small harness for side-by-side benchmarks on shared, noisy machines.

Absolute timings on a shared machine drift by tens of percent from minute to
minute, so every number this harness reports is a *ratio to a baseline
measured in the same run*: all candidates are warmed up, then measured in
interleaved rounds (each round runs every candidate once, the starting
candidate rotating from round to round), so slow phases of the machine hit
every candidate alike. Per candidate it reports the median time per call, the
interquartile range (IQR), and ``ratio = median / median of the baseline``,
plus the IQR of the *paired* per-round ratios (candidate time / baseline
time in the same round), which says how far the ratio itself wanders.

Benchmarks never assert on timings: they build tables and `run.py` prints
them (and writes ``bench-results/latest.md``).

Writing a benchmark
-------------------
A benchmark is a module ``benchmarks/bench_<name>.py`` with a function
``run(quick=False)`` that returns one `Table` or a list of them. `run.py`
discovers it by name (``run.py --only <name>``), puts ``benchmarks/`` on
``sys.path`` (so the module does ``import harness``) and reports a crash as a
failure (non-zero exit) without stopping the other benchmarks. With
``quick=True`` it must finish in seconds (smaller inputs, fewer rounds): a
test or CI smoke-runs every benchmark that way. Example::

    import harness

    def run(quick=False):
        cfg = harness.settings(quick)
        x = make_input(small=quick)
        result = harness.compare(
            [
                harness.Candidate("reference", lambda: ref(x), baseline=True),
                harness.Candidate("ours", lambda: ours(x)),
            ],
            settings=cfg,
        )
        return result.table(
            "My benchmark: input (8, 56, 56, 256)",
            extra={"ours": {"max |diff|": 1e-6}},
            notes=["what is measured and how to read it"],
        )

API
---
``settings(quick=False) -> Settings``
    Rounds/warm-up defaults: full ``rounds=31, warmup=3, min_sample_s=0.02``;
    quick ``rounds=3, warmup=1, min_sample_s=0``. `Settings` is a frozen
    dataclass (fields ``quick, rounds, warmup, min_sample_s, max_time_s``);
    use ``dataclasses.replace(cfg, rounds=...)`` to adjust one field.

``Candidate(name, fn, baseline=False, note="", rounds=None, warmup=None)``
    ``fn`` takes no arguments and performs one measured operation; it must be
    repeatable. Its return value is passed to the ``sync`` callable of
    `compare` inside the timed region (use it to wait for asynchronous
    devices). ``rounds``/``warmup`` let a very slow candidate take part in
    only the first ``rounds`` rounds and warm up fewer times (its paired
    ratios still pair samples of the same rounds).

``compare(candidates, *, baseline=None, settings=None, quick=False,
rounds=None, warmup=None, min_sample_s=None, max_time_s=None, sync=None,
disable_gc=True, progress=None) -> Comparison``
    Warm-up: each candidate is called ``warmup`` times (at least once; the
    first call usually traces/compiles and is never timed). The warm-up also
    calibrates ``number``, the calls per sample, so that one sample lasts at
    least ``min_sample_s`` (a sample's time is divided by ``number``). Then
    ``rounds`` interleaved rounds in rotating order; ``max_time_s`` stops
    early once at least 3 rounds are done. The baseline is the candidate
    marked ``baseline=True``, or the name passed as ``baseline``, or the
    first candidate. The garbage collector is off while timing (as in
    `timeit`). ``progress`` is an optional ``print``-like callable.
    Every sample is taken on two clocks at once: wall time
    (`time.perf_counter`, what users feel; the default view) and the
    process's CPU time (`time.process_time`, all threads: blind to waiting
    for a CPU that other processes hold, so much steadier on a crowded
    machine, but it also counts thread-pool spinning and is not latency).

``Comparison``
    ``.stats`` (list of `Stats`, in candidate order), ``.baseline`` (its
    name), ``.rounds`` (done), ``.warmup``, ``.settings``, ``.wall_s``;
    ``comparison[name]`` gives a candidate's `Stats`; ``.ratio(name)``.
    Views of the same rounds: ``.rebased(name)`` (ratios relative to
    another candidate, so one run can hold two families, e.g. tf.function
    and eager, each with its own reference), ``.subset(names)``,
    ``.cpu_time()`` (the CPU-time clock; ``.clock`` is ``"wall"`` or
    ``"cpu"``). ``.table(title, extra=None, notes=(), unit="ms",
    columns=None, cpu=False, label=None) -> Table`` builds the standard
    table: candidate, median, IQR, ratio, paired-ratio IQR (with
    ``cpu=True`` also the CPU-time ratio and its paired IQR), samples
    ("rounds x calls per sample"), then the ``extra`` columns given as
    ``{candidate name: {column: value}}`` (``columns`` picks and orders
    them); ``label(name)`` changes how names are shown; its notes say what
    the ratio is and how the rounds ran.

``Stats``
    ``name``, ``samples`` (seconds per call, one per round), ``cpu_samples``,
    ``clock`` (which of the two the figures use), ``number`` (calls per
    sample), ``median, q1, q3, iqr, minimum, mean, rel_iqr`` (IQR /
    median), ``is_baseline``, ``ratio`` and ``ratio_q1 .. ratio_q3``, the
    IQR of the paired per-round ratios: when it contains 1.0 the candidate
    is not distinguishable from the baseline in this run.

``Table(title, columns, rows, notes=(), machine=None, settings=None)``
    ``.to_markdown(machine=True)`` (also ``str(table)``): a Markdown heading,
    the machine line (`machine_info`), a pipe table with aligned columns
    (readable as plain text) and the notes. Cells may be str, int, float
    (formatted with 4 significant digits) or None (blank).

``format_tables(tables, title=None) -> str``
    Several tables as one Markdown document: the machine line once on top.

``machine_info() -> dict`` and ``machine_line() -> str``
    CPU model (``/proc/cpuinfo``), logical cores and the cores this process
    may use, OS, Python, and the versions of numpy, tensorflow, keras,
    onnx, onnxruntime(-gpu), tf2onnx where installed (from package metadata,
    so nothing heavy is imported), and the GPUs TensorFlow sees if it is
    already loaded.

``peak_memory(fn, *args, **kwargs) -> (result, MemoryResult)``
    Runs ``fn`` once and measures two different things, both honestly named:
    ``python_peak_bytes``, the peak of allocations made through Python's
    allocators during the call (`tracemalloc`; numpy buffers are included,
    TensorFlow/ONNX Runtime C++ buffers are *not*); and ``rss_peak_bytes``,
    the whole process's peak resident set size during the call. On Linux the
    kernel's high-water mark is reset before the call (``/proc/self/
    clear_refs`` then ``VmHWM``), so the peak is that of the call itself;
    ``rss_delta_bytes`` is that peak minus the resident size when the call
    started (memory the call needed beyond what the process already held).
    Where the reset is impossible, ``getrusage`` ``ru_maxrss`` is used and
    the delta is only a lower bound (it shows growth of the process's
    lifetime peak); ``rss_method`` says which was used.

``peak_rss_subprocess(argv, **popen_kwargs) -> (returncode, peak_bytes)``
    The lifetime peak resident size of a separate process (``wait4``'s
    ``ru_maxrss``), imports and start-up included: the honest number for
    "how much memory does running X need".

``tf_sync(result=None)``
    A ``sync`` for `compare` with TensorFlow: waits for all devices when
    TensorFlow sees a GPU, and does nothing on CPU-only machines (where
    eager ops and ``tf.function`` calls are already synchronous).

``fmt_time(seconds, unit="ms")``, ``fmt_ratio(x)``, ``fmt_bytes(n)``
    Cell formatters used by the tables.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from typing import Any, Callable, Iterable, Sequence

__all__ = [
    "Candidate",
    "Comparison",
    "MemoryResult",
    "Settings",
    "Stats",
    "Table",
    "compare",
    "fmt_bytes",
    "fmt_ratio",
    "fmt_time",
    "format_tables",
    "machine_info",
    "machine_line",
    "peak_memory",
    "peak_rss_subprocess",
    "settings",
    "tf_sync",
]


# -- settings ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Settings:
    """How much to measure. Build with `settings(quick)`."""

    quick: bool = False
    rounds: int = 31
    warmup: int = 3
    # Calls per sample are raised until one sample lasts at least this long.
    min_sample_s: float = 0.02
    # Stop early (after at least 3 rounds) once the rounds took this long.
    max_time_s: float | None = None

    def describe(self):
        text = (
            f"{'quick' if self.quick else 'full'} mode: {self.warmup} warm-up "
            f"call(s) each, {self.rounds} interleaved rounds in rotating order"
        )
        if self.max_time_s is not None:
            text += f" (at most ~{self.max_time_s:g} s)"
        return text


def settings(quick=False):
    """Default `Settings` for a full run or a quick smoke run."""
    if quick:
        return Settings(quick=True, rounds=3, warmup=1, min_sample_s=0.0)
    return Settings()


_default_settings = settings  # `compare` has a parameter named `settings`.


# -- timing --------------------------------------------------------------------


@dataclasses.dataclass
class Candidate:
    """One thing to time. ``fn()`` performs one measured operation."""

    name: str
    fn: Callable[[], Any]
    baseline: bool = False
    note: str = ""
    # A slow candidate may take part in fewer rounds (the first ``rounds``)
    # and warm up fewer times than the comparison's settings say.
    rounds: int | None = None
    warmup: int | None = None


def _quantiles(values):
    """(q1, median, q3) with linear interpolation; tolerates short lists."""
    values = sorted(values)
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, med, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, med, q3


@dataclasses.dataclass
class Stats:
    """Timing summary of one candidate (all times in seconds per call)."""

    name: str
    samples: list
    number: int
    median: float
    q1: float
    q3: float
    minimum: float
    mean: float
    note: str = ""
    is_baseline: bool = False
    cpu_samples: list = dataclasses.field(default_factory=list)
    clock: str = "wall"
    ratio: float = float("nan")
    ratio_q1: float = float("nan")
    ratio_q3: float = float("nan")

    @property
    def iqr(self):
        return self.q3 - self.q1

    @property
    def rel_iqr(self):
        return self.iqr / self.median if self.median else float("nan")

    @classmethod
    def from_samples(
        cls, name, samples, number, note="", is_baseline=False, cpu_samples=()
    ):
        q1, med, q3 = _quantiles(samples)
        return cls(
            name=name,
            samples=list(samples),
            number=number,
            median=med,
            q1=q1,
            q3=q3,
            minimum=min(samples),
            mean=statistics.fmean(samples),
            note=note,
            is_baseline=is_baseline,
            cpu_samples=list(cpu_samples),
        )


@dataclasses.dataclass
class Comparison:
    """The result of `compare`."""

    stats: list
    baseline: str
    rounds: int
    warmup: int
    settings: Settings
    wall_s: float

    def __getitem__(self, name):
        for s in self.stats:
            if s.name == name:
                return s
        raise KeyError(name)

    def ratio(self, name):
        return self[name].ratio

    def subset(self, names):
        """The comparison restricted to ``names`` (in that order)."""
        names = list(names)
        if self.baseline not in names:
            raise ValueError(
                f"subset() must keep the baseline {self.baseline!r}; "
                "use rebased() first."
            )
        return dataclasses.replace(
            self, stats=[dataclasses.replace(self[n]) for n in names]
        )

    @property
    def clock(self):
        return self.stats[0].clock if self.stats else "wall"

    def cpu_time(self):
        """The same rounds measured on the process-CPU-time clock."""
        if self.clock == "cpu":
            return self
        stats = []
        for s in self.stats:
            c = Stats.from_samples(
                s.name, s.cpu_samples, s.number, note=s.note, is_baseline=s.is_baseline
            )
            c.clock = "cpu"
            stats.append(c)
        _set_ratios(stats, next(c for c in stats if c.name == self.baseline))
        return dataclasses.replace(self, stats=stats)

    def rebased(self, baseline):
        """The same samples with ratios relative to another candidate."""
        stats = [
            dataclasses.replace(s, is_baseline=s.name == baseline)
            for s in self.stats
        ]
        result = dataclasses.replace(self, stats=stats, baseline=baseline)
        _set_ratios(result.stats, result[baseline])
        return result

    def table(
        self,
        title,
        extra=None,
        notes=(),
        unit="ms",
        columns=None,
        cpu=False,
        label=None,
    ):
        """The standard table; ``extra`` = {candidate: {column: value}}."""
        extra = extra or {}
        label = label or (lambda name: name)
        extra_columns = []
        for values in extra.values():
            for column in values:
                if column not in extra_columns:
                    extra_columns.append(column)
        if columns is not None:
            extra_columns = [c for c in columns if c in extra_columns]
        clock = "CPU " if self.clock == "cpu" else ""
        header = [
            "candidate",
            f"median {clock}({unit})",
            f"IQR {clock}({unit})",
            "ratio",
            "ratio IQR (paired)",
        ]
        cpu_view = None
        if cpu and self.clock != "cpu":
            cpu_view = self.cpu_time()
            header += ["CPU-time ratio", "CPU ratio IQR (paired)"]
        header += ["samples"] + extra_columns
        rows = []
        for s in self.stats:
            name = label(s.name) + (" [baseline]" if s.is_baseline else "")
            row = [
                name,
                fmt_time(s.median, unit),
                fmt_time(s.iqr, unit),
                fmt_ratio(s.ratio),
                _paired(s),
            ]
            if cpu_view is not None:
                c = cpu_view[s.name]
                row += [fmt_ratio(c.ratio), _paired(c)]
            row.append(f"{len(s.samples)}x{s.number}")
            row += [extra.get(s.name, {}).get(c) for c in extra_columns]
            rows.append(row)
        notes = list(notes) + [
            f"ratio = median / median of {label(self.baseline)!r}; lower is "
            "faster. 'ratio IQR (paired)': the interquartile range of the "
            "per-round ratios (candidate / baseline timed in the same round); "
            "when it contains 1.000 the difference is within this run's "
            "noise. 'samples': rounds x calls per timed sample.",
        ]
        if cpu_view is not None:
            notes.append(
                "'CPU-time ratio': the same rounds on the process CPU-time "
                "clock (all threads); blind to waiting for a CPU other "
                "processes hold, so steadier on a crowded machine. Wall time "
                "is what a user waits for."
            )
        notes.append(
            f"{self.settings.describe()}; {self.rounds} rounds done in "
            f"{self.wall_s:.1f} s."
        )
        return Table(title, header, rows, notes=notes, settings=self.settings)


def _paired(s):
    if s.is_baseline:
        return "-"
    return f"{fmt_ratio(s.ratio_q1)} .. {fmt_ratio(s.ratio_q3)}"


def _set_ratios(stats, base):
    for s in stats:
        s.ratio = s.median / base.median if base.median else float("nan")
        # Candidates with fewer rounds ran in the first rounds: zip pairs
        # samples taken in the same round.
        paired = [a / b for a, b in zip(s.samples, base.samples) if b]
        if paired:
            s.ratio_q1, _, s.ratio_q3 = _quantiles(paired)
        else:
            s.ratio_q1 = s.ratio_q3 = float("nan")


def _calibrate(fn, sync, warmup, min_sample_s, max_number=10_000):
    """Warm up ``fn`` and return the calls per sample."""
    per_call = None
    for i in range(max(1, warmup)):
        start = time.perf_counter()
        result = fn()
        if sync is not None:
            sync(result)
        elapsed = time.perf_counter() - start
        if i > 0 or warmup <= 1:
            per_call = elapsed if per_call is None else min(per_call, elapsed)
    if not min_sample_s or per_call is None:
        return 1
    if per_call <= 0:
        return max_number
    return int(min(max_number, max(1, math.ceil(min_sample_s / per_call))))


def _time_once(fn, sync, number):
    """(wall seconds, process CPU seconds) per call, over ``number`` calls."""
    cpu_start = time.process_time()
    start = time.perf_counter()
    for _ in range(number):
        result = fn()
        if sync is not None:
            sync(result)
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    return wall / number, cpu / number


def compare(
    candidates: Sequence[Candidate],
    *,
    baseline: str | None = None,
    settings: Settings | None = None,
    quick: bool = False,
    rounds: int | None = None,
    warmup: int | None = None,
    min_sample_s: float | None = None,
    max_time_s: float | None = None,
    sync: Callable[[Any], Any] | None = None,
    disable_gc: bool = True,
    progress: Callable[[str], Any] | None = None,
) -> Comparison:
    """Time ``candidates`` side by side; see the module docstring."""
    candidates = list(candidates)
    if not candidates:
        raise ValueError("compare() needs at least one candidate.")
    names = [c.name for c in candidates]
    if len(set(names)) != len(names):
        raise ValueError(f"Candidate names must be unique. Received: {names}")
    cfg = settings if settings is not None else _default_settings(quick)
    overrides = {
        k: v
        for k, v in dict(
            rounds=rounds,
            warmup=warmup,
            min_sample_s=min_sample_s,
            max_time_s=max_time_s,
        ).items()
        if v is not None
    }
    cfg = dataclasses.replace(cfg, **overrides)
    if cfg.rounds < 1:
        raise ValueError(f"rounds must be >= 1. Received: rounds={cfg.rounds}")

    marked = [c.name for c in candidates if c.baseline]
    if baseline is None:
        if len(marked) > 1:
            raise ValueError(f"More than one baseline candidate: {marked}")
        baseline = marked[0] if marked else candidates[0].name
    if baseline not in names:
        raise ValueError(f"Unknown baseline {baseline!r}; candidates: {names}")

    started = time.perf_counter()
    gc_was_enabled = gc.isenabled()
    try:
        numbers = []
        for c in candidates:
            if progress:
                progress(f"  warm-up: {c.name}")
            c_warmup = cfg.warmup if c.warmup is None else c.warmup
            numbers.append(_calibrate(c.fn, sync, c_warmup, cfg.min_sample_s))
        gc.collect()
        if disable_gc:
            gc.disable()
        samples = [[] for _ in candidates]
        cpu_samples = [[] for _ in candidates]
        n = len(candidates)
        rounds_done = 0
        rounds_started = time.perf_counter()
        for r in range(cfg.rounds):
            for k in range(n):
                i = (r + k) % n
                c = candidates[i]
                if c.rounds is not None and len(samples[i]) >= c.rounds:
                    continue
                wall, cpu = _time_once(c.fn, sync, numbers[i])
                samples[i].append(wall)
                cpu_samples[i].append(cpu)
            rounds_done += 1
            if progress:
                progress(f"  round {rounds_done}/{cfg.rounds}")
            if (
                cfg.max_time_s is not None
                and rounds_done >= 3
                and time.perf_counter() - rounds_started > cfg.max_time_s
            ):
                break
    finally:
        if gc_was_enabled:
            gc.enable()

    stats = [
        Stats.from_samples(
            c.name,
            samples[i],
            numbers[i],
            note=c.note,
            is_baseline=c.name == baseline,
            cpu_samples=cpu_samples[i],
        )
        for i, c in enumerate(candidates)
    ]
    _set_ratios(stats, stats[names.index(baseline)])
    return Comparison(
        stats=stats,
        baseline=baseline,
        rounds=rounds_done,
        warmup=cfg.warmup,
        settings=cfg,
        wall_s=time.perf_counter() - started,
    )


def tf_sync(result=None):
    """Wait for TensorFlow's devices when a GPU is in use; no-op on CPU."""
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return
    if _tf_has_accelerator():
        tf.test.experimental.sync_devices()


_ACCELERATOR = None


def _tf_has_accelerator():
    global _ACCELERATOR
    if _ACCELERATOR is None:
        import tensorflow as tf

        _ACCELERATOR = any(
            d.device_type != "CPU" for d in tf.config.list_logical_devices()
        )
    return _ACCELERATOR


# -- memory --------------------------------------------------------------------


@dataclasses.dataclass
class MemoryResult:
    """What `peak_memory` measured; see the module docstring."""

    python_peak_bytes: int
    rss_before_bytes: int | None
    rss_peak_bytes: int | None
    rss_method: str

    @property
    def rss_delta_bytes(self):
        if self.rss_before_bytes is None or self.rss_peak_bytes is None:
            return None
        return max(0, self.rss_peak_bytes - self.rss_before_bytes)


def _proc_status_kib(field):
    try:
        with open("/proc/self/status") as f:
            match = re.search(rf"^{field}:\s+(\d+)\s+kB", f.read(), re.M)
    except OSError:
        return None
    return int(match.group(1)) * 1024 if match else None


def _reset_peak_rss():
    """Reset the kernel's peak-RSS mark (Linux >= 4.0); True on success."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _ru_maxrss_bytes(who=resource.RUSAGE_SELF):
    value = resource.getrusage(who).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return value if sys.platform == "darwin" else value * 1024


def peak_memory(fn, *args, **kwargs):
    """Run ``fn(*args, **kwargs)`` once; return ``(result, MemoryResult)``."""
    gc.collect()
    rss_before = _proc_status_kib("VmRSS")
    if rss_before is not None and _reset_peak_rss():
        method = "VmHWM after reset (peak of this call)"
        read_peak = lambda: _proc_status_kib("VmHWM")  # noqa: E731
    else:
        method = "ru_maxrss (process lifetime peak; delta is a lower bound)"
        rss_before = _ru_maxrss_bytes()
        read_peak = _ru_maxrss_bytes
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    start_traced, _ = tracemalloc.get_traced_memory()
    try:
        result = fn(*args, **kwargs)
        _, peak_traced = tracemalloc.get_traced_memory()
        rss_peak = read_peak()
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return result, MemoryResult(
        python_peak_bytes=max(0, peak_traced - start_traced),
        rss_before_bytes=rss_before,
        rss_peak_bytes=rss_peak,
        rss_method=method,
    )


def peak_rss_subprocess(argv, **popen_kwargs):
    """Run ``argv``; return ``(returncode, lifetime peak RSS in bytes)``."""
    proc = subprocess.Popen(argv, **popen_kwargs)
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    proc.returncode = os.waitstatus_to_exitcode(status)
    peak = usage.ru_maxrss if sys.platform == "darwin" else usage.ru_maxrss * 1024
    return proc.returncode, peak


# -- formatting ----------------------------------------------------------------

_UNITS = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}


def _sig(x, digits=4):
    if x == 0:
        return "0"
    if not math.isfinite(x):
        return str(x)
    magnitude = math.floor(math.log10(abs(x)))
    decimals = max(0, digits - 1 - magnitude)
    if magnitude >= 6 or magnitude < -4:
        return f"{x:.{digits - 1}e}"
    return f"{x:.{decimals}f}"


def fmt_time(seconds, unit="ms"):
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "-"
    return _sig(seconds * _UNITS[unit])


def fmt_ratio(x):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:.3f}"


def fmt_bytes(n):
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return _sig(value)
    return str(value).replace("|", "\\|").replace("\n", " ")


@dataclasses.dataclass
class Table:
    """A titled table; `to_markdown` renders it."""

    title: str
    columns: list
    rows: list
    notes: list = dataclasses.field(default_factory=list)
    machine: str | None = None
    settings: Settings | None = None

    def __post_init__(self):
        self.columns = list(self.columns)
        self.rows = [list(r) for r in self.rows]
        self.notes = list(self.notes)
        for r in self.rows:
            if len(r) != len(self.columns):
                raise ValueError(
                    f"Row {r!r} has {len(r)} cells; the table has "
                    f"{len(self.columns)} columns {self.columns!r}."
                )

    def to_markdown(self, machine=True):
        lines = [f"## {self.title}", ""]
        if machine:
            lines += [f"Machine: {self.machine or machine_line()}", ""]
        header = [_cell(c) for c in self.columns]
        body = [[_cell(v) for v in r] for r in self.rows]
        widths = [
            max([len(header[i])] + [len(r[i]) for r in body])
            for i in range(len(header))
        ]
        # Numbers right-aligned, text left-aligned.
        numeric = [
            all(_looks_numeric(r[i]) for r in body if r[i]) and bool(body)
            for i in range(len(header))
        ]

        def line(cells):
            out = []
            for i, c in enumerate(cells):
                out.append(c.rjust(widths[i]) if numeric[i] else c.ljust(widths[i]))
            return "| " + " | ".join(out) + " |"

        lines.append(line(header))
        lines.append(
            "|"
            + "|".join(
                "-" * (w + 1) + ":" if numeric[i] else "-" * (w + 2)
                for i, w in enumerate(widths)
            )
            + "|"
        )
        lines += [line(r) for r in body]
        if self.notes:
            lines.append("")
            lines += [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"

    __str__ = to_markdown


def _looks_numeric(text):
    return bool(re.fullmatch(r"[-+]?[\d.,]+(e[-+]?\d+)?( ?[KMG]?i?B)?", text))


def format_tables(tables: Iterable[Table], title=None):
    """Several tables as one Markdown document, machine line once on top."""
    parts = []
    if title:
        parts.append(f"# {title}\n")
    parts.append(f"Machine: {machine_line()}\n")
    for t in tables:
        parts.append(t.to_markdown(machine=False))
    return "\n".join(parts)


# -- machine description --------------------------------------------------------

_PACKAGES = (
    "numpy",
    "tensorflow",
    "keras",
    "onnx",
    "onnxruntime",
    "onnxruntime-gpu",
    "tf2onnx",
)


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine_info():
    """A dict describing the machine and the relevant package versions."""
    from importlib import metadata

    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    info = {
        "cpu": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
    }
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    info["versions"] = versions
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        try:
            gpus = tf.config.list_physical_devices("GPU")
            info["tf_gpus"] = [g.name for g in gpus]
        except Exception:  # pragma: no cover - informational only
            pass
    return info


def machine_line():
    """`machine_info` as one line."""
    info = machine_info()
    cores = f"{info['logical_cores']} logical cores"
    if info["usable_cores"] != info["logical_cores"]:
        cores += f", {info['usable_cores']} usable"
    parts = [f"{info['cpu']} ({cores})", info["os"], f"Python {info['python']}"]
    parts += [f"{k} {v}" for k, v in info["versions"].items()]
    if "tf_gpus" in info:
        parts.append(
            "TF GPUs: " + (", ".join(info["tf_gpus"]) if info["tf_gpus"] else "none")
        )
    return "; ".join(parts)
