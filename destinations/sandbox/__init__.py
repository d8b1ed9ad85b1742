"""A real local HTTP emulator of HubSpot Engagements v1 and AskElephant v2 engagement APIs.

Used by `engagement-sync sandbox`, the demo and the integration tests:

    with SandboxServer(SandboxConfig(token="t")) as sandbox:
        httpx.post(f"{sandbox.v2_base_url}/v2/engagements", headers=..., json=...)
"""

from .app import create_app
from .config import SandboxConfig
from .server import SandboxServer, serve_forever
from .store import Store

__all__ = ["SandboxConfig", "SandboxServer", "Store", "create_app", "serve_forever"]
