"""Local development environment: the control plane, MLflow and Redis as plain processes.

Standard library only, so it runs before the virtualenv exists. Every process it starts is
recorded in a pid file and stopped by that pid, never by name.

    python scripts/devenv.py cluster-up | cluster-down | status
    python scripts/devenv.py services-up | services-down
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("MODELOPS_CLUSTER_DIR", ROOT / ".cluster"))
BUILD_SCRIPT = ROOT / "scripts" / "build-control-plane.sh"
NODE_NAMES = ("kwok-node-0", "kwok-node-1")
CLUSTER_COMPONENTS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
)


def log(msg: str) -> None:
    print(f"[devenv {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- processes tracked by pid file -------------------------------------------------------

# Children started by this very process, kept so they can be reaped (no zombies, no
# "subprocess still running" warnings); processes from an earlier run are found by pid file.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class Proc:
    """A background process started by this script, found again through its pid file."""

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
        return self.pid() is not None

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


# --- HTTP readiness ----------------------------------------------------------------------


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
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{proc.name} exited; see {proc.logfile}:\n{tail(proc.logfile)}")
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


# --- the control plane -------------------------------------------------------------------


def build_binaries() -> Path:
    """Build (or reuse from cache) the control-plane binaries; returns their directory."""
    out = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], check=True, stdout=subprocess.PIPE, text=True
    ).stdout
    return Path(out.strip().splitlines()[-1])


def cluster_running(state: Path = STATE) -> bool:
    info = state / "cluster.json"
    if not info.exists():
        return False
    if not all(Proc(state, c).alive() for c in CLUSTER_COMPONENTS):
        return False
    meta = json.loads(info.read_text())
    try:
        wait_http(
            f"{meta['server']}/readyz",
            3,
            token=meta["token"],
            cafile=Path(meta["ca"]),
        )
    except (TimeoutError, RuntimeError):
        return False
    return True


def kubectl(state: Path, *args: str, input: str | None = None) -> str:
    return subprocess.run(
        [str(state / "bin" / "kubectl"), "--kubeconfig", str(state / "kubeconfig"), *args],
        check=True,
        capture_output=True,
        text=True,
        input=input,
    ).stdout


def node_manifest(name: str) -> dict[str, object]:
    # kwok takes over Nodes carrying its annotation and keeps them Ready with leases.
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/role": "agent",
                "node-role.kubernetes.io/agent": "",
                "type": "kwok",
            },
        },
        "status": {
            "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
            "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"},
            "nodeInfo": {
                "architecture": "amd64",
                "kubeletVersion": "fake",
                "kubeProxyVersion": "fake",
                "operatingSystem": "linux",
            },
            "phase": "Running",
        },
    }


def cluster_up(state: Path = STATE) -> dict[str, str]:
    t0 = time.monotonic()
    if cluster_running(state):
        log(f"control plane already running ({state / 'kubeconfig'})")
        return json.loads((state / "cluster.json").read_text())
    cluster_down(state, quiet=True)
    bins = build_binaries()
    log(f"binaries from {bins}")
    for sub in ("etcd", "pki", "logs", "pids"):
        shutil.rmtree(state / sub, ignore_errors=True)
    for sub in ("bin", "pki", "logs", "pids"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    for tool in ("kubectl", "helm"):
        link = state / "bin" / tool
        link.unlink(missing_ok=True)
        link.symlink_to(bins / tool)

    pki = state / "pki"
    token = secrets.token_hex(24)
    (pki / "tokens.csv").write_text(f"{token},modelops-admin,modelops-admin,system:masters\n")
    subprocess.run(
        ["openssl", "genrsa", "-out", str(pki / "sa.key"), "2048"], check=True, capture_output=True
    )
    subprocess.run(
        ["openssl", "rsa", "-in", str(pki / "sa.key"), "-pubout", "-out", str(pki / "sa.pub")],
        check=True,
        capture_output=True,
    )
    etcd_port, peer_port, api_port = free_port(), free_port(), free_port()

    etcd = Proc(state, "etcd")
    etcd.start(
        [
            str(bins / "etcd"),
            f"--data-dir={state / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{etcd_port}",
            f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
            f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-cluster=default=http://127.0.0.1:{peer_port}",
            # A throw-away test store: durability only costs time here.
            "--unsafe-no-fsync=true",
            "--log-level=warn",
        ]
    )
    wait_http(f"http://127.0.0.1:{etcd_port}/health", 30, proc=etcd)

    server = f"https://127.0.0.1:{api_port}"
    apiserver = Proc(state, "kube-apiserver")
    apiserver.start(
        [
            str(bins / "kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{etcd_port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            # The `kubernetes` Service endpoint may not be loopback; nothing here needs it.
            "--endpoint-reconciler-type=none",
            f"--secure-port={api_port}",
            f"--cert-dir={pki}",
            f"--token-auth-file={pki / 'tokens.csv'}",
            "--authorization-mode=Node,RBAC",
            "--service-cluster-ip-range=10.96.0.0/16",
            f"--service-account-issuer={server}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--allow-privileged=true",
            "--enable-priority-and-fairness=false",
            "--v=1",
        ]
    )
    ca = pki / "apiserver.crt"
    deadline = time.monotonic() + 30
    while not ca.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    wait_http(f"{server}/readyz", 90, token=token, cafile=ca, proc=apiserver)
    kubeconfig = state / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\n"
        "kind: Config\n"
        "clusters:\n"
        f"- name: modelops\n  cluster:\n    server: {server}\n    certificate-authority: {ca}\n"
        "users:\n"
        f"- name: modelops-admin\n  user:\n    token: {token}\n"
        "contexts:\n"
        "- name: modelops\n  context:\n    cluster: modelops\n    user: modelops-admin\n"
        "    namespace: default\n"
        "current-context: modelops\n"
    )
    kubeconfig.chmod(0o600)

    Proc(state, "kube-controller-manager").start(
        [
            str(bins / "kube-controller-manager"),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            "--secure-port=0",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={ca}",
            "--use-service-account-credentials=false",
            # Faster than the defaults so tests see GC and HPA decisions within seconds.
            "--horizontal-pod-autoscaler-sync-period=5s",
            "--node-monitor-grace-period=60s",
            "--v=1",
        ]
    )
    Proc(state, "kube-scheduler").start(
        [
            str(bins / "kube-scheduler"),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            "--secure-port=0",
            "--v=1",
        ]
    )
    (state / "kwok.yaml").write_text(
        "apiVersion: config.kwok.x-k8s.io/v1alpha1\n"
        "kind: KwokConfiguration\n"
        "options:\n"
        "  cidr: 10.244.0.0/16\n"
        "  nodeIP: 10.0.0.1\n"
        "  manageAllNodes: false\n"
        "  manageNodesWithAnnotationSelector: kwok.x-k8s.io/node=fake\n"
        "  nodeLeaseDurationSeconds: 40\n"
        # The standalone binary skips the defaulting kwokctl does: zero parallelism is fatal.
        "  nodeLeaseParallelism: 4\n"
        "  podPlayStageParallelism: 4\n"
        "  nodePlayStageParallelism: 4\n"
        "  podsOnNodeSyncParallelism: 4\n"
        "---\n" + (bins / "kwok-stages.yaml").read_text()
    )
    Proc(state, "kwok").start(
        [
            str(bins / "kwok"),
            f"--kubeconfig={kubeconfig}",
            f"--config={state / 'kwok.yaml'}",
        ]
    )
    meta = {
        "server": server,
        "token": token,
        "ca": str(ca),
        "kubeconfig": str(kubeconfig),
        "bin": str(bins),
    }
    (state / "cluster.json").write_text(json.dumps(meta, indent=2))

    for name in NODE_NAMES:
        kubectl(state, "apply", "-f", "-", input=json.dumps(node_manifest(name)))
    kubectl(
        state,
        "wait",
        "--for=condition=Ready",
        "--timeout=60s",
        *[f"node/{n}" for n in NODE_NAMES],
    )
    # Pods need the namespace's default ServiceAccount, which the controller manager makes.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            kubectl(state, "get", "serviceaccount", "default", "-n", "default")
            break
        except subprocess.CalledProcessError:
            time.sleep(0.3)
    log(f"control plane up in {time.monotonic() - t0:.1f}s: {kubeconfig}")
    return meta


def cluster_down(state: Path = STATE, quiet: bool = False) -> None:
    for name in reversed(CLUSTER_COMPONENTS):
        Proc(state, name).stop()
    (state / "cluster.json").unlink(missing_ok=True)
    if not quiet:
        log("control plane stopped")


# --- MLflow and Redis --------------------------------------------------------------------


def venv_bin(name: str) -> str:
    candidate = ROOT / ".venv" / "bin" / name
    return str(candidate) if candidate.exists() else name


def redis_start(state: Path, port: int | None = None) -> str:
    port = port or free_port()
    data = state / "redis"
    data.mkdir(parents=True, exist_ok=True)
    proc = Proc(state, "redis")
    proc.start(
        [
            shutil.which("redis-server") or "/usr/bin/redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(data),
            "--save",
            "",
            "--appendonly",
            "no",
        ]
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if not proc.alive():
            proc.stop()
            raise RuntimeError(f"redis-server exited:\n{tail(proc.logfile)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.1)
    proc.stop()
    raise TimeoutError("redis-server did not answer PING")


def mlflow_start(state: Path, port: int | None = None) -> str:
    port = port or free_port()
    data = state / "mlflow"
    (data / "artifacts").mkdir(parents=True, exist_ok=True)
    proc = Proc(state, "mlflow")
    proc.start(
        [
            venv_bin("mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{data / 'mlflow.db'}",
            # Artifacts go through the server (mlflow-artifacts:/), as they would for pods.
            "--artifacts-destination",
            str(data / "artifacts"),
        ]
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/health", 120, proc=proc)
    except BaseException:
        proc.stop()  # never leave a half-started server behind
        raise
    return url


def services_up(state: Path = STATE) -> dict[str, str]:
    info = state / "services.json"
    if info.exists() and Proc(state, "redis").alive() and Proc(state, "mlflow").alive():
        return json.loads(info.read_text())
    services_down(state)
    state.mkdir(parents=True, exist_ok=True)
    meta = {"redis_url": redis_start(state), "mlflow_url": mlflow_start(state)}
    info.write_text(json.dumps(meta, indent=2))
    log(f"MLflow at {meta['mlflow_url']}, Redis at {meta['redis_url']}")
    return meta


def services_down(state: Path = STATE) -> None:
    for name in ("mlflow", "redis"):
        Proc(state, name).stop()
    (state / "services.json").unlink(missing_ok=True)


def operator_start(state: Path, mlflow_url: str, redis_url: str | None = None) -> None:
    """Run the operator from the virtualenv against the local control plane (the demo's)."""
    proc = Proc(state, "operator")
    if proc.alive():
        return
    env = {
        **os.environ,
        "KUBECONFIG": str(state / "kubeconfig"),
        "MODELOPS_MLFLOW_TRACKING_URI": mlflow_url,
        "MODELOPS_MODEL_POLL_SECONDS": os.environ.get("MODELOPS_MODEL_POLL_SECONDS", "10"),
    }
    if redis_url:
        env["MODELOPS_REDIS_URL"] = redis_url
    # The demo's namespace only: tests run their own operator on their own namespaces.
    proc.start([venv_bin("modelops-operator"), "--standalone", "--namespace=default"], env=env)


def run_cronjob_locally(
    cronjob: dict[str, object],
    workdir: Path,
    extra_env: dict[str, str] | None = None,
    paths: dict[str, str] | None = None,
) -> tuple[int, str]:
    """Run a CronJob's container command as a local process, with the environment the
    operator rendered, since simulated nodes run no containers (Secret-sourced variables come
    in extra_env). Returns the exit code and the termination message the container wrote."""
    spec = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]  # type: ignore[index]
    (container,) = spec["containers"]
    env = {**os.environ, **(extra_env or {})}
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = entry["value"]
    workdir.mkdir(parents=True, exist_ok=True)
    message_path = workdir / "termination-log"
    message_path.unlink(missing_ok=True)
    env["TERMINATION_MESSAGE_PATH"] = str(message_path)
    # Paths the pod mounts (the feature repo ConfigMap) map to local directories.
    args = [(paths or {}).get(a, a) for a in container["args"]]
    done = subprocess.run(
        [venv_bin("modelops-runtime"), *args],
        env=env,
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    (workdir / "job.log").write_text(done.stdout)
    message = message_path.read_text() if message_path.exists() else done.stdout[-4000:]
    return done.returncode, message


def pod_result_patch(container: str, exit_code: int, message: str) -> dict[str, object]:
    """The status a kubelet would write for a finished job container."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {
        "status": {
            "phase": "Succeeded" if exit_code == 0 else "Failed",
            "containerStatuses": [
                {
                    "name": container,
                    "image": "local",
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "started": False,
                    "state": {
                        "terminated": {
                            "exitCode": exit_code,
                            "reason": "Completed" if exit_code == 0 else "Error",
                            "message": message,
                            "startedAt": now,
                            "finishedAt": now,
                        }
                    },
                }
            ],
        }
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "command",
        choices=["cluster-up", "cluster-down", "services-up", "services-down", "down", "status"],
    )
    args = parser.parse_args(argv)
    if args.command == "cluster-up":
        meta = cluster_up()
        print(f"export KUBECONFIG={meta['kubeconfig']}")
    elif args.command == "cluster-down":
        cluster_down()
    elif args.command == "services-up":
        print(json.dumps(services_up()))
    elif args.command == "services-down":
        services_down()
    elif args.command == "down":
        Proc(STATE, "runtime").stop()
        Proc(STATE, "operator").stop()
        services_down()
        cluster_down()
    else:
        for name in (*CLUSTER_COMPONENTS, "mlflow", "redis", "operator", "runtime"):
            p = Proc(STATE, name)
            print(f"{name:24} {'running pid ' + str(p.pid()) if p.alive() else 'stopped'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
