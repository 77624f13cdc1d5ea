"""A stand-in kubelet: runs job containers as local processes, since kwok nodes run none."""

# Temporary: goes away when the local cluster gets real nodes.

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from .process import venv_bin


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
