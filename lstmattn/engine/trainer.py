"""One-shot training (§3.8, §4.1): segmentation and classification data at once.

Loss schemes:

* ``summed`` (paper, Eq. 8): every step runs a batch of segmentation images and a batch
  of classification images through the model and takes one Adam step on
  L_TOTAL = L_SEG + L_CLS.
* ``alternating`` (reference code, REFERENCE_CODE.md §2.1): every step is a segmentation
  step on L_SEG followed by a classification step on L_CLS. Autograd already keeps each
  step to its own parameters (L_SEG never reaches the attention layer; L_CLS never
  reaches the RPN or the RoI heads), so no gradient masking is needed.

After ``backward()`` and before ``optimizer.step()`` the RoI classification branch takes
the segmentation heads' weights if L_SEG improved (§3.6, policy and smoothing in the
config). Each step's log entry says whether it copied (``copied``); an ``epoch`` entry
closes every epoch with the number of copies in it (``copies``), and a complete epoch
ends the smoothed copy's epoch (``model.end_epoch()``).

Determinism: ``train.seed`` seeds everything once; the sampler's pairs depend only on
(seed, epoch, step); checkpoints hold the torch/NumPy/Python RNG states, so on CPU a run
killed and resumed ends with the same weights as one that was never interrupted.

Distributed: launched with ``torchrun`` (``WORLD_SIZE > 1``), the model is wrapped in
DDP, the sampler shards the steps, L_SEG is averaged over ranks before the weight-copy
decision, and only rank 0 writes logs, checkpoints and validation results.
"""

from __future__ import annotations

import math
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.distributed as dist
from torch import Tensor, nn

from lstmattn.config import ExperimentConfig, from_dict, get_profile, to_dict
from lstmattn.data.joint import OneShotSampler
from lstmattn.engine.checkpoint import load_checkpoint, load_weights, save_checkpoint
from lstmattn.engine.datasets import DataBundle, build_data
from lstmattn.engine.evaluation import classification_metrics, predict_classification
from lstmattn.engine.loading import resolve_device
from lstmattn.engine.precision import Precision, run_precision
from lstmattn.engine.reproducibility import capture_rng_state, restore_rng_state, seed_everything
from lstmattn.engine.runs import RunDirectory, config_differences, describe_differences
from lstmattn.engine.schedule import learning_rate
from lstmattn.errors import ConfigError, LstmattnError
from lstmattn.losses import CLASSIFICATION_LOSS_NAME, SEGMENTATION_LOSS_NAMES, segmentation_loss
from lstmattn.model import create
from lstmattn.progress import progress_bar

__all__ = ["TrainingState", "resolve_device", "build_model", "train"]


@dataclass
class TrainingState:
    """Where a run stands: global step, epoch, step within the epoch, best validation F1,
    and the §3.6 weight copies made so far in this epoch."""

    step: int = 0
    epoch: int = 0
    step_in_epoch: int = 0
    best_metric: float = -math.inf
    epoch_copies: int = 0


def build_model(config: ExperimentConfig) -> nn.Module:
    """The registered model ``config.model_name`` (see :mod:`lstmattn.model.registry`)."""
    return create(config.model_name, config)


def _distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank), initialising the process group under torchrun."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return 0, 1, 0
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), world_size, int(os.environ.get("LOCAL_RANK", "0"))


def _mean_over_ranks(value: Tensor, world_size: int) -> float:
    value = value.detach().clone()
    if world_size > 1:
        dist.all_reduce(value)
        value /= world_size
    return float(value)


def _to_device(target: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device) if isinstance(v, Tensor) else v for k, v in target.items()}


class _Stepper:
    """Runs one optimisation step of the configured loss scheme for a registered model."""

    def __init__(self, model: nn.Module, core: nn.Module, optimizer: torch.optim.Optimizer,
                 config: ExperimentConfig, precision: Precision, world_size: int) -> None:
        self.model, self.core, self.optimizer = model, core, optimizer
        self.scheme = config.train.loss_scheme
        if self.scheme == "alternating" and core.tasks != {"segmentation", "classification"}:
            raise LstmattnError(f"{config.model_name}: the alternating scheme needs a model with both tasks")
        self.world_size = world_size
        self.sync = getattr(core, "sync_classification_branch", None)
        self.autocast = precision.autocast

    def _optimise(self, samples: list[tuple[Tensor, dict]]) -> dict[str, Tensor]:
        """Forward the samples, back-propagate the summed losses, copy weights, step."""
        with self.autocast():
            losses = self.model([image for image, _ in samples], [target for _, target in samples])
        self.optimizer.zero_grad(set_to_none=True)
        torch.stack(list(losses.values())).sum().backward()
        if self.sync is not None and any(name in losses for name in SEGMENTATION_LOSS_NAMES):
            losses["copied"] = torch.tensor(float(self.sync(_mean_over_ranks(segmentation_loss(losses), self.world_size))))
        self.optimizer.step()
        return losses

    def __call__(self, segmentation: list[tuple[Tensor, dict]], classification: list[tuple[Tensor, dict]]) -> dict[str, float]:
        self.model.train()
        if self.scheme == "summed":
            losses = self._optimise(segmentation + classification)
        else:
            losses = {**self._optimise(segmentation), **self._optimise(classification)}
        stats = {name: float(value.detach()) for name, value in losses.items()}
        if all(name in stats for name in SEGMENTATION_LOSS_NAMES):
            stats["loss_segmentation"] = sum(stats[name] for name in SEGMENTATION_LOSS_NAMES)
        return stats


def train(
    config: ExperimentConfig,
    run: RunDirectory,
    *,
    resume: bool = False,
    device: str | None = None,
    data: DataBundle | None = None,
    progress: bool = True,
    checkpoint_every: int = 25,
    stop_after_steps: int | None = None,
    variant: str | None = None,
) -> TrainingState:
    """Train the one-shot model into ``run``; returns the final state.

    ``variant`` names the run's variant (an ablation, the two-class runs) in its
    recorded identity (:meth:`RunDirectory.start`).

    ``checkpoint_every`` writes ``last.pt`` every so many steps (and at every epoch end);
    ``stop_after_steps`` stops early after a checkpoint, as a killed run would (tests).

    The main process holds the run's lock (:meth:`RunDirectory.lock`) throughout. Refused,
    with one :class:`LstmattnError` line and nothing written: a run another process holds;
    ``resume`` without ``checkpoints/last.pt`` (nothing to resume); ``resume`` with a
    config that differs from the run's (:func:`_check_resumed_config`); a new start over
    existing checkpoints. A resume first cuts ``log.jsonl`` back to the checkpoint, so
    the log stays one history.
    """
    last = run.checkpoint("last")
    if resume and not last.exists():
        missing = f"run {run.run_id} does not exist ({run.path})" if not run.path.is_dir() else f"{last} does not exist"
        raise LstmattnError(f"{missing}: nothing to resume; drop --resume to start the run")
    rank, _, _ = _distributed()
    with run.lock() if rank == 0 else nullcontext():
        if resume:
            _check_resumed_config(config, run)
        return _train_locked(config, run, resume=resume, device=device, data=data, progress=progress,
                             checkpoint_every=checkpoint_every, stop_after_steps=stop_after_steps, variant=variant)


def _check_resumed_config(config: ExperimentConfig, run: RunDirectory) -> None:
    """Refuse to resume ``run`` with a ``config`` other than the one it was started with:
    its ``config.yaml``, or, when that file is gone, the config stored in
    ``checkpoints/last.pt`` (read the way ``config.yaml`` is, so fields added since take
    their defaults). One :class:`LstmattnError` line names the fields that differ."""
    if run.config_path.is_file():
        recorded, where = to_dict(run.config()), "in config.yaml"
    else:
        last = run.checkpoint("last")
        stored = load_checkpoint(last).get("config")
        if not isinstance(stored, Mapping):
            return  # nothing to compare with; load_weights still checks the architecture
        try:
            recorded = to_dict(from_dict(ExperimentConfig, stored, base=get_profile(stored.get("profile", "paper"))))
        except ConfigError as error:
            raise LstmattnError(f"{last}: the config stored in the checkpoint is not a valid config ({error})") from None
        where = "in the checkpoint"
    differences = config_differences(recorded, to_dict(config))
    if differences:
        raise LstmattnError(
            f"run {run.run_id}: --resume with another config than the run's "
            f"({describe_differences(differences, where, 'given')}); resume with the run's settings or train "
            "under another run id")


def _train_locked(
    config: ExperimentConfig,
    run: RunDirectory,
    *,
    resume: bool,
    device: str | None,
    data: DataBundle | None,
    progress: bool,
    checkpoint_every: int,
    stop_after_steps: int | None,
    variant: str | None,
) -> TrainingState:
    """:func:`train`'s work once the run is held and the resume checked."""
    rank, world_size, local_rank = _distributed()
    is_main = rank == 0
    device_ = resolve_device(device, local_rank)
    last = run.checkpoint("last")
    if last.exists() and not resume:
        raise LstmattnError(f"{run.path}: run already has checkpoints; pass --resume or choose another run id")

    seed_everything(config.train.seed)
    data = data or build_data(config, progress=progress and is_main)
    precision = run_precision(config, device_, announce=is_main)
    core = precision.prepare(build_model(config).to(device_))
    uses_segmentation, uses_classification = "segmentation" in core.tasks, "classification" in core.tasks
    optimizer = torch.optim.Adam(
        [p for p in core.parameters() if p.requires_grad],
        lr=config.train.lr,
        betas=tuple(config.train.betas),
        weight_decay=config.train.weight_decay,
    )
    state = TrainingState()
    log_size: int | None = 0  # a new start keeps nothing an earlier, killed start logged
    if resume:
        checkpoint = load_checkpoint(last, map_location=device_)
        load_weights(core, checkpoint, config, last)
        optimizer.load_state_dict(checkpoint["optimizer"])
        state = TrainingState(**checkpoint["state"])
        restore_rng_state(checkpoint["rng"])
        log_size = checkpoint.get("log_bytes")
    if is_main:
        run.rewind_log(log_size, step=state.step)
        run.start(config, device=device_, data=data.record, variant=variant)
        run.update_record(status="training", precision=precision.describe())
    model: nn.Module = core
    if world_size > 1:
        model = nn.parallel.DistributedDataParallel(core, device_ids=[device_.index] if device_.type == "cuda" else None, find_unused_parameters=True)

    # An epoch walks the classification set; segmentation-only models walk the segmentation set.
    batch = config.train.classification_batch_size if uses_classification else config.train.segmentation_batch_size
    sampler = OneShotSampler(
        len(data.segmentation_train), len(data.classification_train),
        steps_per_epoch=None if uses_classification else len(data.segmentation_train),
        mode=config.train.sampling, seed=config.train.seed, rank=rank, world_size=world_size,
    )
    steps_per_epoch = math.ceil(len(sampler) / batch)
    total_steps = config.train.epochs * steps_per_epoch
    if config.train.max_steps is not None:
        total_steps = min(total_steps, config.train.max_steps)
    stepper = _Stepper(model, core, optimizer, config, precision, world_size)
    if is_main:
        run.update_record(total_steps=total_steps)  # lets a watcher show progress (engine.parallel)

    def save(name: str) -> None:
        """``last`` holds everything a resume needs; ``best`` (read only for evaluation
        and prediction) holds the weights without the optimiser state, a third of the size."""
        if not is_main:
            return
        payload = {"model": core.state_dict(), "state": vars(state).copy(), "config": to_dict(config)}
        if name == "last":
            payload.update(optimizer=optimizer.state_dict(), scheduler=None, rng=capture_rng_state(),
                           log_bytes=run.log_size())
        save_checkpoint(payload, run.checkpoint(name))

    bar = progress_bar(total=total_steps, initial=state.step, desc=f"train {run.run_id}", disable=not (progress and is_main))
    while state.step < total_steps:
        sampler.set_epoch(state.epoch, start_step=min(state.step_in_epoch * batch, len(sampler)))
        pairs = list(sampler)
        for start in range(0, len(pairs), batch):
            chunk = pairs[start:start + batch]
            segmentation = [data.segmentation_train[s] for s, _ in chunk[: config.train.segmentation_batch_size]] if uses_segmentation else []
            classification = [data.classification_train[c] for _, c in chunk] if uses_classification else []
            began = time.perf_counter()
            lr = learning_rate(config.train, state.step, total_steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            stats = stepper(
                [(image.to(device_), _to_device(target, device_)) for image, target in segmentation],
                [(image.to(device_), _to_device(target, device_)) for image, target in classification],
            )
            state.step += 1
            state.step_in_epoch += 1
            state.epoch_copies += int(stats.get("copied", 0))
            bar.update(1)
            bar.set_postfix({k: f"{stats[k]:.3f}" for k in ("loss_segmentation", CLASSIFICATION_LOSS_NAME) if k in stats})
            if is_main:
                run.log({"kind": "step", "step": state.step, "epoch": state.epoch, "seconds": time.perf_counter() - began,
                         "lr": lr, **stats})
            if checkpoint_every and state.step % checkpoint_every == 0:
                save("last")
            if stop_after_steps is not None and state.step >= stop_after_steps:
                save("last")
                bar.close()
                return state
            if state.step >= total_steps:
                break
        epoch_done = state.step_in_epoch >= steps_per_epoch
        if epoch_done or state.step >= total_steps:
            if is_main:
                run.log({"kind": "epoch", "epoch": state.epoch, "step": state.step, "steps": state.step_in_epoch,
                         "complete": epoch_done, "copies": state.epoch_copies})
            _validate(core, config, data, run, state, device_, is_main, save)
        if epoch_done:
            if hasattr(core, "end_epoch"):
                core.end_epoch()
            state.epoch += 1
            state.step_in_epoch = 0
            state.epoch_copies = 0
            save("last")
    bar.close()
    save("last")
    if is_main:
        run.update_record(status="trained", steps=state.step, best_val_f1=state.best_metric)
    if world_size > 1:
        _check_replicas_agree(core, world_size)
        if is_main:
            run.update_record(replicas_checked=world_size)
        dist.barrier()
    return state


def _check_replicas_agree(core: nn.Module, world_size: int) -> None:
    """Make sure every rank ended with the same model.

    DDP synchronises gradients (so parameters) and re-broadcasts rank 0's buffers before
    each forward pass; the BatchNorm statistics of the last forward pass and the copied RoI
    classification branch are not covered by either, so rank 0's buffers are broadcast
    once more and every floating-point tensor of the state is compared.
    """
    for buffer in core.buffers():
        dist.broadcast(buffer, src=0)
    checksum = torch.stack([t.detach().double().sum() for t in core.state_dict().values() if t.is_floating_point()]).sum()
    gathered = [torch.zeros_like(checksum) for _ in range(world_size)]
    dist.all_gather(gathered, checksum)
    if any(not torch.isclose(g, gathered[0], rtol=0, atol=1e-9) for g in gathered):
        raise LstmattnError(f"DDP replicas diverged: parameter checksums {[float(g) for g in gathered]}")


def _validate(core: nn.Module, config: ExperimentConfig, data: DataBundle, run: RunDirectory,
              state: TrainingState, device: torch.device, is_main: bool, save: Any) -> None:
    """Classification metrics on the validation split; keeps the best checkpoint by F1
    (evaluated only with ``train.evaluate_checkpoint="best"``; the default is the last).
    Segmentation-only models have no validation split: their best checkpoint is the last."""
    if not is_main:
        return
    if "classification" not in core.tasks:
        save("best")
        return
    predictions = predict_classification(core, data.classification_val, device=device, num_classes=config.model.num_image_classes)
    metrics = classification_metrics(predictions, num_classes=config.model.num_image_classes, n_resamples=200)
    f1 = metrics["metrics"]["f1"]["estimate"]
    accuracy = metrics["metrics"]["accuracy"]["estimate"]
    run.log({"kind": "validation", "step": state.step, "epoch": state.epoch, "val_f1": f1, "val_accuracy": accuracy})
    if f1 > state.best_metric:
        state.best_metric = f1
        save("best")
