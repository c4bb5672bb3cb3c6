"""A loopback LLM server for tests and benchmarks: OpenAI, Anthropic and Gemini wire formats.

    async with LLMTestServer() as srv:
        srv.script("model-a", [Status(429, retry_after=0.05), Answer("hi")])
        ...  # point a provider at srv.base_url

See :mod:`tierflow.testing.server` for the routes and :mod:`tierflow.testing.behaviours` for
what a scripted request can do; :class:`RecordingServer` records whatever reaches another origin.
"""

from tierflow.testing.behaviours import (
    Answer,
    Behaviour,
    CutStream,
    Garbage,
    Hang,
    Redirect,
    SlowStream,
    Status,
    behaviour_from_dict,
    behaviour_to_dict,
)
from tierflow.testing.recorder import RecordedRequest, RecordingServer
from tierflow.testing.server import LLMTestServer, ReceivedRequest

__all__ = ["LLMTestServer", "ReceivedRequest", "RecordingServer", "RecordedRequest", "Behaviour", "Answer",
           "Status", "Hang", "CutStream", "Garbage", "SlowStream", "Redirect", "behaviour_from_dict",
           "behaviour_to_dict"]
