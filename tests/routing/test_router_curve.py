"""A saved router's cost-quality curve: its points, hull, current setting and single models, from the file."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from tierflow.config import load_config
from tierflow.errors import RoutingError
from tierflow.routing.curves import hull_at
from tierflow.routing.fit.train import fit_router
from tierflow.routing.io import save_router
from tierflow.routing.router_curve import load_router_curve, routed_role_curve
from tierflow.routing.targets import CalibrationTarget


@pytest.fixture
def saved(two_topic, tmp_path):
    router = fit_router(two_topic, "knn", embedder="hashing", target=CalibrationTarget(quality=1.0), strict_target=True)
    return router, save_router(router, tmp_path / "routers" / "auto.json")


def test_the_curve_is_the_stored_calibration_with_its_hull_and_current_point(saved, two_topic):
    router, path = saved
    curve = load_router_curve(path)
    stored = router.calibration["curve"]
    assert [p.knob for p in curve.points] == stored["knob"]
    assert [p.quality for p in curve.points] == pytest.approx(stored["quality"])
    assert [p.cost for p in curve.points] == pytest.approx(stored["cost"])
    # the hull: vertices among the points, cheapest first, rising, and no point above it
    hc = np.array([c for c, _ in curve.hull])
    hq = np.array([q for _, q in curve.hull])
    assert np.all(np.diff(hc) > 0) and np.all(np.diff(hq) > 0)
    assert all(any(p.cost == c and p.quality == q for p in curve.points) for c, q in curve.hull)
    assert all(p.quality <= hull_at(hc, hq, p.cost) + 1e-12 for p in curve.points)
    # the knob's point is what calibration expected (the target: the best single model's quality)
    assert curve.current is not None and curve.mix is None
    assert curve.current.quality == pytest.approx(router.calibration["expected_quality"])
    assert curve.current.cost == pytest.approx(router.calibration["expected_cost"])
    assert curve.target == {"quality": 1.0}
    # the single models' means over the table the router was fitted on
    singles = {s.model: (s.quality, s.cost) for s in curve.singles}
    for j, model in enumerate(two_topic.models):
        assert singles[model] == pytest.approx((two_topic.scores[:, j].mean(), two_topic.costs[:, j].mean()))
    assert curve.best_single_quality == pytest.approx(max(q for q, _ in singles.values()))
    assert json.loads(json.dumps(curve.to_json()))["hull"][0] == {"cost": hc[0], "quality": hq[0]}


def test_a_routed_role_is_retargeted_as_it_runs(saved, tmp_path):
    _, path = saved
    text = """
models:
  - {role: primary, ref: openai, model: gpt-4o}
  - {role: fast, ref: openai, model: gpt-4o-mini}
  - {role: auto, router: routers/auto.json, candidates: [fast, primary], models: {cheap: fast, strong: primary},
     target: {max_cost_per_1k: 0.1}}
"""
    (tmp_path / "gateway.yaml").write_text(text, encoding="utf-8")
    curve = routed_role_curve(load_config(tmp_path / "gateway.yaml"), "auto")  # the router's path: from there
    assert curve.roles == {"cheap": "fast", "strong": "primary"}
    assert curve.current is not None and curve.current.cost * 1000 <= 0.1 + 1e-12
    assert curve.current.cost < load_router_curve(path).current.cost  # a cheaper setting than the file's own
    # the target shown is the one the role runs at; the file's own is kept beside it
    assert curve.target == {"max_cost_per_1k": 0.1} and curve.fitted_target == {"quality": 1.0}
    assert curve.retargeted and curve.to_json()["retargeted"] is True
    assert not load_router_curve(path).retargeted


def test_a_damaged_or_missing_file_is_refused_naming_it(saved, tmp_path):
    _, path = saved
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["calibration"].pop("curve")
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(RoutingError, match=re.escape(f"{path}: router.calibration: this router was saved without")):
        load_router_curve(path)
    path.write_text(path.read_text(encoding="utf-8")[:40], encoding="utf-8")
    with pytest.raises(RoutingError, match="not a JSON router file") as exc:
        load_router_curve(path)
    assert str(path) in str(exc.value)
    with pytest.raises(RoutingError, match="no such router file"):
        load_router_curve(tmp_path / "nope.json")


def _check_ranges(curve):
    """Each range is a run of consecutive settings at one operating point, neighbours differ, all covered."""
    ranges = curve.ranges()
    assert [r.first for r in ranges] == [0] + [r.last + 1 for r in ranges[:-1]] and ranges[-1].last == len(curve.points) - 1
    for r in ranges:
        run = curve.points[r.first:r.last + 1]
        assert {(p.cost, p.quality) for p in run} == {(r.cost, r.quality)}
        assert (r.knob_low, r.knob_high) == (run[0].knob, run[-1].knob)
        assert r.on_hull == ((r.cost, r.quality) in curve.hull)
    assert all((a.cost, a.quality) != (b.cost, b.quality) for a, b in zip(ranges, ranges[1:]))
    assert sum(r.on_hull for r in ranges) == len(curve.hull)  # each hull vertex is one range (neighbours differ)
    # the points as the console gets them carry the same marks, so the page recomputes none
    points = json.loads(json.dumps(curve.to_json()))["points"]
    for r in ranges:
        run = points[r.first:r.last + 1]
        assert all(p["on_hull"] == r.on_hull for p in run)
        assert any(p["current"] for p in run) == r.current and any(p["mixed_in"] for p in run) == r.mixed_in
    assert sum(p["current"] for p in points) == (curve.current is not None)
    assert [p["knob"] for p in points if p["current"]] == ([curve.current.knob] if curve.current else [])
    assert sum(p["mixed_in"] for p in points) == (curve.mix is not None)
    return ranges


def test_the_ranges_merge_consecutive_settings_at_one_operating_point(saved, tmp_path):
    _, path = saved
    curve = load_router_curve(path)
    ranges = _check_ranges(curve)
    assert len(ranges) < len(curve.points)  # the knn router's settings repeat
    (current,) = [r for r in ranges if r.current]
    assert curve.current.knob in [p.knob for p in curve.points[current.first:current.last + 1]]
    assert not any(r.mixed_in for r in ranges) and curve.mix is None
    assert json.loads(json.dumps(curve.to_json()))["ranges"][0]["last"] == ranges[0].last
    (tmp_path / "gateway.yaml").write_text("""
models:
  - {role: primary, ref: openai, model: gpt-4o}
  - {role: fast, ref: openai, model: gpt-4o-mini}
  - {role: auto, router: routers/auto.json, candidates: [fast, primary], models: {cheap: fast, strong: primary},
     target: {strong_share: 0.3}}
""", encoding="utf-8")
    mixed = routed_role_curve(load_config(tmp_path / "gateway.yaml"), "auto")
    ranges = _check_ranges(mixed)
    assert mixed.mix is not None and mixed.current is not None  # a share of prompts at a second setting
    (other,) = [r for r in ranges if r.mixed_in]
    assert any(k is not None and np.isclose(k, mixed.mix[0]) for k in (p.knob for p in mixed.points[other.first:other.last + 1]))
    assert sum(r.current for r in ranges) == 1


def test_the_single_models_are_measured_on_the_prompts_of_the_curve(two_topic, tmp_path):
    """With outcomes missing, the curve counts the prompts every model answered: the single models too."""
    two_topic.scores[1:40:2, 1] = np.nan  # the strong model's outcome unrecorded on 20 poem prompts
    two_topic.costs[0:30:2, 0] = np.nan  # and a few of the cheap model's costs unknown
    router = fit_router(two_topic, "knn", embedder="hashing", target=CalibrationTarget(quality=0.9))
    curve = load_router_curve(save_router(router, tmp_path / "r.json"))
    always_cheap = next(p for p in curve.points if p.knob is None)  # knob ∞: every prompt to the cheap model
    single = {s.model: s for s in curve.singles}
    assert (always_cheap.quality, always_cheap.cost) == pytest.approx((single["cheap"].quality, single["cheap"].cost))
    rows = two_topic.complete_rows()
    assert single["strong"].quality == pytest.approx(two_topic.scores[rows, 1].mean())
    assert curve.best_single_quality == pytest.approx(max(s.quality for s in curve.singles))


@pytest.mark.parametrize("field, value", [("quality", None), ("cost", float("nan")), ("strong_share", float("inf")),
                                          ("knob", float("nan"))])
def test_a_stored_curve_with_a_value_that_is_not_a_number_is_refused_naming_it(saved, field, value):
    _, path = saved
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["calibration"]["curve"][field][1] = value
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(RoutingError, match=re.escape(f"{path}: router.calibration.curve: {field} must be numbers")):
        load_router_curve(path)
