"""The command line: `python -m devenv cluster-up|cluster-down|services-up|...|status`."""

from __future__ import annotations

import argparse
import json

from . import __doc__ as package_doc
from .cluster import CLUSTER_COMPONENTS, cluster_down, cluster_up
from .node import NODE_PROCESSES, node_dir
from .process import STATE, Proc
from .services import services_down, services_up

COMMANDS = ["cluster-up", "cluster-down", "services-up", "services-down", "down", "status"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devenv", description=package_doc)
    parser.add_argument("command", choices=COMMANDS)
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
        services_down()
        cluster_down()
    else:
        procs = [Proc(STATE, name) for name in (*CLUSTER_COMPONENTS, "mlflow", "redis", "s3")]
        procs += [Proc(node_dir(STATE), name) for name in NODE_PROCESSES]
        for p in procs:
            name = p.name
            print(f"{name:24} {'running pid ' + str(p.pid()) if p.alive() else 'stopped'}")
    return 0
