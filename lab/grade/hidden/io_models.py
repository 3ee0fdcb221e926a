"""Hidden checks of exercise 05-io-models: never shipped in the student kit."""
from __future__ import annotations

from ..checks.io_models import EPOLL, POOL, R_CONCURRENT, many_clients
from ..checks.scripts import Script, ScriptCheck

CHECKS = {
    "pool-many-clients": ScriptCheck([Script("forty-at-once", R_CONCURRENT, many_clients)], POOL),
    "epoll-many-clients": ScriptCheck([Script("forty-at-once", R_CONCURRENT, many_clients)], EPOLL),
}
