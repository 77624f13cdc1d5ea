"""terraform/: formatting (OpenTofu), policy (checkov), variable validation (OpenTofu), shape.

The tools come from scripts/check-infra.sh, cached by version (`make infra-tools` installs
them; a cold cache fails here with that instruction rather than compiling inside pytest).
`tofu validate` cannot run here: it needs the AWS provider from the registry, which this
environment cannot reach. Variable validation does run: a module holding only variables.tf
needs no provider, so `tofu plan` evaluates every validation block for real.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TF = ROOT / "terraform"
SCRIPT = ROOT / "scripts" / "check-infra.sh"
ENV = {**os.environ, "MODELOPS_INFRA_NO_INSTALL": "1", "TF_IN_AUTOMATION": "1", "NO_COLOR": "1"}
if not Path(ENV.get("TF_CLI_CONFIG_FILE", "/dev/null")).exists():
    del ENV["TF_CLI_CONFIG_FILE"]  # named but absent: tofu would only warn


def run_script(*args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout, env=ENV
    )


@pytest.fixture(scope="module")
def tools() -> dict[str, str]:
    done = run_script("tools")
    if done.returncode != 0:
        pytest.fail(f"infrastructure tools missing:\n{done.stderr}")
    return dict(line.split("=", 1) for line in done.stdout.split())


def blocks(kind: str, text: str) -> dict[str, str]:
    """`kind "a" "b" {...}` bodies by "a.b" (or "a"), brace-matched; enough for these files."""
    out = {}
    for m in re.finditer(rf'^{kind}((?: "[^"]+")+) \{{', text, re.M):
        depth, i = 1, m.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        out[".".join(re.findall(r'"([^"]+)"', m.group(1)))] = text[m.end() : i - 1]
    return out


MAIN = (TF / "main.tf").read_text()
RESOURCES = blocks("resource", MAIN)
DATA = blocks("data", MAIN)
VARIABLES = blocks("variable", (TF / "variables.tf").read_text())
OUTPUTS = blocks("output", (TF / "outputs.tf").read_text())


# -- formatting and policy


def test_layout() -> None:
    names = {p.name for p in TF.iterdir() if p.suffix == ".tf"}
    assert {"main.tf", "variables.tf", "outputs.tf", "versions.tf"} <= names
    assert not list(TF.rglob("*.tfstate*")), "state files must not be committed"
    assert not list(TF.rglob("*.auto.tfvars")), "auto-loaded tfvars would change every apply"


def test_tofu_fmt(tools: dict[str, str]) -> None:
    done = run_script("fmt")
    assert done.returncode == 0, done.stdout + done.stderr


def test_checkov_passes_with_defaults_and_with_everything_enabled(tools: dict[str, str]) -> None:
    done = run_script("terraform")
    assert done.returncode == 0, done.stdout + done.stderr
    summaries = re.findall(
        r"Passed checks: (\d+), Failed checks: (\d+), Skipped checks: (\d+)", done.stdout
    )
    assert len(summaries) == 2, done.stdout
    for passed, failed, _ in summaries:
        assert int(passed) > 100 and int(failed) == 0, done.stdout
    # With the GPU group on, checkov sees more resources than with the defaults.
    assert int(summaries[1][0]) > int(summaries[0][0]), summaries


def test_every_checkov_skip_is_inside_its_resource_with_a_reason() -> None:
    skips = 0
    for path in TF.glob("*.tf"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "checkov:skip" not in line:
                continue
            skips += 1
            m = re.fullmatch(r"\s+#checkov:skip=(CKV2?_AWS_\d+):(.+)", line)
            assert m, f"{path.name}:{number}: write `#checkov:skip=CKV_AWS_N:reason` in the block"
            assert len(m.group(2).strip()) >= 30, f"{path.name}:{number}: say why"
    assert skips, "no skips at all: update this test if that is now true"


def test_the_script_skips_no_check_globally() -> None:
    code = [line for line in SCRIPT.read_text().splitlines() if not line.lstrip().startswith("#")]
    for flag in ("--skip-check", "--soft-fail", "--baseline", "--check ", "--skip-framework"):
        assert not any(flag in line for line in code), flag


def test_k8s_mode_reports_failed_checks(tools: dict[str, str], tmp_path: Path) -> None:
    """`check-infra.sh k8s DIR` is for the rendered Helm chart; a privileged pod must fail."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "pod.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: bad, namespace: x}\n"
        "spec:\n  containers:\n  - name: c\n    image: busybox:1.37\n"
        "    securityContext: {privileged: true}\n"
    )
    done = run_script("k8s", str(tmp_path))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "CKV_K8S_16" in done.stdout  # "Container should not be privileged"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run_script("k8s", str(empty)).returncode == 2


# -- variables: validated by OpenTofu itself


@pytest.fixture(scope="module")
def variables_module(tools: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("tfvars")
    shutil.copy(TF / "variables.tf", work)
    done = subprocess.run(
        [tools["tofu"], "init", "-backend=false", "-input=false", "-no-color"],
        cwd=work,
        capture_output=True,
        text=True,
        env=ENV,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return work


def plan(tools: dict[str, str], work: Path, **values: str) -> subprocess.CompletedProcess[str]:
    args = [f"-var={k}={v}" for k, v in values.items()]
    return subprocess.run(
        [tools["tofu"], "plan", "-input=false", "-no-color", "-lock=false", *args],
        cwd=work,
        capture_output=True,
        text=True,
        env=ENV,
        timeout=60,
    )


GOOD = [
    {},
    {"region": "us-gov-west-1", "cluster_name": "ml-prod-2", "kubernetes_version": "1.36"},
    {"vpc_cidr": "172.20.0.0/18", "availability_zones": '["eu-west-1a","eu-west-1c"]'},
    {"serving_node_group": '{min_size=1, desired_size=1, max_size=1, capacity_type="SPOT"}'},
    {"enable_gpu_node_group": "true", "gpu_node_group": '{instance_types=["g6.2xlarge"]}'},
    {"cluster_endpoint_public_access_cidrs": '["203.0.113.0/24"]'},
    {"cluster_admin_principal_arns": '["arn:aws:iam::123456789012:role/admins"]'},
    {"artifact_bucket_name": "acme.ml-artifacts", "cluster_log_retention_days": "90"},
    {"runtime_identity": '{namespace="team-a"}'},
    {"runtime_identity": '{namespace="team-a", service_account="fraud", artifact_prefix=""}'},
    {"runtime_identity": '{namespace="t", artifact_prefix="mlflow/team-a/"}'},
]

BAD = [
    ("region", "eu_west_1", "region must be"),
    ("region", "EU-WEST-1", "region must be"),
    ("cluster_name", "ModelOps", "cluster_name must be"),
    ("cluster_name", "a-very-long-cluster-name-over-28", "cluster_name must be"),
    ("cluster_name", "ends-with-", "cluster_name must be"),
    ("kubernetes_version", "1.35.2", "kubernetes_version must be"),
    ("kubernetes_version", "v1.35", "kubernetes_version must be"),
    ("vpc_cidr", "10.0.0.0/8", "vpc_cidr must be"),
    ("vpc_cidr", "10.0.0.300/16", "vpc_cidr must be"),
    ("availability_zone_count", "1", "availability_zone_count must be"),
    ("availability_zones", '["eu-west-1a"]', "availability_zones must be"),
    ("availability_zones", '["eu-west-1a","westeurope"]', "availability_zones must hold"),
    ("cluster_endpoint_public_access_cidrs", '["0.0.0.0/0"]', "must hold valid CIDRs"),
    ("cluster_admin_principal_arns", '["admin"]', "must be IAM role or user ARNs"),
    ("cluster_enabled_log_types", '["api","kubelet"]', "may hold only"),
    ("cluster_log_retention_days", "42", "must be a CloudWatch Logs retention"),
    ("serving_node_group", "{min_size=0}", "1 <= min_size"),
    ("serving_node_group", "{min_size=3, desired_size=2}", "1 <= min_size"),
    ("serving_node_group", "{instance_types=[]}", "instance_types must list"),
    ("serving_node_group", '{capacity_type="RESERVED"}', "capacity_type must be"),
    ("serving_node_group", "{disk_size_gib=8}", "disk_size_gib must be"),
    ("gpu_node_group", '{instance_types=["m6i.large"]}', "GPU instance types"),
    ("gpu_node_group", "{max_size=0}", "0 <= min_size"),
    ("artifact_bucket_name", "Artifacts", "valid S3 bucket name"),
    ("artifact_bucket_name", "a..b", "valid S3 bucket name"),
    ("artifact_bucket_name", "192.168.1.1", "valid S3 bucket name"),
    ("artifact_noncurrent_version_days", "0", "at least 1"),
    ("runtime_identity", '{namespace="Team_A"}', "must be a Kubernetes namespace name"),
    ("runtime_identity", '{namespace="t", service_account="a b"}', "ServiceAccount name"),
    ("runtime_identity", '{namespace="t", artifact_prefix="mlflow"}', "ending in '/'"),
    ("runtime_identity", '{namespace="t", artifact_prefix="/mlflow/"}', "ending in '/'"),
]


@pytest.mark.parametrize("values", GOOD, ids=lambda v: ",".join(v) or "defaults")
def test_valid_variables_are_accepted(tools, variables_module, values) -> None:
    done = plan(tools, variables_module, **values)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(("name", "value", "message"), BAD, ids=[f"{n}={v}" for n, v, _ in BAD])
def test_invalid_variables_are_rejected(tools, variables_module, name, value, message) -> None:
    done = plan(tools, variables_module, **{name: value})
    assert done.returncode != 0, f"{name}={value} was accepted"
    text = " ".join((done.stdout + done.stderr).split())
    assert "Invalid value for variable" in text, text
    assert message in text, text


def test_every_variable_is_described_and_typed() -> None:
    for name, body in VARIABLES.items():
        assert re.search(r"^\s+description\s+=\s+\"\S", body, re.M), name
        assert re.search(r"^\s+type\s+=", body, re.M), name


@pytest.mark.parametrize(
    "name",
    [
        "region",
        "cluster_name",
        "kubernetes_version",
        "vpc_cidr",
        "serving_node_group",
        "gpu_node_group",
        "artifact_bucket_name",
        "cluster_endpoint_public_access_cidrs",
        "runtime_identity",
    ],
)
def test_variable_has_validation(name: str) -> None:
    assert "validation {" in VARIABLES[name]


# -- what the stack must contain (checkov covers the generic policies)


def test_outputs() -> None:
    for name in (
        "cluster_name",
        "cluster_endpoint",
        "artifact_bucket_name",
        "update_kubeconfig_command",
    ):
        assert name in OUTPUTS, name
    assert (
        '"aws eks update-kubeconfig --region ${var.region} --name ${aws_eks_cluster.this.name}"'
        in OUTPUTS["update_kubeconfig_command"]
    )


def test_nodes_live_in_private_subnets_behind_nat() -> None:
    for group in ("aws_eks_node_group.serving", "aws_eks_node_group.gpu"):
        assert "subnet_ids             = aws_subnet.private[*].id" in RESOURCES[group], group
    assert "subnet_ids              = aws_subnet.private[*].id" in RESOURCES["aws_eks_cluster.this"]
    assert "nat_gateway_id" in RESOURCES["aws_route_table.private"]
    assert "map_public_ip_on_launch = false" in RESOURCES["aws_subnet.public"]


def test_gpu_node_group_is_optional_tainted_and_scales_to_zero() -> None:
    gpu = RESOURCES["aws_eks_node_group.gpu"]
    assert "count = var.enable_gpu_node_group ? 1 : 0" in gpu
    assert re.search(
        r'taint \{\s+key\s+= "nvidia.com/gpu"\s+value\s+= "true"\s+effect = "NO_SCHEDULE"', gpu
    )
    assert re.search(r'ami_type\s+= "AL2023_x86_64_NVIDIA"', gpu)
    assert re.search(r"min_size\s+= optional\(number, 0\)", VARIABLES["gpu_node_group"])
    assert re.search(r"default\s+= false", VARIABLES["enable_gpu_node_group"])


def test_artifact_bucket_is_private_versioned_encrypted_and_tls_only() -> None:
    assert (
        'object_ownership = "BucketOwnerEnforced"'
        in RESOURCES["aws_s3_bucket_ownership_controls.artifacts"]
    )
    pab = RESOURCES["aws_s3_bucket_public_access_block.artifacts"]
    for setting in (
        "block_public_acls",
        "block_public_policy",
        "ignore_public_acls",
        "restrict_public_buckets",
    ):
        assert re.search(rf"{setting}\s+= true", pab), setting
    assert 'status = "Enabled"' in RESOURCES["aws_s3_bucket_versioning.artifacts"]
    assert (
        'sse_algorithm     = "aws:kms"'
        in RESOURCES["aws_s3_bucket_server_side_encryption_configuration.artifacts"]
    )
    policy = DATA["aws_iam_policy_document.artifacts_bucket"]
    assert re.search(
        r'effect\s+= "Deny".*?variable = "aws:SecureTransport"\s+values\s+= \["false"\]',
        policy,
        re.S,
    )
    assert (
        "data.aws_iam_policy_document.artifacts_bucket.json"
        in RESOURCES["aws_s3_bucket_policy.artifacts"]
    )


def test_the_runtime_identity_reads_only_its_prefix_through_pod_identity() -> None:
    """No static keys: the Pod Identity agent add-on, and an optional role that only
    pods.eks.amazonaws.com may assume, reading (never writing) the bucket under one prefix."""
    assert (
        'addon_name                  = "eks-pod-identity-agent"'
        in (RESOURCES["aws_eks_addon.pod_identity_agent"])
    )
    assert (
        'identifiers = ["pods.eks.amazonaws.com"]'
        in DATA["aws_iam_policy_document.runtime_assume_role"]
    )
    policy = DATA["aws_iam_policy_document.runtime_artifacts"]
    listed = " ".join(re.findall(r"actions\s+=\s+\[([^\]]*)\]", policy))
    actions = set(re.findall(r'"([a-z0-9]+:\w+)"', listed))
    assert actions == {"s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "kms:Decrypt"}
    assert "${var.runtime_identity.artifact_prefix}*" in policy
    assert 'variable = "s3:prefix"' in policy
    association = RESOURCES["aws_eks_pod_identity_association.runtime"]
    assert "service_account = var.runtime_identity.service_account" in association
    assert "role_arn        = aws_iam_role.runtime[0].arn" in association
    for name in ("aws_iam_role.runtime", "aws_eks_pod_identity_association.runtime"):
        assert (
            "count" in RESOURCES[name]
            and "var.runtime_identity == null ? 0 : 1" in (RESOURCES[name])
        )
    assert "runtime_role_arn" in OUTPUTS


def test_no_resources_beyond_the_cluster_and_the_bucket() -> None:
    """Terraform creates only the EKS cluster (with its VPC) and the S3 bucket (architecture.md)."""
    allowed = re.compile(
        r"aws_(vpc|default_security_group|internet_gateway|subnet|route_table(_association)?|eip"
        r"|nat_gateway|kms_key|kms_alias|iam_role|iam_role_policy(_attachment)?"
        r"|cloudwatch_log_group|eks_\w+|launch_template|s3_bucket(_\w+)?)$"
    )
    types = {key.split(".")[0] for key in RESOURCES}
    assert not {t for t in types if not allowed.match(t)}
