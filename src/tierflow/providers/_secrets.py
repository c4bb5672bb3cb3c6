"""Keeping credentials out of every message: masking rules and URL clean-up.

The rule (see the README's security notes): a secret is the API key and every value of the
provider's ``headers:``. Any run of 8 or more characters of a secret's private part (what follows a
public prefix such as ``sk-``, ``sk-proj-`` or ``sk-ant-api03-``) is masked wherever it appears in
text, in any letter case, and also inside base64 (an echoed ``Authorization: Basic ...``). Shorter
secrets (4-7 characters) are masked where they appear whole. Key-shaped strings (``sk-...``,
``AIza...``, ``Bearer ...``) are masked even when they are not the configured key. Text is always
masked *before* it is cut to an excerpt, so no prefix of a key survives a cut.

URLs shown in messages keep only their origin and path: userinfo (``user:pass@``), the query
(``?key=...``) and the fragment are dropped.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping

from pydantic import SecretStr

from tierflow.provider_settings import ProviderSettings, safe_url, url_origin

MIN_FRAGMENT = 8
"""Masked: any run of this many characters of a secret's private part."""
_MIN_WHOLE = 4
_PUBLIC_PREFIXES = ("sk-ant-api03-", "sk-ant-admin01-", "sk-ant-", "sk-proj-", "sk-svcacct-", "sk-admin-",
                    "sk-or-v1-", "sk-", "AIza", "Bearer ", "Basic ")
_KEY_SHAPES = re.compile(r"(?:(?i:sk-[a-z0-9_\-*.]{6,})|AIza[0-9A-Za-z_\-]{10,}|(?i:bearer)\s+\S+)")
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s'\"<>]+")
_SECRET_HEADERS = frozenset({"authorization", "api-key", "x-api-key", "x-goog-api-key", "proxy-authorization"})


def private_part(secret: str) -> str:
    """``secret`` without its public prefix (``sk-proj-abc...`` -> ``abc...``)."""
    for prefix in _PUBLIC_PREFIXES:
        if secret.startswith(prefix) and len(secret) > len(prefix):
            return secret[len(prefix):]
    return secret


def _base64_forms(text: str) -> list[str]:
    """Every base64 spelling of ``text`` that does not depend on what surrounds it (3 alignments)."""
    raw = text.encode("utf-8")
    forms: list[str] = []
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + raw).decode("ascii")
        head = (pad * 4 + 2) // 3  # characters that carry bits of the padding bytes
        tail = 1 if (pad + len(raw)) % 3 else 0  # the last character mixes in what follows
        core = encoded.rstrip("=")
        core = core[head:len(core) - tail]
        forms += [core, core.replace("+", "-").replace("/", "_")]
    return forms


class Masker:
    """Masks a fixed set of secrets (and key-shaped strings) in text; built once per provider."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._grams: set[str] = set()
        self._wholes: list[re.Pattern[str]] = []
        for secret in secrets:
            private = private_part(secret)
            if len(private) >= MIN_FRAGMENT:
                for form in (private, *_base64_forms(private)):
                    low = form.lower()
                    self._grams.update(low[i:i + MIN_FRAGMENT] for i in range(len(low) - MIN_FRAGMENT + 1))
            elif len(secret) >= _MIN_WHOLE:
                self._wholes.append(re.compile(re.escape(secret), re.IGNORECASE))

    def __call__(self, text: str) -> str:
        """``text`` with every secret fragment and key-shaped string replaced by ``***``."""
        if self._grams and len(text) >= MIN_FRAGMENT:
            text = self._mask_fragments(text)
        for pattern in self._wholes:
            text = pattern.sub("***", text)
        return _KEY_SHAPES.sub("***", text)

    def _mask_fragments(self, text: str) -> str:
        low, grams, n = text.lower(), self._grams, MIN_FRAGMENT
        runs: list[list[int]] = []
        for i in range(len(low) - n + 1):
            if low[i:i + n] in grams:
                if runs and i <= runs[-1][1]:
                    runs[-1][1] = i + n
                else:
                    runs.append([i, i + n])
        if not runs:
            return text
        out, last = [], 0
        for start, end in runs:
            out += [text[last:start], "***"]
            last = end
        out.append(text[last:])
        return "".join(out)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` masked for ``secrets`` (see the module doc); builds a :class:`Masker` each time."""
    return Masker(secrets)(text)


def secrets_of(settings: ProviderSettings) -> tuple[str, ...]:
    """The API key and every configured header value of a provider."""
    values = [settings.api_key, *settings.headers.values()]
    return tuple(v.get_secret_value() for v in values if isinstance(v, SecretStr) and v.get_secret_value())


def strip_urls(text: str) -> str:
    """Every URL in ``text`` reduced to :func:`safe_url`."""
    return _URL.sub(lambda m: safe_url(m.group(0)), text)


class SecretHeaders(dict[str, str]):
    """Request headers whose ``repr`` / ``str`` mask credentials and every configured header value."""

    _configured: frozenset[str] = frozenset()

    @classmethod
    def of(cls, fixed: Mapping[str, str], configured: Mapping[str, SecretStr]) -> SecretHeaders:
        """``fixed`` headers, then the configured ones (their values are secrets, never shown)."""
        headers = cls(fixed)
        for name, value in configured.items():
            headers[name] = value.get_secret_value()
        headers._configured = frozenset(name.lower() for name in configured)
        return headers

    def __repr__(self) -> str:
        hidden = _SECRET_HEADERS | self._configured
        return repr({k: ("***" if k.lower() in hidden else v) for k, v in self.items()})

    __str__ = __repr__


__all__ = ["MIN_FRAGMENT", "Masker", "redact", "private_part", "secrets_of", "url_origin", "safe_url",
           "strip_urls", "SecretHeaders"]
