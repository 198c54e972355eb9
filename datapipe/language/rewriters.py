"""Rewriters of instructions: an OpenAI-compatible chat endpoint (:class:`ChatRewriter`) and a
local ``transformers`` causal language model (:class:`LocalModelRewriter`). Their answers are
checked by :func:`datapipe.language.text.check_rewrite` / :func:`~datapipe.language.text.keeps_objects`."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from datapipe.errors import DatapipeError

# answers worth asking again: rate limited, or the server (or a proxy before it) is busy or down
RETRY_STATUSES = (408, 429, 500, 502, 503, 504)


class RewriteError(DatapipeError):
    """The rewriting endpoint failed (after its retries) or answered something else than a chat
    completion: the message names the URL and the last answer."""


@functools.cache
def _pool(retries: int, backoff_s: float, timeout_s: float) -> Any:
    """One urllib3 connection pool per process and retry setting (connections stay open between
    calls; a Ray worker opens its own)."""
    import urllib3

    retry = urllib3.util.Retry(
        total=retries,
        backoff_factor=backoff_s,
        backoff_max=60.0,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=None,  # POST too: a rewrite has no side effect
        respect_retry_after_header=True,
        raise_on_status=False,  # the last answer is named in RewriteError
    )
    return urllib3.PoolManager(retries=retry, timeout=urllib3.util.Timeout(total=timeout_s))


@dataclass(frozen=True)
class ChatRewriter:
    """An OpenAI-compatible ``/chat/completions`` endpoint (``base_url`` ends before it, e.g.
    ``http://127.0.0.1:8000/v1``); the API key, if any, is read from the environment variable
    named by ``api_key_env``.

    A refused connection, a timeout or an answer in :data:`RETRY_STATUSES` (429 rate limits
    among them) is tried again up to ``retries`` times, waiting ``backoff_s`` x 2^n seconds
    (n = 0, 1, ...; at most 60 s) or what the server's ``Retry-After`` header asks, through
    urllib3's :class:`~urllib3.util.Retry`. Other answers (400, 401, 404...) fail at once."""

    base_url: str
    model: str
    api_key_env: str = ""
    timeout_s: float = 30.0
    retries: int = 5
    backoff_s: float = 0.5
    prompt: str = (
        "Rewrite this robot task instruction as one short, clear imperative sentence. Keep every object and "
        "its colour; add nothing. Reply with the sentence only.\n\nInstruction: {text}"
    )

    def rewrite(self, text: str) -> str:
        import os

        import urllib3

        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": self.prompt.format(text=text)}],
            "temperature": 0,
        }
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env, "") if self.api_key_env else ""
        if key:
            headers["Authorization"] = f"Bearer {key}"
        url = self.base_url.rstrip("/") + "/chat/completions"
        try:
            response = _pool(self.retries, self.backoff_s, self.timeout_s).request(
                "POST", url, body=json.dumps(body).encode(), headers=headers
            )
        except urllib3.exceptions.HTTPError as exc:  # connection refused, timeouts, retries used up
            raise RewriteError(f"{url}: {exc}") from exc
        if response.status != 200:
            raise RewriteError(f"{url}: HTTP {response.status}: {response.data[:200].decode(errors='replace')}")
        try:
            doc: dict[str, Any] = json.loads(response.data)
            return str(doc["choices"][0]["message"]["content"]).strip()
        except (ValueError, KeyError, IndexError, TypeError):
            raise RewriteError(f"{url}: not a chat completion response: {response.data[:200]!r}") from None


@dataclass
class LocalModelRewriter:
    """A local ``transformers`` causal language model (a folder with its tokenizer), greedy."""

    folder: str
    max_new_tokens: int = 24

    def __post_init__(self) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(self.folder)
        self.model = AutoModelForCausalLM.from_pretrained(self.folder)
        self.model.eval()

    def rewrite(self, text: str) -> str:
        import torch

        prompt = f"Rephrase the robot instruction, same objects.\nInstruction: {text}\nRephrased:"
        ids = self.tokenizer(prompt, return_tensors="pt")
        with torch.no_grad():
            out = self.model.generate(
                **ids,
                max_new_tokens=self.max_new_tokens,
                do_sample=False,
                pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id or 0,
            )
        answer = self.tokenizer.decode(out[0][ids["input_ids"].shape[1] :], skip_special_tokens=True)
        return answer.strip().splitlines()[0] if answer.strip() else ""
