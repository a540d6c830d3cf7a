"""The ``mlflow`` tracker: one MLflow run per mertk run, with a nested run per fold.

Why nested runs rather than fold-keyed metrics in one run: the parent runs of different configs
and seeds then carry the same few keys (the config as parameters, ``uf1``, ``uar``,
``accuracy``, per-dataset scores, mean training curves), so MLflow's run table and compare view
line them up column by column; the folds of one run share the keys ``train/loss``,
``train/accuracy``, ... and overlay in one chart when their nested runs are selected; and a fold
that trains again after an interruption replaces its nested run (the stale one is deleted),
which is impossible for part of a metric's history in one run.

Needs the extra ``mertk[mlflow]`` (the full ``mlflow`` package: the client, the SQLite store
and ``mlflow ui``, all of one version), imported only when a run starts. The store's schema
migrations log at INFO ("Creating initial MLflow database tables...", Alembic's "Running
upgrade ..."), which is silenced unless ``MLFLOW_LOGGING_LEVEL`` asks for it; on a tracking
server, the client's "View run ... at: URL" line for every fold is too, unless
``MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT`` is set.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from mertk.api import RunResult, RunStart
from mertk.errors import MertkError
from mertk.trackers import require

__all__ = ["MlflowTracker", "STATE_FILE", "default_tracking_uri", "open_command", "sqlite_artifact_root"]

#: File in the run folder that remembers the MLflow run, so that a resumed run continues it.
STATE_FILE = "mlflow.json"
_STATUS = {"finished": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}
#: A tracking server that does not answer fails in seconds, not minutes (MLflow's default is 7
#: retries with growing pauses, about 4 minutes); variables the user set win.
#: MLflow also prints "View run ... at: URL" for every run it ends on a server, every fold here;
#: mertk prints the run's page once when it starts.
_HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                  "MLFLOW_HTTP_REQUEST_TIMEOUT": "30", "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}
#: Loggers that talk at INFO: the store announcing each schema migration, with Alembic's lines.
_CHATTY_LOGGERS = ("mlflow.store", "alembic")
_MAX_PARAM_LENGTH = 6000  # MLflow's limit on a parameter's value
_BATCH = 100  # MLflow's limit on parameters per log_batch call (metrics: 1000)


def default_tracking_uri(run_dir: Path) -> str:
    """The local store beside the run folder: ``sqlite:///.../mlruns/mlflow.db``."""
    return "sqlite:///" + (Path(run_dir).resolve().parent / "mlruns" / "mlflow.db").as_posix()


def sqlite_artifact_root(uri: str) -> Path | None:
    """``artifacts/`` beside the database file of a ``sqlite:///`` store (MLflow itself would put a
    new experiment's files in ``./mlruns`` of whatever folder the run was started from)."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri[len("sqlite:///"):]).resolve().parent / "artifacts"


def _is_server(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def open_command(uri: str, experiment_id: str, run_id: str) -> str:
    """How to look at a run in the store ``uri``: the run's page on a tracking server, or the
    ``mlflow ui`` command that serves a database store (``sqlite:///...``, ``postgresql://...``)."""
    if _is_server(uri):
        return f"open {uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"
    if uri.startswith("databricks"):
        return "open it in the Databricks workspace"
    return f"open it with: mlflow ui --backend-store-uri {shlex.quote(uri)}"


def _quiet_store_logs() -> None:
    """Silence the store's INFO lines, unless the user set ``MLFLOW_LOGGING_LEVEL``."""
    if "MLFLOW_LOGGING_LEVEL" in os.environ:
        return
    for name in _CHATTY_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)


def _check_server(uri: str) -> None:
    """Refuse a tracking server that does not answer at all. Any HTTP answer, even a refusal of
    ``/health``, counts as answering, and so does a TLS handshake this probe cannot check (MLflow
    has its own TLS settings): MLflow's own error then says what is wrong."""
    timeout = float(os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT", _HTTP_DEFAULTS["MLFLOW_HTTP_REQUEST_TIMEOUT"]))
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout):
            return
    except urllib.error.HTTPError:
        return
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, ssl.SSLError) or isinstance(exc, ssl.SSLError):
            return
        raise MertkError(f"the MLflow tracking server {uri} does not answer ({reason}). Fix: start it (e.g. "
                         f"`mlflow server --host HOST --port PORT` on its machine), or set the tracker's "
                         f"tracking_uri in output.trackers to a server that runs, or leave tracking_uri out "
                         f"for a local store beside the run folder") from None


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _key(text: str) -> str:
    """An MLflow-valid key (letters, digits, ``_ - . / space``)."""
    return re.sub(r"[^\w\-. /]", "_", text)


class MlflowTracker:
    """Log each run to MLflow: the config as parameters, a nested run per fold with its
    per-epoch training curves, the scores, the mean curves and the report's files.

    Args:
        tracking_uri: Where MLflow stores runs: a tracking server (``http://host:5000``) or any
            MLflow store URI. Default: a local store in ``mlruns/`` beside the run folder
            (``mlruns/mlflow.db``, SQLite, and ``mlruns/artifacts/``); browse it with
            ``mlflow ui --backend-store-uri sqlite:///runs/mlruns/mlflow.db``.
        experiment: MLflow experiment of the run. Default: the name of the folder that holds
            the run folder (``runs``, or the bench folder), so runs written to one folder, such
            as the configs and seeds of a ``mertk bench``, compare side by side.
    """

    def __init__(self, tracking_uri: str | None = None, experiment: str | None = None) -> None:
        require("mlflow", "mlflow")
        self.tracking_uri, self.experiment = tracking_uri, experiment
        self.client: Any = None
        self.run_id = ""
        self.experiment_id = ""
        self.fold_run: str | None = None
        self.artifact_root: Path | None = None

    # ------------------------------------------------------------------ helpers

    def _metrics(self, run_id: str, values: Mapping[str, float], step: int = 0, prefix: str = "") -> None:
        self._log(run_id, [(prefix + k, v, step) for k, v in values.items()])

    def _log(self, run_id: str, points: Sequence[tuple[str, float, int]]) -> None:
        """Log ``(key, value, step)`` points in as few calls as MLflow allows."""
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        metrics = [Metric(_key(k), float(v), stamp, step) for k, v, step in points]
        for chunk in _chunks(metrics, 1000):
            self.client.log_batch(run_id, metrics=list(chunk))

    def _experiment_id(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            if found.lifecycle_stage == "deleted":
                self.client.restore_experiment(found.experiment_id)
            return found.experiment_id
        location = self.artifact_root.as_uri() if self.artifact_root is not None else None
        try:
            return self.client.create_experiment(name, artifact_location=location)
        except Exception:  # another process created it meanwhile
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise
            return found.experiment_id

    def _continues(self, run_id: str) -> bool:
        """The run of an earlier start is still in the store (not deleted)."""
        try:
            return self.client.get_run(run_id).info.lifecycle_stage == "active"
        except Exception:  # MLflow raises when the run is not there
            return False

    # ------------------------------------------------------------------ the tracker contract

    def start(self, run: RunStart) -> str:
        uri = self.tracking_uri or default_tracking_uri(run.run_dir)
        if _is_server(uri):
            for name, value in _HTTP_DEFAULTS.items():
                os.environ.setdefault(name, value)
            _check_server(uri)
        _quiet_store_logs()
        from mlflow.entities import Param, RunTag
        from mlflow.tracking import MlflowClient

        self.artifact_root = sqlite_artifact_root(uri)
        if self.artifact_root is not None:
            self.artifact_root.parent.mkdir(parents=True, exist_ok=True)
        self.client = MlflowClient(tracking_uri=uri)
        state_file = Path(run.run_dir) / STATE_FILE
        state = json.loads(state_file.read_text(encoding="utf-8")) if state_file.is_file() else {}
        if run.resumed and state.get("tracking_uri") == uri and self._continues(state["run_id"]):
            self.run_id, self.experiment_id = state["run_id"], state["experiment_id"]
            self.client.update_run(self.run_id, status="RUNNING")
        else:
            self.experiment_id = self._experiment_id(self.experiment or Path(run.run_dir).resolve().parent.name)
            created = self.client.create_run(self.experiment_id, run_name=Path(run.run_dir).name,
                                             tags={"mertk.run_dir": str(Path(run.run_dir).resolve()),
                                                   "mertk.config": run.name})
            self.run_id = created.info.run_id
            state_file.write_text(json.dumps({"tracking_uri": uri, "experiment_id": self.experiment_id,
                                              "run_id": self.run_id}), encoding="utf-8")
        logged = self.client.get_run(self.run_id).data.params
        params = [Param(_key(k), v[:_MAX_PARAM_LENGTH]) for k, v in run.params.items() if _key(k) not in logged]
        for chunk in _chunks(params, _BATCH):
            self.client.log_batch(self.run_id, params=list(chunk))
        environment = {k: v for k, v in run.environment.items() if isinstance(v, (str, int, float))}
        tags = [RunTag(f"mertk.env.{_key(k)}", str(v)[:_MAX_PARAM_LENGTH]) for k, v in environment.items()]
        self.client.log_batch(self.run_id, tags=tags)
        self.client.log_dict(self.run_id, dict(run.environment), "environment.json")
        self.client.log_text(self.run_id, yaml.safe_dump(dict(run.config), sort_keys=False), "config.yaml")
        experiment = self.client.get_experiment(self.experiment_id).name
        return (f"mlflow: run {Path(run.run_dir).name!r} in experiment {experiment!r} of {uri}; "
                f"{open_command(uri, self.experiment_id, self.run_id)}")

    def start_fold(self, index: int, name: str) -> None:
        stale = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.mlflow.parentRunId = '{self.run_id}' and tags.`mertk.fold` = '{index}'")
        for old in stale:  # an attempt at this fold that an interruption cut short
            self.client.delete_run(old.info.run_id)
        child = self.client.create_run(self.experiment_id, run_name=f"fold-{index:03d} {name}",
                                       tags={"mlflow.parentRunId": self.run_id, "mertk.fold": str(index),
                                             "mertk.fold_name": name})
        self.fold_run = child.info.run_id

    def log_epoch(self, index: int, epoch: int, values: Mapping[str, float]) -> None:
        if self.fold_run is not None:
            self._metrics(self.fold_run, values, epoch, "train/")

    def end_fold(self, index: int, name: str, metrics: Mapping[str, float]) -> None:
        if self.fold_run is not None:
            self._metrics(self.fold_run, metrics)
            self.client.set_terminated(self.fold_run, "FINISHED")
            self.fold_run = None
        self._metrics(self.run_id, metrics, index, "fold/")

    def finish(self, result: RunResult) -> None:
        logged = self.client.get_run(self.run_id).data.metrics
        headline = next(iter(result.metrics), None)  # the task's first score: uf1, au_f1, ...
        if headline is not None and headline not in logged:  # a resumed finished run logged them once
            self._metrics(self.run_id, result.metrics)
        if result.curves and "mean/train/loss" not in logged:
            self._log(self.run_id, [(f"mean/train/{k}", v, e) for k, curve in result.curves.items()
                                    for e, v in enumerate(curve, 1)])
        for path in result.files:
            self.client.log_artifact(self.run_id, str(path))

    def close(self, status: str) -> None:
        if self.client is None or not self.run_id:
            return
        if self.fold_run is not None:
            self.client.set_terminated(self.fold_run, _STATUS.get(status, "FAILED"))
            self.fold_run = None
        self.client.set_terminated(self.run_id, _STATUS.get(status, "FAILED"))
