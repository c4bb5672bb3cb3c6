"""The blend router averages its parts' predictions, and says which parts it accepts."""

from __future__ import annotations

import numpy as np
import pytest

from tierflow.errors import RoutingError
from tierflow.routing.features.prompts import embed_prompts
from tierflow.routing.fit.train import fit_router
from tierflow.routing.io import load_router, save_router

from ..conftest import two_topic_table


def test_blend_predicts_the_mean_of_its_parts_fitted_alone(tmp_path):
    train, test = two_topic_table(120, seed=0), two_topic_table(40, seed=3)
    blend = fit_router(train, "blend", embedder="hashing", params={"parts": "knn,linear"})
    assert [p.kind for p in blend.parts] == ["knn", "linear"]
    emb = embed_prompts(blend, test.prompts)
    q, c = blend.predict(emb, texts=test.prompts)
    alone = [fit_router(train, kind, embedder="hashing").predict(emb, texts=test.prompts) for kind in ("knn", "linear")]
    np.testing.assert_allclose(q, (alone[0][0] + alone[1][0]) / 2, atol=1e-9)
    np.testing.assert_allclose(c, (alone[0][1] + alone[1][1]) / 2, atol=1e-9)
    assert np.abs(alone[0][0] - alone[1][0]).max() > 1e-3  # the parts differ, so the mean is a real check
    back = load_router(save_router(blend, tmp_path / "b.json"))
    np.testing.assert_allclose(back.predict(emb, texts=test.prompts)[0], q, atol=1e-6)


@pytest.mark.parametrize("parts", ["cascade", "blend", "", "knn,nope"])
def test_blend_refuses_parts_that_are_not_pre_routers(two_topic, parts):
    with pytest.raises(RoutingError, match="kind"):
        fit_router(two_topic, "blend", embedder="hashing", params={"parts": parts})
