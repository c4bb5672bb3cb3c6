"""fit_router's kind="auto": every kind the table allows, the best out-of-fold curve kept."""

from __future__ import annotations

import pytest

from tierflow.errors import RoutingError
from tierflow.routing.calibrate import Target
from tierflow.routing.io import load_router, save_router
from tierflow.routing.pipeline import fit_router


def test_auto_keeps_the_cascade_where_only_agreement_tells_right_from_wrong(agreement):
    router = fit_router(agreement, "auto", embedder="hashing")
    sel = router.calibration["selection"]
    assert set(sel["scores"]) == {"knn", "cluster", "linear", "task", "blend", "cascade"}
    assert router.kind == sel["chosen"] == "cascade"
    # prompts carry no signal: every pre-router stays far below the cascade's curve
    assert sel["scores"]["cascade"] > max(v for k, v in sel["scores"].items() if k != "cascade") + 0.05
    assert sel["by"] == "out-of-fold aiq on the training outcomes"


def test_auto_without_responses_chooses_among_pre_routers_and_saves_the_chosen_kind(two_topic, tmp_path):
    router = fit_router(two_topic, embedder="hashing")  # auto is the default
    sel = router.calibration["selection"]
    assert "cascade" not in sel["scores"] and sel["by"].startswith("out-of-fold apgr")
    assert sel["scores"][sel["chosen"]] == max(sel["scores"].values())
    assert router.kind == sel["chosen"]
    back = load_router(save_router(router, tmp_path / "r.json"))
    assert back.kind == sel["chosen"] and back.calibration["selection"] == sel


def test_auto_with_a_target_no_kind_reaches_names_every_kind(agreement):
    with pytest.raises(RoutingError) as err:
        fit_router(agreement, "auto", embedder="hashing", target=Target(quality=1.5), strict_target=True)
    text = str(err.value)
    assert all(f"kind {k}" in text for k in ("knn", "cluster", "linear", "task", "blend", "cascade"))
    assert "Lower the target" in text


def test_auto_notes_a_sparse_table_once(two_topic):
    two_topic.scores[:7, 0] = float("nan")  # seven prompts lack the cheap model's outcome
    fit_router(two_topic, "auto", embedder="hashing")
    assert [n for n in two_topic.notes if "lack some model's outcome" in n] == [
        "7 of 120 prompts lack some model's outcome; the router was calibrated on the 113 others"]


def test_the_cascade_is_calibrated_and_scored_by_refits_not_by_its_own_out_of_fold_curve(agreement):
    import numpy as np

    from tierflow.routing.calibrate import calibrate
    from tierflow.routing.evaluate import OperatingPoints, headline
    from tierflow.routing.pipeline import embed_prompts

    cascade = fit_router(agreement, "cascade", embedder="hashing")
    stored = cascade.calibration["curve"]["quality"]
    assert max(stored) > 0.9
    emb = embed_prompts(cascade, agreement.prompts)
    own = cascade.oof_points
    cascade.oof_points = OperatingPoints(*(np.zeros_like(own.quality) for _ in range(3)))  # a stand-in
    calibrate(cascade, agreement, emb, Target(quality=0.9))
    assert cascade.calibration["curve"]["quality"] == stored  # refitted, not taken from oof_points
    auto = fit_router(agreement, "auto", embedder="hashing")
    curve = cascade.calibration["curve"]
    q, c, s = (np.array(curve[k]) for k in ("quality", "cost", "strong_share"))
    assert auto.calibration["selection"]["scores"]["cascade"] == headline(agreement, q, c, s)[1]