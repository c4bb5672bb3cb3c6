"""Who may use the console: sign-in, the session cookie and CSRF tokens (docs/console.md, "Security").

Sign-in takes the gateway's admin key (``$TIERFLOW_ADMIN_KEY``) or, on loopback when no admin key
is set, a one-time login token that ``tierflow serve`` prints at start (it works once; a restart
prints a new one). Beyond loopback without an admin key the console is off. A signed-in browser
holds a random session id in an ``HttpOnly; SameSite=Strict`` cookie scoped to ``/ui``; every write
also needs the session's CSRF token in ``X-CSRF-Token`` (read by the page from ``/ui/api/session``)
and, when the browser sends one, an ``Origin`` equal to the page's. No key or token ever reaches
the page: the session id is not readable by scripts and the CSRF token grants nothing alone.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass

from aiohttp import web

from tierflow.errors import GatewayError

COOKIE = "tierflow_console"
SESSION_TTL_S = 12 * 3600
_MAX_SESSIONS = 64
_MAX_FAILED_SIGN_INS = 20


@dataclass(slots=True)
class Session:
    csrf: str
    expires: float
    one_time: bool = False
    """Signed in with the one-time login token: signing out locks this browser out until a restart."""


class ConsoleAuth:
    """The console's sign-in secrets and live sessions (in memory: a restart signs everyone out)."""

    def __init__(self, admin_key: str | None, loopback: bool) -> None:
        self.admin_key = admin_key
        self.login_token = secrets.token_urlsafe(18) if admin_key is None and loopback else None
        self.enabled = admin_key is not None or self.login_token is not None
        self.token_state = "unused" if self.login_token is not None else "none"
        """The one-time token's state, for the sign-in page: unused, used, locked (too many guesses) or none."""
        self._sessions: dict[str, Session] = {}
        self._failed = 0

    def banner(self, base_url: str) -> str | None:
        """The line ``tierflow serve`` prints for the console once bound at ``base_url`` (None: nothing to say).

        With the one-time token it also gives a link that signs in on opening, as Jupyter's does: the
        token is in the fragment (``#token=``), which the browser never sends to the server."""
        url = f"{base_url}/ui"
        if self.login_token is not None:
            return (f"tierflow console at {url}; one-time login token: {self.login_token} "
                    f"(or open {url}/login#token={self.login_token})")
        if self.admin_key is not None:
            return f"tierflow console at {url}; sign in with the admin key ($TIERFLOW_ADMIN_KEY)"
        return "tierflow console is off beyond loopback without an admin key: set $TIERFLOW_ADMIN_KEY"

    def sign_in(self, secret: str) -> str:
        """A new session id for ``secret`` (the admin key or the unused login token); 401 otherwise."""
        if not self.enabled:
            raise GatewayError(403, "the console is off: set $TIERFLOW_ADMIN_KEY for `tierflow serve` to use it "
                               "beyond loopback", kind="permission_error", code="console_disabled")
        if self._failed >= _MAX_FAILED_SIGN_INS and self.login_token is not None:
            self.login_token = None  # too many guesses: only the admin key (or a restart) signs in now
            self.token_state = "locked"
        ok = one_time = False
        if self.admin_key is not None and hmac.compare_digest(secret.encode(), self.admin_key.encode()):
            ok = True
        elif self.login_token is not None and hmac.compare_digest(secret.encode(), self.login_token.encode()):
            ok = one_time = True
            self.login_token, self.token_state = None, "used"  # one-time
        if not ok:
            self._failed += 1
            raise GatewayError(401, "wrong admin key or login token (the one-time token printed by `tierflow "
                               "serve` works once; restart it for a new one)", kind="authentication_error",
                               code="invalid_login")
        self._expire()
        session_id = secrets.token_urlsafe(32)
        self._sessions[session_id] = Session(secrets.token_urlsafe(32), time.monotonic() + SESSION_TTL_S, one_time)
        return session_id

    def session(self, request: web.Request) -> Session | None:
        session_id = request.cookies.get(COOKIE)
        session = self._sessions.get(session_id) if session_id else None
        if session is None or session.expires < time.monotonic():
            return None
        return session

    def sign_out(self, request: web.Request) -> None:
        self._sessions.pop(request.cookies.get(COOKIE) or "", None)

    def require(self, request: web.Request) -> Session:
        """The request's session; for writes also a matching CSRF token and same origin (else 401/403)."""
        session = self.session(request)
        if session is None:
            raise GatewayError(401, "sign in to the console first (/ui/login)", kind="authentication_error",
                               code="not_signed_in")
        if request.method not in ("GET", "HEAD"):
            check_origin(request)
            token = request.headers.get("X-CSRF-Token", "")
            if not hmac.compare_digest(token.encode(), session.csrf.encode()):
                raise GatewayError(403, "missing or wrong CSRF token (reload the page)", kind="permission_error",
                                   code="csrf_failed")
        return session

    def _expire(self) -> None:
        now = time.monotonic()
        for sid in [s for s, v in self._sessions.items() if v.expires < now]:
            del self._sessions[sid]
        while len(self._sessions) >= _MAX_SESSIONS:
            del self._sessions[next(iter(self._sessions))]


def check_origin(request: web.Request) -> None:
    """Refuse a write whose ``Origin`` is another site's (browsers send it on every POST)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return
    expected = f"{request.scheme}://{request.host}"
    if origin != expected:
        raise GatewayError(403, "cross-site request refused", kind="permission_error", code="bad_origin")


def set_cookie(response: web.StreamResponse, session_id: str) -> None:
    response.set_cookie(COOKIE, session_id, path="/ui", httponly=True, samesite="Strict", max_age=SESSION_TTL_S)


__all__ = ["COOKIE", "ConsoleAuth", "Session", "check_origin", "set_cookie"]
