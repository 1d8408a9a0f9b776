"""Issue 15, "Runs": one process per run, resumes that refuse a changed config or a
missing run, one log history after a resume, checkpoints that do not fit their
config.yaml, and ``runs list`` past a corrupt record. Every refusal is one line and
writes nothing."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from engine_fixtures import TINY_PROFILE_YAML, toy_bundle, toy_config
from lstmattn.cli import main
from lstmattn.config import BackboneConfig, save_config
from lstmattn.engine.checkpoint import load_checkpoint, save_checkpoint
from lstmattn.engine.experiment import Experiment, ensure_run
from lstmattn.engine.loading import load_trained_model
from lstmattn.engine.runs import RunDirectory, RunInUse
from lstmattn.engine.trainer import train
from lstmattn.errors import LstmattnError


HOLDER = """
import sys, time
from pathlib import Path
from lstmattn.engine.runs import RunDirectory
with RunDirectory(Path(sys.argv[1])).lock():
    print("held", flush=True)
    time.sleep(600)
"""


@pytest.fixture
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty runs folder (``$LSTMATTN_RUNS``) and a private phantom cache."""
    monkeypatch.setenv("LSTMATTN_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("LSTMATTN_DATA_CACHE", str(tmp_path / "cache"))
    return tmp_path / "runs"


@pytest.fixture
def tiny_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_PROFILE_YAML)
    return path


def _hold(run: Path) -> subprocess.Popen:
    """Another process holding ``run``'s lock (as a second ``lstmattn train`` would)."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(run)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held", "the holder process could not take the lock"
    return holder


def _files(run: RunDirectory) -> dict[str, bytes]:
    return {p.relative_to(run.path).as_posix(): p.read_bytes() for p in sorted(run.path.rglob("*"))
            if p.is_file() and p.name != ".lock"}


def _history(run: RunDirectory) -> list[dict]:
    """The log without its wall-clock times."""
    entries = [json.loads(line) for line in run.log_path.read_text().splitlines()]
    return [{k: v for k, v in entry.items() if k != "seconds"} for entry in entries]


def test_a_run_in_use_is_refused_with_the_holders_pid_and_freed_when_it_dies(
        runs: Path, tiny_yaml: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = runs / "busy"
    holder = _hold(run)
    try:
        assert main(["train", "--config", str(tiny_yaml), "--run-id", "busy", "--no-progress"]) == 2
        error = capsys.readouterr().err
        assert f"run busy is in use by PID {holder.pid}" in error and error.count("\n") == 1
        assert not (run / "config.yaml").exists() and not (run / "record.json").exists()
        assert main(["evaluate", str(run), "--no-progress"]) == 2
        assert f"run busy is in use by PID {holder.pid}" in capsys.readouterr().err
        with pytest.raises(RunInUse, match=f"in use by PID {holder.pid}"), RunDirectory(run).lock():
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    (run / "checkpoints").mkdir()
    stale = run / "checkpoints" / f".last.pt.{holder.pid}.tmp"  # what a kill during torch.save leaves
    stale.write_bytes(b"half a checkpoint")
    with RunDirectory(run).lock():  # the dead holder's lock is gone with it
        assert (run / ".lock").read_text().strip() == str(os.getpid())
        assert not stale.exists()


def test_evaluate_data_takes_the_run_lock(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``evaluate RUN --data`` writes into the run's ``results/``: refused while another
    process holds the run, before it reads anything; with ``--out`` elsewhere it does not
    need the run."""
    run = tmp_path / "run"
    run.mkdir()
    save_config(toy_config(max_steps=1), run / "config.yaml")
    data = tmp_path / "unlabelled"
    data.mkdir()
    holder = _hold(run)
    try:
        assert main(["evaluate", str(run), "--data", str(data), "--no-progress"]) == 2
        error = capsys.readouterr().err
        assert error.startswith(f"lstmattn: error: run run is in use by PID {holder.pid}") and error.count("\n") == 1
        assert not (run / "results").exists()
        assert main(["evaluate", str(run), "--data", str(data), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
        assert "not a labelled folder" in capsys.readouterr().err  # got past the lock: the folder is the problem
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()


def test_the_book_workers_ensure_run_respects_the_lock(runs: Path) -> None:
    experiment = Experiment(toy_config(max_steps=1))
    holder = _hold(experiment.folder(runs).path)
    try:
        with pytest.raises(RunInUse, match=f"run {experiment.run_id} is in use by PID {holder.pid}"):
            ensure_run(experiment, root=runs, progress=False)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert not experiment.folder(runs).config_path.exists()


def test_resume_of_a_run_that_does_not_exist_is_refused(runs: Path, tiny_yaml: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--config", str(tiny_yaml), "--run-id", "nope", "--resume", "--no-progress"]) == 2
    assert capsys.readouterr().err == (f"lstmattn: error: run nope does not exist ({runs / 'nope'}): nothing to resume; "
                                       "drop --resume to start the run\n")
    assert not (runs / "nope").exists()
    run = RunDirectory(runs / "started")
    run.path.mkdir(parents=True)  # killed before its first checkpoint
    with pytest.raises(LstmattnError, match="last.pt does not exist: nothing to resume"):
        train(toy_config(), run, data=toy_bundle(), progress=False, device="cpu", resume=True)


def test_resume_with_another_config_is_refused_naming_the_fields(tmp_path: Path) -> None:
    config = toy_config(max_steps=3)
    run = RunDirectory(tmp_path / "run")
    train(config, run, data=toy_bundle(), progress=False, device="cpu", stop_after_steps=1)
    before = _files(run)
    changed = replace(config, train=replace(config.train, seed=7, lr=0.5))
    with pytest.raises(LstmattnError) as refused:
        train(changed, run, data=toy_bundle(), progress=False, device="cpu", resume=True)
    message = str(refused.value)
    assert "\n" not in message
    assert "train.seed: 0 in config.yaml, 7 given" in message and "train.lr: 0.001 in config.yaml, 0.5 given" in message
    assert _files(run) == before  # config.yaml, record.json, the log and the checkpoint are untouched


def test_resume_without_config_yaml_is_checked_against_the_checkpoints_config(tmp_path: Path) -> None:
    """A run whose ``config.yaml`` is gone (``last.pt`` kept) is compared with the config
    saved in the checkpoint: refused with another one, resumed with its own."""
    config = toy_config(max_steps=3)
    run = RunDirectory(tmp_path / "run")
    train(config, run, data=toy_bundle(), progress=False, device="cpu", stop_after_steps=1)
    run.config_path.unlink()
    before = _files(run)
    changed = replace(config, train=replace(config.train, seed=7))
    with pytest.raises(LstmattnError) as refused:
        train(changed, run, data=toy_bundle(), progress=False, device="cpu", resume=True)
    assert str(refused.value) == ("run run: --resume with another config than the run's (train.seed: 0 in the "
                                  "checkpoint, 7 given); resume with the run's settings or train under another run id")
    assert _files(run) == before
    assert train(config, run, data=toy_bundle(), progress=False, device="cpu", resume=True).step == 3


def test_the_log_is_one_history_after_a_resume(tmp_path: Path) -> None:
    """Killed after logging step 2 but before its checkpoint: the resumed run's log equals
    an uninterrupted run's (wall-clock times aside), with no step twice."""
    config = toy_config(max_steps=3)  # 2 steps per epoch: an epoch end and a validation in between
    straight = RunDirectory(tmp_path / "straight")
    train(config, straight, data=toy_bundle(), progress=False, device="cpu")
    killed = RunDirectory(tmp_path / "killed")
    train(config, killed, data=toy_bundle(), progress=False, device="cpu", stop_after_steps=1)
    step_one = tmp_path / "step1.pt"
    shutil.copyfile(killed.checkpoint("last"), step_one)
    train(config, killed, data=toy_bundle(), progress=False, device="cpu", resume=True, stop_after_steps=2)
    shutil.copyfile(step_one, killed.checkpoint("last"))  # step 2 logged, its checkpoint never written
    train(config, killed, data=toy_bundle(), progress=False, device="cpu", resume=True)
    history = _history(killed)
    assert [e["step"] for e in history if e["kind"] == "step"] == [1, 2, 3]
    assert history == _history(straight)


def test_a_new_start_drops_the_log_of_a_start_killed_before_its_first_checkpoint(tmp_path: Path) -> None:
    config = toy_config(max_steps=1)
    run = RunDirectory(tmp_path / "run")
    run.path.mkdir()
    run.log({"kind": "step", "step": 1, "epoch": 0})
    train(config, run, data=toy_bundle(), progress=False, device="cpu")
    assert [e["step"] for e in _history(run) if e["kind"] == "step"] == [1]


@pytest.fixture
def trained(tmp_path: Path) -> RunDirectory:
    run = RunDirectory(tmp_path / "run")
    train(toy_config(max_steps=1), run, data=toy_bundle(), progress=False, device="cpu")
    return run


def _change_backbone(run: RunDirectory, name: str) -> None:
    config = run.config()
    save_config(replace(config, model=replace(config.model, backbone=BackboneConfig(name=name, out_channels=32))),
                run.config_path)


def test_a_checkpoint_that_does_not_fit_config_yaml_is_one_line(trained: RunDirectory) -> None:
    _change_backbone(trained, "resnet34")
    expected = (f"{trained.checkpoint('last')}: checkpoint does not match config.yaml "
                "(model.backbone.name: 'resnet34' in config.yaml, 'resnet18' in the checkpoint)")
    with pytest.raises(LstmattnError) as refused:
        load_trained_model(trained, "last")
    assert str(refused.value) == expected
    with pytest.raises(LstmattnError) as refused:  # resuming it: the same line, before any training
        train(trained.config(), trained, data=toy_bundle(), progress=False, device="cpu", resume=True)
    assert str(refused.value) == expected


def test_a_checkpoint_without_its_config_still_gets_one_line(trained: RunDirectory) -> None:
    checkpoint = load_checkpoint(trained.checkpoint("last"))
    del checkpoint["config"]
    save_checkpoint(checkpoint, trained.checkpoint("last"))
    _change_backbone(trained, "resnet34")
    with pytest.raises(LstmattnError, match=r"checkpoint does not match config\.yaml \(weights \d+ missing, "
                                            r"e\.g\. 'backbone\..+'\)$"):  # resnet34 has more blocks
        load_trained_model(trained, "last")


def test_runs_list_skips_a_corrupt_record_with_a_warning(tmp_path: Path, trained: RunDirectory,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    corrupt = tmp_path / "corrupt" / "record.json"
    corrupt.parent.mkdir()
    corrupt.write_text('{"run_id": "corrupt", "status": ')  # cut off mid-write
    assert main(["runs", "list", "--root", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert "run" in out.splitlines()[1] and "corrupt" not in out
    assert err.startswith(f"lstmattn: warning: skipped {corrupt}: corrupt run record (") and err.count("\n") == 1


class _Payload:
    """Unpickling this would run a command: a checkpoint must never be a pickle of it."""

    def __reduce__(self) -> tuple:
        return (os.system, ("touch pwned",))


def test_a_malicious_or_corrupt_checkpoint_is_refused_in_one_line(tmp_path: Path) -> None:
    malicious = tmp_path / "malicious.pt"
    torch.save({"model": _Payload()}, malicious)
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"PK\x03\x04 not a checkpoint")
    messages = []
    for path in (malicious, corrupt):
        with pytest.raises(LstmattnError, match=f"^{path}: not a readable lstmattn checkpoint") as refused:
            load_checkpoint(path)
        messages.append(str(refused.value))
    assert all("\n" not in message for message in messages)
    assert "holds Python objects (posix.system), not only weights, and is refused" in messages[0]
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()
