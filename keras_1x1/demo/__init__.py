"""The demo: the main job of keras-1x1, shown on the shipped reference models.

`run()` is what ``keras-1x1 demo`` (and ``make demo``) runs; `digits` holds
the data the reference models were trained on (scikit-learn's
``load_digits``) and ways to show score maps; `seed` the example the
project grew from (four tied per-pixel Dense maps are one 1x1 conv).
"""


def run(model=None, *, unsafe=False):
    """Run the demo, printing every step; True when every check passed."""
    from .job import run as run_job

    return run_job(model=model, unsafe=unsafe)
