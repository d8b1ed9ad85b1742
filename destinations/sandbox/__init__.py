"""A real local HTTP emulator of HubSpot Engagements v1, HubSpot's date-based CRM objects API for
calls and meetings (batch, search, properties; the contract is docs/hubspot_objects.md) and the
AskElephant v2 engagement API.

Used by `engagement-sync sandbox`, the demo and the integration tests:

    with SandboxServer(SandboxConfig(token="t")) as sandbox:
        httpx.post(f"{sandbox.v2_base_url}/v2/engagements", headers=..., json=...)

Fault switches (all off by default, seeded, create requests only) make it misbehave on purpose:

    SandboxConfig(seed=1, latency_ms=50, error_rate=0.1, lost_response_rate=0.1,
                  read_timeout_rate=0.05, read_timeout_s=5, storm_every=100, storm_length=5,
                  media_timeout_rate=0.05)

sandbox.fault_counts() (or GET /_sandbox/stats) says what happened; see faults.py.
"""

from .app import create_app
from .config import SandboxConfig
from .server import SandboxServer, serve_forever
from .store import Store

__all__ = ["SandboxConfig", "SandboxServer", "Store", "create_app", "serve_forever"]
