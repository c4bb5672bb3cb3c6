"""``tierflow serve``: an OpenAI-compatible gateway in front of a project's roles (docs/gateway.md).

A thin layer over the library: it translates OpenAI's wire format to :class:`tierflow.Client`
calls and back. Roles, fallbacks, routing, retries and cost are the library's.
"""

from tierflow.gateway.app import Gateway, Mount, build_app
from tierflow.gateway.server import GatewayServer, serve
from tierflow.gateway.settings import GatewaySettings, load_gateway_config

__all__ = ["Gateway", "GatewayServer", "GatewaySettings", "Mount", "build_app", "load_gateway_config", "serve"]
