"""Routers for N models recover the right routing on a table where it is known."""

from __future__ import annotations

import numpy as np
import pytest

from tierflow.errors import RoutingError
from tierflow.routing.features.prompts import embed_prompts
from tierflow.routing.fit.train import fit_router
from tierflow.routing.routers.base import Step, router_class, router_kinds

from ..conftest import two_topic_table


@pytest.mark.parametrize("kind", ["knn", "cluster", "linear", "task", "blend"])
def test_pre_router_finds_the_oracle_routing(kind):
    train, test = two_topic_table(120, seed=0), two_topic_table(60, seed=5)
    router = fit_router(train, kind, embedder="hashing", params={"clusters": 4} if kind in ("cluster", "blend") else None)
    emb = embed_prompts(router, test.prompts)
    pts = router.points(test, emb)
    q, c, _ = pts.means()
    # some knob setting routes math to cheap and poems to strong: quality 1 at the oracle's cost
    best = np.nonzero(q >= 1.0 - 1e-9)[0]
    assert len(best), f"{kind}: never reaches full quality"
    assert c[best].min() == pytest.approx(5.5e-4, rel=1e-6)
    # the calibrated knob (95% of the best model's quality) is at least that good on held-out prompts
    d_math = router.choose(embed_prompts(router, [test.prompts[0]])[0], text=test.prompts[0])
    d_poem = router.choose(embed_prompts(router, [test.prompts[1]])[0], text=test.prompts[1])
    assert (d_math.chosen_model, d_poem.chosen_model) == ("cheap", "strong")
    assert d_math.runner_up_model == "strong"


def test_choose_respects_allowed_models(two_topic):
    router = fit_router(two_topic, "knn", embedder="hashing")
    emb = embed_prompts(router, [two_topic.prompts[1]])[0]
    assert router.choose(emb, allowed=[0]).chosen_model == "cheap"


def test_a_pre_router_routes_again_when_its_choice_failed(two_topic):
    router = fit_router(two_topic, "knn", embedder="hashing")
    poem = two_topic.prompts[1]
    emb = embed_prompts(router, [poem])[0]
    cheap, strong = router.models.index("cheap"), router.models.index("strong")
    assert router.next_step(emb, poem, {}) == Step("consult", strong)
    assert router.next_step(emb, poem, {strong: "a poem"}) == Step("answer", strong)
    # the strong model's call failed (None): consult the other, and answer with it
    assert router.next_step(emb, poem, {strong: None}) == Step("consult", cheap)
    assert router.next_step(emb, poem, {strong: None, cheap: "a verse"}) == Step("answer", cheap)
    # when every model failed, the step names a failed one and the caller reports the failures
    step = router.next_step(emb, poem, {strong: None, cheap: None})
    assert step.action == "answer" and step.model in (cheap, strong)


def test_kinds_are_registered():
    assert {"knn", "cluster", "linear", "task", "blend", "cascade"} <= set(router_kinds())
    with pytest.raises(RoutingError, match="unknown router kind"):
        router_class("nope")


def test_router_refuses_table_without_its_models(two_topic, agreement):
    router = fit_router(two_topic, "task", embedder="hashing")
    missing = [m for m in router.models if m not in agreement.models]
    assert missing
    with pytest.raises(RoutingError, match="has no column for") as err:
        router.points(agreement, embed_prompts(router, agreement.prompts))
    assert str(missing) in str(err.value)


def test_fit_refuses_tiny_or_single_model_tables(two_topic):
    with pytest.raises(RoutingError, match="at least 10"):
        fit_router(two_topic.subset(range(5)), "knn", embedder="hashing")


def test_the_built_in_kinds_are_listed_in_one_table_in_the_docstring_and_the_readme():
    import re
    from pathlib import Path

    import tierflow.routing.routers as routers

    docstring = set(re.findall(r"^``(\w+)``\s+:mod:", routers.__doc__ or "", re.M))
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    table = set(re.findall(r"^  \| `(\w+)` \|", readme, re.M))
    assert docstring == table == set(routers.BUILTIN_KINDS) == set(router_kinds())


def test_a_kind_is_added_with_register_router_and_an_incomplete_one_is_refused(tmp_path, two_topic, monkeypatch):
    from tierflow.routing.io import load_router, save_router
    from tierflow.routing.routers import PredictiveRouter, base, register_router

    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))  # the kinds registered here go with the test

    class Constant(PredictiveRouter):
        """Predicts every model's mean quality and cost for every prompt."""

        kind = "constant-test"

        def fit(self, table, emb):
            self.fit_common(table)
            self.q, self.c = np.nanmean(table.scores, 0), np.nanmean(table.costs, 0)
            return self

        def predict(self, emb, tasks=None, texts=None):
            return np.repeat(self.q[None, :], len(emb), 0), np.repeat(self.c[None, :], len(emb), 0)

        def state(self):
            return {"cost_unit": self.cost_unit}, {"q": self.q, "c": self.c}

        def load_state(self, meta, arrays):
            self.cost_unit, self.q, self.c = float(meta["cost_unit"]), arrays["q"], arrays["c"]

    register_router(Constant)
    assert "constant-test" in router_kinds()
    back = load_router(save_router(fit_router(two_topic, "constant-test", embedder="hashing"), tmp_path / "c.json"))
    assert isinstance(back, Constant) and back.choose(np.zeros(256)).chosen_model == "strong"

    class OldStyle(PredictiveRouter):  # the private pair of the older interface
        kind = "old-style-test"

        def fit(self, table, emb):
            return self

        def predict(self, emb, tasks=None, texts=None):
            raise NotImplementedError

        def _state(self):
            return {}, {}

    with pytest.raises(RoutingError, match=r"router kind OldStyle.*implement \['load_state', 'state'\]"):
        register_router(OldStyle)
    assert "old-style-test" not in router_kinds()
