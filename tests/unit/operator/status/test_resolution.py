"""The pure part of the registry pre-flight: a model's needs against what the runtime ships."""

from __future__ import annotations

from importlib.metadata import version

from modelops.operator.settings import RUNTIME_PACKAGES, OperatorSettings
from modelops.operator.status.resolution import compatibility_problems

SKLEARN_MODEL = {
    "flavors": {
        "python_function": {"loader_module": "mlflow.sklearn"},
        "sklearn": {"sklearn_version": "1.9.1", "serialization_format": "skops"},
    }
}


def test_a_model_logged_by_this_stack_is_compatible() -> None:
    reqs = "mlflow==3.17.2\nscikit-learn==1.9.1\nnumpy==2.4.6\npytest==9.2.0  # logged noise\n"
    assert compatibility_problems(SKLEARN_MODEL, reqs, OperatorSettings()) == []


def test_major_minor_mismatch_names_the_package() -> None:
    problems = compatibility_problems(
        SKLEARN_MODEL, "scikit-learn==1.2.2\npandas==2.3.0\n", OperatorSettings()
    )
    assert problems == ["scikit-learn==1.2.2 (runtime ships 1.9)"]


def test_flavor_version_mismatch_is_caught_without_requirements() -> None:
    model = {"flavors": {"sklearn": {"sklearn_version": "1.5.0"}}}
    assert compatibility_problems(model, "", OperatorSettings()) == [
        "scikit-learn 1.5.0 (runtime ships 1.9)"
    ]


def test_unsupported_flavor_is_named() -> None:
    model = {"flavors": {"python_function": {}, "xgboost": {"xgb_version": "2.1.0"}}}
    assert compatibility_problems(model, "xgboost==2.1.0\n", OperatorSettings()) == [
        "flavor xgboost is not supported by the runtime"
    ]


def test_shipped_package_table_matches_the_runtime_environment() -> None:
    """Contract: the operator's table of runtime packages is what the runtime extra installs."""
    for package, major_minor in RUNTIME_PACKAGES.items():
        installed = ".".join(version(package).split(".")[:2])
        assert installed == major_minor, (
            f"{package}: runtime has {installed}, table says {major_minor}"
        )


def test_models_that_run_their_own_code_need_the_opt_in() -> None:
    pickled = {"flavors": {"sklearn": {"sklearn_version": "1.9.1"}}}  # cloudpickle by default
    pyfunc = {"flavors": {"python_function": {"cloudpickle_version": "3.1.1"}}}
    for model in (pickled, pyfunc):
        (problem,) = compatibility_problems(model, "", OperatorSettings(), allow_pickle=False)
        assert "spec.model.allowPickle" in problem
        assert compatibility_problems(model, "", OperatorSettings(), allow_pickle=True) == []
    assert compatibility_problems(SKLEARN_MODEL, "", OperatorSettings(), allow_pickle=False) == []
