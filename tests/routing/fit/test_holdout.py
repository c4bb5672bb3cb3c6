"""Which prompts route eval scores, and which the per_task and agreement baselines are fitted on."""

from __future__ import annotations

from tierflow.routing.data.formats import write_long_jsonl
from tierflow.routing.data.outcomes import concat
from tierflow.routing.fit.holdout import training_outcomes, unseen_part
from tierflow.routing.fit.train import fit_router

from ..conftest import two_topic_table


def _fitted(tmp_path, n: int = 120):
    train = two_topic_table(n, seed=0)
    path = tmp_path / "train.jsonl"
    write_long_jsonl(train, path)
    router = fit_router(train, "task", embedder="hashing")
    router.info = {"outcomes": [str(path)]}  # as route fit records it
    return train, router


def test_a_test_table_overlapping_a_few_training_prompts_fits_the_baselines_on_the_training_files(tmp_path):
    train, router = _fitted(tmp_path)
    fresh = two_topic_table(60, seed=7)
    fresh = fresh.subset(range(fresh.n))
    fresh.ids = [f"new{i}" for i in range(fresh.n)]
    fresh.prompts = [p + " (new)" for p in fresh.prompts]
    overlap = concat([train.subset(range(15)), fresh])  # 15 prompts the router was fitted on, 60 it was not
    test, baselines_on, notes = unseen_part(router, overlap, training=lambda: training_outcomes(router))
    assert test.ids == fresh.ids
    assert baselines_on is not None and baselines_on.n == train.n  # all 120, not the 15 that overlap
    assert notes == [f"15 of these 75 prompts were used to fit the router (left out): evaluated on 60; the per_task "
                     f"and agreement baselines were fitted on the 120 prompts the router was fitted on "
                     f"({tmp_path / 'train.jsonl'})"]


def test_without_the_training_files_the_overlap_is_used_and_said_to_be_all_there_was(tmp_path):
    train, router = _fitted(tmp_path)
    (tmp_path / "train.jsonl").unlink()
    fresh = two_topic_table(60, seed=7)
    fresh.prompts = [p + " (new)" for p in fresh.prompts]
    test, baselines_on, notes = unseen_part(router, concat([train.subset(range(15)), fresh]),
                                            training=lambda: training_outcomes(router))
    assert test.n == 60 and baselines_on is not None and baselines_on.n == 15
    assert "fitted on those 15 only (the router's own training outcomes could not be read)" in notes[0]


def test_on_the_routers_own_files_the_baselines_are_fitted_on_the_rest_without_reading_them_again(tmp_path):
    train, router = _fitted(tmp_path, 80)
    everything = concat([train, two_topic_table(40, seed=3)])
    read = []
    test, baselines_on, notes = unseen_part(router, everything, training=lambda: read.append(1))
    assert test.n == 40 and baselines_on is not None and baselines_on.ids == train.ids and not read
    assert notes == ["80 of 120 prompts were used to fit the router and were left out: evaluated on the other 40; "
                     "the per_task and agreement baselines were fitted on the 80"]
