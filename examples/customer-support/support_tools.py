"""Code nodes of the customer-support flow (referenced as ``support_tools:<function>``).

A flow runs no code unless you allow its module, and its folder is not on the import path unless
you name it: ``tierflow run flow.json --allow-code support_tools --code-path examples/customer-support``.
"""

from __future__ import annotations


def escalate(message: str, intent: str | None = None) -> dict[str, object]:
    """Urgent tickets skip the models' answer: a human takes over."""
    topic = (intent or "OTHER").strip().split()[0].upper() if (intent or "").strip() else "OTHER"
    return {"answer": f"Your ticket is urgent: a {topic.lower()} specialist will contact you shortly.",
            "escalated": True}


def finalize(intent: str | None = None, answer: str | None = None, review: str | None = None,
             handoff: str | None = None) -> dict[str, object]:
    """The run's outputs, whichever branch ran."""
    approved = None if review is None else review.strip().upper().startswith("APPROVE")
    return {"answer": (handoff if handoff is not None else answer or "").strip(),
            "intent": (intent or "").strip(), "escalated": handoff is not None,
            "review": None if review is None else review.strip(), "approved": approved}
