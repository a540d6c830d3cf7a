"""``mertk bench``: several configs on the same data and protocol, over seeds, in one table.

The bench folder holds one run folder per (config, seed); a rerun keeps finished runs (they have
``metrics.json``), resumes unfinished ones and only then writes the comparison::

    BENCH_DIR/
      ststnet-seed1/ ...       an ordinary run folder (``mertk run --run-dir``)
      bench.md  bench.csv      UF1/UAR/accuracy (action units: mean AU F1) overall and per source
                               dataset, mean +- std over seeds, with parameters, forward FLOPs and
                               training seconds per fold
      bench.png                bar chart of overall UF1 and UAR (action units: mean AU F1)
"""

__all__ = ["BenchRun", "plan_runs", "run_all", "collect", "write_outputs"]

_HOME = {"BenchRun": "runs", "plan_runs": "runs", "run_all": "runs", "collect": "table", "write_outputs": "table"}


def __getattr__(name: str):
    if name in _HOME:
        import importlib

        return getattr(importlib.import_module(f"mertk.bench.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
