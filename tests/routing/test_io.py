"""Router files: JSON + npz, versioned, pickle-free, written atomically, checked on load."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest

from tierflow.errors import RoutingError
from tierflow.routing.data.split import seen_mask, select
from tierflow.routing.features.prompts import embed_prompts, routing_texts
from tierflow.routing.fit.holdout import unseen_part
from tierflow.routing.fit.train import fit_router
from tierflow.routing.io import load_router, save_router

from .conftest import agreement_table, two_topic_table


def _arrays(path: Path) -> Path:
    """The arrays file a router file names."""
    return path.parent / json.loads(path.read_text())["arrays"]["file"]


@pytest.mark.parametrize("kind", ["knn", "cluster", "linear", "task", "blend"])
def test_round_trip_gives_the_same_decisions(tmp_path, two_topic, kind):
    router = fit_router(two_topic, kind, embedder="hashing")
    path = save_router(router, tmp_path / "r.json")
    doc = json.loads(path.read_text())
    assert doc["format"] == "tierflow-router" and doc["version"] == 1 and doc["kind"] == kind
    with np.load(_arrays(path), allow_pickle=False) as npz:  # pickle-free
        assert sorted(npz.files) == doc["arrays"]["names"]
    back = load_router(path)
    emb = embed_prompts(back, two_topic.prompts)
    np.testing.assert_array_equal(back.points(two_topic, emb).cost, router.points(two_topic, emb).cost)
    assert back.calibration["expected_quality"] == router.calibration["expected_quality"]
    assert not list(tmp_path.glob("*.tmp"))


def test_shared_boilerplate_is_learned_saved_and_stripped_before_embedding(tmp_path, two_topic):
    tail = "\nAnswer with a single word, nothing else."
    table = dataclasses.replace(two_topic, prompts=[p + tail for p in two_topic.prompts])
    router = fit_router(table, "knn", embedder="hashing")
    assert router.suffixes == [tail]
    back = load_router(save_router(router, tmp_path / "r.json"))
    assert back.suffixes == [tail] and back.prefixes == router.prefixes
    assert routing_texts(back, table.prompts[:3]) == two_topic.prompts[:3]
    doc = json.loads((tmp_path / "r.json").read_text())
    doc["suffixes"] = tail  # a string, not a list: must not be read as one suffix per character
    (tmp_path / "r.json").write_text(json.dumps(doc))
    with pytest.raises(RoutingError, match="r.json: suffixes.*expected a list of strings"):
        load_router(tmp_path / "r.json")
    del doc["suffixes"]  # files written before suffixes existed still load
    (tmp_path / "r.json").write_text(json.dumps(doc))
    assert load_router(tmp_path / "r.json").suffixes == []


def test_other_version_and_mismatched_arrays_are_refused(tmp_path, two_topic):
    path = save_router(fit_router(two_topic, "task", embedder="hashing"), tmp_path / "r.json")
    doc = json.loads(path.read_text())
    doc["version"] = 99
    (tmp_path / "v.json").write_text(json.dumps(doc))
    with pytest.raises(RoutingError, match="version 99 is not supported"):
        load_router(tmp_path / "v.json")
    _arrays(path).write_bytes(b"garbage")
    with pytest.raises(RoutingError, match="sha256 differs"):
        load_router(path)
    (tmp_path / "x.json").write_text("{\"hello\": 1}")
    with pytest.raises(RoutingError, match="not a tierflow router file"):
        load_router(tmp_path / "x.json")


def test_a_pair_renamed_together_still_loads_and_a_lost_arrays_file_is_named(tmp_path, two_topic):
    router = fit_router(two_topic, "task", embedder="hashing")
    path = save_router(router, tmp_path / "r.json")
    moved = tmp_path / "moved"
    moved.mkdir()
    arrays = _arrays(path)
    path.rename(moved / "renamed.json")
    arrays.rename(moved / "renamed.npz")
    back = load_router(moved / "renamed.json")  # the JSON still names r.<sha>.npz; the sha256 binds the pair
    assert back.calibration == router.calibration
    (moved / "renamed.npz").rename(moved / arrays.name)  # moved with its own name: found by it
    assert load_router(moved / "renamed.json").calibration == router.calibration
    (moved / arrays.name).unlink()
    with pytest.raises(RoutingError, match="arrays file of renamed.json is missing.*beside renamed.json"):
        load_router(moved / "renamed.json")


@pytest.mark.parametrize("mix", [{"value": 0.1}, {"value": 0.1, "share": 1.5}, {"value": "x", "share": 0.5}, [0.1, 0.5]])
def test_a_damaged_mix_is_refused_naming_the_field(tmp_path, two_topic, mix):
    path = save_router(fit_router(two_topic, "task", embedder="hashing"), tmp_path / "r.json")
    doc = json.loads(path.read_text())
    doc["knob"]["mix"] = mix
    path.write_text(json.dumps(doc))
    with pytest.raises(RoutingError, match=r"r.json: knob.mix: expected \{value"):
        load_router(path)
    doc["knob"]["mix"] = {"value": None, "share": 0.25}  # null stands for the infinite knob
    path.write_text(json.dumps(doc))
    assert load_router(path).mix == (float("inf"), 0.25)


def test_the_prompts_fitted_on_are_kept_and_a_file_without_them_falls_back_to_the_hash_split(tmp_path, two_topic):
    router = fit_router(two_topic.subset(range(80)), "task", embedder="hashing")
    back = load_router(save_router(router, tmp_path / "r.json"))
    seen = seen_mask(two_topic, back.fitted_on)
    assert seen[:80].all() and not seen[80:].any()
    test, train, notes = unseen_part(back, two_topic)
    assert test.ids == two_topic.ids[80:] and train is not None and train.ids == two_topic.ids[:80]
    assert notes == ["80 of 120 prompts were used to fit the router and were left out: evaluated on the other 40; "
                     "the per_task and agreement baselines were fitted on the 80"]
    router.fitted_on = None  # as an older tierflow wrote it
    old = load_router(save_router(router, tmp_path / "old.json"))
    assert old.fitted_on is None and "fitted_on" not in old.params
    test, train, notes = unseen_part(old, two_topic)
    assert test.ids == select(two_topic, "test").ids and "older tierflow" in notes[0]


def test_a_fit_killed_between_the_two_files_leaves_the_existing_router_loading(tmp_path, two_topic, monkeypatch):
    path = save_router(fit_router(two_topic, "task", embedder="hashing"), tmp_path / "r.json")
    before = load_router(path)
    new = fit_router(two_topic.subset(range(60)), "knn", embedder="hashing")
    real_replace, calls = os.replace, []

    def killed_at_the_second_file(src, dst):  # as a kill after the first file is in place would leave it
        calls.append(dst)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", killed_at_the_second_file)
    with pytest.raises(KeyboardInterrupt):
        save_router(new, path)
    monkeypatch.setattr(os, "replace", real_replace)
    after = load_router(path)  # the old pair, whole
    assert after.kind == "task" and after.calibration == before.calibration
    save_router(new, path)  # the same fit run again replaces it, and only the new pair is left
    assert load_router(path).kind == "knn"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["r.json", _arrays(path).name])


def _damage(path: Path, how: str) -> Path:
    """Damage the router file at ``path`` as a user or a crash might; returns the file the error should name."""
    doc, arrays = json.loads(path.read_text()), _arrays(path)
    if how == "truncated json":
        path.write_text(path.read_text()[: len(path.read_text()) // 2])
    elif how == "missing npz":
        arrays.unlink()
        return arrays
    elif how in ("no kind", "no state", "no arrays"):
        del doc[how.removeprefix("no ")]
    elif how == "arrays not a mapping":
        doc["arrays"] = "r.npz"
    elif how == "knob without value":
        doc["knob"] = {"name": "lambda"}
    elif how == "state key missing":
        del doc["state"]["cost_unit"]
    elif how == "unknown kind":
        doc["kind"] = "telepathy"
    elif how in ("array missing", "npz not a zip"):
        with np.load(arrays, allow_pickle=False) as npz:
            kept = {k: npz[k] for k in npz.files if k != "quality"}
        buf = io.BytesIO()
        np.savez_compressed(buf, **kept)
        blob = buf.getvalue() if how == "array missing" else b"not a zip archive"
        arrays.write_bytes(blob)
        doc["arrays"]["sha256"] = hashlib.sha256(blob).hexdigest()
        if how == "npz not a zip":
            return arrays
    if how != "truncated json":
        path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("how", ["truncated json", "missing npz", "no kind", "no state", "no arrays",
                                 "arrays not a mapping", "knob without value", "state key missing", "unknown kind",
                                 "array missing", "npz not a zip"])
def test_a_damaged_router_file_gives_a_routing_error_naming_the_file(tmp_path, two_topic, how):
    path = save_router(fit_router(two_topic, "task", embedder="hashing"), tmp_path / "r.json")
    named = _damage(path, how)
    with pytest.raises(RoutingError) as err:
        load_router(path)
    assert str(named) in str(err.value) and "route fit" in str(err.value)


def test_router_files_written_by_the_flat_layout_still_load_and_decide_alike():
    from tierflow.routing import get_embedder

    fixtures = Path(__file__).parent / "fixtures"
    expected = json.loads((fixtures / "v1_decisions.json").read_text())
    tables = {"knn": two_topic_table(60), "blend": two_topic_table(60), "cascade": agreement_table(300)}
    for kind, table in tables.items():
        router = load_router(fixtures / f"v1_{kind}.json")
        assert router.kind == kind and router.fitted_on is not None
        want = expected[kind]
        emb = embed_prompts(router, want["prompts"], get_embedder("hashing"))
        assert [router.choose(e, text=p).chosen_model for p, e in zip(want["prompts"], emb)] == want["chosen"]
        if kind == "blend":
            continue  # its cluster part now assigns prompts as k-means fitted them (see routers/predictors.py)
        q, c, _ = router.points(table, embed_prompts(router, table.prompts, get_embedder("hashing"))).means()
        np.testing.assert_allclose(q, want["curve_quality"])
        np.testing.assert_allclose(c, want["curve_cost"])


def test_refitting_over_a_router_file_keeps_its_mode(tmp_path, two_topic):
    import stat

    path = save_router(fit_router(two_topic, "task", embedder="hashing"), tmp_path / "r.json")
    os.chmod(path, 0o640)
    save_router(fit_router(two_topic.subset(range(60)), "task", embedder="hashing"), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
