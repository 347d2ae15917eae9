"""The LLM policy against a local fake OpenAI-compatible endpoint (no network, no model)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import trio
from universed_policy_llm import LLMPolicy, parse_action

from universed.messages import ACTION_NAMES
from universed.plugins import load_policies, make_plugin_manager


class FakeEndpoint:
    """Serves /v1/chat/completions from a script of replies: dict (JSON body), int (HTTP status),
    "hang" (never answers until closed) or "garbage" (not JSON)."""

    def __init__(self) -> None:
        self.script: list[Any] = []
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.release = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real endpoint

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                fake.requests.append(json.loads(body))
                fake.headers.append({**self.headers, "X-Peer": str(self.client_address)})
                reply = fake.script.pop(0) if fake.script else chat('{"action": "wait"}')
                if reply == "hang":
                    fake.release.wait(10)
                    return
                if isinstance(reply, int):
                    self.send_response(reply)
                    if reply == 429:
                        self.send_header("Retry-After", "3")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = b"<html>oops" if reply == "garbage" else json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def chat(content: str, prompt: int = 50, completion: int = 7) -> dict[str, Any]:
    return {
        "choices": [{"message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion},
    }


@pytest.fixture
def endpoint() -> Iterator[FakeEndpoint]:
    fake = FakeEndpoint()
    yield fake
    fake.close()


def obs(tick: int, ok: bool = True, action: str = "wait") -> dict[str, Any]:
    return {
        "probe_id": "1-1", "tick": tick, "status": "active", "hull": 1.0, "location": "landed",
        "last_action": {"action": action, "ok": ok, "reason": None if ok else "nope"},
    }  # fmt: skip


def test_registered_through_the_entry_point() -> None:
    assert isinstance(load_policies(make_plugin_manager(), {})["llm"], LLMPolicy)


def test_configuration_from_the_environment() -> None:
    env = {
        "UNIVERSED_LLM_BASE_URL": "http://h:1/v1/", "UNIVERSED_LLM_MODEL": "m",
        "OPENAI_API_KEY": "k", "UNIVERSED_LLM_EVERY": "5", "UNIVERSED_LLM_TOKEN_BUDGET": "99",
    }  # fmt: skip
    policy = LLMPolicy(environ=env)
    assert (policy.base_url, policy.model, policy.api_key) == ("http://h:1/v1", "m", "k")
    assert (policy.every, policy.token_budget) == (5, 99)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"action": "mine", "resource": "iron"}', {"action": "mine", "resource": "iron"}),
        ('Sure! ```json\n{"action": "survey"}\n``` good luck', {"action": "survey"}),
        ('{"type": "land"}', {"action": "land"}),
        ('{"action": "teleport"}', None),
        ("I think you should mine.", None),
        ('{"action": "mine", "resource": ', None),
        ("[1, 2]", None),
    ],
)
def test_parse_action(text: str, expected: dict[str, Any] | None) -> None:
    assert parse_action(text) == expected


async def test_remote_mode_asks_every_n_ticks_and_counts_tokens(endpoint: FakeEndpoint) -> None:
    endpoint.script = [chat('{"action": "mine", "resource": "iron"}'), chat('{"action": "survey"}')]
    policy = LLMPolicy(base_url=endpoint.url, model="fake", api_key="secret", every=3, timeout=5)
    got = [await policy.adecide(obs(1))]
    got.append(await policy.adecide(obs(2, action="mine")))  # repeats while it succeeds
    got.append(await policy.adecide(obs(3, ok=False, action="mine")))  # rejected: asks again
    got.append(await policy.adecide(obs(4, ok=True, action="survey")))
    assert got == [
        {"action": "mine", "resource": "iron"},
        {"action": "mine", "resource": "iron"},
        {"action": "survey"},
        {"action": "survey"},
    ]
    assert len(endpoint.requests) == 2
    request = endpoint.requests[0]
    assert request["model"] == "fake" and request["messages"][0]["role"] == "system"
    assert json.loads(request["messages"][1]["content"])["probe_id"] == "1-1"
    assert endpoint.headers[0]["Authorization"] == "Bearer secret"
    assert (policy.prompt_tokens, policy.completion_tokens, policy.calls) == (100, 14, 2)
    assert policy.tokens_by_probe == {"1-1": 114}


async def test_degrades_to_wait_on_errors_garbage_and_timeouts(endpoint: FakeEndpoint) -> None:
    endpoint.script = [500, "garbage", chat("no idea, sorry"), {"choices": []}, "hang"]
    policy = LLMPolicy(base_url=endpoint.url, every=1, timeout=0.3, retries=0)
    for tick in range(1, 6):
        assert await policy.adecide(obs(tick)) == {"action": "wait"}
    assert policy.errors == 5 and policy.calls == 5
    assert "Timeout" in (policy.last_error or ""), policy.last_error
    # usage missing from the garbage-content reply was still estimated, not crashed on
    assert policy.completion_tokens > 0


async def test_unreachable_endpoint_waits() -> None:
    slept: list[float] = []
    policy = LLMPolicy(
        base_url="http://127.0.0.1:9/v1", every=1, timeout=2, retries=2, sleep=slept.append
    )
    assert await policy.adecide(obs(1)) == {"action": "wait"}
    assert policy.errors == 1 and "ConnectError" in (policy.last_error or "")
    assert slept == [0.5, 1.0] and policy.retried == 2  # backoff, no real sleeping


async def test_retries_with_backoff_then_succeeds_on_one_reused_connection(
    endpoint: FakeEndpoint,
) -> None:
    endpoint.script = [503, 429, chat('{"action": "survey"}')]
    slept: list[float] = []
    policy = LLMPolicy(base_url=endpoint.url, every=1, timeout=5, retries=3, sleep=slept.append)
    assert await policy.adecide(obs(1)) == {"action": "survey"}
    assert slept == [0.5, 3.0]  # exponential backoff; Retry-After honoured
    assert (policy.calls, policy.errors, policy.retried) == (1, 0, 2)
    # keep-alive: the three requests came over one connection
    assert len({h.get("X-Peer") for h in endpoint.headers}) == 1
    # a 4xx that is not worth retrying fails at once
    endpoint.script = [400]
    assert await policy.adecide(obs(2, ok=False, action="survey")) == {"action": "wait"}
    assert policy.retried == 2 and "400" in (policy.last_error or "")
    policy.close()


def test_the_prompt_comes_from_the_live_rules() -> None:
    prompt = LLMPolicy(environ={}).system_prompt
    for name in ACTION_NAMES:
        assert f"- {name}:" in prompt
    assert "replication_cost" in prompt
    assert "iron 3000" not in prompt  # the recipe the engine no longer uses


async def test_token_budget_stops_deliberation(endpoint: FakeEndpoint) -> None:
    endpoint.script = [chat('{"action": "survey"}', prompt=60, completion=10)]
    policy = LLMPolicy(base_url=endpoint.url, every=1, token_budget=50, timeout=5)
    assert await policy.adecide(obs(1)) == {"action": "survey"}
    assert not policy.budget_left
    assert await policy.adecide(obs(2, action="survey")) == {"action": "survey"}  # repeats
    assert await policy.adecide(obs(3, ok=False, action="survey")) == {"action": "wait"}
    assert len(endpoint.requests) == 1


async def test_in_process_decide_never_blocks(endpoint: FakeEndpoint) -> None:
    endpoint.script = [chat('{"action": "scan"}')]
    policy = LLMPolicy(base_url=endpoint.url, every=10, timeout=5)
    assert policy.decide(obs(1)) == {"action": "wait"}  # the question is in flight
    with trio.fail_after(10):
        while policy.calls < 1 or policy._pending:  # noqa: ASYNC110 (polls state of another process/task)
            await trio.sleep(0.01)
    assert policy.decide(obs(2)) == {"action": "scan"}  # the answer, on the next tick
    assert policy.decide(obs(3, action="scan")) == {"action": "scan"}
    assert policy.decide(obs(4, ok=False, action="scan")) == {"action": "wait"}
