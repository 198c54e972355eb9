"""curate.task_text: rule-based cleaning, placeholders, a task map, and rewriting through an
OpenAI-compatible endpoint (a small server of the test's own on loopback) with the object check."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from datapipe.engine.run import run_workflow
from datapipe.engine.workflow import parse_workflow
from datapipe.language.text import check_rewrite, clean, is_placeholder, object_words
from datapipe.records.synthetic import synthetic_episode
from datapipe.stages.curate.task_text import TaskText, TaskTextConfig
from tests.helpers import read_sink

# what the fake model answers, by the cleaned instruction it is asked about
ANSWERS = {
    "pick up red block put it in bowl": "Pick up the red block and put it in the bowl.",
    "move the cup to the left": "Move the green cup and the plate to the left.",  # invents objects
}


class ChatHandler(BaseHTTPRequestHandler):
    requests: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        ChatHandler.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
        text = body["messages"][0]["content"].rsplit("Instruction: ", 1)[1]
        answer = ANSWERS.get(text, text)
        payload = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": answer}}]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(payload.encode())

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def chat_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), ChatHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    ChatHandler.requests = []
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_cleaning_placeholders_and_object_words():
    assert clean("  Pick up  the RED block , please!!  ") == "pick up the red block, please"
    assert clean('"open the drawer."') == "open the drawer"
    for text in ("null", " Task ", "DEFAULT", "do something", "???", "", "bridge_v2"):
        assert is_placeholder(text, dataset_names=("bridge_v2",)), text
    assert not is_placeholder("stack the cups")
    assert object_words("Put the red blocks into the bowl") == {"red", "block", "bowl"}
    assert check_rewrite("pick the red block", "grasp the red block") is None
    assert "drops ['red']" in check_rewrite("pick the red block", "pick the block")
    assert "invents ['plate']" in check_rewrite("move the cup", "move the cup onto the plate")


def _ep(task: str, index: int = 0):
    return synthetic_episode(0, index, length=5).replace(task=(task,))


def test_task_map_placeholders_and_rewrites(chat_server, monkeypatch):
    monkeypatch.setenv("CHAT_KEY", "secret")
    stage = TaskText(
        TaskTextConfig(
            task_map={"Fold Towel": "fold the towel in half"},
            rewrite_url=chat_server,
            rewrite_model="tiny",
            rewrite_api_key_env="CHAT_KEY",
        )
    )
    stage.setup()
    out = {t: next(iter(stage.process(_ep(t))), None) for t in ANSWERS | {"fold towel.": "", "null": ""}}
    assert out["pick up red block put it in bowl"].task == ("pick up the red block and put it in the bowl",)
    assert out["pick up red block put it in bowl"].meta["task_text"][0]["rewritten_by"] == "tiny"
    rejected = out["move the cup to the left"]
    assert rejected.task == ("move the cup to the left",)
    assert "invents ['green', 'plate']" in rejected.meta["task_text"][0]["rewrite_rejected"]
    assert out["fold towel."].task == ("fold the towel in half",) and out["fold towel."].meta["task_text"][0]["mapped"]
    assert out["null"].meta["task_text"][0]["flags"] == ["placeholder"] and out["null"].task == ("null",)
    assert out["null"].meta["task_text"][0]["original"] == "null"
    # mapped and placeholder texts are not sent; every request carried the key and the model
    assert len(ChatHandler.requests) == 2
    assert all(r["auth"] == "Bearer secret" and r["model"] == "tiny" for r in ChatHandler.requests)
    assert all(r["path"] == "/v1/chat/completions" for r in ChatHandler.requests)
    dropping = TaskText(TaskTextConfig(drop_placeholders=True))
    dropping.setup()
    assert list(dropping.process(_ep("TODO"))) == []


def test_task_text_stage_on_ray_against_the_loopback_endpoint(ray_session, chat_server, tmp_path):
    doc = {
        "name": "tasks",
        "stages": [
            {
                "id": "src",
                "uses": "source.synthetic",
                "with": {"episodes": 4, "tasks": ["Pick up  red block put it in bowl!!"]},
            },
            {
                "id": "text",
                "uses": "curate.task_text",
                "needs": ["src"],
                "with": {"rewrite_url": chat_server, "rewrite_model": "tiny"},
            },
            {"id": "out", "uses": "sink.parquet", "needs": ["text"], "with": {"path": str(tmp_path / "pq")}},
        ],
    }
    result = run_workflow(parse_workflow(doc, "tasks.yaml"), out=str(tmp_path / "run"), progress=False)
    assert result.ok, result.error
    eps = read_sink(tmp_path / "pq")
    assert len(eps) == 4 and {e.task for e in eps} == {("pick up the red block and put it in the bowl",)}
    assert eps[0].meta["task_text"][0]["original"] == "Pick up  red block put it in bowl!!"


def test_one_vocabulary_for_checks_and_variants():
    from datapipe.language.text import FUNCTION_WORDS, VERBS, keeps_objects
    from datapipe.language.variants import RELATIONS, VERB_SYNONYMS

    for group in (*VERB_SYNONYMS, *RELATIONS):  # what variants swap is never taken for an object
        for phrase in group:
            assert all(w in VERBS or w in FUNCTION_WORDS for w in phrase.split()), phrase
    # the curation check and the variant check agree: a synonym is the same object, a colour is not
    assert check_rewrite("pick up the red block", "grab the red cube") is None
    assert keeps_objects("pick up the red block", "grab the red cube")
    assert check_rewrite("pick up the red block", "grab the blue cube") == "drops ['red'] and invents ['blue']"
