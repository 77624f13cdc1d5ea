"""Request and response bodies as pydantic models: the OpenAPI document is made from them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

# The hot paths parse bodies with orjson and validate them against the model's signature by hand
# (signature.py), faster and stricter than a generic model could be: these classes document the
# wire format and type the responses, and no request goes through them.
Scalar = float | int | str | bool | None


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable error code, e.g. invalid_input, payload_too_large.")
    message: str = Field(description="What is wrong, naming the column, row or limit.")
    details: dict[str, Any] | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


class PredictRequest(BaseModel):
    features: list[list[Scalar]] | list[dict[str, Scalar]] | None = Field(
        default=None,
        description=(
            "Rows in signature column order, or objects keyed by column name. Required "
            "without `entities`. Beside `entities` (one row per entity), only the columns the "
            "feature store does not supply: as objects keyed by column, or as lists in the "
            "signature order of those remaining columns."
        ),
        examples=[[[5.1, 3.5, 1.4, 0.2]]],
    )
    entities: list[int | str] | None = Field(
        default=None,
        description=(
            "Ids of the deployment's entity (FEATURE_ENTITY_KEY, e.g. customer_id), one per "
            "row. The runtime reads FEATURE_REFS for all of them from the Feast online store "
            "in one call; each feature fills the model column of its name (the part after "
            "`view:`). Only on deployments with online features (`spec.features`); an entity "
            "the store has no value for is a 404 `features_not_found` naming it."
        ),
        examples=[[1001, 1002]],
    )
    return_probabilities: bool = Field(
        default=False, description="Also return class probabilities (classifiers only)."
    )


class PredictResponse(BaseModel):
    prediction_id: str = Field(
        description="This request's id (also in X-Prediction-Id): the client's X-Request-Id "
        "when it sent one. A request of one row is labelled by it; of n rows, ID:0 to ID:n-1."
    )
    predictions: list[Any]
    probabilities: list[list[float]] | None = Field(
        default=None, description="Per-row class probabilities, in the order of `classes`."
    )
    classes: list[Any] | None = None
    model_name: str
    model_version: str
    latency_ms: float = Field(description="Time spent in the server, in milliseconds.")


class DataframeSplit(BaseModel):
    columns: list[str] | None = None
    data: list[list[Scalar]] | list[Scalar]
    index: list[Any] | None = None


class InvocationsSplit(BaseModel):
    dataframe_split: DataframeSplit
    params: dict[str, Any] | None = None


class InvocationsRecords(BaseModel):
    dataframe_records: list[dict[str, Scalar]] | list[list[Scalar]]
    params: dict[str, Any] | None = None


class InvocationsInstances(BaseModel):
    instances: list[list[Scalar]] | list[dict[str, Scalar]] | list[Scalar]
    params: dict[str, Any] | None = None


class InvocationsInputs(BaseModel):
    inputs: list[list[Scalar]] | list[dict[str, Scalar]] | dict[str, list[Scalar]] | list[Scalar]
    params: dict[str, Any] | None = None


class InvocationsResponse(BaseModel):
    predictions: list[Any]


V2Datatype = Literal[
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BYTES",
]


class V2RequestInput(BaseModel):
    name: str = Field(description="A column name, or any name for one [N, F] tensor.")
    shape: list[int]
    datatype: V2Datatype
    parameters: dict[str, Any] | None = None
    data: list[Any] = Field(description="Row-major values, flat or nested.")


class V2RequestOutput(BaseModel):
    name: Literal["predict", "predict_proba"]
    parameters: dict[str, Any] | None = None


class V2InferenceRequest(BaseModel):
    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[V2RequestInput]
    outputs: list[V2RequestOutput] | None = None


class V2ResponseOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: V2Datatype
    parameters: dict[str, Any] | None = None
    data: list[Any]


class V2InferenceResponse(BaseModel):
    model_name: str
    model_version: str | None = None
    id: str
    parameters: dict[str, Any] | None = None
    outputs: list[V2ResponseOutput]


class V2TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class V2ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[V2TensorMetadata]
    outputs: list[V2TensorMetadata]


class V2ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class V2Ready(BaseModel):
    ready: bool
    name: str | None = None


class V2Live(BaseModel):
    live: bool


class Health(BaseModel):
    status: Literal["alive"]


class VersionInfo(BaseModel):
    modelops: str = Field(description="This runtime's version")
    mlflow: str = Field(description="The MLflow the model loads with")
    python: str
    model_name: str
    model_version: str | None = Field(
        default=None, description="The registry version served; null until loaded"
    )


class FeatureStoreStatus(BaseModel):
    ready: bool
    state: Literal["loading", "ready", "failed"]
    repo: str
    entity_key: str
    features: list[str] = Field(description="FEATURE_REFS, as view:feature.")
    attempts: int
    reason: str | None = Field(default=None, description="What it waits for, or what failed.")


class Readiness(BaseModel):
    ready: bool
    state: Literal["loading", "ready", "failed"]
    model_name: str
    model_uri: str
    model_version: str | None = None
    attempts: int
    reason: str | None = Field(
        default=None,
        description="A code for why the model (or the feature store) is not ready: "
        "ModelNotFound, RegistryUnavailable, DependencyMissing, LoadFailed, "
        "OnlineStoreUnavailable, FeatureRepoInvalid, FeatureStoreFailed, WaitingForModel, "
        "Initialising. The detail is in the runtime's logs, never in the response.",
    )
    next_attempt_in_seconds: float | None = None
    feature_store: FeatureStoreStatus | None = Field(
        default=None, description="With online features (FEATURE_REPO): the store's state."
    )


class FeedbackLabel(BaseModel):
    id: str = Field(
        description="A prediction id: ID for a one-row request, ID:ROW for a row of a larger one."
    )
    label: float | int | str | bool = Field(description="The true outcome.")


class FeedbackResponse(BaseModel):
    received: int
    kept: int = Field(description="Labels whose id a logged prediction has.")
    unknown: int = Field(
        description="Labels whose id no logged prediction has (never logged, sampled out, "
        "expired or mistyped): counted, not kept."
    )
    unknown_ids: list[str] = Field(description="The first 20 unknown ids.")


REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    PredictRequest,
    InvocationsSplit,
    InvocationsRecords,
    InvocationsInstances,
    InvocationsInputs,
    V2InferenceRequest,
    FeedbackLabel,
)
