"""Router files: JSON + npz, versioned, pickle-free, written atomically, checked on load."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from tierflow.errors import RoutingError
from tierflow.routing.io import load_router, save_router
from tierflow.routing.pipeline import embed_prompts, fit_router, routing_texts, unseen_part
from tierflow.routing.split import seen_mask, select


@pytest.mark.parametrize("kind", ["knn", "cluster", "linear", "task", "blend"])
def test_round_trip_gives_the_same_decisions(tmp_path, two_topic, kind):
    router = fit_router(two_topic, kind, embedder="hashing")
    path = save_router(router, tmp_path / "r.json")
    doc = json.loads(path.read_text())
    assert doc["format"] == "tierflow-router" and doc["version"] == 1 and doc["kind"] == kind
    with np.load(tmp_path / "r.npz", allow_pickle=False) as npz:  # pickle-free
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
    (tmp_path / "v.npz").write_bytes((tmp_path / "r.npz").read_bytes())
    with pytest.raises(RoutingError, match="version 99 is not supported"):
        load_router(tmp_path / "v.json")
    (tmp_path / "r.npz").write_bytes(b"garbage")
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
    path.rename(moved / "renamed.json")
    (tmp_path / "r.npz").rename(moved / "renamed.npz")
    back = load_router(moved / "renamed.json")  # the JSON still names r.npz; the sha256 binds the pair
    assert back.calibration == router.calibration
    (moved / "renamed.npz").unlink()
    with pytest.raises(RoutingError, match="arrays file is missing.*beside renamed.json"):
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
