"""Rewriters of instructions: an OpenAI-compatible chat endpoint (:class:`ChatRewriter`) and a
local ``transformers`` causal language model (:class:`LocalModelRewriter`). Their answers are
checked by :func:`datapipe.language.text.check_rewrite` / :func:`~datapipe.language.text.keeps_objects`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from datapipe.errors import DatapipeError
from datapipe.http_io import http_pool


class RewriteError(DatapipeError):
    """The rewriting endpoint failed (after its retries) or answered something else than a chat
    completion: the message names the URL and the last answer."""


@dataclass(frozen=True)
class ChatRewriter:
    """An OpenAI-compatible ``/chat/completions`` endpoint (``base_url`` ends before it, e.g.
    ``http://127.0.0.1:8000/v1``); the API key, if any, is read from the environment variable
    named by ``api_key_env``.

    A refused connection, a timeout or an answer in :data:`datapipe.http_io.RETRY_STATUSES` (429 rate limits
    among them) is tried again up to ``retries`` times, waiting ``backoff_s`` x 2^n seconds
    (n = 0, 1, ...; at most 60 s) or what the server's ``Retry-After`` header asks
    (:func:`datapipe.http_io.http_pool`). Other answers (400, 401, 404...) fail at once."""

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
            response = http_pool(self.retries, self.backoff_s, self.timeout_s).request(
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
