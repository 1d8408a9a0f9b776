"""Issue 33, item 5: progress a person can read in a log. On a terminal a tqdm bar; where
the output is not a terminal, a plain line every few per cent and one at the end, never
a carriage return."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from tqdm.auto import tqdm

from engine_fixtures import toy_bundle, toy_config
from lstmattn.engine.parallel import TrainingProgress
from lstmattn.engine.results import evaluate_run
from lstmattn.engine.runs import RunDirectory
from lstmattn.engine.trainer import train
from lstmattn.progress import LINE_EVERY_PERCENT, PROGRESS_ENV, LineProgress, progress_bar


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _no_forced_display(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROGRESS_ENV, raising=False)


def test_a_log_gets_a_bounded_number_of_plain_lines_and_a_last_one_saying_done() -> None:
    log = io.StringIO()
    assert sum(1 for _ in progress_bar(range(1000), desc="classify", unit="batch", file=log, leave=False)) == 1000
    text = log.getvalue()
    lines = text.splitlines()
    assert "\r" not in text and text.endswith("\n")
    assert len(lines) == 100 // LINE_EVERY_PERCENT <= 25
    assert lines[0].startswith("classify: 50/1,000 batch (5 %), ") and "elapsed, ETA " in lines[0]
    assert lines[-1].startswith("classify: done, 1,000/1,000 batch in ")


def test_counted_progress_shows_its_postfix_and_says_where_it_stopped() -> None:
    log = io.StringIO()
    bar = progress_bar(total=200, initial=100, desc="train run", unit="step", file=log)
    bar.set_postfix({"loss": "0.500"})
    bar.update(5)  # 52.5 %: no step passed since the resumed 50 %
    assert log.getvalue() == ""
    bar.update(5)
    bar.set_postfix_str("in flight: a", refresh=False)
    bar.refresh()
    bar.close()
    bar.close()
    lines = log.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("train run: 110/200 step (55 %), ") and lines[0].endswith(", loss=0.500")
    assert lines[1].startswith("train run: stopped at 110/200 step in ") and "in flight" not in lines[1]


def test_progress_without_a_total_writes_only_its_last_line() -> None:
    log = io.StringIO()
    list(progress_bar(iter(range(30)), desc="predict", unit="batch", file=log))
    assert log.getvalue().startswith("predict: done, 30 batch in ") and log.getvalue().count("\n") == 1


def test_a_line_written_beside_the_progress_goes_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    bar = progress_bar(total=0, desc="training", file=io.StringIO())
    bar.write("    run-a: 12 s")
    assert capsys.readouterr().out == "    run-a: 12 s\n"


def test_a_terminal_keeps_the_tqdm_bar() -> None:
    terminal = Terminal()
    bar = progress_bar(total=10, desc="train", unit="step", file=terminal)
    assert isinstance(bar, tqdm)
    bar.update(10)
    bar.close()
    assert "\r" in terminal.getvalue() and "10/10" in terminal.getvalue()


@pytest.mark.parametrize(("forced", "stream", "kind"), [("lines", Terminal, LineProgress), ("bar", io.StringIO, tqdm)])
def test_the_environment_forces_either_display(monkeypatch: pytest.MonkeyPatch, forced: str,
                                               stream: type[io.StringIO], kind: type) -> None:
    monkeypatch.setenv(PROGRESS_ENV, forced)
    bar = progress_bar(total=3, file=stream())
    assert isinstance(bar, kind)
    bar.close()


def test_disabled_progress_writes_nothing() -> None:
    log = io.StringIO()
    assert list(progress_bar(range(5), file=log, disable=True)) == list(range(5))
    assert log.getvalue() == ""


def _training_run(folder: Path, run_id: str) -> SimpleNamespace:
    """A planned run as :class:`TrainingProgress` reads it: 100 steps planned, its log
    in ``folder``."""
    run = SimpleNamespace(log_path=folder / f"{run_id}.jsonl",
                          record=lambda: {"total_steps": 100, "status": "training"})
    return SimpleNamespace(run_id=run_id, folder=lambda root: run)


def test_the_builds_overall_progress_in_a_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Lines with the runs in flight, a line per finished run (on stdout) and a last line."""
    runs = [_training_run(tmp_path, name) for name in ("run-a", "run-b")]
    progress = TrainingProgress(runs, tmp_path)  # type: ignore[arg-type]
    progress.stage("writing the data sets (once per build)")
    for step in range(1, 101):
        for run in runs:
            run.folder(tmp_path).log_path.write_text(f'{{"kind": "step", "step": {step}}}\n')
        progress.refresh(runs if step < 100 else [])
    progress.write("    run-a: 12 s")
    progress.close()
    captured = capsys.readouterr()
    assert captured.out == "    run-a: 12 s\n"
    lines = captured.err.splitlines()
    assert "\r" not in captured.err and len(lines) == 100 // LINE_EVERY_PERCENT
    assert lines[0].startswith("training: 10/200 step (5 %), ") and lines[0].endswith(", in flight: run-a, run-b")
    assert lines[-1].startswith("training: done, 200/200 step in ")


def test_training_and_evaluation_in_a_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """What ``lstmattn train`` and ``lstmattn evaluate`` show: lines, one per finished loop."""
    run = RunDirectory(tmp_path / "toy")
    train(toy_config(max_steps=3), run, data=toy_bundle(), device="cpu", progress=True)
    evaluate_run(run, data=toy_bundle(), device="cpu", n_resamples=20, progress=True)
    log = capsys.readouterr().err
    assert "\r" not in log
    finished = [line.split(" in ")[0] for line in log.splitlines() if ": done, " in line]
    assert finished == ["train toy: done, 3/3 it", "classify: done, 1/1 it", "segment: done, 1/1 it",
                        "features of training slices: done, 1/1 it", "features of validation slices: done, 1/1 it"]


def test_a_command_piped_to_a_log_writes_no_carriage_returns(tmp_path: Path) -> None:
    """``lstmattn data phantoms`` (a progress display over the slices it writes) with
    its output going to a pipe, as in CI."""
    env = {name: value for name, value in os.environ.items() if name != PROGRESS_ENV}
    command = [sys.executable, "-m", "lstmattn.cli", "data", "phantoms", "--out", str(tmp_path / "ds"), "--size", "64",
               "--n-train", "2", "--n-val", "1", "--n-test", "1", "--n-holdout", "0", "--n-seg-train", "2",
               "--n-seg-test", "1"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stdout + done.stderr
    assert [line for line in done.stderr.splitlines() if line.startswith("phantoms: done, ")]
