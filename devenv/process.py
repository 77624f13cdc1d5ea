"""Process supervision: start and stop by pid file, and wait for a server to answer."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("MODELOPS_CLUSTER_DIR", ROOT / ".cluster"))


def write_private(path: Path, text: str) -> None:
    """A file only its owner may read: the state holds an admin token and signing keys."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    path.chmod(0o600)  # an existing file keeps its old mode through O_CREAT


def private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)


def log(msg: str) -> None:
    print(f"[devenv {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def venv_bin(name: str) -> str:
    candidate = ROOT / ".venv" / "bin" / name
    return str(candidate) if candidate.exists() else name


# Children started by this very process, kept so they can be reaped (no zombies, no
# "subprocess still running" warnings); processes from an earlier run are found by pid file.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class Proc:
    """A background process started by this package, found again through its pid file and
    stopped by that pid, never by name (other worktrees run the same programs)."""

    state: Path
    name: str

    @property
    def pidfile(self) -> Path:
        return self.state / "pids" / f"{self.name}.pid"

    @property
    def logfile(self) -> Path:
        return self.state / "logs" / f"{self.name}.log"

    def start(self, argv: list[str], env: dict[str, str] | None = None) -> int:
        self.pidfile.parent.mkdir(parents=True, exist_ok=True)
        self.logfile.parent.mkdir(parents=True, exist_ok=True)
        with open(self.logfile, "ab") as out:
            # A new session: the processes outlive `make` and never get its terminal's signals.
            p = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
                cwd=self.state,
            )
        _CHILDREN[p.pid] = p
        # The executable is kept beside the pid so a recycled pid is never mistaken for ours.
        self.pidfile.write_text(json.dumps({"pid": p.pid, "exe": argv[0]}))
        return p.pid

    def pid(self) -> int | None:
        try:
            rec = json.loads(self.pidfile.read_text())
        except (OSError, ValueError):
            return None
        pid = int(rec["pid"])
        want = Path(rec["exe"]).name
        for _ in range(20):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                return None
            if stat.rsplit(")", 1)[1].split()[0] == "Z":
                return None
            if cmdline != [b""]:
                break
            time.sleep(0.01)  # mid-exec, /proc shows an empty command line for a moment
        # The program itself, or a script run by an interpreter (mlflow under python).
        # redis-server rewrites its title to "redis-server 127.0.0.1:PORT": first word only.
        names = [Path(os.fsdecode(arg).split(" ")[0]).name for arg in cmdline[:2]]
        return pid if want in names else None

    def alive(self) -> bool:
        pid = self.pid()
        if pid is not None and pid in _CHILDREN:
            # Our own child: its exit status is the authority, not a read of /proc.
            return _CHILDREN[pid].poll() is None
        return pid is not None

    def exit_status(self) -> str:
        """How the process named by the pid file ended, as far as this process can tell."""
        try:
            pid = int(json.loads(self.pidfile.read_text())["pid"])
        except (OSError, ValueError, KeyError):
            return "no pid file"
        child = _CHILDREN.get(pid)
        if child is None:
            return f"pid {pid}, not started by this process"
        code = child.poll()
        if code is None:
            return f"pid {pid} still running"
        return f"pid {pid} killed by signal {-code}" if code < 0 else f"pid {pid} exit code {code}"

    def stop(self, timeout: float = 15.0) -> None:
        pid = self.pid()
        if pid is not None:
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + timeout
            while self.pid() is not None and time.monotonic() < deadline:
                time.sleep(0.1)
            if self.pid() is not None:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                while self.pid() is not None:
                    time.sleep(0.05)
            child = _CHILDREN.pop(pid, None)
            if child is not None:
                child.wait()
        self.pidfile.unlink(missing_ok=True)

    def command(self) -> tuple[list[str], dict[str, str]]:
        """The command line and environment the running process was started with."""
        pid = self.pid()
        if pid is None:
            raise RuntimeError(f"{self.name} is not running")
        proc = Path(f"/proc/{pid}")
        argv = [os.fsdecode(a) for a in (proc / "cmdline").read_bytes().split(b"\0")[:-1]]
        env = dict(
            os.fsdecode(v).split("=", 1)
            for v in (proc / "environ").read_bytes().split(b"\0")
            if b"=" in v
        )
        return argv, env

    def restart(self, ready: Callable[[], None] | None = None, attempts: int = 3) -> int:
        """Stop the process and start it again as it ran (a fault test's restart of kubelet,
        containerd, etcd or the apiserver), then wait with `ready` (which raises ProcessExited
        if it dies; without it, watch it for 2 s). A start that dies at once (a port the old
        process, or a stranger, still held) is retried once its ports are free again."""
        argv, env = self.command()
        self.stop()
        ports = listen_ports(argv)
        failures = []
        for _ in range(attempts):
            wait_free(ports, 15)
            pid = self.start(argv, env)
            try:
                if ready is not None:
                    ready()
                else:
                    deadline = time.monotonic() + 2
                    while time.monotonic() < deadline:
                        self.check_alive()
                        time.sleep(0.1)
                return pid
            except ProcessExited:
                failures.append(self.exit_status())
                log(f"{self.name} died at its restart ({failures[-1]}); starting it again")
        raise RuntimeError(
            f"{self.name} did not stay up after its restart ({'; '.join(failures)}); "
            f"see {self.logfile}:\n{tail(self.logfile)}"
        )

    def check_alive(self) -> None:
        if not self.alive():
            raise ProcessExited(
                f"{self.name} exited ({self.exit_status()}); see {self.logfile}:\n"
                f"{tail(self.logfile)}"
            )


class ProcessExited(RuntimeError):
    """A process that should be serving has exited."""


def listen_ports(argv: list[str]) -> list[int]:
    """The local ports a command line says it listens on (etcd's listen URLs, a server's
    --secure-port or --port)."""
    ports = []
    for arg in argv:
        flag, _, value = arg.partition("=")
        if flag.startswith("--listen-") and flag.endswith("-urls"):
            ports += [int(url.rsplit(":", 1)[1]) for url in value.split(",") if ":" in url]
        elif flag in ("--secure-port", "--port") and value.isdigit():
            ports.append(int(value))
    return [p for p in ports if p]


def wait_free(ports: list[int], timeout: float) -> None:
    """Until each port can be bound again on 127.0.0.1 (as a server binds it, SO_REUSEADDR),
    or `timeout` passes: the next start then reports what still holds it."""
    deadline = time.monotonic() + timeout
    for port in ports:
        while time.monotonic() < deadline:
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("127.0.0.1", port))
                    break
                except OSError:
                    time.sleep(0.2)


def wait_http(
    url: str,
    timeout: float,
    *,
    token: str | None = None,
    cafile: Path | None = None,
    proc: Proc | None = None,
) -> None:
    ctx = ssl.create_default_context(cafile=str(cafile)) if cafile else None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc is not None:
            proc.check_alive()
        try:
            req = urllib.request.Request(url, headers=headers)
            with urllib.request.urlopen(req, context=ctx, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError, ssl.SSLError) as e:
            last = str(e)
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s ({last})")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
