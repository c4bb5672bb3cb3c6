"""fit_router's kind="auto": every kind the table allows, the best out-of-fold curve kept."""

from __future__ import annotations

import pytest

from tierflow.errors import RoutingError
from tierflow.routing.features.prompts import embed_prompts
from tierflow.routing.fit.train import fit_router
from tierflow.routing.io import load_router, save_router
from tierflow.routing.targets import CalibrationTarget


def test_auto_keeps_the_cascade_where_only_agreement_tells_right_from_wrong(agreement):
    router = fit_router(agreement, "auto", embedder="hashing")
    sel = router.calibration["selection"]
    assert set(sel["scores"]) == {"knn", "cluster", "linear", "task", "blend", "cascade"}
    assert router.kind == sel["chosen"] == "cascade"
    # prompts carry no signal: every pre-router stays far below the cascade's curve
    assert sel["scores"]["cascade"] > max(v for k, v in sel["scores"].items() if k != "cascade") + 0.05
    assert sel["by"] == "out-of-fold aiq on the training outcomes (prompts held out)"


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
        fit_router(agreement, "auto", embedder="hashing", target=CalibrationTarget(quality=1.5), strict_target=True)
    text = str(err.value)
    assert all(f"kind {k}" in text for k in ("knn", "cluster", "linear", "task", "blend", "cascade"))
    assert "Lower the target" in text


def test_auto_notes_a_sparse_table_once(two_topic):
    two_topic.scores[:7, 0] = float("nan")  # seven prompts lack the cheap model's outcome
    fit_router(two_topic, "auto", embedder="hashing")
    assert [n for n in two_topic.notes if "lack some model's outcome" in n] == [
        "7 of 120 prompts lack some model's outcome; the router was calibrated on the 113 others"]


def _frontier_at(costs, qualities, c: float) -> float:
    """The refits' quality at cost ``c``: linear between the settings no cheaper one beats."""
    import numpy as np

    front = [(fc, fq) for fc, fq in zip(costs, qualities)
             if not any((oc < fc and oq >= fq) or (oc == fc and oq > fq) for oc, oq in zip(costs, qualities))]
    xs, ys = zip(*sorted(set(front)))
    return float(np.interp(c, xs, ys))


def test_routers_are_priced_at_their_own_cost_credited_with_their_refits_quality_and_scored_by_refits(agreement):
    import numpy as np

    from tierflow.routing.fit.evaluate import headline

    cascade = fit_router(agreement, "cascade", embedder="hashing")
    cal = cascade.calibration
    own_q, own_c, own_s = cascade.oof_points.means()
    assert np.allclose(cal["curve"]["cost"], own_c) and np.allclose(cal["curve"]["strong_share"], own_s)
    refit = {k: np.array(cal["refit_curve"][k]) for k in ("quality", "cost", "strong_share")}
    for q, c in zip(cal["curve"]["quality"], own_c):
        # credited with the quality the refitted cascades' frontier reaches at that cost
        assert q == pytest.approx(_frontier_at(refit["cost"], refit["quality"], c), abs=1e-12)
    assert max(cal["curve"]["quality"]) <= refit["quality"].max() < own_q.max() + 1e-12
    auto = fit_router(agreement, "auto", embedder="hashing")
    assert auto.calibration["selection"]["scores"]["cascade"] == headline(
        agreement, refit["quality"], refit["cost"], refit["strong_share"])[1]
    # every kind is priced so: a knn router's curve costs what it spends on its own training prompts
    knn = fit_router(agreement, "knn", embedder="hashing")
    own = knn.points(agreement, embed_prompts(knn, agreement.prompts), knn.knob_grid())
    assert np.allclose(knn.calibration["curve"]["cost"], own.means()[1])
    refit_q, refit_c = (np.array(knn.calibration["refit_curve"][k]) for k in ("quality", "cost"))
    for q, c in zip(knn.calibration["curve"]["quality"], own.means()[1]):
        assert q == pytest.approx(_frontier_at(refit_c, refit_q, c), abs=1e-12)


def test_the_python_api_refuses_a_model_without_cost_beside_priced_ones(two_topic):
    """fit_router and evaluate_router, called directly (not through load_outcomes), must not cost an
    unpriced model at a made-up figure."""
    import numpy as np

    from tierflow.routing.fit.evaluate import evaluate_router

    router = fit_router(two_topic, "task", embedder="hashing")
    two_topic.costs[:, 0] = np.nan  # the cheap model's costs unknown, the strong one's recorded
    for call in (lambda: fit_router(two_topic, "task", embedder="hashing"),
                 lambda: evaluate_router(router, two_topic, latency=False)):
        with pytest.raises(RoutingError) as err:
            call()
        assert f"no price known for ['{two_topic.models[0]}']" in str(err.value)
