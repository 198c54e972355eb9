"""augment.language: template variants keep every object; an OpenAI-compatible endpoint (a stub
on loopback) and a tiny local transformers model (random weights, loaded from a folder) are
checked the same way, with the templates as the fallback; the stream samples one instruction per
sample, seeded and resumable."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from datapipe.formats.shards.manifest import build_manifest
from datapipe.formats.shards.writer import ShardOptions, write_part
from datapipe.language.text import keeps_objects
from datapipe.language.variants import template_variants
from datapipe.records.synthetic import synthetic_episode
from datapipe.stages.augment.language import Language, LanguageConfig
from datapipe.storage import resolve
from datapipe.training.stream import ShardStream


def _stage(**kw) -> Language:
    stage = Language(LanguageConfig(**kw))
    stage.setup()
    return stage


def _ep(task: str, index: int = 0):
    return synthetic_episode(0, index, length=6).replace(task=(task,))


def test_template_variants_keep_every_object():
    rng = np.random.default_rng(0)
    for text in ("put the red block in the blue zone", "stack the green cube on the yellow block", "open the drawer"):
        out = template_variants(text, 5, rng)
        assert len(out) == 5 and len(set(out)) == 5 and text not in out
        assert all(keeps_objects(text, v) for v in out), out
    assert not keeps_objects("put the red block in the bowl", "put the blue block in the bowl")
    assert not keeps_objects("put the red block in the bowl", "put the red block in the bowl next to the cup")
    assert keeps_objects("pick up the block", "grab the cube")  # synonyms are the same object


class Chat(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Chat.calls += 1
        answer = "grab the red cube and drop it into the bowl" if Chat.calls % 2 else "put the red block near the cup"
        payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": answer}}]}).encode()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(payload)
        Chat.models.append(body["model"])  # checked by the test, not here in the server's thread

    def log_message(self, *args) -> None:
        pass


def test_endpoint_answers_are_checked_and_templates_fill_in():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Chat)
    Chat.calls, Chat.models = 0, []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        stage = _stage(
            variants=4,
            backend="endpoint",
            rewrite_url=f"http://127.0.0.1:{server.server_address[1]}/v1",
            rewrite_model="stub",
        )
        (out,) = stage.process(_ep("put the red block in the bowl"))
    finally:
        server.shutdown()
    assert out.task[0] == "put the red block in the bowl" and len(out.task) == 5
    assert "grab the red cube and drop it into the bowl" in out.task
    assert "put the red block near the cup" in out.meta["language"]["rejected"]  # invents a cup
    assert out.meta["language"]["from_backend"] == 1 and all(keeps_objects(out.task[0], t) for t in out.task)
    assert Chat.models and set(Chat.models) == {"stub"}  # every request named the configured model


def _tiny_model(folder) -> None:
    """A 2-layer GPT-2 with random weights and a byte-level tokenizer made here (nothing downloaded)."""
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2Tokenizer

    folder.mkdir()
    # GPT-2's byte-level alphabet: printable bytes as themselves, the others shifted past 255
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, extra = [], 0
    for b in range(256):
        if b in printable:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    vocab = {ch: i for i, ch in enumerate(chars)}
    vocab["<|endoftext|>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    GPT2Tokenizer(str(folder / "vocab.json"), str(folder / "merges.txt")).save_pretrained(folder)
    config = GPT2Config(vocab_size=len(vocab), n_embd=32, n_layer=2, n_head=2, n_positions=256)
    GPT2LMHeadModel(config).save_pretrained(folder)


def test_a_tiny_local_model_is_loaded_by_path_and_its_gibberish_rejected(tmp_path):
    pytest.importorskip("transformers")
    _tiny_model(tmp_path / "tiny")
    stage = _stage(variants=3, backend="local", model_folder=str(tmp_path / "tiny"))
    (out,) = stage.process(_ep("push the green block to the red zone"))
    record = out.meta["language"]
    assert record["backend"] == "LocalModelRewriter" and record["from_backend"] == 0
    assert len(record["rejected"]) == 3 and len(out.task) == 4
    assert all(keeps_objects(out.task[0], t) for t in out.task)


def test_stream_samples_one_instruction_per_sample_seeded_and_resumable(tmp_path):
    stage = _stage(variants=3)
    eps = [next(iter(stage.process(_ep("put the red block in the bowl", i)))) for i in range(3)]
    receipt = write_part(resolve(tmp_path), eps, "part-000000000000000a", ShardOptions(val_fraction=0.0))
    build_manifest(resolve(tmp_path), [receipt], 0.0, "")

    def run(stream, n=None):
        out = []
        for s in stream:
            out.append((s["episode_id"], s["frame_index"], s["task"]))
            if n is not None and len(out) == n:
                break
        return out

    full = run(ShardStream(str(tmp_path), instruction="sample", seed=4))
    tasks = {e.episode_id: e.task for e in eps}
    assert all(t in tasks[i] for i, _, t in full)
    for i in tasks:  # every episode's instructions get sampled, not only its first
        assert len({t for j, _, t in full if j == i}) >= 3
    assert run(ShardStream(str(tmp_path), instruction="sample", seed=4)) == full
    first = ShardStream(str(tmp_path), instruction="sample", seed=4)
    head = run(first, 7)
    second = ShardStream(str(tmp_path), instruction="sample", seed=4)
    second.load_state_dict(first.state_dict())
    assert head + run(second) == full
    assert {t for _, _, t in run(ShardStream(str(tmp_path)))} == {"put the red block in the bowl"}
