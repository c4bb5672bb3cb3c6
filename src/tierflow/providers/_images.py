"""OpenAI image parts (``{"type": "image_url", "image_url": {"url": ...}}``) for the providers that
take images in another shape: a ``data:`` URL becomes base64 data with its media type, an
``http(s)`` URL stays a URL. Anything else is refused with a :class:`BadRequestError` naming the
message, before a request is sent."""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass
from typing import Any

from tierflow.errors import BadRequestError

_DATA_URL = re.compile(r"data:(image/[\w.+-]+);base64,(.*)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Image:
    """One image: ``data`` (base64) with its ``media_type``, or a ``url``."""

    media_type: str
    data: str | None = None
    url: str | None = None


def is_image(part: Any) -> bool:
    return isinstance(part, dict) and part.get("type") == "image_url"


def image_of(part: dict[str, Any], where: str, target: str) -> Image:
    """The image of an OpenAI ``image_url`` part; ``where`` names it (``messages[2]``) in errors."""
    spec = part.get("image_url")
    url = spec.get("url") if isinstance(spec, dict) else spec
    if isinstance(url, str):
        found = _DATA_URL.fullmatch(url)
        if found:
            return Image(media_type=found.group(1), data=found.group(2))
        if url.startswith(("https://", "http://")):
            guessed = mimetypes.guess_type(url.split("?", 1)[0])[0]
            return Image(media_type=guessed if guessed and guessed.startswith("image/") else "image/jpeg", url=url)
    raise BadRequestError(f"{where}: an image part needs image_url.url, a 'data:image/...;base64,' URL or an "
                          "http(s) URL", target=target, status_code=400)


__all__ = ["Image", "image_of", "is_image"]
