"""Server-sent events, parsed by the specification's line rules in time linear in the stream.

The rules (WHATWG HTML, "Parsing an event stream"): lines end with CRLF, LF or CR; a UTF-8 byte
order mark at the start of the stream is skipped; a line starting with ``:`` is a comment; a line
``name: value`` sets a field (one space after the colon is dropped), a line without a colon is a
field with an empty value; ``data`` lines accumulate, joined with ``\\n``; an empty line dispatches
the event (``event`` names it, default ``message``) unless no ``data`` was given. ``id`` and
``retry`` are not needed by any provider and are ignored.

One deliberate leniency: an event still pending when the stream ends (its blank line missing) is
dispatched rather than dropped; a truncated JSON payload then fails to parse, as it should.

Linear time: a chunk is scanned once for line ends; a line split over many chunks is collected as
pieces and joined once. :attr:`SSEParser.work` counts the bytes scanned and joined, so a test can
check the bound without timing anything (``bench/bench_sse.py`` times it).
"""

from __future__ import annotations

import re

_LINE_END = re.compile(rb"\r\n|\r|\n")
_BOM = b"\xef\xbb\xbf"


class SSEParser:
    """Feed bytes as they arrive; get ``(event, data)`` pairs back."""

    __slots__ = ("_pieces", "_pending_cr", "_started", "_event", "_data", "work")

    def __init__(self) -> None:
        self._pieces: list[bytes] = []  # the current line, not yet terminated
        self._pending_cr = False  # the last chunk ended in CR: a LF starting the next one belongs to it
        self._started = False  # the BOM check is done
        self._event = ""
        self._data: list[str] = []
        self.work = 0
        """Bytes scanned for line ends plus bytes joined into lines (linear in the input)."""

    def feed(self, chunk: bytes) -> list[tuple[str, str]]:
        """Parse ``chunk``; the events it completes."""
        if not chunk:
            return []
        if not self._started:
            head = b"".join(self._pieces) + chunk  # at most the BOM's 3 bytes were held back
            if len(head) < len(_BOM) and _BOM.startswith(head):
                self._pieces = [head]  # could still be the start of a BOM
                return []
            self._pieces, self._started = [], True
            chunk = head[len(_BOM):] if head.startswith(_BOM) else head
        if self._pending_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        self._pending_cr = False
        self.work += len(chunk)
        events: list[tuple[str, str]] = []
        if b"\n" not in chunk and b"\r" not in chunk:  # the middle of a long line (memchr, not the regex)
            self._pieces.append(chunk)
            return events
        start = 0
        for match in _LINE_END.finditer(chunk):
            piece = chunk[start:match.start()]
            if self._pieces:
                self._pieces.append(piece)
                line = b"".join(self._pieces)
                self.work += len(line)
                self._pieces = []
            else:
                line = piece
            self._line(line, events)
            start = match.end()
        if start < len(chunk):
            self._pieces.append(chunk[start:])
        elif chunk.endswith(b"\r"):
            self._pending_cr = True
        return events

    def close(self) -> list[tuple[str, str]]:
        """End of stream: the last line if unterminated, and a pending event (see the module doc)."""
        events: list[tuple[str, str]] = []
        if self._pieces:
            line = b"".join(self._pieces)
            self._pieces = []
            if not self._started and line.startswith(_BOM):
                line = line[len(_BOM):]
            self._line(line, events)
        self._line(b"", events)
        return events

    def _line(self, line: bytes, events: list[tuple[str, str]]) -> None:
        if not line:
            if self._data:
                events.append((self._event or "message", "\n".join(self._data)))
            self._event, self._data = "", []
            return
        if line.startswith(b":"):
            return  # a comment
        name, colon, value = line.partition(b":")
        if colon and value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            self._data.append(value.decode("utf-8", "replace"))
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")


__all__ = ["SSEParser"]
