"""The online store while the materialize job writes: a fail-fast ping, named errors, rows."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from modelops.serving_runtime.errors import BadInput, JobError
from modelops.serving_runtime.features.repo import one_line, redis_endpoints
from modelops.serving_runtime.jobs.common import Progress


@contextlib.contextmanager
def counting_writes(store: Any) -> Iterator[Callable[[], int | None]]:
    """Count the rows handed to the online store while materializing (rows the store skips
    as no newer than what it holds are counted too). Yields a getter: None when the
    provider's online store could not be hooked."""
    counted = [0]
    try:
        online = store._get_provider().online_store
        original = online.online_write_batch
    except Exception:  # counting is optional: a provider without the hook still materializes
        yield lambda: None
        return

    logged = Progress("writing to the online store")

    def write(config: Any, table: Any, data: Any, progress: Any) -> Any:
        result = original(config, table, data, progress)
        counted[0] += len(data)
        logged.add(len(data))
        return result

    online.online_write_batch = write
    try:
        yield lambda: counted[0]
    finally:
        with contextlib.suppress(AttributeError):
            del online.online_write_batch


def _redis_error(exc: BaseException) -> BaseException | None:
    try:
        import redis
    except ImportError:
        return None
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return None
        if isinstance(seen, redis.RedisError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def online_store_error(
    store: Any, exc: BaseException, doing: str, paths: dict[str, str]
) -> JobError:
    cause = _redis_error(exc)
    if cause is not None:
        online = store.config.online_store
        endpoint = redis_endpoints(getattr(online, "connection_string", ""))
        return JobError(
            f"could not reach the Redis online store at {endpoint} while {doing}: "
            f"{one_line(cause, paths)}"
        )
    return JobError(f"{doing} failed: {one_line(exc, paths)}")


def check_online_store(store: Any, paths: dict[str, str]) -> None:
    """Ping a plain Redis online store with short timeouts and no retries, so an unreachable
    or misconfigured Redis fails fast with a clear error, before anything is written (redis-py
    otherwise retries with backoff, and waits for the OS connect timeout on a silent host).
    Cluster and sentinel setups are left to Feast."""
    online = store.config.online_store
    kind = getattr(getattr(online, "redis_type", None), "value", None)
    if getattr(online, "type", None) != "redis" or kind != "redis":
        return
    import redis
    from feast.infra.online_stores.redis import RedisOnlineStore
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    endpoint = redis_endpoints(online.connection_string)
    nodes, kwargs = RedisOnlineStore._parse_connection_string(online.connection_string)
    if not nodes or "port" not in nodes[0]:
        raise BadInput(
            f"the Redis online store's connection_string names no host:port ({endpoint}); "
            "expected host:port[,db=N][,password=...][,ssl=true]"
        )
    kwargs.setdefault("socket_connect_timeout", 5)
    kwargs.setdefault("socket_timeout", 5)
    kwargs["retry"] = Retry(NoBackoff(), 0)
    try:
        client = redis.Redis(host=nodes[0]["host"], port=int(nodes[0]["port"]), **kwargs)
    except (TypeError, ValueError) as exc:
        raise BadInput(
            f"the Redis online store's connection_string is invalid: {one_line(exc, paths)}"
        ) from exc
    try:
        client.ping()
    except redis.RedisError as exc:
        raise JobError(
            f"could not reach the Redis online store at {endpoint}: {one_line(exc, paths)}"
        ) from exc
    finally:
        client.close()
