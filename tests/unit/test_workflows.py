"""The release workflow and the model repository's CI template: actionlint (built from its Go
module) passes on both, and the release publishes what the chart installs by default."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.tools import tool

ROOT = Path(__file__).resolve().parents[2]
RELEASE = ROOT / ".github" / "workflows" / "release.yml"
TEMPLATE = ROOT / "docs" / "templates" / "model-repository-ci.yml"


@pytest.fixture(scope="module")
def actionlint() -> str:
    return tool("actionlint")


def lint(actionlint: str, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [actionlint, "-no-color", *map(str, files)], capture_output=True, text=True, cwd=ROOT
    )


@pytest.mark.parametrize("workflow", [RELEASE, TEMPLATE], ids=["release", "model-repository"])
def test_actionlint_passes(actionlint: str, workflow: Path) -> None:
    done = lint(actionlint, workflow)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_catches_a_broken_workflow(actionlint: str, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        RELEASE.read_text().replace("needs.version.outputs.version", "needs.versoin.outputs.v")
    )
    done = lint(actionlint, broken)
    assert done.returncode == 1 and "versoin" in done.stdout, done.stdout


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job["steps"])


def test_the_release_publishes_signed_multi_arch_images_with_an_sbom_and_the_chart() -> None:
    flow = yaml.safe_load(RELEASE.read_text())
    jobs = flow["jobs"]
    assert jobs["images"]["needs"] == ["version", "test"]
    assert jobs["test"]["steps"][-1]["run"].endswith(".ci/run")
    assert jobs["images"]["strategy"]["matrix"]["image"] == ["operator", "runtime"]
    build = next(s for s in steps(jobs["images"]) if s.get("id") == "build")["with"]
    assert build["platforms"] == "linux/amd64,linux/arm64" and build["sbom"] is True
    assert build["file"] == "Dockerfile.${{ matrix.image }}"
    signed = [s for s in steps(jobs["images"]) if "cosign sign" in s.get("run", "")]
    assert signed and "steps.build.outputs.digest" in signed[0]["env"]["IMAGE"]
    chart = next(s for s in steps(jobs["chart"]) if "helm push" in s.get("run", ""))["run"]
    assert "oci://$REGISTRY/charts" in chart and "cosign sign" in chart
    # What the chart installs by default is what this workflow pushes for the modelops org.
    values = yaml.safe_load((ROOT / "charts" / "modelops" / "values.yaml").read_text())
    chart_yaml = yaml.safe_load((ROOT / "charts" / "modelops" / "Chart.yaml").read_text())
    version = chart_yaml["appVersion"]
    assert values["image"]["repository"] == "ghcr.io/modelops/operator"
    assert values["operator"]["runtimeImage"] == f"ghcr.io/modelops/runtime:{version}"
    assert (
        build["tags"]
        == "${{ env.REGISTRY }}/${{ matrix.image }}:${{ needs.version.outputs.version }}"
    )
    assert flow["env"]["REGISTRY"] == "ghcr.io/${{ github.repository_owner }}"


def test_the_template_registers_a_challenger_and_never_touches_kubernetes() -> None:
    text = TEMPLATE.read_text()
    assert 'set_registered_model_alias(name, "challenger", version)' in text
    assert "kubectl" not in text.replace("Nothing here talks to Kubernetes", "")
