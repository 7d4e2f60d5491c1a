"""Whether the Hugging Face hub can be reached, asked once and quickly.

Left to themselves, the hub clients (transformers, datasets) retry an unreachable host for
most of a minute, a warning line a try. Loaders ask `hub_reachable` first and, when it says
no, load from the local cache only (`offline`) or say in one line what to do.
"""

from __future__ import annotations

import socket
import threading
from contextlib import contextmanager
from typing import Iterator
from urllib.parse import urlparse

HUB_TIMEOUT = 3.0  # seconds to wait for the hub to accept a connection
_reachable: dict[str, bool] = {}


def hub_reachable() -> bool:
    """Whether the Hugging Face hub accepts a connection within HUB_TIMEOUT (asked once a
    process); False under HF_HUB_OFFLINE=1. Name resolution runs in a thread, since it has
    no timeout of its own."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    if host not in _reachable:
        answer: list[bool] = []

        def connect() -> None:
            try:
                socket.create_connection((host, 443), timeout=HUB_TIMEOUT).close()
                answer.append(True)
            except OSError:
                answer.append(False)

        worker = threading.Thread(target=connect, daemon=True)
        worker.start()
        worker.join(HUB_TIMEOUT)
        _reachable[host] = bool(answer and answer[0])
    return _reachable[host]


@contextmanager
def offline(enabled: bool = True) -> Iterator[None]:
    """Within the block the hub clients use only their local caches, as under HF_HUB_OFFLINE=1
    (which they read once, at import: so the flags are set where they keep them)."""
    if not enabled:
        yield
        return
    import datasets
    from huggingface_hub import constants

    saved = constants.HF_HUB_OFFLINE, datasets.config.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = datasets.config.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE, datasets.config.HF_HUB_OFFLINE = saved
