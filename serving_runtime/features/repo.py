"""A Feast feature repo for the server and the materialize job: copied, loaded and applied."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import shutil
import sys
import traceback
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from modelops.serving_runtime.errors import BadInput, JobError

# The repo is often a read-only ConfigMap mount and Feast writes beside its files (a local
# registry, say): both users work on a writable copy, whose registry gets the definitions.
FEATURE_STORE_YAML = "feature_store.yaml"
# Not copied: the kubelet's atomic-writer folders of a ConfigMap mount (`..data`,
# `..2024_01_01_00_00_00.123`: Feast would import the definitions twice through them), caches
# and tool folders Feast ignores too.
_SKIPPED_NAMES = {"__pycache__", ".git", ".venv", ".ipynb_checkpoints", ".pytest_cache"}
# `${VAR}` in feature_store.yaml, which Feast expands from the environment.
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_MESSAGE_LIMIT = 600


def missing_env_refs(config_text: str, environ: Mapping[str, str]) -> list[str]:
    """The `${VAR}` references in feature_store.yaml that the environment does not set."""
    return sorted({m[1] for m in _ENV_REF.finditer(config_text) if m[1] not in environ})


def unset_env_refs(config_text: str) -> str | None:
    """`${A}, ${B}`: the references this process's environment leaves unset, if any."""
    unset = missing_env_refs(config_text, os.environ)
    return ", ".join(f"${{{n}}}" for n in unset) if unset else None


def one_line(exc: BaseException, replace: dict[str, str] | None = None) -> str:
    """`Type: message` on one line, bounded, with temp-copy paths shown as the user's."""
    text = " ".join(str(exc).split()) or "(no message)"
    for old, new in (replace or {}).items():
        text = text.replace(old, new)
    if len(text) > _MESSAGE_LIMIT:
        text = text[: _MESSAGE_LIMIT - 3] + "..."
    return f"{type(exc).__name__}: {text}"


def redis_endpoints(connection_string: str) -> str:
    """host:port parts of a Feast Redis connection string, without its options (password)."""
    nodes = [p.strip() for p in connection_string.split(",") if p.strip() and "=" not in p]
    return ", ".join(nodes) or "(no host)"


def copy_repo(source: Path, target: Path) -> None:
    """Copy the repo's files (following symlinks, as a ConfigMap mount uses) into `target`,
    all writable by this user whatever the source's modes."""
    seen: set[Path] = set()

    def walk(src: Path, dst: Path) -> None:
        real = src.resolve()
        if real in seen:  # a symlink loop
            return
        seen.add(real)
        dst.mkdir(parents=True, exist_ok=True)
        for entry in sorted(os.scandir(src), key=lambda e: e.name):
            if entry.name.startswith("..") or entry.name in _SKIPPED_NAMES:
                continue
            if entry.is_dir():
                walk(Path(entry.path), dst / entry.name)
            elif entry.is_file():
                shutil.copyfile(entry.path, dst / entry.name)

    walk(source, target)


def open_store(copy: Path, paths: dict[str, str]) -> Any:
    """The copy's FeatureStore; a configuration Feast refuses is an error naming the user's
    file (`paths` maps the copy back to the repo)."""
    import feast

    try:
        return feast.FeatureStore(repo_path=str(copy))
    except Exception as exc:  # yaml, pydantic, unknown store types: all a bad configuration
        raise BadInput(
            f"{Path(paths[str(copy)]) / FEATURE_STORE_YAML} is not a valid Feast configuration: "
            f"{one_line(exc, paths)}"
        ) from exc


def _definition_modules(root: Path) -> set[str]:
    return {p.relative_to(root).parts[0].removesuffix(".py") for p in root.rglob("*.py")}


@contextlib.contextmanager
def importable(root: Path) -> Iterator[None]:
    """What feast.repo_operations.parse_repo needs (the repo as the working directory and on
    sys.path), undone afterwards with the repo's modules, so a second run in the same process
    imports its own definitions rather than the cached first ones."""
    names = _definition_modules(root)
    shadowed = sorted(n for n in names if n in sys.stdlib_module_names)
    if shadowed:
        raise BadInput(
            f"definition file {shadowed[0]}.py shadows the Python module {shadowed[0]!r}; rename it"
        )
    cwd, path, bytecode = os.getcwd(), list(sys.path), sys.dont_write_bytecode
    displaced = {n: sys.modules.pop(n) for n in names if n in sys.modules}
    before = set(sys.modules)
    os.chdir(root)
    sys.path.insert(0, str(root))
    sys.dont_write_bytecode = True
    try:
        yield
    finally:
        os.chdir(cwd)
        sys.path[:] = path
        sys.dont_write_bytecode = bytecode
        for name in set(sys.modules) - before:
            if name.split(".")[0] in names:
                del sys.modules[name]
        sys.modules.update(displaced)


def _where(exc: BaseException, root: Path) -> str:
    """`file.py:line` of the innermost frame of the error inside the repo, if any."""
    if isinstance(exc, SyntaxError) and exc.filename:
        with contextlib.suppress(ValueError):
            rel = Path(exc.filename).resolve().relative_to(root)
            return f"{rel}:{exc.lineno}" if exc.lineno else str(rel)
    found = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        with contextlib.suppress(ValueError):
            rel = Path(frame.filename).resolve().relative_to(root)
            found = f"{rel}:{frame.lineno}"
    return found


def load_definitions(root: Path, paths: dict[str, str]) -> Any:
    from feast.repo_operations import parse_repo

    try:
        with importable(root):
            return parse_repo(root)
    except JobError:
        raise
    # SystemExit too: a definition file may call sys.exit().
    except (Exception, SystemExit) as exc:
        where = _where(exc, root.resolve())
        at = f" ({where})" if where else ""
        raise BadInput(
            f"could not load the feature definitions{at}: {one_line(exc, paths)}"
        ) from exc


def _registered(store: Any) -> set[tuple[str, str]]:
    registry, project = store.registry, store.project
    found: set[tuple[str, str]] = set()
    for kind, lister in (
        ("entity", registry.list_entities),
        ("data source", registry.list_data_sources),
        ("feature view", registry.list_all_feature_views),
        ("feature service", registry.list_feature_services),
        ("permission", registry.list_permissions),
    ):
        found |= {(kind, o.name) for o in lister(project=project, allow_cache=False)}
    found |= {("project", p.name) for p in registry.list_projects(allow_cache=False)}
    return found


def _definitions(contents: Any) -> list[tuple[str, Any]]:
    from feast.feature_view import DUMMY_ENTITY_NAME

    views = [
        *contents.feature_views,
        *contents.stream_feature_views,
        *contents.on_demand_feature_views,
        *contents.label_views,
    ]
    return [
        *(("project", p) for p in contents.projects),
        *(("entity", e) for e in contents.entities if e.name != DUMMY_ENTITY_NAME),
        *(("data source", d) for d in contents.data_sources),
        *(("feature view", v) for v in views),
        *(("feature service", s) for s in contents.feature_services),
        *(("permission", p) for p in contents.permissions),
    ]


def apply_missing(store: Any, contents: Any) -> list[str]:
    """Apply the repo's definitions the registry lacks (all of them for a fresh registry);
    definitions already registered are left as they are. Returns what was applied."""
    for project in contents.projects:
        if project.name != store.project:
            raise BadInput(
                f"the repo defines project {project.name!r} but {FEATURE_STORE_YAML} names "
                f"{store.project!r}"
            )
    registered = _registered(store)
    missing = [(k, o) for k, o in _definitions(contents) if (k, o.name) not in registered]
    if not missing:
        return []
    store.apply([o for _, o in missing], partial=True)
    names = sorted(f"{kind} {obj.name}" for kind, obj in missing)
    logging.getLogger("modelops.feast").info("applied to the registry", extra={"applied": names})
    return names


@contextlib.contextmanager
def quiet_feast() -> Iterator[None]:
    """Feast and its dependencies (dask, pandas, protobuf, pydantic) warn about their own
    internals and deprecations the job cannot act on, and Feast prints progress with print()
    and tqdm bars; the result line is the job's output, so warnings are ignored, Feast logs at
    WARNING, its prints become JSON log lines (logger modelops.feast) and its bars are off."""
    logger = logging.getLogger("feast")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(_PrintsToLog()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class _PrintsToLog(io.TextIOBase):
    """A stdout whose every printed line is an INFO record (colour codes and blank lines
    dropped): one JSON object per line in a pod's log, never a carriage-return redraw."""

    def __init__(self) -> None:
        self._log = logging.getLogger("modelops.feast")
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        *lines, self._pending = (self._pending + text).replace("\r", "\n").split("\n")
        for line in lines:
            line = _ANSI.sub("", line).strip()
            if line:
                self._log.info(line)
        return len(text)


def import_feast() -> Any:
    """Import feast without letting it set PROMETHEUS_MULTIPROC_DIR for child processes: the
    server's metrics are already set up (see metrics.multiprocess_dir). Not for the job: its
    feast records metrics in the directory it chose."""
    names = ("PROMETHEUS_MULTIPROC_DIR", "PROMETHEUS_MULTIPROCESS_DIR")
    before = {n: os.environ.get(n) for n in names}
    try:
        import feast
    finally:
        for n, v in before.items():
            if v is None:
                os.environ.pop(n, None)
    return feast
