"""AWS sessions that share one parsed copy of botocore's service models.

A fresh botocore session parses its JSON models (endpoints, the service's API) again for its
first client: a few hundred milliseconds of CPU each time a command or a check run opens a
store. The loader only reads those packaged files and caches what it parsed, so every session
of the process shares one; each session still resolves its own credentials and config.
"""

from __future__ import annotations

from functools import cache

from aiobotocore.session import AioSession, get_session
from botocore.loaders import Loader, create_loader


@cache
def _models() -> Loader:
    return create_loader()


def new_session() -> AioSession:
    """A new session (its own credential chain) over the process's shared model loader."""
    session = get_session()
    session.register_component("data_loader", _models())
    return session
