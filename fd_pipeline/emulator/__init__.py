"""A Freshdesk API v2 emulator: seeded data, real HTTP(S) on loopback, rate limits and faults.

`Emulator` serves a generated account; `FaultConfig` says how flaky it is. See
docs/contracts.md ("Emulator") and /work/shared/freshdesk-api-facts.md for the behaviour.
"""

from .desk import Clock, Desk
from .faults import FaultConfig
from .ratelimit import PLANS
from .server import Emulator

__all__ = ["PLANS", "Clock", "Desk", "Emulator", "FaultConfig"]
