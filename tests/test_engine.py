"""Training engine: resume equivalence, loss schemes, run records, evaluation files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from engine_fixtures import toy_bundle, toy_config
from lstmattn.engine.checkpoint import load_checkpoint
from lstmattn.engine.results import evaluate_run
from lstmattn.engine.runs import RunDirectory, list_runs
from lstmattn.engine.trainer import train
from lstmattn.errors import LstmattnError


def _weights(run: RunDirectory) -> dict[str, torch.Tensor]:
    return load_checkpoint(run.checkpoint("last"))["model"]


def test_killed_and_resumed_run_matches_uninterrupted(tmp_path: Path):
    config = toy_config(max_steps=3)  # 2 steps per epoch: crosses an epoch end and a validation
    straight = RunDirectory(tmp_path / "straight")
    train(config, straight, data=toy_bundle(), progress=False, device="cpu")
    interrupted = RunDirectory(tmp_path / "interrupted")
    state = train(config, interrupted, data=toy_bundle(), progress=False, device="cpu", stop_after_steps=1)
    assert state.step == 1
    with pytest.raises(LstmattnError, match="--resume"):
        train(config, interrupted, data=toy_bundle(), progress=False, device="cpu")
    state = train(config, interrupted, data=toy_bundle(), progress=False, device="cpu", resume=True)
    assert state.step == 3
    a, b = _weights(straight), _weights(interrupted)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_alternating_scheme_and_run_record(tmp_path: Path):
    config = toy_config(max_steps=2, loss_scheme="alternating")
    run = RunDirectory(tmp_path / "alt")
    train(config, run, data=toy_bundle(), progress=False, device="cpu")
    steps = [json.loads(line) for line in run.log_path.read_text().splitlines()]
    step_entries = [e for e in steps if e["kind"] == "step"]
    assert len(step_entries) == 2
    assert {"loss_segmentation", "loss_classification", "copied"} <= set(step_entries[0])
    assert step_entries[0]["copied"] == 1.0  # the first loss always improves on +inf
    assert any(e["kind"] == "validation" for e in steps)
    record = run.record()
    for key in ("git_commit", "packages", "device", "torch_threads", "seed", "data", "profile"):
        assert key in record
    assert record["status"] == "trained" and record["steps"] == 2
    assert run.config() == config
    assert "optimizer" not in load_checkpoint(run.checkpoint("best"))  # weights only: evaluation reads it
    assert {"model", "optimizer", "rng", "state"} <= set(load_checkpoint(run.checkpoint("last")))  # resume reads it
    assert [row["run_id"] for row in list_runs(tmp_path)] == ["alt"]


def test_evaluate_run_writes_result_files(tmp_path: Path):
    run = RunDirectory(tmp_path / "eval")
    train(toy_config(max_steps=1), run, data=toy_bundle(), progress=False, device="cpu")
    written = evaluate_run(run, data=toy_bundle(), device="cpu", n_resamples=50, progress=False)
    metrics = json.loads(written["test_metrics"].read_text())
    assert metrics["n"] == 3 and metrics["run_id"] == "eval" and metrics["profile"] == "quick"
    assert {"f1", "accuracy", "sensitivity/COVID-19", "f1_paper_weights"} <= set(metrics["metrics"])
    interval = metrics["metrics"]["f1"]
    assert interval["low"] <= interval["estimate"] <= interval["high"]
    predictions = written["test_predictions"].read_text().splitlines()
    assert predictions[0].startswith("file,label,predicted,prob_Normal") and len(predictions) == 4
    segmentation = json.loads(written["segmentation_test"].read_text())
    assert set(segmentation["ap"]) == {"per_image/all_classes", "per_image/lesions", "dataset/all_classes", "dataset/lesions"}
    assert set(segmentation["dice"]["dataset"]) == {"GGO", "consolidation", "any lesion"}


def test_ddp_two_cpu_processes_with_gloo(tmp_path: Path):
    """Two gloo ranks share the epoch's steps, agree on every weight, and only rank 0 writes."""
    import subprocess
    import sys

    run_dir = tmp_path / "ddp"
    worker = Path(__file__).parent / "ddp_worker.py"
    completed = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(worker), str(run_dir)],
        capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    run = RunDirectory(run_dir)
    # 4 classification pairs per epoch sharded over 2 ranks → 2 pairs per rank → 1 step of batch 2 per epoch.
    assert (run_dir / "rank0.txt").read_text().strip() == (run_dir / "rank1.txt").read_text().strip() == "2"
    record = run.record()
    assert record["replicas_checked"] == 2 and record["steps"] == 2
    logged_steps = [json.loads(line) for line in run.log_path.read_text().splitlines() if '"step"' in line and '"kind": "step"' in line]
    assert [entry["step"] for entry in logged_steps] == [1, 2]  # rank 0 logs each step once
    assert run.checkpoint("last").exists()
