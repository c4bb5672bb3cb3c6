"""The web console served by ``tierflow serve`` at ``/ui`` (docs/console.md).

A thin layer over the library: the registry editor of flow files and of the gateway's config
(validation by the compiler and the config loader, the catalog picker, saving that keeps comments
and refuses to overwrite a file changed on disk). Plain HTML and vanilla JavaScript shipped as
package data: nothing to build, nothing fetched from elsewhere, works offline.

:func:`console_mount` is the console as a :class:`tierflow.gateway.Mount`, which ``tierflow serve``
hands the gateway's application: :func:`mount_console` adds the routes, and ``/ui`` skips the
gateway's API-key check to use the console's own sign-in and session cookie. The gateway does not
import the console: the console builds on it.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

from aiohttp import web

from tierflow.console.files import Workspace
from tierflow.console.ledger_routes import add_ledger_routes
from tierflow.console.router_routes import add_router_routes
from tierflow.console.routes import AUTH, RETIRED, WORKSPACE, add_routes
from tierflow.console.session import ConsoleAuth
from tierflow.gateway.app import Mount
from tierflow.gateway.core import KEY

PREFIX = "/ui"


def console_mount(*, root: Path | None = None) -> Mount:
    """The console at ``/ui``, for ``GatewayServer(gateway, mounts=[console_mount()])`` (``tierflow serve``).

    ``root``: the folder whose flow files it opens (default: the current directory).
    """
    return Mount(PREFIX, partial(mount_console, root=root), bound=_announce)


def _announce(app: web.Application, base_url: str) -> None:
    """Print the console's address (and how to sign in) once the server is bound at ``base_url``."""
    line = app[AUTH].banner(base_url)
    if line:
        print(line, file=sys.stderr, flush=True)  # stdout's first line stays the address


def mount_console(app: web.Application, *, root: Path | None = None) -> None:
    """Serve the console from ``app`` (the gateway's): its routes, sign-in, and the files it edits.

    ``root``: the folder whose flow files it opens (default: the current directory).
    """
    gateway = app[KEY]
    auth = ConsoleAuth(gateway.admin_key, loopback=not gateway.require_auth)  # require_auth: beyond loopback
    source = Path(gateway.config.source)
    app[AUTH] = auth
    app[WORKSPACE] = Workspace(root or Path.cwd(), source if source.is_file() else None)
    app[RETIRED] = []
    add_routes(app)
    add_ledger_routes(app, str(gateway.database))
    add_router_routes(app)

    async def close_retired(app: web.Application) -> None:
        for client in app[RETIRED]:
            await client.aclose()

    app.on_cleanup.append(close_retired)


__all__ = ["PREFIX", "console_mount", "mount_console"]
