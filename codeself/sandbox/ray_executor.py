"""Ray executor: the same jobs, fanned out over a Ray cluster (``pip install codeself[ray]``).

Each Ray task runs a chunk of (task, code, sample_id) items through a local warm fork-server pool
inside the Ray worker, with the same SandboxConfig, so results equal the local pool's (durations
aside). Ray is imported lazily; if no Ray session is running, ``ray.init()`` starts a local one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from codeself.sandbox.config import SandboxConfig
from codeself.sandbox.result import Result


def ray_imap(items: list[tuple[Any, str, Any]], *, run_chunk, workers: int | None, tests: str,
             config: SandboxConfig, progress: bool = False, chunk_size: int | None = None) -> Iterator[Result]:
    """``run_chunk(task_dicts, items, tests, config_dict) -> [result dicts]`` runs inside a Ray task
    (it is :func:`codeself.sandbox.api.run_chunk`, passed in so that this module imports no API)."""
    try:
        import ray
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise RuntimeError("executor='ray' needs ray: pip install 'codeself[ray]'") from e
    if not ray.is_initialized():
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    remote = ray.remote(num_cpus=1)(run_chunk)
    # tasks are shipped once per chunk, as dicts
    n = max(1, workers or int(ray.available_resources().get("CPU", 1)))
    size = chunk_size or max(1, min(64, -(-len(items) // (n * 4))))
    refs = []
    for start in range(0, len(items), size):
        chunk = items[start:start + size]
        index: dict[int, int] = {}
        task_dicts: list[dict] = []
        packed = []
        for task, code, sid in chunk:
            k = id(task)
            if k not in index:
                index[k] = len(task_dicts)
                task_dicts.append(task.to_dict())
            packed.append((index[k], code, sid))
        refs.append(remote.remote(task_dicts, packed, tests, config.to_dict()))
    bar = None
    if progress and len(items) > 1:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(items), desc="sandbox (ray)", unit="prog", leave=False)
    for ref in refs:
        for d in ray.get(ref):
            if bar is not None:
                bar.update(1)
            yield Result.from_dict(d)
    if bar is not None:
        bar.close()
