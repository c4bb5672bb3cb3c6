"""Learned routing on the embedded local models: record outcomes, fit a router, route live.

    python examples/learned_routing.py [OUT_DIR]

1. **Record.** The ``fast`` role (SmolLM2-135M) and the ``strong`` role (Qwen2.5-Coder-1.5B)
   answer questions with a known answer: capitals, which the small model knows, and sums of
   three-digit numbers, which it gets wrong. Each answer is scored 1 or 0 and written to
   ``OUT_DIR/outcomes.jsonl`` in tierflow's long format, one line per prompt x model.
2. **Fit.** A kNN router over the prompts' embeddings (all-MiniLM-L6-v2, on the CPU) is fitted
   and calibrated to the strong model's quality (or the most it reaches, if less), at the least
   cost, then saved as ``OUT_DIR/router.json`` (the same as ``tierflow route fit
   OUT_DIR/outcomes.jsonl -o OUT_DIR/router.json --kind knn --split all --target-quality 1.0``).
3. **Route live.** ``OUT_DIR/tierflow.yaml`` declares ``{role: auto, router: router.json,
   candidates: [fast, strong]}``; new questions are sent to ``auto``, and each result records
   the router's decision.

Local models cost nothing, so the costs recorded here are nominal: each call's real token counts
priced at :data:`NOMINAL_PRICES`, as if the two models were hosted.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from tierflow.calls import Client
from tierflow.routing import (
    CalibrationTarget,
    Question,
    fit_router,
    read_long_jsonl,
    record_outcomes,
    save_router,
    score_answer,
)

#: USD per 1M (input, output) tokens: a nominal hosted price for each role (local calls are free).
NOMINAL_PRICES = {"fast": (0.05, 0.05), "strong": (0.60, 0.60)}
CAPITALS = [("France", "Paris"), ("Japan", "Tokyo"), ("Italy", "Rome"), ("Germany", "Berlin"),
            ("Spain", "Madrid"), ("Egypt", "Cairo"), ("Russia", "Moscow"), ("Greece", "Athens"),
            ("China", "Beijing"), ("England", "London"), ("Portugal", "Lisbon"), ("Ireland", "Dublin")]
NEW_CAPITALS = [("Austria", "Vienna"), ("Norway", "Oslo")]
SUMS = [(137 + 71 * i, 268 + 53 * i) for i in range(12)]
NEW_SUMS = [(452, 379), (618, 294)]
MAX_TOKENS = 16  # a short answer is all either question needs
CONFIG = """\
providers:
  local: {{kind: local}}
models:
  - {{role: strong, ref: local, model: qwen2.5-coder-1.5b-instruct}}
  - {{role: fast, ref: local, model: smollm2-135m-instruct, temperature: 0.2}}
  - {{role: auto, router: {router}, candidates: [fast, strong]}}
"""

def capital(country: str, city: str) -> Question:
    return Question(f"capital-{country}", f"What is the capital of {country}? Answer with one word.", city,
                    "capital")


def addition(a: int, b: int) -> Question:
    return Question(f"sum-{a}-{b}", f"What is {a} + {b}? Answer with the number only.", str(a + b), "addition")


async def record(client: Client, questions: list[Question], path: Path) -> None:
    """Ask both roles every question; write one scored outcome per prompt x model (what ``tierflow
    route record`` does): a capital is right when the answer names the city, a sum when its number
    is the sum."""
    path.unlink(missing_ok=True)  # a fresh recording (route record would resume an existing file)
    summary = await record_outcomes(client, questions, list(NOMINAL_PRICES), path, prices=NOMINAL_PRICES,
                                    concurrency=1, max_tokens=MAX_TOKENS)
    if summary.failed:
        raise RuntimeError(f"calls failed: {summary.failed}")


async def route_live(config: Path, questions: list[Question]) -> list[dict]:
    """Send each question to the routed role; return what was decided and how it went."""
    rows = []
    async with Client.from_config(config) as client:
        for q in questions:
            result = await client.acall("auto", q.prompt, max_tokens=MAX_TOKENS)
            decision = result.decision or {}
            rows.append({"prompt": q.prompt, "role": decision.get("chosen_role"),
                         "right": score_answer(result.text, q.reference) == 1.0,
                         "predicted_quality": decision.get("predicted_quality"), "answer": result.text.strip()})
    return rows


async def main(out_dir: Path, client: Client | None = None) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    questions = [q for pair in zip([capital(*c) for c in CAPITALS], [addition(*p) for p in SUMS],
                                   strict=True) for q in pair]
    if client is None:
        async with Client.from_config(Path(__file__).with_name("tierflow.yaml")) as own:
            await record(own, questions, out_dir / "outcomes.jsonl")
    else:
        await record(client, questions, out_dir / "outcomes.jsonl")
    table = read_long_jsonl(out_dir / "outcomes.jsonl")
    router = fit_router(table, "knn", target=CalibrationTarget(quality=1.0))
    save_router(router, out_dir / "router.json")
    cal = router.calibration
    print(f"recorded {table.n} prompts x {len(table.models)} models; quality per model: "
          + ", ".join(f"{m} {table.scores[:, j].mean():.2f}" for j, m in enumerate(table.models)))
    strong = table.models.index(router.strong)
    print(f"router: expected quality {cal['expected_quality']:.2f} at ${cal['expected_cost'] * 1000:.4f} "
          f"per 1k calls, {100 * cal['expected_strong_share']:.0f} % of calls to the strong model "
          f"(the strong model alone: ${table.costs[:, strong].mean() * 1000:.4f} per 1k calls)")
    (out_dir / "tierflow.yaml").write_text(CONFIG.format(router=json.dumps(str(out_dir / "router.json"))))
    new = [capital(*c) for c in NEW_CAPITALS] + [addition(*p) for p in NEW_SUMS]
    rows = await route_live(out_dir / "tierflow.yaml", new)
    for row in rows:
        print(f"  {row['role']:<7} {'right' if row['right'] else 'wrong':<6} {row['prompt']}  ->  {row['answer']}")
    return {"table": table, "router": router, "live": rows}


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("learned-routing-out")))
