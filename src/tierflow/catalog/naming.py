"""Model identity across sources: one key per model, whatever each source calls it.

Sources spell the same model differently (``claude-sonnet-4.5``, ``claude-sonnet-4-5-20250929``,
``claude-sonnet-4-5-20250929-high-32k``). :func:`model_key` reduces a name to a join key by
lower-casing, unifying separators and dropping dates, ``-latest`` / ``-preview`` tags and the
reasoning-effort suffixes Arena lists as separate entries.
"""

from __future__ import annotations

import re

# source provider id -> the provider part of our slugs (the provider's own API)
PROVIDER_ALIASES: dict[str, str] = {"x-ai": "xai", "mistralai": "mistral", "meta-llama": "meta",
                                    "llama": "meta", "google-ai-studio": "google", "moonshot": "moonshotai",
                                    "qwen": "alibaba", "z-ai": "zai"}

# our provider -> genai-prices provider id, where they differ
GENAI_PRICES_IDS: dict[str, str] = {"xai": "x-ai"}

# models.dev providers that are the model makers' own APIs (the others resell them)
FIRST_PARTY: tuple[str, ...] = ("openai", "anthropic", "google", "mistral", "deepseek", "xai", "alibaba",
                                "moonshotai", "zai", "cohere", "llama", "minimax", "perplexity", "xiaomi",
                                "nvidia", "upstage")

_CREATOR_PREFIXES: tuple[tuple[str, str], ...] = (
    ("gpt-oss", "openai"), ("gpt", "openai"), ("chatgpt", "openai"), ("o1", "openai"), ("o3", "openai"),
    ("o4", "openai"), ("claude", "anthropic"), ("gemini", "google"), ("gemma", "google"),
    ("grok", "xai"), ("deepseek", "deepseek"), ("qwen", "alibaba"), ("qwq", "alibaba"), ("qvq", "alibaba"),
    ("mistral", "mistral"), ("mixtral", "mistral"), ("ministral", "mistral"), ("codestral", "mistral"),
    ("magistral", "mistral"), ("devstral", "mistral"), ("pixtral", "mistral"), ("llama", "meta"),
    ("muse", "meta"), ("glm", "zai"), ("chatglm", "zai"), ("kimi", "moonshotai"), ("command", "cohere"),
    ("c4ai", "cohere"), ("aya", "cohere"), ("phi", "microsoft"), ("wizardlm", "microsoft"), ("yi", "01-ai"),
    ("ernie", "baidu"), ("minimax", "minimax"), ("mimo", "xiaomi"), ("hunyuan", "tencent"), ("hy", "tencent"),
    ("nemotron", "nvidia"), ("nvidia", "nvidia"), ("amazon", "amazon"), ("nova", "amazon"),
    ("step", "stepfun"), ("dola", "bytedance"), ("doubao", "bytedance"), ("seed", "bytedance"),
    ("jamba", "ai21"), ("olmo", "allenai"), ("smollm", "huggingface"), ("granite", "ibm"), ("reka", "reka"),
    ("athene", "nexusflow"), ("vicuna", "lmsys"), ("longcat", "meituan"), ("solar", "upstage"),
    ("sonar", "perplexity"), ("falcon", "tii"), ("internlm", "shanghai-ai-lab"),
)

_DATE = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2})$")
_TAGS = re.compile(r"-(latest|preview|exp|experimental|beta\d*|thinking(-\d+k)?|reasoning|non-reasoning|"
                   r"nothinking|no-thinking|(x?high|medium|low|minimal)(-\d+k)?)$")


def slugify(name: str) -> str:
    """A display name as a model id: lower case, spaces -> '-', parentheses dropped."""
    s = re.sub(r"[()\[\]]", "", name.strip().lower())
    return re.sub(r"\s+", "-", s)


def model_key(model: str) -> str:
    """The join key of a model name (provider prefix, dates, effort and release tags removed)."""
    k = slugify(model.rpartition("/")[2]).replace(".", "-").replace("_", "-")
    while True:
        stripped = _TAGS.sub("", _DATE.sub("", k))
        if stripped == k or not stripped:
            return k
        k = stripped


def provider_of(source_provider: str) -> str:
    """A source's provider id as the provider part of our slugs."""
    p = source_provider.strip().lower()
    return PROVIDER_ALIASES.get(p, p)


def creator_of(model: str) -> str:
    """The maker of a model guessed from its name (for sources that name no provider)."""
    name = slugify(model)
    for prefix, creator in _CREATOR_PREFIXES:
        if name.startswith(prefix):
            return creator
    return "other"


__all__ = ["FIRST_PARTY", "GENAI_PRICES_IDS", "PROVIDER_ALIASES", "creator_of", "model_key", "provider_of",
           "slugify"]
