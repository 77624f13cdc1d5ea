"""The Helm chart: lint, server-side dry run, a real install, and least-privilege RBAC."""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from modelops.operator.resources.common import common_labels
from modelops.operator.resources.model_deployment import COMPONENT as MODEL_COMPONENT
from tests.tools import tool

from .helpers import register_model, wait_for

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "modelops"
KUBE_VERSION = "1.37.2"
# The chart's operator pods of release `op` (not its `helm test` pod).
OPERATOR_PODS = "app.kubernetes.io/instance=op,app.kubernetes.io/component=operator"
pytestmark = pytest.mark.timeout(180)


def helm(cluster: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [str(Path(cluster["bin"]) / "helm"), "--kubeconfig", cluster["kubeconfig"], *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def kubectl(
    cluster: dict[str, str], *args: str, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(cluster["bin"]) / "kubectl"), "--kubeconfig", cluster["kubeconfig"], *args],
        capture_output=True,
        text=True,
        input=input,
    )


def test_lint_is_clean(cluster: dict[str, str]) -> None:
    out = helm(cluster, "lint", str(CHART), "--strict", "--kube-version", KUBE_VERSION)
    assert "0 chart(s) failed" in out
    assert "[WARNING]" not in out and "[ERROR]" not in out


def test_renders_offline_without_a_cluster_version(cluster: dict[str, str]) -> None:
    """`helm template` with no cluster and no --kube-version (Helm's default is v1.20.0)."""
    rendered = helm(cluster, "template", "t", str(CHART))
    kinds = {d["kind"] for d in yaml.safe_load_all(rendered) if d}
    assert {"Deployment", "CustomResourceDefinition", "ServiceAccount"} <= kinds


def test_refuses_a_kubernetes_older_than_it_needs(cluster: dict[str, str]) -> None:
    with pytest.raises(subprocess.CalledProcessError) as err:
        helm(cluster, "template", "t", str(CHART), "--kube-version", "1.29.9")
    assert "modelops needs Kubernetes 1.30 or newer, the target is v1.29.9" in err.value.stderr
    helm(cluster, "template", "t", str(CHART), "--kube-version", "1.30.0")


def test_values_schema_rejects_bad_values(cluster: dict[str, str]) -> None:
    for bad in ("scope=everywhere", "replicaCount=-1", "operator.mlflowTrackingUri=ftp://x"):
        with pytest.raises(subprocess.CalledProcessError) as err:
            helm(cluster, "template", "t", str(CHART), "--kube-version", KUBE_VERSION, "--set", bad)
        assert "values don't meet the specifications of the schema" in err.value.stderr


@pytest.fixture(scope="module")
def monitoring_crds(cluster: dict[str, str]) -> None:
    """The Prometheus Operator's own CRDs for the chart's ServiceMonitor, PodMonitor and
    PrometheusRule, so the apiserver checks those objects against their real schemas."""
    folder = Path(tool("monitoring-crds"))
    for kind in ("servicemonitors", "podmonitors", "prometheusrules"):
        path = folder / f"monitoring.coreos.com_{kind}.yaml"
        done = kubectl(cluster, "apply", "--server-side", "-f", str(path))
        assert done.returncode == 0, done.stderr
        done = kubectl(
            cluster, "wait", "--for=condition=Established", f"crd/{kind}.monitoring.coreos.com"
        )
        assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("scope", ["cluster", "namespace", "namespaces"])
def test_rendered_chart_is_accepted_by_the_apiserver(
    cluster: dict[str, str], namespace: str, scope: str, monitoring_crds: None
) -> None:
    rendered = helm(
        cluster,
        "template",
        "t",
        str(CHART),
        "-n",
        namespace,
        "--kube-version",
        KUBE_VERSION,
        "--set",
        f"scope={scope}",
        "--set",
        f"watchNamespaces={{{namespace}}}",
        "--set",
        "metrics.serviceMonitor.enabled=true",
        "--set",
        "metrics.podMonitor.enabled=true",
        "--set",
        "metrics.prometheusRule.enabled=true",
    )
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    kinds = [d["kind"] for d in docs]
    assert {"ServiceMonitor", "PodMonitor", "PrometheusRule"} <= set(kinds)
    (pods,) = [d for d in docs if d["kind"] == "PodMonitor"]
    if scope == "cluster":
        assert pods["spec"]["namespaceSelector"] == {"any": True}
    else:
        assert pods["spec"]["namespaceSelector"] == {"matchNames": [namespace]}
    # It selects the model pods the operator builds, on the port their runtime serves.
    model_pod_labels = common_labels("fraud", MODEL_COMPONENT)
    assert pods["spec"]["selector"]["matchLabels"].items() <= model_pod_labels.items()
    assert pods["spec"]["podMetricsEndpoints"][0]["port"] == "http"
    assert kinds.count("CustomResourceDefinition") == 5
    role = "ClusterRole" if scope == "cluster" else "Role"
    assert role in kinds and f"{role}Binding" in kinds
    if scope != "cluster":
        assert "ClusterRole" not in kinds, "namespace scope needs no cluster-wide rights"
    done = kubectl(cluster, "apply", "--dry-run=server", "-f", "-", input=rendered)
    assert done.returncode == 0, done.stderr


def test_chart_crds_are_the_generated_ones(cluster: dict[str, str]) -> None:
    rendered = helm(cluster, "template", "t", str(CHART), "--kube-version", KUBE_VERSION)
    from_chart = {
        d["metadata"]["name"]: d["spec"]
        for d in yaml.safe_load_all(rendered)
        if d and d["kind"] == "CustomResourceDefinition" and d["spec"]["group"] == "modelops.dev"
    }
    generated = {}
    for path in (ROOT / "crds").glob("*.yaml"):
        doc = yaml.safe_load(path.read_text())
        generated[doc["metadata"]["name"]] = doc["spec"]
    assert from_chart == generated


@pytest.fixture
def release(cluster: dict[str, str], crds: None, api_client: Any) -> Iterator[dict[str, str]]:
    ns = f"modelops-{uuid.uuid4().hex[:6]}"
    name = "mo"
    apply_peering_crds(cluster)
    helm(
        cluster,
        "install",
        name,
        str(CHART),
        "-n",
        ns,
        "--create-namespace",
        # The session's fixture already installed the CRDs (without Helm's ownership).
        "--set",
        "crds.enabled=false",
        "--set",
        "image.repository=registry.test/modelops-operator",
        # Objects and rights only: running replicas of a cluster-wide operator would reconcile
        # the other tests' namespaces beside the tests' own operator.
        "--set",
        "replicaCount=0",
    )
    yield {"namespace": ns, "release": name, "sa": f"system:serviceaccount:{ns}:{name}-modelops"}
    helm(cluster, "uninstall", name, "-n", ns)
    client.CoreV1Api(api_client).delete_namespace(ns)


def deploy_registered(custom: Any, mlflow_url: str, namespace: str, name: str) -> None:
    """Version 1 of a new model `name` behind its champion alias, and a ModelDeployment of it
    with no replicas: enough to see an operator reconcile."""
    register_model(mlflow_url, name)
    custom.create_namespaced_custom_object(
        "modelops.dev", "v1alpha1", namespace, "modeldeployments",
        {
            "apiVersion": "modelops.dev/v1alpha1",
            "kind": "ModelDeployment",
            "metadata": {"name": name},
            "spec": {"model": {"uri": f"models:/{name}@champion"}, "replicas": 0},
        },
    )  # fmt: skip


def apply_peering_crds(cluster: dict[str, str]) -> None:
    """The chart's kopf peering CRDs (the session's CRDs come without Helm's ownership, so a
    release here installs none of its own)."""
    peering = helm(
        cluster, "template", "t", str(CHART), "--kube-version", KUBE_VERSION,
        "--show-only", "templates/kopf-peering-crds.yaml",
    )  # fmt: skip
    assert kubectl(cluster, "apply", "-f", "-", input=peering).returncode == 0


@contextmanager
def chart_operator(
    cluster: dict[str, str], api_client: Any, real_node: dict[str, str], ns: str, *sets: str
) -> Iterator[list[str]]:
    """The chart's operator as a platform team installs it, in its own new namespace `ns` and
    serving that namespace alone (the tests' operator owns the t-* namespaces): the real
    image, 2 replicas with peering on the real node. Yields its pods' names once both are
    Ready; uninstalled and the namespace deleted afterwards."""
    apply_peering_crds(cluster)
    helm(
        cluster, "install", "op", str(CHART), "-n", ns, "--create-namespace",
        "--set", "crds.enabled=false", "--set", "scope=namespace", *sets,
    )  # fmt: skip
    apps = client.AppsV1Api(api_client)
    core = client.CoreV1Api(api_client)
    try:

        def ready() -> bool:
            d = apps.read_namespaced_deployment("op-modelops", ns)
            return (d.status.ready_replicas or 0) == 2

        wait_for(ready, 120, "2 ready operator replicas", interval=1)
        d = apps.read_namespaced_deployment("op-modelops", ns)
        assert d.spec.template.spec.containers[0].image == real_node["operator"]
        pods = core.list_namespaced_pod(ns, label_selector=OPERATOR_PODS).items
        yield [p.metadata.name for p in pods if p.metadata.deletion_timestamp is None]
    finally:
        helm(cluster, "uninstall", "op", "-n", ns)
        core.delete_namespace(ns)


def leader_pod(api_client: Any, ns: str, pods: list[str]) -> str:
    """The replica that works: kopf resumes only the highest priority among the peers. Each
    replica's first keep-alive may land after its first reconcile, so this waits for both."""

    def keepalives() -> dict[str, Any] | None:
        status = (
            client.CustomObjectsApi(api_client)
            .get_namespaced_custom_object("kopf.dev", "v1", ns, "kopfpeerings", "modelops")
            .get("status")
            or {}
        )
        return status if len(status) >= 2 else None

    peers = wait_for(keepalives, 60, "both replicas' keep-alives", interval=1)
    leader = max(peers.items(), key=lambda peer: peer[1]["priority"])[0]
    return next(p for p in pods if p in leader)


@pytest.mark.timeout(420)
def test_the_chart_operator_reconciles_and_a_standby_takes_over(
    cluster: dict[str, str],
    crds: None,
    api_client: Any,
    real_node: dict[str, str],
    pod_services: dict[str, str],
    mlflow_url: str,
) -> None:
    """The chart as a platform team installs it: the operator's real image, 2 replicas under
    the chart's ServiceAccount on the real node, peering; a ModelDeployment is reconciled, and
    with the active replica's pod deleted the other one reconciles within 30 s."""
    ns = f"modelops-op-{uuid.uuid4().hex[:6]}"
    apps = client.AppsV1Api(api_client)
    core = client.CoreV1Api(api_client)
    custom = client.CustomObjectsApi(api_client)
    with chart_operator(
        cluster, api_client, real_node, ns,
        "--set", f"operator.mlflowTrackingUri={pod_services['mlflow']}",
        "--set", "operator.modelPollSeconds=5",
        "--set", "operator.logFormat=json",
    ) as pods:  # fmt: skip
        tested = helm(cluster, "test", "op", "-n", ns, "--logs", "--timeout", "120s")
        assert re.search(r"Phase:\s+Succeeded", tested), tested
        assert "the operator answers on" in tested, tested
        logged = core.read_namespaced_pod_log(pods[0], ns, tail_lines=20).splitlines()
        assert logged and all("message" in json.loads(line) for line in logged), logged
        d = apps.read_namespaced_deployment("op-modelops", ns)
        container = d.spec.template.spec.containers[0]
        assert "--peering=modelops" in container.args and f"--namespace={ns}" in container.args
        assert container.security_context.read_only_root_filesystem is True
        found = core.list_namespaced_pod(ns, label_selector=OPERATOR_PODS).items
        assert {p.spec.service_account_name for p in found} == {"op-modelops"}
        assert {p.spec.node_name for p in found} == {"modelops-node"}

        name = f"c{uuid.uuid4().hex[:6]}"
        deploy_registered(custom, mlflow_url, ns, name)

        def reconciled() -> bool:
            md = custom.get_namespaced_custom_object(
                "modelops.dev", "v1alpha1", ns, "modeldeployments", name
            )
            status = md.get("status") or {}
            return bool(
                status.get("observedGeneration") == md["metadata"]["generation"]
                and (status.get("model") or {}).get("version") == "1"
            )

        wait_for(reconciled, 60, "the chart's operator to reconcile", interval=1)
        assert apps.read_namespaced_deployment(name, ns).spec.replicas == 0

        pod = leader_pod(api_client, ns, pods)
        t0 = time.monotonic()
        core.delete_namespaced_pod(pod, ns)

        def gone() -> bool:
            names = {p.metadata.name for p in core.list_namespaced_pod(ns).items}
            return pod not in names

        # Changed only once the old leader is gone, so only another replica can act on it.
        wait_for(gone, 30, "the leader's pod to be gone", interval=0.5)
        custom.patch_namespaced_custom_object(
            "modelops.dev", "v1alpha1", ns, "modeldeployments", name, {"spec": {"replicas": 1}}
        )
        wait_for(reconciled, 30 - (time.monotonic() - t0), "a standby to reconcile", interval=0.5)
        print(f"failover: reconciled {time.monotonic() - t0:.1f}s after deleting {pod}")
        assert apps.read_namespaced_deployment(name, ns).spec.replicas == 1


CAN = [
    ("patch", "modeldeployments.modelops.dev", "-A"),
    ("patch", "modeldeployments.modelops.dev", "-A --subresource=status"),
    ("watch", "driftmonitors.modelops.dev", "-A"),
    ("patch", "featurematerializations.modelops.dev", "-A --subresource=status"),
    ("create", "deployments.apps", "-A"),
    ("delete", "horizontalpodautoscalers.autoscaling", "-A"),
    ("patch", "cronjobs.batch", "-A"),
    ("watch", "pods", "-A"),
    ("watch", "jobs.batch", "-A"),
    ("create", "events", "-A"),
    ("create", "clusterkopfpeerings.kopf.dev", ""),
    # A rollout's traffic split (NAME-traffic) and its validation Job.
    ("get", "configmaps", "-A"),
    ("patch", "configmaps", "-A"),
    ("create", "jobs.batch", "-A"),
]
CANNOT = [
    # No Secret at all: the onDrift webhook is posted by the job's pod, which reads its URL
    # from the Secret by reference (a tenant cannot make the operator read one for them).
    ("get", "secrets", "-A"),
    ("list", "secrets", "-A"),
    ("watch", "secrets", "-A"),
    ("create", "pods/exec", "-A"),
    ("create", "pods", "-A"),
    ("delete", "modeldeployments.modelops.dev", "-A"),
    ("update", "modeldeployments.modelops.dev", "-A"),
    ("create", "clusterroles.rbac.authorization.k8s.io", ""),
    ("patch", "nodes", ""),
    ("delete", "namespaces", ""),
    ("delete", "jobs.batch", "-A"),
]


def can_i(cluster: dict[str, str], sa: str, verb: str, resource: str, scope: str) -> str:
    """`kubectl auth can-i`; a subresource goes in scope as --subresource=NAME (RESOURCE/NAME
    would name an object, not a subresource)."""
    args = ["auth", "can-i", verb, resource, "--as", sa, *scope.split()]
    return kubectl(cluster, *args).stdout.strip()


def test_rbac_allows_what_the_operator_needs_and_nothing_more(
    cluster: dict[str, str], release: dict[str, str]
) -> None:
    for verb, resource, scope in CAN:
        assert can_i(cluster, release["sa"], verb, resource, scope) == "yes", (verb, resource)
    for verb, resource, scope in CANNOT:
        assert can_i(cluster, release["sa"], verb, resource, scope) == "no", (verb, resource)


def test_namespace_users_get_the_kinds_through_the_built_in_roles(
    cluster: dict[str, str], release: dict[str, str], api_client: Any
) -> None:
    """A namespace's `edit` user creates ModelDeployments, its `view` user only reads them,
    with no binding but the usual ones (the chart's aggregated ClusterRoles)."""
    ns = release["namespace"]
    rbac = client.RbacAuthorizationV1Api(api_client)
    for user, role in (("alice", "edit"), ("bob", "view")):
        rbac.create_namespaced_role_binding(
            ns,
            client.V1RoleBinding(
                metadata=client.V1ObjectMeta(name=f"{user}-{role}"),
                role_ref=client.V1RoleRef(
                    api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=role
                ),
                subjects=[
                    client.RbacV1Subject(
                        kind="User", name=user, api_group="rbac.authorization.k8s.io"
                    )
                ],
            ),
        )

    def can(user: str, verb: str, resource: str, *sub: str) -> str:
        return kubectl(
            cluster, "auth", "can-i", verb, resource, "--as", user, "-n", ns, *sub
        ).stdout.strip()

    # The aggregation controller folds the chart's rules into edit and view asynchronously.
    wait_for(
        lambda: can("alice", "create", "modeldeployments.modelops.dev") == "yes",
        60,
        "edit to aggregate the chart's rules",
    )
    for resource in ("driftmonitors.modelops.dev", "featurematerializations.modelops.dev"):
        assert can("alice", "delete", resource) == "yes"
    assert can("alice", "patch", "modeldeployments.modelops.dev", "--subresource=scale") == "yes"
    wait_for(lambda: can("bob", "list", "modeldeployments.modelops.dev") == "yes", 60, "view")
    assert can("bob", "create", "modeldeployments.modelops.dev") == "no"
    assert can("bob", "patch", "driftmonitors.modelops.dev") == "no"
    # Nobody gets to write status: that is the operator's.
    assert can("alice", "patch", "modeldeployments.modelops.dev", "--subresource=status") == "no"
    assert can("bob", "get", "modeldeployments.modelops.dev", "--subresource=status") == "yes"
    other = kubectl(
        cluster, "auth", "can-i", "create", "modeldeployments.modelops.dev", "--as", "alice",
        "-n", "default",
    ).stdout.strip()  # fmt: skip
    assert other == "no"  # the binding is the namespace's, the rules are everyone's


def test_namespace_scope_needs_no_cluster_role(
    cluster: dict[str, str], crds: None, api_client: Any
) -> None:
    ns = f"modelops-ns-{uuid.uuid4().hex[:6]}"
    helm(
        cluster,
        "install",
        "scoped",
        str(CHART),
        "-n",
        ns,
        "--create-namespace",
        "--set",
        "crds.enabled=false",
        "--set",
        "scope=namespace",
    )
    try:
        sa = f"system:serviceaccount:{ns}:scoped-modelops"
        assert can_i(cluster, sa, "create", "deployments.apps", f"-n={ns}") == "yes"
        assert can_i(cluster, sa, "patch", "modeldeployments.modelops.dev", f"-n={ns}") == "yes"
        assert can_i(cluster, sa, "create", "deployments.apps", "-n=default") == "no"
        assert can_i(cluster, sa, "watch", "modeldeployments.modelops.dev", "-A") == "no"
        roles = client.RbacAuthorizationV1Api(api_client).list_cluster_role(
            label_selector="app.kubernetes.io/instance=scoped"
        )
        assert roles.items == []
        d = client.AppsV1Api(api_client).read_namespaced_deployment("scoped-modelops", ns)
        assert f"--namespace={ns}" in d.spec.template.spec.containers[0].args
    finally:
        helm(cluster, "uninstall", "scoped", "-n", ns)
        client.CoreV1Api(api_client).delete_namespace(ns)


@pytest.mark.parametrize("scope", ["cluster", "namespace"])
def test_checkov_passes_on_the_rendered_chart(
    cluster: dict[str, str], tmp_path: Path, scope: str
) -> None:
    rendered = helm(
        cluster,
        "template",
        "mo",
        str(CHART),
        "-n",
        "modelops-system",
        "--kube-version",
        KUBE_VERSION,
        "--set",
        f"scope={scope}",
        "--set",
        "dashboard.enabled=true",
        "--set",
        "metrics.serviceMonitor.enabled=true",
    )
    (tmp_path / "chart.yaml").write_text(rendered)
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "check-infra.sh"), "k8s", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Failed checks: 0" in done.stdout, done.stdout


def rendered_kind(cluster: dict[str, str], kind: str, *sets: str) -> dict[str, Any]:
    args = [a for s in sets for a in ("--set", s)]
    rendered = helm(cluster, "template", "t", str(CHART), "--kube-version", KUBE_VERSION, *args)
    return next(d for d in yaml.safe_load_all(rendered) if d and d["kind"] == kind)


def test_the_operator_reaches_only_dns_the_api_and_its_registry(cluster: dict[str, str]) -> None:
    """An egress policy: a tenant-chosen address (a metadata endpoint, another tenant's pod) is
    outside it whatever a spec says. Enforced by the cluster's network plugin (the local node's
    bridge plugin does not enforce NetworkPolicy: this checks what the chart asks for)."""
    policy = rendered_kind(cluster, "NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    ports = [sorted((p["protocol"], p["port"]) for p in rule["ports"]) for rule in policy["egress"]]
    assert ports == [
        [("TCP", 53), ("UDP", 53)],
        [("TCP", 443), ("TCP", 6443)],
        [("TCP", 5000)],  # operator.mlflowTrackingUri's port
        [("TCP", 8080)],  # model pods: rollout metrics and traffic pushes
    ]
    model_pods = policy["egress"][3]["to"][0]["podSelector"]["matchLabels"]
    assert model_pods == {
        "app.kubernetes.io/managed-by": "modelops",
        "app.kubernetes.io/component": "predictor",
    }
    assert all(rule.get("ports") for rule in policy["egress"])  # no rule opens every port

    pinned = rendered_kind(
        cluster,
        "NetworkPolicy",
        "networkPolicy.egress.apiServerCIDRs={10.0.0.1/32}",
        "operator.mlflowTrackingUri=https://mlflow.example.com",
    )["spec"]["egress"]
    assert pinned[1]["to"] == [{"ipBlock": {"cidr": "10.0.0.1/32"}}]
    assert pinned[2]["ports"] == [{"port": 443, "protocol": "TCP"}]


def test_it_works_as_a_subchart_and_takes_pod_labels_extra_args_and_json_logs(
    cluster: dict[str, str],
) -> None:
    sets = [
        "global.imageRegistry=registry.example.com",  # a parent chart's globals: accepted
        "podLabels.team=fraud",
        "extraArgs={--log-refkey=object}",
        "operator.logFormat=json",
    ]
    deployment = rendered_kind(cluster, "Deployment", *sets)
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["labels"]["team"] == "fraud"
    assert deployment["spec"]["selector"]["matchLabels"].get("team") is None
    args = pod["spec"]["containers"][0]["args"]
    assert "--log-format=json" in args and args[-1] == "--log-refkey=object"
    assert (
        "--log-format=full"
        in rendered_kind(cluster, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    )
    with pytest.raises(subprocess.CalledProcessError) as bad:
        rendered_kind(cluster, "Deployment", "operator.logFormat=xml")
    assert "logFormat" in bad.value.stderr
    with pytest.raises(subprocess.CalledProcessError) as bad:
        rendered_kind(cluster, "Deployment", "extraArgs={log-refkey}")
    assert "extraArgs" in bad.value.stderr


def test_a_disruption_budget_keeps_one_replica_through_drains(cluster: dict[str, str]) -> None:
    pdb = rendered_kind(cluster, "PodDisruptionBudget")
    selector = rendered_kind(cluster, "Deployment")["spec"]["selector"]
    assert pdb["spec"] == {"minAvailable": 1, "selector": selector}
    with pytest.raises(StopIteration):  # one replica: a PDB would block every drain
        rendered_kind(cluster, "PodDisruptionBudget", "replicaCount=1")
    with pytest.raises(StopIteration):
        rendered_kind(cluster, "PodDisruptionBudget", "podDisruptionBudget.enabled=false")


def test_excluded_namespaces_reach_the_operator(cluster: dict[str, str]) -> None:
    deployment = rendered_kind(cluster, "Deployment", "excludedNamespaces={kube-system,ops}")
    env = {
        e["name"]: e.get("value")
        for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["MODELOPS_EXCLUDED_NAMESPACES"] == '["kube-system","ops"]'
    default = rendered_kind(cluster, "Deployment")
    env = {
        e["name"]: e.get("value")
        for e in default["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["MODELOPS_EXCLUDED_NAMESPACES"] == '["kube-system"]'


@pytest.mark.timeout(300)
def test_a_list_of_namespaces_is_served_with_rights_in_those_alone(
    cluster: dict[str, str],
    crds: None,
    api_client: Any,
    real_node: dict[str, str],
    pod_services: dict[str, str],
    mlflow_url: str,
) -> None:
    """scope: namespaces: a Role, RoleBinding and kopf peering object in each listed namespace
    and nothing cluster-wide; the chart's operator (its real image) reconciles a
    ModelDeployment in the second namespace and is refused everywhere else."""
    tag = uuid.uuid4().hex[:6]
    ns, team_a, team_b = f"modelops-w-{tag}", f"team-a-{tag}", f"team-b-{tag}"
    core = client.CoreV1Api(api_client)
    custom = client.CustomObjectsApi(api_client)
    for n in (team_a, team_b):
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=n)))
    apply_peering_crds(cluster)
    helm(
        cluster, "install", "multi", str(CHART), "-n", ns, "--create-namespace",
        "--set", "crds.enabled=false", "--set", "replicaCount=1",
        "--set", "scope=namespaces", "--set", f"watchNamespaces={{{team_a},{team_b}}}",
        "--set", f"operator.mlflowTrackingUri={pod_services['mlflow']}",
    )  # fmt: skip
    try:
        sa = f"system:serviceaccount:{ns}:multi-modelops"
        for n in (team_a, team_b):
            assert can_i(cluster, sa, "create", "deployments.apps", f"-n={n}") == "yes"
        for n in (ns, "default", "kube-system"):
            assert can_i(cluster, sa, "create", "deployments.apps", f"-n={n}") == "no", n
        assert can_i(cluster, sa, "list", "pods", "-A") == "no"
        roles = client.RbacAuthorizationV1Api(api_client).list_cluster_role(
            label_selector="app.kubernetes.io/instance=multi"
        )
        assert roles.items == []
        d = client.AppsV1Api(api_client).read_namespaced_deployment("multi-modelops", ns)
        args = d.spec.template.spec.containers[0].args
        assert f"--namespace={team_a}" in args and f"--namespace={team_b}" in args

        name = f"c{tag}"
        deploy_registered(custom, mlflow_url, team_b, name)

        def reconciled() -> bool:
            md = custom.get_namespaced_custom_object(
                "modelops.dev", "v1alpha1", team_b, "modeldeployments", name
            )
            return ((md.get("status") or {}).get("model") or {}).get("version") == "1"

        wait_for(reconciled, 150, "the chart's operator to reconcile in a listed namespace")
        for n in (team_a, team_b):
            assert custom.get_namespaced_custom_object(
                "kopf.dev", "v1", n, "kopfpeerings", "modelops"
            )
    finally:
        helm(cluster, "uninstall", "multi", "-n", ns)
        for n in (ns, team_a, team_b):
            core.delete_namespace(n)


def test_the_values_readme_is_generated_from_the_values_and_current() -> None:
    """charts/modelops/README.md is helm-docs' output for values.yaml as it is (`make
    chart-docs`), and every value has a description."""
    done = subprocess.run(
        [
            tool("helm-docs"),
            "--chart-search-root",
            str(CHART.parent),
            "--template-files",
            "README.md.gotmpl",
            "--log-level",
            "warning",
            "--dry-run",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    committed = (CHART / "README.md").read_text()
    assert done.stdout == committed, "charts/modelops/README.md is stale: run `make chart-docs`"
    rows = [line for line in committed.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) > 40
    undescribed = [row.split(" | ")[0] for row in rows[1:] if row.rstrip().endswith("|  |")]
    assert not undescribed, f"values without a `# --` description: {undescribed}"
