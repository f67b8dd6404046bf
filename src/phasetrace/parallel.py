"""Dask distributed glue, imported lazily (only with ``--scheduler``).

We never start a cluster for the user: :func:`connect` attaches to a running
scheduler given by address, as ``dask scheduler`` / ``dask worker`` or
:class:`distributed.LocalCluster` start them.
"""

from __future__ import annotations

import logging
from typing import Any

from .errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["connect", "disconnect"]

_CLIENTS: dict[str, Any] = {}


def connect(address: str, *, timeout: float = 10.0) -> Any:
    """Return a :class:`distributed.Client` connected to ``address`` (cached per address).

    Raises
    ------
    ConfigError
        If no scheduler answers at ``address`` within ``timeout`` seconds.
    """
    cached = _CLIENTS.get(address)
    if cached is not None and cached.status == "running":
        return cached
    try:
        from distributed import Client
    except ImportError as err:  # pragma: no cover - distributed is a dependency
        raise ConfigError("--scheduler needs the 'distributed' package (pip install distributed)") from err
    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as err:
        raise ConfigError(f"--scheduler {address}: no Dask scheduler answered ({err}); "
                          "start one with 'dask scheduler' or check the address") from err
    logger.info("connected to Dask scheduler %s (%d workers)", address,
                len(client.scheduler_info().get("workers", {})))
    _CLIENTS[address] = client
    return client


def disconnect(address: str | None = None) -> None:
    """Close the cached client of ``address`` (all cached clients when None).

    The scheduler and its workers keep running; only this process's connection ends.
    """
    for key in [address] if address is not None else list(_CLIENTS):
        client = _CLIENTS.pop(key, None)
        if client is not None:
            client.close()
