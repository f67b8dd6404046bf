"""Where tasks run: in this process, on local processes, or on a Dask cluster.

:func:`run_tasks` is the one executor of the project: the chunked analysis
(:func:`phasetrace.pipeline.run_analysis`) and the batch runner
(:func:`phasetrace.batch.run_batch`) both hand it a function and a list of
argument tuples and get ``(index, result)`` pairs back as tasks finish.  Which
executor ran a task never changes its result: the task sees the same arguments
and runs the same code.

The project never starts a cluster: ``scheduler`` is the address of a running
Dask scheduler (``dask scheduler`` / ``dask worker``, or a
:class:`distributed.LocalCluster` a test or a user started) or a connected
:class:`distributed.Client`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["run_tasks"]


def run_tasks(fn: Callable[..., Any], tasks: Sequence[tuple[Any, ...]], *, jobs: int = 1,
              scheduler: Any = None, name: str = "phasetrace") -> Iterator[tuple[int, Any]]:
    """Run ``fn(*args)`` for every ``args`` in ``tasks``; yield ``(index, result)`` as each finishes.

    Parameters
    ----------
    fn : callable
        A module-level (picklable) function.
    tasks : sequence of tuple
        Positional arguments of each call.
    jobs : int
        Local worker processes (``spawn``; Numba and BLAS held to one thread each so
        that ``jobs`` processes use ``jobs`` cores).  1: run in this process.
    scheduler : str or distributed.Client, optional
        A Dask scheduler address or client; takes precedence over ``jobs``.
    name : str
        Prefix of the Dask task keys (shown on the dashboard).

    Raises
    ------
    ConfigError
        ``jobs < 1``, or no scheduler answering at the address.
    """
    if jobs < 1:
        raise ConfigError(f"--jobs {jobs}: expected a positive number of workers")
    if not tasks:
        return
    if scheduler is not None and scheduler != "":
        yield from _on_dask(fn, tasks, scheduler, name)
    elif jobs > 1 and len(tasks) > 1:
        yield from _on_processes(fn, tasks, jobs)
    else:
        for i, args in enumerate(tasks):
            yield i, fn(*args)


def _on_dask(fn: Callable[..., Any], tasks: Sequence[tuple[Any, ...]], scheduler: Any,
             name: str) -> Iterator[tuple[int, Any]]:
    from distributed import as_completed

    from .parallel import connect

    client = connect(scheduler) if isinstance(scheduler, str) else scheduler
    run = uuid.uuid4().hex[:8]
    futures = {client.submit(fn, *args, pure=False, key=f"{name}-{run}-{i}"): i
               for i, args in enumerate(tasks)}
    for future in as_completed(futures, loop=client.loop):
        result = future.result()
        yield futures[future], result
        future.release()


def _on_processes(fn: Callable[..., Any], tasks: Sequence[tuple[Any, ...]],
                  jobs: int) -> Iterator[tuple[int, Any]]:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=mp.get_context("spawn"),
                             initializer=_one_thread) as pool:
        futures = {pool.submit(fn, *args): i for i, args in enumerate(tasks)}
        for future in as_completed(futures):
            yield futures[future], future.result()


def _one_thread() -> None:
    """Worker initializer: one Numba thread per process (the processes are the parallelism)."""
    import numba

    numba.set_num_threads(1)
