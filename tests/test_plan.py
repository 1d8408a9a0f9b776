"""The run plan: the runs each chapter needs, and training them up front in worker processes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import psutil
import pytest

from engine_fixtures import TINY_PROFILE_YAML
from lstmattn.engine.checkpoint import load_checkpoint
from lstmattn.engine.experiment import resolve_experiment, with_training
from lstmattn.engine import parallel
from lstmattn.engine.parallel import TrainingFailed, train_experiments
from lstmattn.engine.plan import (
    ABLATION_SEEDS,
    CHAPTER_RUNS,
    CLASSIFIER_RUNS,
    TABLE4_BACKBONE,
    PlannedRun,
    plan_experiment,
    planned_runs,
)
from lstmattn.engine.runs import RunDirectory
from lstmattn.engine.trainer import train
from lstmattn.model import available_models
from lstmattn.progress import PROGRESS_ENV
from lstmattn.tables.paper_values import TABLE2
from lstmattn.variants import ABLATIONS, IDEAS, TWO_CLASS


def test_plan_covers_every_table_row_and_ablation() -> None:
    registered = set(available_models())
    for runs in CHAPTER_RUNS.values():
        assert all(run.model_name in registered for run in runs)
        assert len({run.label for run in runs}) == len(runs)
    table2_models = {row.model for row in TABLE2.rows if row.model}
    assert table2_models == {run.model_name for run in CHAPTER_RUNS[4]}
    assert set(CLASSIFIER_RUNS) <= table2_models
    chapter5 = {run.label: run for run in CHAPTER_RUNS[5]}
    assert {f"one-shot-lstm-attention-{a.variant}" for a in ABLATIONS} <= set(chapter5)
    assert {run.model_name for run in CHAPTER_RUNS[5] if run.variant == TWO_CLASS} == {
        "one-shot-lstm-attention", "one-shot-affinity"}
    # The default one-shot run is planned by several chapters but trained once.
    assert [run.label for run in planned_runs([2, 3, 6])].count("one-shot-lstm-attention") == 1


def test_planned_config_applies_model_and_train_overrides() -> None:
    base = with_training(resolve_experiment("quick"), max_steps=5, seed=3)
    alternating = next(run for run in CHAPTER_RUNS[5] if run.variant == "loss_scheme=alternating")
    experiment = plan_experiment(base, alternating)
    config = experiment.config
    assert config.train.loss_scheme == "alternating" and (config.train.max_steps, config.train.seed) == (5, 3)
    assert experiment.variant == "loss_scheme=alternating"
    two_class = plan_experiment(base, PlannedRun("one-shot-affinity", TWO_CLASS, model={"num_image_classes": 2})).config
    assert two_class.model.num_image_classes == 2 and two_class.model_name == "one-shot-affinity"


def test_every_ablation_arm_runs_under_consecutive_seeds() -> None:
    """Chapter 5 compares each variant with the default over ABLATION_SEEDS seeds each."""
    base = with_training(resolve_experiment("quick"), seed=4)
    arms: dict[str | None, list[int]] = {}
    run_ids = set()
    for planned in CHAPTER_RUNS[5]:
        if planned.model_name == "one-shot-lstm-attention" and planned.variant != TWO_CLASS:
            experiment = plan_experiment(base, planned)
            arms.setdefault(planned.variant, []).append(experiment.config.train.seed)
            run_ids.add(experiment.run_id)
    assert set(arms) == {None, *(a.variant for a in (*ABLATIONS, *IDEAS))}
    assert all(sorted(seeds) == list(range(4, 4 + ABLATION_SEEDS)) for seeds in arms.values())
    assert len(run_ids) == ABLATION_SEEDS * len(arms)
    assert PlannedRun("one-shot-lstm-attention", seed_offset=2).label == "one-shot-lstm-attention@seed+2"


def test_table4_runs_use_resnext50_under_the_paper_profile_only() -> None:
    """Table 4's caption: the two-class models were trained with ResNeXt50+FPN."""
    two_class = [run for run in CHAPTER_RUNS[5] if run.variant == TWO_CLASS]
    default = CHAPTER_RUNS[5][0]
    paper, quick = resolve_experiment("paper"), resolve_experiment("quick")
    for run in two_class:
        assert plan_experiment(paper, run).config.model.backbone.name == TABLE4_BACKBONE == "resnext50_32x4d"
        assert plan_experiment(quick, run).config.model.backbone == quick.model.backbone
    assert plan_experiment(paper, default).config.model.backbone.name == "resnext101_32x8d"
    config = plan_experiment(paper, two_class[0]).config
    assert config.model.backbone.weights == "IMAGENET1K_V1" and config.model.backbone.fpn_levels == "c5"


@pytest.fixture
def tiny_profile(tmp_path: Path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_PROFILE_YAML)
    return resolve_experiment(path)


def test_runs_train_in_parallel_workers_once(tmp_path: Path, tiny_profile: str, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LSTMATTN_DATA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(parallel, "POLL_SECONDS", 0.05)  # tiny runs end within one default poll
    monkeypatch.setenv(PROGRESS_ENV, "bar")  # a terminal's bar, though captured (a log gets lines: test_progress.py)
    plan = [PlannedRun("classifier-resnet18"), PlannedRun("mask-rcnn"),
            PlannedRun("classifier-resnet18", TWO_CLASS, model={"num_image_classes": 2})]
    experiments = [plan_experiment(tiny_profile, p) for p in plan]
    lines: list[str] = []
    runs = tmp_path / "runs"
    seconds = train_experiments(experiments, root=runs, jobs=2, echo=lines.append)
    assert set(seconds) == {e.run_id for e in experiments}
    assert "2 worker(s)" in lines[0]
    bar = capsys.readouterr().err  # the overall bar says what happens before the first step
    assert "writing the data sets" in bar and "in flight: quick-" in bar
    for experiment in experiments:
        results = runs / experiment.run_id / "results"
        name = "segmentation_test.json" if experiment.config.model_name == "mask-rcnn" else "test_metrics.json"
        assert (results / name).is_file()
        assert json.loads((runs / experiment.run_id / "record.json").read_text())["identity"]["variant"] == experiment.variant
    assert (runs / "quick-classifier-resnet18-s0" / "results" / "holdout_metrics.json").is_file()
    assert train_experiments(experiments, root=runs, jobs=2, echo=lines.append) == {}  # finished runs are reused


def test_every_failure_is_reported(tmp_path: Path, tiny_profile: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LSTMATTN_DATA_CACHE", str(tmp_path / "cache"))
    plan = [PlannedRun("no-such-model"),
            PlannedRun("mask-rcnn", "bad-b", train={"loss_scheme": "alternating"}),
            PlannedRun("classifier-resnet18")]
    experiments = [plan_experiment(tiny_profile, p) for p in plan]
    with pytest.raises(TrainingFailed) as failed:
        train_experiments(experiments, root=tmp_path / "runs", jobs=2, echo=lambda line: None)
    assert set(failed.value.failures) == {"quick-no-such-model-s0", "quick-mask-rcnn-bad-b-s0"}
    assert "no-such-model" in failed.value.failures["quick-no-such-model-s0"]
    assert "alternating" in failed.value.failures["quick-mask-rcnn-bad-b-s0"]
    assert (tmp_path / "runs" / "quick-classifier-resnet18-s0" / "results" / "test_metrics.json").is_file()


def test_two_class_runs_on_real_data_need_ictcf(tmp_path: Path) -> None:
    real = tmp_path / "real.yaml"
    real.write_text("profile: paper\ndata: {source: covidx, root: /d/CT1, segmentation_root: /d/SEG}\n")
    two_class = next(run for run in CHAPTER_RUNS[5] if run.variant == TWO_CLASS)
    assert plan_experiment(resolve_experiment(real), two_class) is None
    assert plan_experiment(resolve_experiment(real), CHAPTER_RUNS[5][0]).config.data.source == "covidx"
    real.write_text("profile: paper\ndata: {source: covidx, root: /d/CT1, segmentation_root: /d/SEG, ictcf_root: /d/ictcf}\n")
    config = plan_experiment(resolve_experiment(real), two_class).config
    assert (config.data.source, config.data.root, config.data.segmentation_root) == ("ictcf", "/d/ictcf", "/d/SEG")


_INTERRUPTED_BUILD = """
import sys
from lstmattn.engine.experiment import resolve_experiment, with_training
from lstmattn.engine.parallel import train_experiments
from lstmattn.engine.plan import PlannedRun, plan_experiment

if __name__ == "__main__":
    base = with_training(resolve_experiment(sys.argv[1]), epochs=100000, max_steps=100000)
    experiments = [plan_experiment(base, PlannedRun(name)) for name in ("classifier-resnet18", "mask-rcnn")]
    try:
        train_experiments(experiments, root=sys.argv[2], jobs=2, progress=False,
                          echo=lambda line: print(line, flush=True))
    except KeyboardInterrupt:
        print("parent: interrupted", flush=True)
        sys.exit(130)
"""


@pytest.mark.parametrize("when", ["workers starting", "workers training"])
def test_ctrl_c_stops_every_worker_without_a_traceback(tmp_path: Path, when: str) -> None:
    """Ctrl-C reaches the whole process group: the parent stops, the workers with it, and
    no worker prints a traceback (nor leaves a semaphore for the resource tracker)."""
    (tmp_path / "tiny.yaml").write_text(TINY_PROFILE_YAML)
    (tmp_path / "build.py").write_text(_INTERRUPTED_BUILD)
    env = {**os.environ, "LSTMATTN_DATA_CACHE": str(tmp_path / "cache")}
    build = subprocess.Popen([sys.executable, "build.py", "tiny.yaml", "runs"], cwd=tmp_path, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert build.stdout is not None
    assert "2 worker(s)" in build.stdout.readline()
    deadline = time.monotonic() + 120
    while when == "workers training" and not list((tmp_path / "runs").glob("*/log.jsonl")):
        assert time.monotonic() < deadline and build.poll() is None, build.communicate()[0]
        time.sleep(0.2)
    os.killpg(build.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    output, _ = build.communicate(timeout=60)
    assert build.returncode == 130, output
    assert "parent: interrupted" in output
    assert "Traceback" not in output and "leaked" not in output, output
    deadline = time.monotonic() + 20
    while _group_alive(build.pid):  # no worker of the group is left
        assert time.monotonic() < deadline, subprocess.run(["ps", "-o", "pid,args", "-g", str(build.pid)],
                                                           capture_output=True, text=True).stdout
        time.sleep(0.2)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def _book_build(tmp_path: Path) -> subprocess.Popen:
    """A real ``lstmattn book build`` of chapter 3 (four tiny planned runs, no result store)
    training up front in two workers for as good as ever, in a session of its own."""
    (tmp_path / "tiny.yaml").write_text(TINY_PROFILE_YAML)
    env = {**os.environ, "LSTMATTN_DATA_CACHE": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "lstmattn.cli", "book", "build", "--profile", "tiny.yaml", "--chapters", "3",
               "--max-steps", "100000", "--epochs", "100000", "--jobs", "2", "--store", "off", "--no-site", "--quiet",
               "--out", "out", "--output-dir", "runs"]
    return subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


def _workers_once(build: subprocess.Popen, ready: Callable[[], bool]) -> list[psutil.Process]:
    """The build's two training workers, once ``ready()`` holds."""
    deadline = time.monotonic() + 180
    while not ready():
        assert build.poll() is None, build.communicate()[0]
        assert time.monotonic() < deadline, "the workers did not get that far in 180 s"
        time.sleep(0.2)
    workers = [p for p in psutil.Process(build.pid).children(recursive=True) if "spawn_main" in " ".join(p.cmdline())
               and "resource_tracker" not in " ".join(p.cmdline())]
    assert len(workers) == 2, [p.cmdline() for p in workers]
    return workers


def _still_running(processes: list[psutil.Process], seconds: float) -> list[psutil.Process]:
    """Those of ``processes`` still running (not gone, not a zombie) after up to ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        running = []
        for process in processes:
            try:
                if process.status() != psutil.STATUS_ZOMBIE:
                    running.append(process)
            except psutil.NoSuchProcess:
                pass
        if not running or time.monotonic() > deadline:
            return running
        time.sleep(0.2)


def _kill_all(build: subprocess.Popen, processes: list[psutil.Process]) -> None:
    """Whatever a failed test left behind: the build's group and ``processes``."""
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(build.pid, signal.SIGKILL)
    build.communicate()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_kill_of_the_parent_stops_every_worker_and_the_runs_resume(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stop: signal.Signals) -> None:
    """``kill PID`` (or a hang-up) of a book build training up front: the build stops as on
    Ctrl-C, its workers with it, one line and exit 128 + the signal, never a traceback;
    the runs it stopped resume from their checkpoints."""
    build = _book_build(tmp_path)
    runs = tmp_path / "runs"
    workers: list[psutil.Process] = []
    try:
        workers = _workers_once(build, lambda: any(runs.glob("*/checkpoints/last.pt")))
        os.kill(build.pid, stop)  # the parent only, as `kill PID` does
        output, _ = build.communicate(timeout=120)
        assert build.returncode == 128 + stop, output
        assert f"lstmattn: stopped by {stop.name}" in output
        assert "Traceback" not in output and "leaked" not in output, output
        assert _still_running(workers, 20) == []
    finally:
        _kill_all(build, workers)
    monkeypatch.setenv("LSTMATTN_DATA_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    run = RunDirectory(next(runs.glob("*/checkpoints/last.pt")).parents[1])
    assert run.record()["status"] == "training"
    step = load_checkpoint(run.checkpoint("last"))["state"]["step"]
    state = train(run.config(), run, resume=True, progress=False, device="cpu", stop_after_steps=step + 1)
    assert state.step == step + 1


def test_workers_end_with_a_parent_killed_hard(tmp_path: Path) -> None:
    """SIGKILL leaves the parent no time to stop its workers: they end with it all the same."""
    build = _book_build(tmp_path)
    workers: list[psutil.Process] = []
    try:
        workers = _workers_once(build, lambda: any((tmp_path / "runs").glob("*/log.jsonl")))
        os.kill(build.pid, signal.SIGKILL)
        build.communicate(timeout=60)
        assert _still_running(workers, 30) == [], "workers outlived their parent"
    finally:
        _kill_all(build, workers)
