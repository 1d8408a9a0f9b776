"""The result store (``lstmattn.store``): keys that ignore where a run ran, the training
modules' fingerprint, adding a run and refusing what must not be stored, copying an entry
into a runs folder instead of training it, the canary that catches a change to what
training computes, a live run against its stored twin, and ``lstmattn store``.

One tiny phantom run is trained once for the module (about 25 s; the tests that change it
work on copies without its checkpoints) and three canaries run (one of a single step)."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import torch

from conftest import PROJECT_ROOT
from result_fixtures import THREE, classification, make_run
from lstmattn.book.provenance import build_summary, live_comparisons
from lstmattn.cli import main
from lstmattn.config import get_profile, load_config, save_config, to_dict, with_real_data
from lstmattn.engine.checkpoint import load_checkpoint
from lstmattn.engine.experiment import Experiment, ensure_run, resolve_experiment
from lstmattn.engine.loading import load_trained_model
from lstmattn.engine.plan import LIVE_RUNS, PlannedRun, seed_repeats
from lstmattn.engine.feature_reference import REFERENCE_FILE
from lstmattn.engine.runs import RunDirectory
from lstmattn.errors import LstmattnError
from lstmattn.results import read_run
from lstmattn.results.consistency import compare_live
from lstmattn.results.run import RunResults
from lstmattn.store import StoreEntry, StoreError, add_run, entries, find_entry, store_key
from lstmattn.store.canary import SAME_PRECISION_TOLERANCE, canary_config, run_canary
from lstmattn.store.entries import ENTRY_FILE, first_losses, record_verification
from lstmattn.store.fingerprint import (blob_hash, blobs_at_commit, changed_modules, current_fingerprint,
                                        fingerprint_digest, training_modules)
from lstmattn.store.resolution import StoreMiss, resolve_sources
from lstmattn.store.keys import ADDED_FIELDS

#: ``engine_fixtures.TINY_PROFILE_YAML`` without ``max_steps``: three training steps, not a smoke run.
TINY_YAML = (
    "profile: quick\n"
    "model: {image_size: 64, classifier_image_size: 64, backbone: {name: resnet18, out_channels: 16}}\n"
    "train: {epochs: 1, classification_batch_size: 2, segmentation_batch_size: 1}\n"
    "data:\n"
    "  phantom_per_class: {train: 2, val: 1, test: 1, holdout: 1}\n"
    "  phantom_segmentation: {train: 2, test: 1}\n"
)
LABEL = "one-shot"  # the label of the tiny experiment in the builds resolved here


# ------------------------------------------------------------------------ helpers
def _edit_json(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def _set_record(run: Path, **values: Any) -> None:
    _edit_json(run / "record.json", lambda record: record.update(values))


def _set_train(run: Path, **values: Any) -> None:
    config = load_config(run / "config.yaml")
    save_config(replace(config, train=replace(config.train, **values)), run / "config.yaml")


def _set_test_metric(run: Path, name: str, estimate: float) -> None:
    def change(data: dict[str, Any]) -> None:
        data["metrics"][name].update(estimate=estimate, low=estimate, high=estimate)

    _edit_json(run / "results" / "test_metrics.json", change)


def _copy_run(run: RunDirectory, folder: Path, name: str | None = None) -> Path:
    """A copy of ``run`` under ``folder`` without its checkpoints (a few hundred kB)."""
    target = folder / (name or run.run_id)
    shutil.copytree(run.path, target, ignore=shutil.ignore_patterns("checkpoints", ".lock"))
    _set_record(target, run_id=target.name)
    return target


def _copy_entry(entry: StoreEntry, store: Path) -> StoreEntry:
    shutil.copytree(entry.path, store / entry.path.name)
    [copy] = entries(store)
    return copy


def _verified_today(entry: StoreEntry) -> StoreEntry:
    """``entry`` trusted under today's training modules, so a build runs no canary on it."""
    return record_verification(entry, {"digest": fingerprint_digest(current_fingerprint()), "passed": True})


def _resolve(experiment: Experiment, tmp_path: Path, store: Path, **options: Any) -> Any:
    options = {"live": set(), "cache_dir": tmp_path, "echo": lambda line: None, **options}
    [source] = resolve_sources({LABEL: experiment}, runs_root=tmp_path / "runs", store=store, **options)
    return source


# ----------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module", autouse=True)
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The module's working folder: the current directory, the phantom cache, and a
    default store, so nothing is written into the project (its ``store/`` included)."""
    root = tmp_path_factory.mktemp("store-tests")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setenv("LSTMATTN_DATA_CACHE", str(root / "data-cache"))
        patch.setenv("LSTMATTN_STORE", str(root / "default-store"))
        yield root


@pytest.fixture(scope="module")
def head_commit() -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.fixture(scope="module")
def experiment(workspace: Path) -> Experiment:
    (workspace / "tiny.yaml").write_text(TINY_YAML, encoding="utf-8")
    return Experiment(resolve_experiment(str(workspace / "tiny.yaml")))


@pytest.fixture(scope="module")
def tiny_run(workspace: Path, experiment: Experiment, head_commit: str) -> RunDirectory:
    """The tiny run, trained and evaluated once; its record names the HEAD commit, as if
    trained from a clean tree (the store refuses dirty ones)."""
    run = ensure_run(experiment, root=workspace / "trained", progress=False)
    _set_record(run.path, git_commit=head_commit)
    return run


@pytest.fixture(scope="module")
def stored(workspace: Path, tiny_run: RunDirectory) -> StoreEntry:
    """The tiny run in a store of its own, without weights (tests that change it copy it)."""
    return add_run(tiny_run.path, root=workspace / "store-plain")


@pytest.fixture(scope="module")
def stored_with_weights(workspace: Path, tiny_run: RunDirectory) -> StoreEntry:
    return add_run(tiny_run.path, root=workspace / "store-weights", with_weights=True)


@pytest.fixture
def seed_store(tiny_run: RunDirectory, stored: StoreEntry, tmp_path: Path) -> Path:
    """A store holding an arm under the plan's three seeds: the tiny run (seed 0, test F1
    16.7 %) and copies of it as seed 1 (test F1 50 %) and seed 2 (30 %)."""
    store = tmp_path / "seed-store"
    _copy_entry(stored, store)
    for seed, f1 in ((1, 0.5), (2, 0.3)):
        sibling = _copy_run(tiny_run, tmp_path / "trained", f"quick-one-shot-lstm-attention-s{seed}")
        _set_train(sibling, seed=seed)
        _set_test_metric(sibling, "f1", f1)
        add_run(sibling, root=store)
    return store


# --------------------------------------------------------------------------- keys
def test_key_ignores_where_a_phantom_run_ran_and_its_loader_processes() -> None:
    config = get_profile("quick")
    assert config.data.source == "phantom"
    key = store_key(config, None)
    moved = replace(config, data=replace(config.data, root="/elsewhere/_data/phantoms-64px"))
    workers = replace(config, train=replace(config.train, num_workers=config.train.num_workers + 3))
    assert store_key(moved, None).digest == key.digest
    assert store_key(workers, None).digest == key.digest
    assert "num_workers" not in key.material["config"]["train"] and "root" not in key.material["data"]


@pytest.mark.parametrize("change", [
    lambda c: (replace(c, train=replace(c.train, seed=c.train.seed + 1)), None),
    lambda c: (replace(c, train=replace(c.train, max_steps=5)), None),
    lambda c: (c, "two-class"),
    lambda c: (replace(c, train=replace(c.train, lr=c.train.lr * 10)), None),
    lambda c: (replace(c, data=replace(c.data, phantom_seed=c.data.phantom_seed + 1)), None),
], ids=["seed", "smoke-max-steps", "variant", "lr", "phantom-seed"])
def test_key_changes_with_what_training_computes(change: Callable[[Any], tuple[Any, str | None]]) -> None:
    config = get_profile("quick")
    assert store_key(*change(config)).digest != store_key(config, None).digest


def test_a_field_added_later_keeps_stored_keys_at_its_neutral_value_and_changes_them_otherwise() -> None:
    """A config field added after runs were stored is left out of the key at the value that
    computes what the runs before it computed; the committed entries still match."""
    config = get_profile("quick")
    key = store_key(config, None)
    for dotted, neutral in ADDED_FIELDS.items():
        section, name = dotted.split(".")
        assert getattr(getattr(config, section), name) == neutral, dotted
        assert name not in key.material["config"][section]
    other = replace(config, model=replace(config.model, attention_pooling="mean"))
    assert store_key(other, None).digest != key.digest
    assert store_key(other, None).material["config"]["model"]["attention_pooling"] == "mean"
    for entry in entries():  # the committed store: every entry is found under its recorded key
        assert store_key(entry.config(), entry.meta["variant"]).digest == entry.key, entry.run_id


def test_real_data_is_identified_by_its_manifest_not_its_folder() -> None:
    base = get_profile("real-quick")
    here, there = with_real_data(base, "/a/x"), with_real_data(base, "/b/y")
    assert here.data.root != there.data.root
    key = store_key(here, None)
    assert store_key(there, None).digest == key.digest
    identity = key.material["data"]
    assert identity["root"]["manifest"] == "sarscov2-ct" and identity["root"]["subfolder"] == ""
    assert identity["segmentation_root"]["manifest"] == "medseg-semiseg"
    assert identity["segmentation_root"]["subfolder"] == "train"
    unnamed = replace(here, data=replace(here.data, root="/a/x/my-slices"))
    assert store_key(unnamed, None).digest != key.digest
    assert store_key(unnamed, None).material["data"]["root"] == {"path": "/a/x/my-slices"}
    elsewhere = replace(here, data=replace(here.data, root="/b/y/my-slices"))
    assert store_key(elsewhere, None).digest != store_key(unnamed, None).digest


# -------------------------------------------------------------------- fingerprint
def test_training_modules_are_what_training_imports() -> None:
    modules = training_modules()
    for path in ("lstmattn/engine/trainer.py", "lstmattn/losses.py", "lstmattn/model/one_shot.py",
                 "lstmattn/engine/experiment.py", "lstmattn/__init__.py"):
        assert path in modules
    assert "lstmattn/book/build.py" not in modules
    assert not [path for path in modules if path.startswith("lstmattn/store/")]
    assert all((PROJECT_ROOT / path).is_file() for path in modules)
    assert list(modules) == sorted(modules)


def test_blob_hash_is_git_hash_object(tmp_path: Path) -> None:
    odd = tmp_path / "odd.bin"
    odd.write_bytes(b"line\r\nnon-ascii \xc3\xa9\x00 and a NUL\n")
    (tmp_path / "empty").write_bytes(b"")
    for path in (PROJECT_ROOT / "lstmattn" / "losses.py", odd, tmp_path / "empty"):
        expected = subprocess.run(["git", "hash-object", "--no-filters", str(path)], cwd=tmp_path,
                                  capture_output=True, text=True, check=True).stdout.strip()
        assert blob_hash(path) == expected, path


def test_blobs_at_commit_reads_the_commit(head_commit: str) -> None:
    blobs = blobs_at_commit(head_commit, ("lstmattn/losses.py", "lstmattn/no_such_module.py"))
    expected = subprocess.run(["git", "rev-parse", f"{head_commit}:lstmattn/losses.py"], cwd=PROJECT_ROOT,
                              capture_output=True, text=True, check=True).stdout.strip()
    assert blobs == {"lstmattn/losses.py": expected}
    with pytest.raises(LstmattnError, match="cannot read the modules of commit 0{40}"):
        blobs_at_commit("0" * 40)


def test_changed_modules_names_changed_new_and_removed() -> None:
    recorded = {"a.py": "1" * 40, "b.py": "2" * 40, "c.py": "3" * 40}
    today = {"a.py": "1" * 40, "b.py": "9" * 40, "d.py": "4" * 40}
    assert changed_modules(recorded, today) == {"b.py": "changed", "c.py": "removed", "d.py": "new"}
    assert changed_modules(today, dict(today)) == {}
    assert changed_modules(current_fingerprint()) == {}
    assert fingerprint_digest(today) == fingerprint_digest(dict(reversed(today.items())))
    assert fingerprint_digest(today) != fingerprint_digest({**today, "b.py": "8" * 40})


# ------------------------------------------------------------------------ add_run
@pytest.mark.parametrize(("spoil", "reason"), [
    (lambda run, commit: _set_record(run, status="trained"), "it is not evaluated (status 'trained')"),
    (lambda run, commit: _set_train(run, max_steps=3), "it is a smoke run (train.max_steps = 3)"),
    (lambda run, commit: _set_record(run, git_commit=f"{commit}-dirty"), "uncommitted changes"),
    (lambda run, commit: _set_record(run, git_commit="unknown"), "outside git"),
    (lambda run, commit: _set_record(run, provenance={"source": "store"}), "copied from the store"),
    (lambda run, commit: (run / "log.jsonl").write_text(
        "".join(line + "\n" for line in (run / "log.jsonl").read_text().splitlines()[:2])),
     "its log holds 2 training steps, fewer than the canary's 3"),
], ids=["unevaluated", "smoke", "dirty", "unknown-commit", "store-copy", "two-steps"])
def test_add_run_refuses_what_must_not_be_stored(tiny_run: RunDirectory, head_commit: str, tmp_path: Path,
                                                 spoil: Callable[[Path, str], Any], reason: str) -> None:
    run = _copy_run(tiny_run, tmp_path / "runs")
    spoil(run, head_commit)
    with pytest.raises(StoreError) as error:
        add_run(run, root=tmp_path / "store")
    assert str(error.value).startswith(f"{run}: not added to the store: ")
    assert reason in str(error.value)
    assert not (tmp_path / "store").exists()


def test_add_run_stores_the_run_files_and_how_it_was_trained(tiny_run: RunDirectory, stored: StoreEntry,
                                                             head_commit: str) -> None:
    key = store_key(tiny_run.config(), None)
    assert stored.path.name == f"{tiny_run.run_id}-{key.short}"
    assert sorted(p.name for p in stored.path.iterdir()) == ["config.yaml", "entry.json", "log.jsonl.gz",
                                                             "record.json", "results"]
    assert not stored.has_weights
    for result in tiny_run.results.iterdir():
        if result.name == REFERENCE_FILE:  # ~0.4 MB that only predict reads, which needs weights
            assert not (stored.path / "results" / result.name).exists()
            continue
        assert (stored.path / "results" / result.name).read_bytes() == result.read_bytes()
    assert to_dict(stored.config()) == to_dict(tiny_run.config())
    meta = json.loads((stored.path / ENTRY_FILE).read_text(encoding="utf-8"))
    assert meta["key"] == key.digest == stored.key
    assert meta["run_id"] == tiny_run.run_id and meta["variant"] is None
    assert meta["trained"]["commit"] == head_commit
    assert meta["trained"]["precision"] == tiny_run.record()["precision"]
    assert meta["code"]["modules"] == blobs_at_commit(head_commit)
    assert "lstmattn/engine/trainer.py" in meta["code"]["modules"]
    assert meta["code"]["digest"] == fingerprint_digest(meta["code"]["modules"])
    log = tiny_run.log_path.read_text(encoding="utf-8").splitlines()
    assert stored.log_lines() == log
    losses = meta["canary"]["losses"]
    assert len(losses) == meta["canary"]["steps"] == 3 and losses == first_losses(log)
    steps = [json.loads(line) for line in log if json.loads(line)["kind"] == "step"][:3]
    assert [step["loss_classification"] for step in steps] == [loss["loss_classification"] for loss in losses]
    assert find_entry(key, stored.path.parent) == stored
    assert [entry.path for entry in entries(stored.path.parent)] == [stored.path]


def test_add_run_with_weights_keeps_them_in_half_precision(tiny_run: RunDirectory,
                                                           stored_with_weights: StoreEntry) -> None:
    assert stored_with_weights.has_weights
    assert stored_with_weights.meta["weights"]["dtype"] == "float16"
    assert (stored_with_weights.path / "results" / REFERENCE_FILE).is_file()
    kept = torch.load(stored_with_weights.path / "weights.pt", map_location="cpu", weights_only=True)["model"]
    trained = load_checkpoint(tiny_run.checkpoint("last"))["model"]
    assert kept.keys() == trained.keys()
    floats = [name for name, value in trained.items() if value.is_floating_point()]
    assert floats
    for name in floats:
        assert kept[name].dtype == torch.float16 and torch.equal(kept[name], trained[name].half()), name


def test_a_stored_key_is_replaced_only_when_asked(tiny_run: RunDirectory, stored: StoreEntry, tmp_path: Path) -> None:
    store = tmp_path / "store"
    old = _copy_entry(stored, store)
    marker = old.path / "results" / "marker"
    marker.touch()
    with pytest.raises(StoreError, match="its key is stored already") as error:
        add_run(tiny_run.path, root=store)
    assert str(error.value).startswith(str(tiny_run.path)) and marker.exists()
    new = add_run(tiny_run.path, root=store, replace=True)
    assert new.path == old.path and not marker.exists()
    assert sorted(p.name for p in store.iterdir()) == [old.path.name]  # no staging folder left


# ---------------------------------------------------------- materialise, resolution
def test_a_fresh_stored_run_is_copied_into_the_runs_folder_not_trained(
        experiment: Experiment, stored: StoreEntry, tmp_path: Path) -> None:
    entry = _verified_today(_copy_entry(stored, tmp_path / "store"))
    lines: list[str] = []
    source = _resolve(experiment, tmp_path, tmp_path / "store", on_miss="error", echo=lines.append)
    assert (source.action, source.stale, source.canary) == ("stored", False, None)
    assert source.entry == entry and source.key.digest == entry.key
    assert not [line for line in lines if "canary" in line]
    run = experiment.folder(tmp_path / "runs")
    assert run.log_path.read_text(encoding="utf-8").splitlines() == entry.log_lines()
    assert ensure_run(experiment, root=tmp_path / "runs", progress=False).path == run.path
    assert not run.checkpoint("last").exists() and not run.checkpoint("best").exists()  # nothing trained
    results = read_run(run.path)
    assert results is not None and results.is_stored
    assert results.source_label.startswith("stored: trained ")
    assert results.provenance["entry"] == entry.path.name and results.provenance["key"] == entry.key
    twin = read_run(entry.path)
    assert twin is not None and not twin.is_stored and twin.source_label == "recomputed in this build"
    assert results.classification["test"].metric("f1") == twin.classification["test"].metric("f1")
    assert source.provenance()["action"] == "stored" and source.provenance()["entry"] == entry.path.name


def test_stored_weights_become_the_checkpoint_the_run_loads(
        experiment: Experiment, tiny_run: RunDirectory, stored_with_weights: StoreEntry, tmp_path: Path) -> None:
    _verified_today(_copy_entry(stored_with_weights, tmp_path / "store"))
    assert _resolve(experiment, tmp_path, tmp_path / "store").action == "stored"
    run = experiment.folder(tmp_path / "runs")
    assert run.checkpoint("last").is_file()
    model = load_trained_model(run)
    state = model.state_dict()
    trained = load_checkpoint(tiny_run.checkpoint("last"))["model"]
    floats = [name for name, value in trained.items() if value.is_floating_point()]
    for name in floats:
        assert state[name].dtype == torch.float32 and torch.equal(state[name], trained[name].half().float()), name


def test_a_run_the_store_lacks_is_trained_or_an_error(experiment: Experiment, tmp_path: Path) -> None:
    source = _resolve(experiment, tmp_path, tmp_path / "empty-store")
    assert (source.action, source.entry, source.reason) == ("train", None, "not in the store")
    with pytest.raises(StoreMiss) as error:
        _resolve(experiment, tmp_path, tmp_path / "empty-store", on_miss="error")
    assert f"{LABEL} ({experiment.run_id}, key {source.key.short}): not in the store" in str(error.value)
    assert not (tmp_path / "runs").exists()


def test_store_copies_are_removed_from_runs_trained_here(experiment: Experiment, tiny_run: RunDirectory,
                                                          stored: StoreEntry, tmp_path: Path) -> None:
    """A store copy left in the folder of a run that is now trained (the live sample, a
    miss) is removed; a run trained here is left alone."""
    store = tmp_path / "store"
    entry = _verified_today(_copy_entry(stored, store))
    run = experiment.folder(tmp_path / "runs")
    _resolve(experiment, tmp_path, store)
    assert read_run(run.path).is_stored
    live = _resolve(experiment, tmp_path, store, live={LABEL})
    assert live.action == "live" and live.entry == entry and not run.path.exists()
    _resolve(experiment, tmp_path, store)
    assert read_run(run.path).is_stored
    assert _resolve(experiment, tmp_path, tmp_path / "empty-store").action == "train"
    assert not run.path.exists()
    _copy_run(tiny_run, tmp_path / "runs")
    assert _resolve(experiment, tmp_path, tmp_path / "empty-store").action == "train"
    assert run.log_path.is_file() and not read_run(run.path).is_stored
    kept = _resolve(experiment, tmp_path, store)
    assert kept.action == "train" and kept.reason.startswith("a run trained here is in the runs folder already")
    assert not read_run(run.path).is_stored and run.record()["git_commit"] == tiny_run.record()["git_commit"]


def test_a_figure_run_is_read_from_the_store_only_with_its_weights(
        experiment: Experiment, stored: StoreEntry, stored_with_weights: StoreEntry, tmp_path: Path) -> None:
    _verified_today(_copy_entry(stored, tmp_path / "plain"))
    _verified_today(_copy_entry(stored_with_weights, tmp_path / "weights"))
    without = _resolve(experiment, tmp_path, tmp_path / "plain", needs_weights={LABEL})
    assert without.action == "train" and "without the weights" in without.reason
    assert _resolve(experiment, tmp_path, tmp_path / "plain").action == "stored"  # not a figure run: no weights needed
    assert _resolve(experiment, tmp_path, tmp_path / "weights", needs_weights={LABEL}).action == "stored"


def test_retraining_every_run_is_not_a_store_miss(experiment: Experiment, stored: StoreEntry, tmp_path: Path) -> None:
    _verified_today(_copy_entry(stored, tmp_path / "store"))
    source = _resolve(experiment, tmp_path, tmp_path / "store", retrain_all=True, on_miss="error")
    assert source.action == "train"


# ------------------------------------------------------------------------- canary
def test_the_canary_reproduces_unchanged_training_and_is_cached(
        experiment: Experiment, stored: StoreEntry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``canary="all"`` runs it on an entry verified for today's code; it passes, and a
    resumed build reads the verdict from the build folder's cache."""
    entry = _verified_today(_copy_entry(stored, tmp_path / "store"))
    lines: list[str] = []
    source = _resolve(experiment, tmp_path, tmp_path / "store", canary="all", echo=lines.append)
    assert [line for line in lines if line.startswith(f"  canary: {entry.run_id}")]
    assert (source.action, source.stale) == ("stored", False)
    assert source.reason == "the canary reproduced its first training losses"
    assert source.canary["passed"] is True and source.canary["tolerance"] == SAME_PRECISION_TOLERANCE
    assert source.canary["max_relative_difference"] <= SAME_PRECISION_TOLERANCE
    assert source.canary["digest"] == fingerprint_digest(current_fingerprint())

    def no_canary(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the canary ran again")

    monkeypatch.setattr("lstmattn.store.resolution.run_canary", no_canary)
    again = _resolve(experiment, tmp_path, tmp_path / "store", canary="all")
    assert again.action == "stored" and again.canary == source.canary


def test_the_canary_fails_when_training_computes_something_else(stored: StoreEntry) -> None:
    config = canary_config(stored, None)
    assert to_dict(config) == to_dict(stored.config())  # a phantom run: no data folder to make local
    faster = replace(config, train=replace(config.train, lr=config.train.lr * 10))
    result = run_canary(stored, faster)
    assert not result.passed and result.max_relative_difference > result.tolerance == SAME_PRECISION_TOLERANCE
    assert result.detail.startswith(("step 2 ", "step 3 ")), result.detail  # step 1 is before any update


def test_a_stale_entry_is_retrained_or_shown_marked_stale(experiment: Experiment, stored: StoreEntry,
                                                          tmp_path: Path) -> None:
    """An entry trained under other modules whose canary fails (its stored first loss is
    changed, and cut to one step so the canary trains one)."""
    entry = _copy_entry(stored, tmp_path / "store")

    def age(meta: dict[str, Any]) -> None:
        modules = {**meta["code"]["modules"], "lstmattn/losses.py": "0" * 40}
        meta["code"] = {"modules": modules, "digest": fingerprint_digest(modules)}
        meta["verified"] = []
        meta["canary"]["losses"] = [{name: 1.5 * value for name, value in meta["canary"]["losses"][0].items()}]

    _edit_json(entry.path / ENTRY_FILE, age)
    source = _resolve(experiment, tmp_path, tmp_path / "store")
    assert (source.action, source.stale, source.reason) == ("train", True, "stale: the canary failed")
    assert source.changed["lstmattn/losses.py"] == "changed" and source.canary["passed"] is False
    run = experiment.folder(tmp_path / "runs")
    assert not run.path.exists()
    with pytest.raises(StoreMiss, match="stale: the canary failed"):
        _resolve(experiment, tmp_path, tmp_path / "store", on_miss="error")
    shown = _resolve(experiment, tmp_path, tmp_path / "store", allow_stale=True)
    assert (shown.action, shown.stale) == ("stored", True) and shown.reason.startswith("STALE")
    results = read_run(run.path)
    assert results.is_stored and results.source_label.startswith("STALE stored: trained ")
    assert results.provenance["stale"] is True
    assert results.provenance["changed_modules"]["lstmattn/losses.py"] == "changed"


# ---------------------------------------------------------------- live comparison
def _results(root: Path, seed: int, value: float) -> RunResults:
    """A run whose F1, accuracy and COVID-19 sensitivity are all ``value``."""
    path = make_run(root, "one-shot-lstm-attention", seed=seed, test=classification(THREE, {"COVID-19": value}, value))
    run = read_run(path)
    assert run is not None
    return run


@pytest.fixture
def stored_seeds(tmp_path: Path) -> list[RunResults]:
    """The stored arm: the twin (seed 0, 80 %) and seeds at 84 % and 82 % (range 4 points)."""
    return [_results(tmp_path / "store", seed, value) for seed, value in ((0, 0.80), (1, 0.84), (2, 0.82))]


@pytest.mark.parametrize("value", [0.80, 0.83, 0.84, 0.76])
def test_a_live_run_within_the_seed_range_is_consistent(stored_seeds: list[RunResults], tmp_path: Path,
                                                        value: float) -> None:
    comparison = compare_live(_results(tmp_path / "live", 0, value), stored_seeds[0], stored_seeds)
    assert comparison.compared and comparison.consistent, comparison.summary()
    assert [m.metric for m in comparison.metrics] == ["F1 %", "accuracy %", "COVID-19 sensitivity %"]
    f1 = comparison.metrics[0]
    assert (f1.live, f1.stored, f1.seed_range) == pytest.approx((100 * value, 80.0, 4.0))
    assert "OUTSIDE" not in comparison.summary()


@pytest.mark.parametrize("value", [0.85, 0.75, 0.30])
def test_a_live_run_outside_the_seed_range_is_inconsistent(stored_seeds: list[RunResults], tmp_path: Path,
                                                           value: float) -> None:
    comparison = compare_live(_results(tmp_path / "live", 0, value), stored_seeds[0], stored_seeds)
    assert comparison.compared and not comparison.consistent
    assert not any(m.consistent for m in comparison.metrics)
    assert "OUTSIDE the seed noise" in comparison.summary()


def test_without_a_twin_or_a_second_seed_nothing_is_compared(stored_seeds: list[RunResults], tmp_path: Path) -> None:
    live = _results(tmp_path / "live", 0, 0.99)
    for twin, seeds, reason in ((None, stored_seeds, "no stored twin"),
                                (stored_seeds[0], stored_seeds[:1], "1 stored seed(s) of its arm")):
        comparison = compare_live(live, twin, seeds)
        assert not comparison.compared and not comparison.consistent and comparison.metrics == ()
        assert reason in comparison.reason and comparison.summary().startswith(f"{live.run_id}: not compared")


def _live_build(experiment: Experiment, tiny_run: RunDirectory, store: Path, tmp_path: Path,
                live_f1: float) -> list[Any]:
    """The headline run resolved as the live sample against ``store``, its retrained run
    (a copy of the tiny run with test F1 ``live_f1``) in the runs folder, compared."""
    [label] = LIVE_RUNS
    planned = {label: PlannedRun(experiment.config.model_name)}
    assert [repeat.seed_offset for repeat in seed_repeats(planned[label])] == [0, 1, 2]
    sources = resolve_sources({label: experiment}, runs_root=tmp_path / "runs", live={label}, store=store,
                              cache_dir=tmp_path, echo=lambda line: None)
    assert [source.action for source in sources] == ["live"]
    _set_test_metric(_copy_run(tiny_run, tmp_path / "runs"), "f1", live_f1)

    def plan(repeat: PlannedRun) -> Experiment:
        seed = experiment.config.train.seed + repeat.seed_offset
        return Experiment(replace(experiment.config, train=replace(experiment.config.train, seed=seed)))

    return live_comparisons(sources, planned, tmp_path / "runs", plan, store)


@pytest.mark.parametrize(("live_f1", "consistent"), [(0.4, True), (0.6, False)])
def test_live_comparisons_measure_the_live_run_against_the_stored_seeds(
        experiment: Experiment, tiny_run: RunDirectory, seed_store: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, live_f1: float, consistent: bool) -> None:
    monkeypatch.setenv("LSTMATTN_STORE", str(seed_store))
    [comparison] = _live_build(experiment, tiny_run, seed_store, tmp_path, live_f1)
    assert comparison.compared and comparison.consistent is consistent, comparison.summary()
    f1 = next(m for m in comparison.metrics if m.metric == "F1 %")
    assert (f1.live, f1.stored, f1.seed_range) == pytest.approx((100 * live_f1, 100 / 6, 100 / 3))
    assert len(f1.seed_values) == 3


def test_live_comparisons_read_the_seeds_from_the_build_store(
        experiment: Experiment, tiny_run: RunDirectory, seed_store: Path, tmp_path: Path) -> None:
    [comparison] = _live_build(experiment, tiny_run, seed_store, tmp_path, 0.4)  # $LSTMATTN_STORE: another store
    assert comparison.compared, comparison.reason


def test_build_summary_counts_stored_stale_and_trained_runs() -> None:
    row = {"action": "stored", "stale": False}
    provenance = {"built": "2026-12-07T10:00:00+0000", "device": "cpu: x86_64", "commit": "9d1af0c17e11dd5f",
                  "profile": "quick", "store_mode": "use",
                  "runs": [row, row, {**row, "stale": True}, {"action": "train", "stale": True},
                           {"action": "live", "stale": False}],
                  "live": [{"live_run": "quick-one-shot-lstm-attention-s0", "consistent": True, "reason": None}]}
    summary = build_summary(provenance)
    assert "of its 5 runs, 3 were read from the result store (1 of them STALE) and 2 trained in this build" in summary
    assert "quick-one-shot-lstm-attention-s0: consistent with its stored twin" in summary
    assert "no live sample" in build_summary({**provenance, "live": []})


# ---------------------------------------------------------------------------- CLI
def test_store_add_refusals_are_one_error_line_without_traceback(
        tiny_run: RunDirectory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LSTMATTN_STORE", str(tmp_path / "store"))
    smoke = _copy_run(tiny_run, tmp_path / "runs", "quick-smoke")
    _set_train(smoke, max_steps=3)
    assert main(["store", "add", str(smoke)]) == 2
    out, err = capsys.readouterr()
    assert err.startswith("lstmattn: error: ") and err.count("\n") == 1
    assert "Traceback" not in out + err
    assert f"{smoke}: not added to the store: it is a smoke run" in out + err
    assert not (tmp_path / "store").exists()
    good = _copy_run(tiny_run, tmp_path / "runs")
    assert main(["store", "add", str(smoke), str(good)]) == 1  # some of the runs failed
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and f"stored {tiny_run.run_id}-" in out
    assert [entry.run_id for entry in entries(tmp_path / "store")] == [tiny_run.run_id]


def test_store_list_and_compare(tiny_run: RunDirectory, stored: StoreEntry, seed_store: Path, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """``store compare`` puts a local run beside its stored twin (seed 0, F1 16.7 %)
    against the stored seed range (seed 1 at F1 50 %)."""
    store = seed_store
    monkeypatch.setenv("LSTMATTN_STORE", str(store))
    assert main(["store", "list"]) == 0
    out = capsys.readouterr().out
    assert stored.path.name in out and "quick-one-shot-lstm-attention-s1-" in out
    assert f"3 stored run(s) in {store}" in out

    local = _copy_run(tiny_run, tmp_path / "local")
    _copy_run(tiny_run, tmp_path / "local", "quick-one-shot-lstm-attention-s5")
    _set_train(tmp_path / "local" / "quick-one-shot-lstm-attention-s5", seed=5)
    assert main(["store", "compare", str(tmp_path / "local")]) == 0
    out = capsys.readouterr().out.splitlines()
    for metric in ("F1 %", "accuracy %", "COVID-19 sensitivity %"):
        [row] = [line for line in out if f" {metric} " in line]
        assert row.startswith(tiny_run.run_id) and row.endswith(" consistent"), row
    [f1] = [line for line in out if " F1 % " in line]
    local_value, stored_value, difference, seed_range, seeds = map(float, f1.split()[3:8])
    assert (local_value, stored_value, difference, seed_range, seeds) == pytest.approx((16.667, 16.667, 0, 33.333, 3))
    assert [line for line in out if line.startswith("quick-one-shot-lstm-attention-s5") and "no stored twin" in line]
    assert out[-1] == "2 run(s); 0 metric(s) outside the seed noise"

    _set_test_metric(local, "f1", 0.9)
    assert main(["store", "compare", str(tmp_path / "local")]) == 1
    out = capsys.readouterr().out.splitlines()
    [f1] = [line for line in out if " F1 % " in line]
    assert f1.endswith("outside the seed noise") and out[-1] == "2 run(s); 1 metric(s) outside the seed noise"


# ------------------------------------------------------------------ a whole build
def _chapter_two(folder: Path) -> Path:
    """A stand-in for chapter 2 (it reads the headline run): prints the live note."""
    import nbformat

    folder.mkdir(parents=True, exist_ok=True)
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("chapter_parameters = {}", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("from lstmattn.book import open_chapter\n"
                                  "print(open_chapter(chapter_parameters).live_note())"),
    ], metadata={"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                 "language_info": {"name": "python"}})
    nbformat.write(notebook, folder / "02_live.ipynb")
    return folder


def test_a_book_build_checks_its_live_run_against_the_store(
        experiment: Experiment, seed_store: Path, workspace: Path, tmp_path: Path) -> None:
    """The headline run is retrained, compared with its stored twin (seed 0, F1 16.7 %)
    against the stored seeds (16.7, 50 and 30 %): consistent, recorded in provenance.json
    and printed by the chapter; with the twin's F1 moved to 99 % the build fails; with a
    seed missing from the store nothing is compared (and nothing fails)."""
    import nbformat

    from lstmattn.book.build import StoreOptions, build_book
    from lstmattn.book.parameters import ChapterParameters
    from lstmattn.book.provenance import LiveRunInconsistent, read_provenance

    notebooks = _chapter_two(tmp_path / "notebooks")
    parameters = ChapterParameters(profile=str(workspace / "tiny.yaml"), output_dir=str(tmp_path / "runs"))
    options = {"chapters": [2], "notebooks_dir": notebooks, "parameters": parameters, "cwd": tmp_path, "site": False,
               "echo": lambda *a, **k: None, "progress": False}
    build = build_book(out=tmp_path / "out", store=StoreOptions(root=str(seed_store)), **options)
    [source] = build.sources
    assert source.action == "live"
    provenance = read_provenance(tmp_path / "out" / "provenance.json")
    [live] = provenance["live"]
    assert live["consistent"] and live["stored_run"] == experiment.run_id
    printed = json.dumps([cell.get("outputs", []) for cell in nbformat.read(build.executed[2], as_version=4).cells])
    assert "Recomputed in this build and checked against the result store" in printed and "consistent" in printed

    moved = tmp_path / "moved-store"
    shutil.copytree(seed_store, moved)
    [twin] = [entry for entry in entries(moved) if entry.run_id == experiment.run_id]
    _set_test_metric(twin.path, "f1", 0.99)
    with pytest.raises(LiveRunInconsistent, match=experiment.run_id):
        build_book(out=tmp_path / "out-moved", store=StoreOptions(root=str(moved)), **options)
    [live] = read_provenance(tmp_path / "out-moved" / "provenance.json")["live"]
    assert not live["consistent"] and "OUTSIDE the seed noise" in live["summary"]

    partial = tmp_path / "partial-store"
    shutil.copytree(moved, partial)
    [seed_two] = [entry for entry in entries(partial) if entry.run_id.endswith("-s2")]
    shutil.rmtree(seed_two.path)
    build_book(out=tmp_path / "out-partial", store=StoreOptions(root=str(partial)), **options)
    [live] = read_provenance(tmp_path / "out-partial" / "provenance.json")["live"]
    assert not live["consistent"] and live["reason"] == "2 of its arm's 3 seeds are stored; the seed noise needs all of them"


def test_the_canary_trains_with_the_thread_count_the_entry_recorded(stored: StoreEntry) -> None:
    from lstmattn.store.canary import stored_threads

    before = torch.get_num_threads()
    recorded = StoreEntry(stored.path, {**stored.meta, "trained": {**stored.trained, "torch_threads": before + 1}})
    with stored_threads(recorded):
        assert torch.get_num_threads() == before + 1
    assert torch.get_num_threads() == before
    unknown = StoreEntry(stored.path, {**stored.meta, "trained": {k: v for k, v in stored.trained.items() if k != "torch_threads"}})
    with stored_threads(unknown):
        assert torch.get_num_threads() == before
