"""The dev-environment launcher: pid tracking that never touches a stranger's process."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("devenv", ROOT / "scripts" / "devenv.py")
assert spec and spec.loader
devenv = importlib.util.module_from_spec(spec)
sys.modules["devenv"] = devenv
spec.loader.exec_module(devenv)


def test_proc_starts_tracks_and_stops_its_own_process(tmp_path: Path) -> None:
    proc = devenv.Proc(tmp_path, "sleeper")
    pid = proc.start(["/bin/sleep", "60"])
    assert proc.pid() == pid
    proc.stop(timeout=5)
    assert proc.pid() is None
    assert not proc.pidfile.exists()
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()


def test_proc_ignores_a_recycled_pid_of_another_program(tmp_path: Path) -> None:
    other = subprocess.Popen(["/bin/sleep", "60"])
    try:
        proc = devenv.Proc(tmp_path, "etcd")
        proc.pidfile.parent.mkdir(parents=True)
        proc.pidfile.write_text(f'{{"pid": {other.pid}, "exe": "/somewhere/etcd"}}')
        assert proc.pid() is None
        proc.stop(timeout=1)
        assert other.poll() is None, "stop() must not kill a process it did not start"
    finally:
        other.kill()
        other.wait()


def test_node_manifest_is_managed_by_kwok() -> None:
    node = devenv.node_manifest("kwok-node-0")
    assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
    assert node["status"]["allocatable"]["pods"] == "110"
