"""Exchange-local clock arithmetic for the plant and the apps that read market data
(it lives with the venues' time zones, in `refdata.model`)."""

from __future__ import annotations

from refdata.model import local_midnight_ns

__all__ = ["local_midnight_ns"]
