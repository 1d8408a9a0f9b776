"""Training engine: resume equivalence, loss schemes (which parameters each step moves),
the §3.6 weight copy and its log, run records, checkpoint selection, evaluation files."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

from conftest import segmentation_target, tiny_model_config
from engine_fixtures import ClassificationToy, toy_bundle, toy_config
from lstmattn.cli import main
from lstmattn.config import save_config
from lstmattn.engine import results as results_module
from lstmattn.engine import trainer as trainer_module
from lstmattn.engine.checkpoint import load_checkpoint, save_checkpoint
from lstmattn.engine.evaluation import (
    SEGMENTATION_SLICES_FILE,
    inference_batch_size,
    predict_classification,
    read_segmentation_slices,
    segmentation_summary,
)
from lstmattn.engine.loading import load_trained_model
from lstmattn.engine.results import evaluate_run
from lstmattn.engine.runs import RunDirectory, list_runs
from lstmattn.engine.trainer import train
from lstmattn.errors import LstmattnError
from lstmattn.losses import CLASSIFICATION_LOSS_NAME, SEGMENTATION_LOSS_NAMES, segmentation_loss, total_loss
from lstmattn.model import OneShotLSTMAttention


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
    config = toy_config(max_steps=3, loss_scheme="alternating")  # 2 steps per epoch
    run = RunDirectory(tmp_path / "alt")
    train(config, run, data=toy_bundle(), progress=False, device="cpu")
    entries = [json.loads(line) for line in run.log_path.read_text().splitlines()]
    steps = [e for e in entries if e["kind"] == "step"]
    epochs = [e for e in entries if e["kind"] == "epoch"]
    assert [e["step"] for e in steps] == [1, 2, 3]
    assert steps[0]["copied"] == 1.0  # the first loss always improves on +inf
    assert all(e["loss_segmentation"] == pytest.approx(sum(e[name] for name in SEGMENTATION_LOSS_NAMES)) for e in steps)
    # §3.6: every epoch (the last one cut short) reports its number of weight copies.
    assert [(e["epoch"], e["steps"], e["complete"]) for e in epochs] == [(0, 2, True), (1, 1, False)]
    for epoch in epochs:
        assert epoch["copies"] == sum(e["copied"] for e in steps if e["epoch"] == epoch["epoch"])
    assert sum(e["kind"] == "validation" for e in entries) == 2
    record = run.record()
    for key in ("git_commit", "packages", "device", "torch_threads", "seed", "data", "profile", "precision"):
        assert key in record
    assert record["status"] == "trained" and record["steps"] == 3
    assert run.config() == config
    assert "optimizer" not in load_checkpoint(run.checkpoint("best"))  # weights only: evaluation reads it
    assert {"model", "optimizer", "rng", "state"} <= set(load_checkpoint(run.checkpoint("last")))  # resume reads it
    assert [row["run_id"] for row in list_runs(tmp_path)] == ["alt"]


SEGMENTATION_PARTS = ("backbone.", "rpn.", "roi_heads.")
CLASSIFICATION_PARTS = ("backbone.", "attention.", "positive_head.", "negative_head.")


def _train_recording(config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[RunDirectory, list[set[str]], list[float]]:
    """Train ``config`` on the toy data; returns the run, the names of the parameters each
    optimiser step changed, and every L_SEG value handed to the weight copy."""
    built: dict[str, nn.Module] = {}
    copy_losses: list[float] = []
    build_model = trainer_module.build_model

    def build(config):
        model = build_model(config)
        sync = model.sync_classification_branch

        def recording(loss: float) -> bool:
            copy_losses.append(loss)
            return sync(loss)

        model.sync_classification_branch = recording
        built["model"] = model
        return model

    monkeypatch.setattr(trainer_module, "build_model", build)
    before: dict[str, torch.Tensor] = {}
    changes: list[set[str]] = []

    def snapshot(optimizer, args, kwargs) -> None:
        before.clear()
        before.update({name: p.detach().clone() for name, p in built["model"].named_parameters()})

    def compare(optimizer, args, kwargs) -> None:
        changes.append({name for name, p in built["model"].named_parameters() if not torch.equal(before[name], p)})

    handles = [register_optimizer_step_pre_hook(snapshot), register_optimizer_step_post_hook(compare)]
    try:
        run = RunDirectory(tmp_path / "run")
        train(config, run, data=toy_bundle(), progress=False, device="cpu")
    finally:
        for handle in handles:
            handle.remove()
    return run, changes, copy_losses


def _parts(names: set[str]) -> set[str]:
    return {name.split(".")[0] + "." for name in names}


def test_alternating_steps_change_only_their_own_parameters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Reference scheme: the segmentation step moves backbone, RPN and segmentation heads;
    the classification step moves backbone, attention layer and the two heads."""
    _, changes, _ = _train_recording(toy_config(max_steps=1, loss_scheme="alternating"), tmp_path, monkeypatch)
    segmentation, classification = changes
    assert _parts(segmentation) == set(SEGMENTATION_PARTS)
    assert _parts(classification) == set(CLASSIFICATION_PARTS)


def test_summed_step_sends_l_seg_to_the_segmentation_parameters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    _, changes, _ = _train_recording(toy_config(max_steps=1), tmp_path, monkeypatch)
    assert len(changes) == 1 and _parts(changes[0]) == set(SEGMENTATION_PARTS) | set(CLASSIFICATION_PARTS)
    # Eq. 8: the gradient of L_TOTAL on the RPN and segmentation heads is that of L_SEG.
    torch.manual_seed(0)
    model = OneShotLSTMAttention(tiny_model_config()).train()
    losses = model([torch.rand(3, 64, 64), torch.rand(3, 64, 64)], [segmentation_target(), {"image_label": torch.tensor(2)}])
    parameters = [p for name, p in model.named_parameters() if name.startswith(("rpn.", "roi_heads."))]
    from_total = torch.autograd.grad(total_loss(losses), parameters, retain_graph=True, allow_unused=True)
    from_segmentation = torch.autograd.grad(segmentation_loss(losses), parameters, retain_graph=True, allow_unused=True)
    from_classification = torch.autograd.grad(losses[CLASSIFICATION_LOSS_NAME], parameters, allow_unused=True)
    assert all(g is None for g in from_classification)
    assert all(g is not None for g in from_segmentation)
    assert all(torch.allclose(t, s) for t, s in zip(from_total, from_segmentation))


@pytest.mark.parametrize("scheme", ["summed", "alternating"])
def test_weight_copy_is_driven_by_l_seg_not_l_total(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scheme: str):
    run, _, copy_losses = _train_recording(toy_config(max_steps=2, loss_scheme=scheme), tmp_path, monkeypatch)
    steps = [json.loads(line) for line in run.log_path.read_text().splitlines() if '"kind": "step"' in line]
    assert len(copy_losses) == len(steps) == 2
    for value, step in zip(copy_losses, steps):
        assert value == pytest.approx(step["loss_segmentation"], rel=1e-5)
        assert value != pytest.approx(step["loss_segmentation"] + step[CLASSIFICATION_LOSS_NAME], rel=1e-4)


def test_smoothed_copy_closes_every_epoch_in_the_trainer(tmp_path: Path):
    config = toy_config(max_steps=2)  # exactly one epoch
    config = replace(config, model=replace(config.model, weight_copy_smoothing="epoch_mean"))
    run = RunDirectory(tmp_path / "smooth")
    train(config, run, data=toy_bundle(), progress=False, device="cpu")
    entries = [json.loads(line) for line in run.log_path.read_text().splitlines()]
    steps = [e for e in entries if e["kind"] == "step"]
    state = load_checkpoint(run.checkpoint("last"))["model"]
    mean = sum(e["loss_segmentation"] for e in steps) / len(steps)
    assert state["roi_classification.reference_loss"].item() == pytest.approx(mean, rel=1e-5)
    assert state["roi_classification.epoch_loss_count"].item() == 0
    assert [e["copies"] for e in entries if e["kind"] == "epoch"] == [2]  # both against +inf


def _logits(written: dict[str, Path]) -> np.ndarray:
    return pd.read_csv(written["test_predictions"]).filter(like="logit_").to_numpy()


def _checkpoint_of(written: dict[str, Path]) -> set[str]:
    return {json.loads(written[name].read_text())["checkpoint"] for name in ("test_metrics", "segmentation_test")}


def test_evaluation_uses_the_last_checkpoint_unless_best_is_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    run = RunDirectory(tmp_path / "ckpt")
    train(toy_config(max_steps=3), run, data=toy_bundle(), progress=False, device="cpu")
    key = "positive_head.layers.4.bias"
    best = load_checkpoint(run.checkpoint("best"))
    best["model"] = load_checkpoint(run.checkpoint("last"))["model"]
    last_value = best["model"][key].clone()
    best["model"][key] += 5.0  # best.pt = last.pt but for one bias
    save_checkpoint(best, run.checkpoint("best"))
    assert torch.equal(load_trained_model(run).state_dict()[key], last_value)
    assert torch.equal(load_trained_model(run, "best").state_dict()[key], best["model"][key])

    evaluate = dict(data=toy_bundle(), device="cpu", n_resamples=20, progress=False)
    default = evaluate_run(run, **evaluate)
    assert _checkpoint_of(default) == {"last"} and run.record()["evaluated_checkpoint"] == "last"
    last_logits = _logits(default)
    chosen = evaluate_run(run, checkpoint="best", **evaluate)
    assert _checkpoint_of(chosen) == {"best"} and run.record()["evaluated_checkpoint"] == "best"
    assert np.allclose(_logits(chosen), last_logits + 5.0, atol=1e-4)  # Δ = h_POS − h_NEG moved by 5

    # The run's config may ask for best; the CLI's --checkpoint overrides it.
    config = run.config()
    save_config(replace(config, train=replace(config.train, evaluate_checkpoint="best")), run.config_path)
    assert _checkpoint_of(evaluate_run(run, **evaluate)) == {"best"}
    monkeypatch.setattr(results_module, "build_data", lambda config, progress=True: toy_bundle())
    assert main(["evaluate", str(run.path), "--checkpoint", "last", "--bootstrap", "20", "--no-progress"]) == 0
    assert run.record()["evaluated_checkpoint"] == "last"
    assert json.loads((run.results / "test_metrics.json").read_text())["checkpoint"] == "last"
    # Without a best.pt (no validation yet), "best" is the last checkpoint, and says so.
    run.checkpoint("best").unlink()
    assert _checkpoint_of(evaluate_run(run, checkpoint="best", **evaluate)) == {"last"}


def test_batchnorm_in_train_mode_is_evaluated_one_slice_at_a_time():
    """With batch statistics at inference, a slice's prediction must not depend on the
    other slices of an evaluation batch (the reference code evaluates one at a time)."""
    torch.manual_seed(0)
    model = OneShotLSTMAttention(tiny_model_config(batchnorm_at_inference="train"))
    dataset = ClassificationToy(3)
    table = predict_classification(model, dataset, device=torch.device("cpu"), num_classes=3, batch_size=8)
    with torch.no_grad():
        alone = torch.stack([model.eval()([dataset[i][0]])[0]["class_logits"] for i in range(len(dataset))])
    assert np.allclose(table.filter(like="logit_").to_numpy(), alone.numpy(), atol=1e-5)
    assert inference_batch_size(model, 8) == 1
    assert inference_batch_size(OneShotLSTMAttention(tiny_model_config()), 8) == 8
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
    # the per-slice scores beside it, from which its numbers and their intervals are recomputed
    assert written["segmentation_test_slices"] == run.results / SEGMENTATION_SLICES_FILE
    slices = read_segmentation_slices(written["segmentation_test_slices"])
    assert slices["n"] == segmentation["n"] == 2 and slices["run_id"] == "eval"
    summary = segmentation_summary(slices, n_resamples=50, seed=run.config().train.seed)
    assert json.dumps({**segmentation, **summary}) == json.dumps(segmentation)
    assert segmentation["intervals"]["n_resamples"] == 50
    assert set(segmentation["intervals"]["ap"]["dataset/lesions"]) == set(segmentation["ap"]["dataset/lesions"])


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
