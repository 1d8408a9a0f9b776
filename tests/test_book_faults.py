"""Issue 15: a book build killed with SIGKILL (its whole process group, notebook kernel
included) during up-front training and again during chapter execution finishes, when run
again, with the same result files, log and tables as a build that was never interrupted,
and no half-written file is ever left under a final name.

Small on purpose: chapters 1 and 2 on a tiny YAML profile (64-px phantoms, two training
steps, one run), ``--no-site``; each build is a real ``lstmattn book build`` process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import nbformat
import psutil
import pytest

from engine_fixtures import TINY_PROFILE_YAML

RUN_ID = "quick-one-shot-lstm-attention-s0"
POLL_SECONDS = 0.02
WAIT_SECONDS = 600


@pytest.fixture(scope="module")
def setting(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The tiny profile and an environment with one phantom cache for every build."""
    root = tmp_path_factory.mktemp("book-faults")
    profile = root / "tiny.yaml"
    profile.write_text(TINY_PROFILE_YAML)
    env = {**os.environ, "LSTMATTN_DATA_CACHE": str(root / "cache")}
    return profile, env


def _start(work: Path, setting: tuple[Path, dict[str, str]]) -> subprocess.Popen:
    """``lstmattn book build`` in ``work`` (runs in ``work/runs``, notebooks in
    ``work/out/notebooks``), training up front in a worker, in its own process group."""
    profile, env = setting
    work.mkdir(exist_ok=True)
    command = [sys.executable, "-m", "lstmattn.cli", "book", "build", "--profile", str(profile), "--chapters", "1", "2",
               "--max-steps", "2", "--no-site", "--jobs", "2", "--quiet", "--out", "out", "--output-dir", "runs"]
    return subprocess.Popen(command, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def _finish(build: subprocess.Popen) -> None:
    output, _ = build.communicate(timeout=WAIT_SECONDS)
    assert build.returncode == 0, output


def _kill_when(build: subprocess.Popen, ready: Callable[[], bool], what: str) -> None:
    """SIGKILL the build's process group and every descendant (the notebook kernel runs
    in a session of its own) as soon as ``ready()`` holds."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not ready():
        assert build.poll() is None, f"the build ended before {what}: {build.communicate()[0]}"
        assert time.monotonic() < deadline, f"no {what} after {WAIT_SECONDS} s"
        time.sleep(POLL_SECONDS)
    descendants = psutil.Process(build.pid).children(recursive=True)
    os.killpg(build.pid, signal.SIGKILL)
    for process in descendants:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    build.communicate()
    psutil.wait_procs(descendants, timeout=30)


def _history(run: Path) -> list[dict]:
    """``log.jsonl`` without its wall-clock times."""
    entries = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    return [{k: v for k, v in entry.items() if k != "seconds"} for entry in entries]


def _tables(notebook: Path) -> list[str]:
    """The HTML tables a chapter shows, in order."""
    cells = nbformat.read(notebook, as_version=4).cells
    html = ["".join(output.get("data", {}).get("text/html", "")) for cell in cells for output in cell.get("outputs", [])]
    return [text for text in html if "<table" in text]


def _assert_complete_notebooks(folder: Path) -> None:
    """Every notebook under its final name is valid and was executed to its end."""
    for path in folder.glob("*.ipynb"):
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        run = notebook.metadata["papermill"]
        assert run["end_time"] is not None and run["exception"] is None, f"{path.name} is half-executed"


def _temporary_files(*folders: Path) -> list[Path]:
    return [p for folder in folders for p in folder.rglob("*.tmp") if p.is_file()]


def test_a_build_killed_in_training_and_in_a_chapter_ends_like_an_uninterrupted_one(
        tmp_path: Path, setting: tuple[Path, dict[str, str]]) -> None:
    cache = Path(setting[1]["LSTMATTN_DATA_CACHE"])
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    _finish(_start(straight, setting))
    run = killed / "runs" / RUN_ID

    build = _start(killed, setting)  # 1. killed while the worker trains (a step is logged, not all)
    _kill_when(build, lambda: (run / "log.jsonl").is_file() and (run / "log.jsonl").stat().st_size > 0,
               "first logged training step")
    assert json.loads((run / "record.json").read_text())["status"] == "training"

    notebooks = killed / "out" / "notebooks"  # 2. killed while papermill executes chapter 1
    build = _start(killed, setting)
    _kill_when(build, lambda: notebooks.is_dir() and any(notebooks.iterdir()), "chapter output")
    _assert_complete_notebooks(notebooks)

    _finish(_start(killed, setting))  # 3. the same command again finishes the book
    assert _temporary_files(killed, cache) == []
    _assert_complete_notebooks(notebooks)
    assert sorted(p.name for p in notebooks.iterdir()) == ["01_data.ipynb", "02_model.ipynb"]
    reference = straight / "runs" / RUN_ID
    assert _history(run) == _history(reference)
    results = sorted(p.name for p in (reference / "results").iterdir())
    assert results and sorted(p.name for p in (run / "results").iterdir()) == results
    for name in results:
        assert (run / "results" / name).read_bytes() == (reference / "results" / name).read_bytes(), name
    record, expected = (json.loads((r / "record.json").read_text()) for r in (run, reference))
    assert {k: record[k] for k in ("status", "steps", "best_val_f1")} == {k: expected[k] for k in ("status", "steps", "best_val_f1")}
    for name in ("01_data.ipynb", "02_model.ipynb"):
        assert _tables(notebooks / name) == _tables(straight / "out" / "notebooks" / name), name
