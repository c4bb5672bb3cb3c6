"""Readers of outcome tables: the public formats, the long JSONL format, bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tierflow.errors import RoutingError
from tierflow.routing.data.formats import load_outcomes, read_long_jsonl, read_outcomes, write_long_jsonl
from tierflow.routing.data.outcomes import DEFAULT_PRICES, concat, derive_cost, estimate_tokens


def test_long_jsonl_round_trip(tmp_path, two_topic):
    path = tmp_path / "out.jsonl"
    write_long_jsonl(two_topic, path)
    back = read_long_jsonl(path)
    assert back.models == two_topic.models
    assert back.ids == two_topic.ids
    np.testing.assert_allclose(back.scores, two_topic.scores)
    np.testing.assert_allclose(back.costs, two_topic.costs)
    assert not (tmp_path / "out.jsonl.tmp").exists()


def test_long_jsonl_derives_missing_cost_and_says_so(tmp_path):
    path = tmp_path / "o.jsonl"
    rows = [{"prompt_id": "a", "prompt": "x" * 400, "model": "gpt-4-1106-preview", "score": 1, "response": "y" * 40},
            {"prompt_id": "a", "prompt": "x" * 400, "model": "m2", "score": 0, "cost": 0.5}]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    table = read_long_jsonl(path)
    assert table.costs[0, 0] == pytest.approx((100 * 10 + 10 * 30) / 1e6)
    assert table.costs[0, 1] == 0.5
    assert any("derived" in n and "gpt-4-1106-preview" in n for n in table.notes)


@pytest.mark.parametrize("model, ref, provider", [("gpt-4o-mini", "gpt-4o-mini", "openai"),
                                                    ("openai/gpt-4o", "openai/gpt-4o", "openrouter")])
def test_a_model_the_built_in_table_lacks_is_priced_by_genai_prices(tmp_path, model, ref, provider):
    from genai_prices import Usage, calc_price

    path = tmp_path / "o.jsonl"
    rows = [{"prompt_id": "a", "prompt": "q", "model": model, "score": 1, "input_tokens": 1000, "output_tokens": 200},
            {"prompt_id": "a", "prompt": "q", "model": "m2", "score": 0, "cost": 0.5}]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    table = read_long_jsonl(path)
    expected = float(calc_price(Usage(input_tokens=1000, output_tokens=200), model_ref=ref,
                                provider_id=provider).total_price)
    assert table.costs[0, 0] == pytest.approx(expected) and expected > 0
    note = next(n for n in table.notes if model in n)
    assert "derived" in note and "genai-prices" in note  # says where the price came from


def test_a_model_with_no_cost_and_no_price_beside_priced_ones_is_refused(tmp_path):
    path = tmp_path / "o.jsonl"
    rows = [{"prompt_id": p, "prompt": p, "model": m, "score": 1, **({"cost": 0.01} if m == "big" else {})}
            for p in ("a", "b") for m in ("big", "acme-finetune-7b")]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    with pytest.raises(RoutingError) as err:
        load_outcomes([path])
    assert "acme-finetune-7b" in str(err.value) and "--prices" in str(err.value)
    priced = load_outcomes([path], prices={**DEFAULT_PRICES, "acme-finetune-7b": (0.0, 0.0)})
    assert priced.costs[:, priced.models.index("acme-finetune-7b")].tolist() == [0.0, 0.0]
    costless = tmp_path / "c.jsonl"  # no model priced at all: routed by quality alone, not refused
    costless.write_text("\n".join(json.dumps({k: v for k, v in r.items() if k != "cost"}) for r in rows))
    assert np.isnan(load_outcomes([costless]).costs).all()


@pytest.mark.parametrize("line, needle", [
    ({"prompt_id": "a", "prompt": "p", "model": "m", "score": 1.5}, "outside [0, 1]"),
    ({"prompt_id": "a", "model": "m", "score": 1}, "missing required field"),
    ({"prompt_id": "a", "prompt": "p", "model": "m", "score": "high"}, "not a number"),
    ({"prompt_id": "a", "prompt": "p", "model": "m", "score": None}, "score is null; a number in [0, 1]"),
    ({"prompt_id": "z", "prompt": "ok", "model": "m", "score": 1}, "a second outcome of 'm' on prompt_id 'z' "
                                                                   "(the first is on line 1)"),
    ({"prompt_id": "z", "prompt": "other", "model": "m2", "score": 1}, "'z' has a different prompt on line 1"),
])
def test_long_jsonl_bad_rows_name_file_and_line(tmp_path, line, needle):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"prompt_id": "z", "prompt": "ok", "model": "m", "score": 0}) + "\n" + json.dumps(line))
    with pytest.raises(RoutingError) as err:
        read_long_jsonl(path)
    assert "bad.jsonl:2" in str(err.value) and needle in str(err.value)


def test_wide_csv_without_model_columns_is_refused(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("prompt,sample_id\nhello,1\n")
    with pytest.raises(RoutingError, match="no model columns"):
        read_outcomes(path)


def test_wide_csv_missing_prompt_named_by_line(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("prompt,m1,m2\nhello,True,False\n,1,0\n")
    with pytest.raises(RoutingError, match=r"t.csv:3: prompt"):
        read_outcomes(path)


def test_wide_csv_routellm_style_derives_costs(tmp_path):
    path = tmp_path / "mmlu_x.csv"
    path.write_text('prompt,mistralai/Mixtral-8x7B-Instruct-v0.1,gpt-4-1106-preview\n"Q1 text",True,False\n')
    table = read_outcomes(path)
    assert table.scores.tolist() == [[1.0, 0.0]]
    assert table.tasks == ["mmlu_x"]
    assert table.costs[0, 1] > table.costs[0, 0] > 0
    assert len([n for n in table.notes if "derived" in n]) == 2


def test_concat_unions_models(two_topic, agreement):
    both = concat([two_topic, agreement])
    assert both.n == two_topic.n + agreement.n
    assert set(both.models) == {"cheap", "strong", "cheap1", "cheap2"}
    assert math.isnan(both.scores[0, both.models.index("cheap1")])
    assert both.scores[-1, both.models.index("strong")] == 1.0


def test_cost_derivation_helpers():
    assert estimate_tokens("abcde") == 2
    assert derive_cost("unknown-model", "p", "r", DEFAULT_PRICES) is None


def test_reads_shared_routerbench(shared_data):
    table = load_outcomes([shared_data / "routing" / "routerbench" / "mbpp_train.csv"])
    assert table.n == 299 and len(table.models) == 11
    assert table.has_responses
    assert np.isfinite(table.costs).all()
    assert not table.prompts[0].startswith("[")  # the list literal is joined


def test_reads_shared_routerdc_and_gsm8k(shared_data):
    dc = load_outcomes([shared_data / "routing" / "routerdc7" / "humaneval_train.json"])
    assert len(dc.models) == 7 and ((dc.scores >= 0) & (dc.scores <= 1)).all()
    gsm = load_outcomes([shared_data / "routing" / "routellm" / "gsm8k" / "gsm8k_responses.csv"])
    assert gsm.models == ["mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview"]
    assert gsm.response(0, 1) and np.isfinite(gsm.costs).all()


def test_a_table_of_free_models_is_routed_by_quality_and_says_so(tmp_path):
    def write(name, costs):
        path = tmp_path / name
        path.write_text("".join(json.dumps({"prompt_id": f"p{i}", "prompt": f"q{i}", "model": m, "score": i % 2,
                                            "cost": c}) + "\n" for i in range(3) for m, c in costs.items()))
        return path

    free = load_outcomes([write("free.jsonl", {"local-a": 0, "local-b": 0.0})])
    assert np.isnan(free.costs).all() and any("every recorded cost is 0" in n for n in free.notes)
    mixed = load_outcomes([write("mixed.jsonl", {"local-a": 0, "api": 0.002})])
    assert mixed.costs[:, mixed.models.index("local-a")].tolist() == [0.0] * 3  # a free model beside a paid one
    assert mixed.costs[:, mixed.models.index("api")].tolist() == [0.002] * 3
    assert not any("every recorded cost is 0" in n for n in mixed.notes)


def test_writing_long_outcomes_over_an_existing_file_keeps_its_mode_and_leaves_no_temporary_file(tmp_path, two_topic):
    import os
    import stat

    path = tmp_path / "outcomes.jsonl"
    path.write_text("older outcomes\n", encoding="utf-8")
    os.chmod(path, 0o640)
    write_long_jsonl(two_topic, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["outcomes.jsonl"]
    back = read_long_jsonl(path)
    assert back.ids == two_topic.ids and np.array_equal(back.scores, two_topic.scores)
