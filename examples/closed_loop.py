"""The closed loop on the local models: explore, verify, fit from the ledger, shadow, promote.

    python examples/closed_loop.py [OUT_DIR]

1. **Start cautious.** The routed role ``auto`` (candidates ``fast``: SmolLM2-135M, ``strong``:
   Qwen2.5-Coder-1.5B) starts with a router that sends everything to ``strong``, and explores:
   ``explore: 0.5`` sends half the requests to a role drawn at random, logging the probability of
   every choice in the gateway's ledger (with the prompts: ``store_content: true``).
2. **Traffic and feedback.** Questions with known answers (capitals, which the small model knows,
   and three-digit sums, which it gets wrong) go through the gateway; a verifier scores each
   answer against the known one and posts it to ``/v1/feedback``.
3. **Fit from the ledger.** A candidate router is fitted on the logged feedback alone, weighted by
   the logged probabilities (``tierflow route fit --from-ledger``).
4. **Shadow.** Its quality and cost per request are estimated off-policy on the logged traffic,
   with bootstrap intervals, beside the live router's (``tierflow route shadow``).
5. **Promote** only when the estimate meets the target (a quality drop of at most 0.15), keeping
   the previous router (``tierflow route promote``); the running gateway reloads it.

This demo's traffic is small (48 requests), so it accepts estimates resting on 40 requests and an
effective sample size of 10; the CLI's defaults (200 and 50) are stricter. Local calls cost
nothing: the prices below are nominal, as if the two models were hosted.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import aiohttp
import numpy as np

from tierflow.config import parse_config
from tierflow.gateway import Gateway, GatewayServer, GatewaySettings
from tierflow.routing import CalibrationTarget, fit_router, save_router, score_answer
from tierflow.routing.data.outcomes import OutcomeTable
from tierflow.routing.shadow import outcomes_from_ledger, promote, shadow

CAPITALS = [("France", "Paris"), ("Japan", "Tokyo"), ("Italy", "Rome"), ("Germany", "Berlin"),
            ("Spain", "Madrid"), ("Egypt", "Cairo"), ("Russia", "Moscow"), ("Greece", "Athens"),
            ("China", "Beijing"), ("England", "London"), ("Portugal", "Lisbon"), ("Ireland", "Dublin")]
SUMS = [(137 + 71 * i, 268 + 53 * i) for i in range(12)]
MAX_TOKENS = 16
CONFIG = """\
providers:
  local: {{kind: local}}
models:
  - {{role: strong, ref: local, model: qwen2.5-coder-1.5b-instruct}}
  - {{role: fast, ref: local, model: smollm2-135m-instruct, temperature: 0.2}}
  - {{role: auto, router: {router}, candidates: [fast, strong], explore: 0.5}}
prices:
  local/qwen2.5-coder-1.5b-instruct: {{input_per_mtok: 0.60, output_per_mtok: 0.60}}
  local/smollm2-135m-instruct: {{input_per_mtok: 0.05, output_per_mtok: 0.05}}
"""


def questions() -> list[tuple[str, str]]:
    caps = [(f"What is the capital of {c}? Answer with one word.", city) for c, city in CAPITALS]
    sums = [(f"What is {a} + {b}? Answer with the number only.", str(a + b)) for a, b in SUMS]
    return [q for pair in zip(caps, sums, strict=True) for q in pair]


def cautious_router(path: Path) -> Path:
    """The starting router: ``strong`` for everything (fitted on a table where ``fast`` never succeeded)."""
    prompts = [p for p, _ in questions()]
    n = len(prompts)
    table = OutcomeTable(ids=[f"q{i}" for i in range(n)], prompts=prompts, tasks=["start"] * n,
                         models=["fast", "strong"], scores=np.tile([0.0, 1.0], (n, 1)),
                         costs=np.tile([0.00001, 0.0001], (n, 1)))
    return save_router(fit_router(table, "knn", embedder="hashing", target=CalibrationTarget(quality=1.0)), path)


async def traffic(base_url: str, rounds: int = 2) -> list[dict]:
    """Send every question ``rounds`` times to ``auto``; a verifier scores each answer as feedback."""
    rows = []
    async with aiohttp.ClientSession() as http:
        for _ in range(rounds):
            for prompt, reference in questions():
                body = {"model": "auto", "max_tokens": MAX_TOKENS, "messages": [{"role": "user", "content": prompt}]}
                async with http.post(f"{base_url}/v1/chat/completions", json=body) as r:
                    r.raise_for_status()
                    rid, answer = r.headers["x-request-id"], (await r.json())["choices"][0]["message"]["content"]
                    role = r.headers.get("x-tierflow-route-chosen")
                score = score_answer(answer or "", reference)
                async with http.post(f"{base_url}/v1/feedback", json={"request_id": rid, "score": score}) as f:
                    f.raise_for_status()
                rows.append({"prompt": prompt, "role": role, "score": score})
    return rows


async def main(out_dir: Path, rounds: int = 2) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    live = cautious_router(out_dir / "auto.json")
    config_file = out_dir / "tierflow.yaml"
    config_file.write_text(CONFIG.format(router=json.dumps(str(live))), encoding="utf-8")
    config = parse_config(config_file.read_text(), source=str(config_file))
    ledger = out_dir / "gateway.sqlite"
    gateway = Gateway(config, GatewaySettings(database=str(ledger), store_content=True))
    gateway.check()
    async with GatewayServer(gateway, port=0) as srv:
        rows = await traffic(srv.base_url, rounds)
    by_role = {r: [x["score"] for x in rows if x["role"] == r] for r in ("fast", "strong")}
    print(f"traffic: {len(rows)} requests; " + ", ".join(
        f"{r} answered {len(s)} (right {np.mean(s) if s else 0:.2f})" for r, s in by_role.items()))

    table = outcomes_from_ledger(config, "auto", ledger)
    candidate = save_router(fit_router(table, "knn", embedder="hashing", target=CalibrationTarget(quality=0.95)),
                            out_dir / "candidate.json")
    report = shadow(config, "auto", candidate, ledger, max_quality_drop=0.15, min_n=40, min_effective=10.0)
    for name, e in (("live", report.live), ("candidate", report.candidate)):
        print(f"{name:<10} quality {e.quality:.2f} [{e.quality_ci[0]:.2f}, {e.quality_ci[1]:.2f}]  "
              f"cost ${e.cost * 1000:.4f} per 1k  (n={e.n}, effective {e.effective_n:.0f})")
    print(report.reason)
    promoted = promote(config, "auto", candidate, report) if report.promotable else None
    if promoted is not None:
        print(f"promoted: {promoted} (previous kept as auto.previous.json)")
    return {"rows": rows, "report": report, "promoted": promoted, "ledger": ledger, "candidate": candidate}


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("closed-loop-out")))
