"""devenv.process: pid tracking that never touches a stranger's process."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from devenv import process


def test_proc_starts_tracks_and_stops_its_own_process(tmp_path: Path) -> None:
    proc = process.Proc(tmp_path, "sleeper")
    pid = proc.start(["/bin/sleep", "60"])
    assert proc.pid() == pid
    proc.stop(timeout=5)
    assert proc.pid() is None
    assert not proc.pidfile.exists()
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()


def test_a_restart_runs_the_same_command_and_environment_anew(tmp_path: Path) -> None:
    proc = process.Proc(tmp_path, "sleeper")
    first = proc.start(["/bin/sleep", "60"], env={"PATH": "/bin", "FAULT": "kept"})
    try:
        assert proc.command() == (["/bin/sleep", "60"], {"PATH": "/bin", "FAULT": "kept"})
        second = proc.restart()
        assert second != first and proc.pid() == second
        assert proc.command() == (["/bin/sleep", "60"], {"PATH": "/bin", "FAULT": "kept"})
        assert not Path(f"/proc/{first}").exists() or "Z" in Path(f"/proc/{first}/stat").read_text()
    finally:
        proc.stop(timeout=5)
    with pytest.raises(RuntimeError, match="sleeper is not running"):
        proc.restart()


# Runs anew on each start (cwd is the state dir): the first start serves, the second dies at
# once with exit code 3, any later one serves.
FLAKY = "if [ -e first ] && [ ! -e second ]; then touch second; exit 3; fi; touch first; sleep 60"


def started(marker: Path) -> None:
    """Until the first start has run its script this far: a restart before that would find the
    state of a first start again."""
    for _ in range(500):
        if marker.exists():
            return
        time.sleep(0.01)
    raise AssertionError(f"{marker} never appeared")


def test_a_restart_that_dies_at_once_is_started_again(tmp_path: Path) -> None:
    proc = process.Proc(tmp_path, "sh")
    proc.start(["/bin/sh", "-c", FLAKY])
    started(tmp_path / "first")
    try:
        pid = proc.restart()
        assert (tmp_path / "second").exists(), "the second start ran and died"
        assert proc.alive() and proc.pid() == pid
    finally:
        proc.stop(timeout=5)


def test_a_restart_that_keeps_dying_says_how(tmp_path: Path) -> None:
    proc = process.Proc(tmp_path, "sh")
    proc.start(
        ["/bin/sh", "-c", "if [ -e first ]; then echo no port; exit 3; fi; touch first; sleep 60"]
    )
    started(tmp_path / "first")
    with pytest.raises(RuntimeError, match=r"(?s)sh did not stay up .*exit code 3.*no port"):
        proc.restart(attempts=2)
    proc.stop(timeout=1)


def test_listen_ports_are_read_from_the_command_line() -> None:
    argv = [
        "etcd",
        "--data-dir=/x",
        "--listen-client-urls=http://127.0.0.1:2379",
        "--advertise-client-urls=http://127.0.0.1:9999",
        "--listen-peer-urls=http://127.0.0.1:2380,http://127.0.0.1:2381",
        "--secure-port=6443",
    ]
    assert process.listen_ports(argv) == [2379, 2380, 2381, 6443]


def test_proc_ignores_a_recycled_pid_of_another_program(tmp_path: Path) -> None:
    other = subprocess.Popen(["/bin/sleep", "60"])
    try:
        proc = process.Proc(tmp_path, "etcd")
        proc.pidfile.parent.mkdir(parents=True)
        proc.pidfile.write_text(f'{{"pid": {other.pid}, "exe": "/somewhere/etcd"}}')
        assert proc.pid() is None
        proc.stop(timeout=1)
        assert other.poll() is None, "stop() must not kill a process it did not start"
    finally:
        other.kill()
        other.wait()


def test_state_files_keep_their_places(tmp_path: Path) -> None:
    proc = process.Proc(tmp_path, "etcd")
    assert proc.pidfile == tmp_path / "pids" / "etcd.pid"
    assert proc.logfile == tmp_path / "logs" / "etcd.log"
    assert process.ROOT == Path(__file__).resolve().parents[3]


def test_wait_http_reports_a_process_that_exited(tmp_path: Path) -> None:
    proc = process.Proc(tmp_path, "true")
    proc.start(["/bin/true"])
    with pytest.raises(RuntimeError, match=r"true exited \(pid \d+ exit code 0\)"):
        process.wait_http(f"http://127.0.0.1:{process.free_port()}/", 5, proc=proc)
    proc.stop(timeout=1)


def test_private_files_and_dirs_are_owner_only(tmp_path: Path) -> None:
    target = tmp_path / "secret"
    target.write_text("old")
    target.chmod(0o644)
    process.write_private(target, "token")
    assert target.read_text() == "token" and target.stat().st_mode & 0o777 == 0o600
    process.private_dir(tmp_path / "state")
    assert (tmp_path / "state").stat().st_mode & 0o777 == 0o700
