"""Issue 15: the command line's documented exit codes (0 ok, 1 some items failed or an
internal error, 2 usage or input error, 130 interrupted, 143 / 129 stopped by SIGTERM /
SIGHUP), one stderr line for every
error, and the traceback only with ``--debug``. Also the test suite's own switches:
browser tests that CI requires, and the sample-data folder that must exist."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import PROJECT_ROOT
from lstmattn.cli import main


def _fail_with(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    """Make ``lstmattn runs list`` raise ``error``."""

    def list_runs(root: Path | None = None) -> list:
        raise error

    monkeypatch.setattr("lstmattn.engine.runs.list_runs", list_runs)


def test_an_unexpected_error_is_one_line_exit_1_and_debug_shows_the_traceback(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _fail_with(monkeypatch, RuntimeError("boom\n  and a second line"))
    assert main(["runs", "list"]) == 1
    assert capsys.readouterr().err == "lstmattn: internal error: RuntimeError: boom (run with --debug for the traceback)\n"
    for argv in (["--debug", "runs", "list"], ["runs", "list", "--debug"]):
        with pytest.raises(RuntimeError, match="boom"):
            main(argv)


@pytest.mark.parametrize(("error", "status", "line"), [
    (PermissionError(13, "Permission denied", "/x/out"), 2, "lstmattn: error: [Errno 13] Permission denied: '/x/out'"),
    (KeyboardInterrupt(), 130, "lstmattn: interrupted"),
])
def test_file_system_errors_and_interrupts_are_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                                        error: BaseException, status: int, line: str) -> None:
    _fail_with(monkeypatch, error)
    assert main(["runs", "list"]) == status
    assert capsys.readouterr().err == line + "\n"


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_stop_a_command_like_ctrl_c(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str], stop: signal.Signals) -> None:
    """The signal raises inside the command (its Ctrl-C cleanups run), exit 128 + its
    number, one line; the handler before ``main`` comes back after it. A signal ignored
    when the command starts (``nohup``) stays ignored."""
    received: list[int] = []

    def list_runs(root: Path | None = None) -> list:
        os.kill(os.getpid(), stop)
        time.sleep(5)  # the signal arrives in here
        return []

    monkeypatch.setattr("lstmattn.engine.runs.list_runs", list_runs)
    before = signal.signal(stop, lambda number, frame: received.append(number))
    try:
        guard = signal.getsignal(stop)
        assert main(["runs", "list"]) == 128 + stop
        assert capsys.readouterr().err == f"lstmattn: stopped by {stop.name}\n"
        assert signal.getsignal(stop) is guard and received == []
        signal.signal(stop, signal.SIG_IGN)
        monkeypatch.setattr(time, "sleep", lambda seconds: None)
        assert main(["runs", "list"]) == 0 and signal.getsignal(stop) is signal.SIG_IGN
    finally:
        signal.signal(stop, before)


def test_failed_planned_runs_exit_1(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    from lstmattn.engine.parallel import TrainingFailed

    def build_book(**options: object) -> None:
        raise TrainingFailed({"quick-mask-rcnn-s0": "RunInUse: run quick-mask-rcnn-s0 is in use by PID 7"})

    monkeypatch.setattr("lstmattn.book.build.build_book", build_book)
    assert main(["book", "build", "--no-site", "--out", str(tmp_path)]) == 1
    assert "1 planned run(s) failed" in capsys.readouterr().err


def test_a_user_error_in_a_real_process_has_no_traceback_unless_debug(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "lstmattn.cli", "evaluate", str(tmp_path / "missing")]
    plain = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert plain.returncode == 2
    assert plain.stderr == f"lstmattn: error: {tmp_path / 'missing'}: no such run folder or checkpoint\n"
    debug = subprocess.run([*command, "--debug"], capture_output=True, text=True, cwd=tmp_path)
    assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr


def _pytest(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)


BROWSER_TESTS = ("tests/test_explorer_browser.py", "tests/test_site.py", "tests/test_built_book.py")


def test_browser_tests_skip_without_chromium_and_fail_when_ci_requires_them(tmp_path: Path) -> None:
    """Without Chromium every browser test is skipped (one line each, and nothing else
    skips); with ``LSTMATTN_REQUIRE_BROWSER=1`` (``.ci/run``) every one of them fails instead."""
    env = {k: v for k, v in os.environ.items() if k != "LSTMATTN_REQUIRE_BROWSER"}
    env.update(LSTMATTN_CHROMIUM=str(tmp_path / "no-chromium"), LSTMATTN_BUILT_BOOK=str(tmp_path),
               LSTMATTN_BUILT_RUNS=str(tmp_path))
    skipped = _pytest(*BROWSER_TESTS, env=env)
    assert skipped.returncode == 0, skipped.stdout
    browser_tests = skipped.stdout.count("headless Chromium not found")
    assert browser_tests >= 10 and f"{browser_tests} skipped" in skipped.stdout, skipped.stdout
    required = _pytest(*BROWSER_TESTS, env={**env, "LSTMATTN_REQUIRE_BROWSER": "1"})
    assert required.returncode == 1, required.stdout
    assert f"{browser_tests} errors" in required.stdout, required.stdout
    assert "LSTMATTN_REQUIRE_BROWSER=1 does not allow skipping" in required.stdout


def test_a_missing_sample_data_folder_fails_the_tests(tmp_path: Path) -> None:
    env = {**os.environ, "LSTMATTN_SAMPLE_DATA": str(tmp_path / "nowhere")}
    result = _pytest("tests/test_data_covidx.py::test_crop_to_body_and_resize", env=env)
    assert result.returncode == 1 and "sample data folder not found" in result.stdout


def test_ci_requires_the_browser_tests_in_both_pytest_runs() -> None:
    script = (PROJECT_ROOT / ".ci" / "run").read_text()
    assert "export LSTMATTN_REQUIRE_BROWSER=1" in script
    assert script.index("export LSTMATTN_REQUIRE_BROWSER=1") < script.index("make test")
