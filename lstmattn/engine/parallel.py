"""Training planned experiments up front, several at a time, in worker processes.

``lstmattn book build --jobs N`` trains every run the selected chapters read *before*
the notebooks execute, so the notebooks only find finished runs and read their results.
The default is one single-threaded worker per CPU core: on a 2-core Xeon two such workers
got through about 1.27× more training steps per second than one two-threaded process
(0.77 vs 0.98 s per quick one-shot step), as small convolutions do not split well across
threads. That depends on the CPU: on a 2-vCPU AMD EPYC without native bfloat16 one
two-threaded run was the faster (2.05 s per step against 2.4-3.2 s of throughput for two
workers; README, "Where a quick training step goes"), and ``--jobs 1`` chooses it.

Stopping: the workers ignore SIGINT and SIGHUP (:func:`_submit_deaf_to_interrupts`), which
a terminal sends to the whole process group; the parent, stopped by Ctrl-C or (through
the command line, :mod:`lstmattn.cli`) by SIGTERM or SIGHUP, terminates them with
SIGTERM, on which a worker ends at once and without a word. On Linux a worker also gets
SIGTERM when the parent dies in any way, SIGKILL included (:func:`_end_with_parent`), so
no worker outlives it to train on, orphaned. A run stopped mid-way resumes from its last
checkpoint next time.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import active_children, get_context
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from tqdm import tqdm as tqdm_std

from lstmattn.engine.experiment import Experiment, ensure_run
from lstmattn.errors import LstmattnError
from lstmattn.io import worker_count
from lstmattn.progress import progress_bar

__all__ = ["default_jobs", "TrainingFailed", "TrainingProgress", "expected_cost", "train_experiments"]

#: Seconds between two looks at the runs' logs while workers train.
POLL_SECONDS = 2.0

#: ``prctl`` option (``<linux/prctl.h>``): the signal a process gets when its parent dies.
PR_SET_PDEATHSIG = 1

#: Signals a worker ignores: those a terminal sends to the whole process group.
_GROUP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGHUP)


def default_jobs() -> int:
    """Worker processes for up-front training: one on a GPU (runs share the device), else
    one per CPU core, at most four (the cores are then shared out as torch threads)."""
    import torch

    if torch.cuda.is_available():
        return 1
    return worker_count()


class TrainingFailed(LstmattnError):
    """Some experiments failed to train or evaluate; ``failures`` maps run id → error.
    The command line exits with 1 (some items failed)."""

    exit_status = 1

    def __init__(self, failures: Mapping[str, str]) -> None:
        self.failures = dict(failures)
        listed = "\n".join(f"  {run_id}: {error}" for run_id, error in self.failures.items())
        super().__init__(f"{len(self.failures)} planned run(s) failed:\n{listed}")


class TrainingProgress:
    """One overall bar over every planned run: steps done / total, elapsed, ETA and the
    runs in flight (where the output is not a terminal, a line every few per cent instead:
    :func:`~lstmattn.progress.progress_bar`). It reads what the workers write anyway: the
    planned step count in each run's ``record.json`` and the last step in its
    ``log.jsonl``; a run not started yet counts as the mean size of the started ones."""

    def __init__(self, experiments: Sequence[Experiment], runs_at: Path, *, enabled: bool = True) -> None:
        self.experiments, self.runs_at = list(experiments), runs_at
        self.bar = progress_bar(total=0, unit="step", desc="training", disable=not enabled, dynamic_ncols=True,
                                mininterval=1.0 if enabled else 0.0)

    def _steps(self, experiment: Experiment) -> tuple[int | None, int]:
        run = experiment.folder(self.runs_at)
        record = run.record()
        total = record.get("total_steps")
        if total is None:
            return None, 0
        if record.get("status") in ("trained", "evaluated"):
            return int(total), int(total)
        done = 0
        if run.log_path.is_file():
            for line in run.log_path.read_text(encoding="utf-8").splitlines()[-200:]:
                if '"kind": "step"' in line:
                    done = max(done, int(json.loads(line).get("step", 0)))
        return int(total), min(done, int(total))

    def refresh(self, in_flight: Sequence[Experiment]) -> None:
        """Re-read every run's progress and redraw the bar."""
        known = [self._steps(e) for e in self.experiments]
        totals = [t for t, _ in known if t is not None]
        mean = sum(totals) / len(totals) if totals else 0
        self.bar.total = int(sum(totals) + mean * (len(known) - len(totals)))
        text = "in flight: " + ", ".join(e.run_id for e in in_flight) if in_flight else "starting the runs"
        self.bar.set_postfix_str(text, refresh=False)  # before update(), which may write a log line
        self.bar.update(sum(d for _, d in known) - self.bar.n)
        self.bar.refresh()

    def stage(self, text: str) -> None:
        """Say what is going on beside the bar, and redraw it (its elapsed time with it)."""
        self.bar.set_postfix_str(text, refresh=False)
        self.bar.refresh()

    def write(self, line: str) -> None:
        """Print a line above the bar."""
        self.bar.write(line)

    def close(self) -> None:
        self.bar.close()


def _in_folder(cwd: str | None) -> None:
    if cwd is not None:
        os.chdir(cwd)


def _start_worker(parent: int) -> None:
    """Worker initialiser: end on SIGTERM at once (its default action, even where the
    parent was started with it ignored) and with the ``parent`` process
    (:func:`_end_with_parent`); tqdm's lock (of every tqdm class) becomes a thread lock.
    Its default lock is a named multiprocessing semaphore here, which a worker stopped by
    :func:`_stop_workers` would leave for the resource tracker to warn about; workers draw
    no bars of their own."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _end_with_parent(parent)
    tqdm_std.set_lock(threading.RLock())


def _end_with_parent(parent: int) -> None:
    """Have Linux send this worker SIGTERM when the thread that started it ends
    (``prctl(PR_SET_PDEATHSIG)``): that thread waits for its workers in
    :func:`train_experiments`, so it ends before them only when the ``parent`` process
    dies, SIGKILL included. A parent already gone ends the worker now. Nothing elsewhere:
    there a worker outlives a parent killed hard until its run ends."""
    if not sys.platform.startswith("linux"):
        return
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != parent:  # died before the request was made
        os.kill(os.getpid(), signal.SIGTERM)


def _build_data_in_worker(experiments: list[Experiment], cwd: str | None) -> None:
    """Write every data set ``experiments`` need (phantoms), each once, before training."""
    from lstmattn.engine.datasets import build_data

    _in_folder(cwd)
    built: list[Any] = []
    for experiment in experiments:
        key = (experiment.config.data, experiment.config.model.image_size)
        if key not in built:
            built.append(key)
            build_data(experiment.config, progress=False)


def _train_in_worker(experiment: Experiment, root: str, device: str | None, threads: int, cwd: str | None) -> float:
    """Worker entry point: limit torch's threads, then train and evaluate ``experiment``."""
    import torch

    _in_folder(cwd)
    torch.set_num_threads(threads)
    start = time.perf_counter()
    ensure_run(experiment, root=root, device=device, progress=False)
    return time.perf_counter() - start


def _submit_deaf_to_interrupts(pool: ProcessPoolExecutor, function: Callable[..., Any], *args: Any) -> Future:
    """``pool.submit`` with SIGINT and SIGHUP ignored while it runs. Ctrl-C in a terminal
    interrupts the whole process group, and closing the terminal hangs it up; a worker
    hit while it starts or waits for work would die, with a traceback for Ctrl-C. A
    worker the pool spawns inside this call inherits the ignored signals (an interpreter
    started with a signal ignored keeps it so), and the parent, the only one to act on
    them, stops the workers itself (:func:`train_experiments`)."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        return pool.submit(function, *args)
    previous = {number: signal.signal(number, signal.SIG_IGN) for number in _GROUP_SIGNALS}
    try:
        return pool.submit(function, *args)
    finally:
        for number, handler in previous.items():
            signal.signal(number, signal.SIG_DFL if handler is None else handler)


def _stop_workers(pool: ProcessPoolExecutor, workers: set[Any]) -> None:
    """After Ctrl-C (or SIGTERM, SIGHUP): drop the runs not started and terminate
    ``workers`` (they ignore SIGINT and SIGHUP). A run stopped mid-way resumes from its
    last checkpoint next time."""
    pool.shutdown(wait=False, cancel_futures=True)
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.join()


def expected_cost(experiment: Experiment) -> float:
    """A rough size of a run, to start the longest first: parameters × image area ×
    epochs, doubled for models that train both tasks. The parameters are counted on a
    model built on torch's ``meta`` device (no memory, no weights)."""
    import torch

    from lstmattn.model import create

    config = experiment.config
    try:
        with torch.device("meta"):
            parameters = sum(p.numel() for p in create(config.model_name, config).parameters())
    except Exception:  # an unknown model fails later, in its worker, with a proper report
        parameters = 1
    is_classifier = config.model_name.startswith("classifier-")
    size = (config.model.classifier_image_size if is_classifier else None) or config.model.image_size
    both_tasks = 2.0 if config.model_name.startswith("one-shot") else 1.0
    return both_tasks * parameters * size * size * (config.train.max_steps or config.train.epochs)


def train_experiments(
    experiments: Sequence[Experiment],
    *,
    root: str | Path,
    jobs: int,
    device: str | None = None,
    cwd: str | Path | None = None,
    echo: Callable[[str], Any] = print,
    progress: bool = True,
) -> dict[str, float]:
    """Train and evaluate every experiment not evaluated yet under ``root``, ``jobs`` at
    a time, in worker processes working in ``cwd`` (default: the current folder), each
    with ``cpu_count // jobs`` torch threads; returns run id → seconds.

    The data sets are written first, by one worker, so workers never generate the same
    phantom set concurrently. Every run is attempted; failures are collected and raised
    together as :class:`TrainingFailed`. The longest runs (by planned steps × image
    area) start first; ``progress`` shows one :class:`TrainingProgress` bar, and ``echo``
    gets a line per finished run with its time and best validation F1.
    """
    folder = None if cwd is None else str(cwd)
    runs_at = Path(folder or ".") / root
    todo = sorted((e for e in experiments if not e.is_evaluated(runs_at)), key=expected_cost, reverse=True)
    if not todo:
        return {}
    jobs = max(1, min(jobs, len(todo)))
    threads = max(1, (os.cpu_count() or 1) // jobs)
    echo(f"  training {len(todo)} run(s) in {jobs} worker(s), {threads} thread(s) each")
    seconds: dict[str, float] = {}
    failures: dict[str, str] = {}
    bar = TrainingProgress(todo, runs_at, enabled=progress)
    say = bar.write if progress else echo
    others = set(active_children())
    try:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn"),
                                 initializer=_start_worker, initargs=(os.getpid(),)) as pool:
            try:
                data = _submit_deaf_to_interrupts(pool, _build_data_in_worker, todo, folder)
                while not data.done():
                    bar.stage("writing the data sets (once per build)")
                    wait([data], timeout=POLL_SECONDS)
                data.result()
                pending = {_submit_deaf_to_interrupts(pool, _train_in_worker, e, str(root), device, threads, folder): e
                           for e in todo}
                while pending:
                    done, _ = wait(pending, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
                    for future in done:
                        experiment = pending.pop(future)
                        run_id = experiment.run_id
                        try:
                            seconds[run_id] = future.result()
                            f1 = experiment.folder(runs_at).record().get("best_val_f1")
                            headline = (f", best validation F1 {100 * f1:.1f} %"
                                        if isinstance(f1, float) and f1 > 0 else "")
                            say(f"    {run_id}: {seconds[run_id]:.0f} s{headline}")
                        except Exception as error:  # every run is attempted; all failures are reported
                            failures[run_id] = f"{type(error).__name__}: {error}"
                            say(f"    {run_id}: FAILED ({failures[run_id]})")
                    bar.refresh([e for e in todo
                                 if e in pending.values() and e.folder(runs_at).record().get("total_steps")])
            except KeyboardInterrupt:
                _stop_workers(pool, set(active_children()) - others)
                raise
    finally:
        bar.close()
    if failures:
        raise TrainingFailed(failures)
    return seconds
