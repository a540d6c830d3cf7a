"""Regenerate the pictures of the docs page *Tracking experiments* from one bench run.

Runs ``mertk bench dual-atme.yaml ststnet.yaml`` on the demo data with the ``mlflow`` tracker,
copies one run's ``training_curves.png``, starts ``mlflow server`` on the bench's store and
photographs MLflow's web UI in headless Chromium, driven by Playwright::

    pip install -e ".[mlflow]" playwright   # the mlflow extra is the full package, web UI included
    apt-get install chromium                # Playwright drives it; it downloads no browser
    python tools/tracking_screenshots.py   # writes docs/images/tracking-*.png

The bench writes to ``--work`` (default: a new temporary folder) and the MLflow UI listens on
127.0.0.1 only. The writer and the UI are the same Python environment, so the store's schema
matches the UI's MLflow version.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import check_site  # tools/check_site.py: the Chromium flags this machine needs

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ("dual-atme.yaml", "ststnet.yaml")
#: Columns added to MLflow's runs table: the scores, then config values that differ between the configs.
COLUMNS = ("uf1", "uar", "accuracy", "model.name", "seed")


def bench(work: Path, epochs: int, seeds: int) -> Path:
    """Run the bench with the mlflow tracker; returns the bench folder."""
    folder = work / "bench"
    command = [sys.executable, "-m", "mertk", "bench", *CONFIGS, "--seeds", str(seeds), "--dir", str(folder),
               "--set", f"train.epochs={epochs}", "--set", "output.trackers=[mlflow]"]
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=work)
    return folder


def wait_for(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the MLflow server did not answer at {url} within {seconds:.0f} s") from None
            time.sleep(1)


def photograph(base: str, experiment_id: str, out: Path) -> None:
    """Two pictures of MLflow's UI (Playwright driving Debian's Chromium): the runs table with
    their scores and the config values that differ, and the runs' mean training curves."""
    from playwright.sync_api import sync_playwright

    flags = [f for f in check_site.CHROMIUM_FLAGS if f != "--headless"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=check_site.chromium(), args=flags)
        page = browser.new_page(viewport={"width": 1500, "height": 620})
        page.goto(f"{base}/#/experiments/{experiment_id}/runs")
        page.wait_for_selector(f"text={Path(CONFIGS[0]).stem}-seed1", timeout=120_000)
        page.get_by_role("button", name="Close").click()  # the assistant's side panel
        for column in ("Dataset", "Source", "Models", *COLUMNS):  # the first three are on by default: off
            search = page.get_by_placeholder("Search columns")
            if not search.is_visible():  # the menu closes after some changes
                page.get_by_role("button", name="Columns").click()
            search.fill(column)
            # the item whose whole text is the column's name ("uf1", not "demo/uf1")
            page.get_by_role("dialog").locator(f"xpath=.//span[normalize-space(.)='{column}']").first.click()
            page.wait_for_timeout(300)
        page.keyboard.press("Escape")
        page.wait_for_timeout(1500)
        page.screenshot(path=str(out / "tracking-mlflow-runs.png"))
        print(f"wrote {out / 'tracking-mlflow-runs.png'}", flush=True)

        page.set_viewport_size({"width": 1500, "height": 720})
        page.locator("label:has(input[value=CHART])").click()  # the view switch: table, chart, artifacts
        page.get_by_placeholder("Search metric charts").fill("mean/train/")
        page.wait_for_timeout(8000)  # the charts load their metric histories
        page.screenshot(path=str(out / "tracking-mlflow-charts.png"))
        print(f"wrote {out / 'tracking-mlflow-charts.png'}", flush=True)

        # one run's nested fold runs: their per-epoch curves overlay in each chart
        row = page.locator("[role=row]", has_text=f"{Path(CONFIGS[0]).stem}-seed1")
        row.locator("button[data-component-id*=runnamecellrenderer]").first.click()
        page.get_by_test_id("experiment-view-runs-visibility-column-header").click()
        page.get_by_role("menuitemradio", name="Show first 20").click()  # MLflow charts the first 10 runs unless told
        page.keyboard.press("Escape")
        page.set_viewport_size({"width": 1500, "height": 1100})
        page.get_by_placeholder("Search metric charts").fill("train/accuracy")
        page.wait_for_timeout(8000)
        page.screenshot(path=str(out / "tracking-mlflow-folds.png"))
        print(f"wrote {out / 'tracking-mlflow-folds.png'}", flush=True)
        browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, help="folder for the bench (default: a new temporary folder)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images", help="where the PNG files go")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--port", type=int, default=5077)
    args = parser.parse_args(argv)
    if not check_site.chromium():
        parser.error("chromium is not installed: apt-get install chromium")
    work = args.work or Path(tempfile.mkdtemp(prefix="mertk-tracking-"))
    work.mkdir(parents=True, exist_ok=True)
    folder = bench(work, args.epochs, args.seeds)
    args.out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(folder / f"{Path(CONFIGS[0]).stem}-seed1" / "training_curves.png",
                    args.out / "tracking-training-curves.png")

    from mlflow.tracking import MlflowClient

    store = f"sqlite:///{(folder / 'mlruns' / 'mlflow.db').as_posix()}"
    experiment = MlflowClient(tracking_uri=store).get_experiment_by_name(folder.name)
    parents = [r for r in MlflowClient(tracking_uri=store).search_runs([experiment.experiment_id])
               if "mlflow.parentRunId" not in r.data.tags]
    base = f"http://127.0.0.1:{args.port}"
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri", store,
                               "--host", "127.0.0.1", "--port", str(args.port), "--workers", "1"], cwd=work)
    try:
        wait_for(f"{base}/health", 120)
        photograph(base, experiment.experiment_id, args.out)
        print(f"{len(parents)} runs in experiment {folder.name!r}; store {store}", flush=True)
    finally:
        server.terminate()
        server.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
