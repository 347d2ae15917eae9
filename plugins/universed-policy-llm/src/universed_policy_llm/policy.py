"""An agent that asks an OpenAI-compatible chat endpoint for its next action.

Configuration (constructor arguments, else environment variables):

========================  ===============================  =================================
argument                  environment                      default
========================  ===============================  =================================
``base_url``              ``UNIVERSED_LLM_BASE_URL``,      ``http://127.0.0.1:11434/v1``
                          ``OPENAI_BASE_URL``
``model``                 ``UNIVERSED_LLM_MODEL``          ``gpt-4o-mini``
``api_key``               ``UNIVERSED_LLM_API_KEY``,       none (no Authorization header)
                          ``OPENAI_API_KEY``
``every``                 ``UNIVERSED_LLM_EVERY``          ``10`` (ticks between deliberations)
``timeout``               ``UNIVERSED_LLM_TIMEOUT``        ``20`` seconds
``token_budget``          ``UNIVERSED_LLM_TOKEN_BUDGET``   ``0`` (= unlimited)
``retries``               ``UNIVERSED_LLM_RETRIES``        ``2`` (after the first attempt)
========================  ===============================  =================================

**HTTP:** one ``httpx`` client for the policy's life (connections reused), a timeout per request,
and retries with exponential backoff (``backoff``: first and largest delay; ``Retry-After``
honoured) for timeouts, connection failures and 408/409/425/429/5xx answers.

**Prompt:** built from the live rules (`system_prompt`): the action names the engine accepts and
their fields (``universed.core.rules``), the rules' text the daemon ships, and the replication
recipe of the observation itself (``replication_cost``); the observation is universed's
model-sized summary (``universed.agents.mcpagent.summarize``).

**Deliberation budget:** a probe consults the model at most once every ``every`` ticks (and
whenever its previous action was rejected, at most once per tick). Between deliberations it
repeats the model's last action while that action keeps succeeding (mining, surveying), else it
waits. When ``token_budget`` is spent, the policy stops asking and only repeats/waits.

**Token accounting:** ``usage`` of every reply (prompt and completion tokens) is added to
``prompt_tokens`` / ``completion_tokens``, per probe too (``tokens_by_probe``); replies without
``usage`` are estimated at 4 characters a token.

**Failure:** an HTTP error, a timeout, an unreachable endpoint, or a reply that is not a valid
action (garbage text, unknown action name) counts in ``errors`` and the probe waits. The policy
never raises out of ``decide``.

**In-process vs remote:** ``decide`` never blocks: in the daemon's tick loop a deliberation runs
on a worker thread and its action is used from the next tick on. A remote agent (``universed
agent run universed_policy_llm:llm``) calls ``adecide`` instead, which waits for the model
within the daemon's agent timeout, so each observation gets the model's answer to it.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import trio

from universed.agents.mcpagent import summarize as summarize_observation
from universed.core.rules import action_reference, doc_section, rules_doc
from universed.messages import ACTION_NAMES

__all__ = ["LLMPolicy", "parse_action"]

#: HTTP statuses worth another try (rate limited, overloaded, a gateway in between failing)
RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


def system_prompt() -> str:
    """The system prompt, built from the live rules: the action names the engine accepts and
    their fields (universed.core.rules), the rules' own text on actions, and the replication
    recipe as each observation carries it (``replication_cost``), so it cannot drift."""
    reference = "\n".join(
        f"- {a['action']}: {a['does']}" + (f" ({'; '.join(a['fields'])})" if a["fields"] else "")
        for a in action_reference()
    )
    try:
        rules = doc_section(rules_doc("universe"), "## Actions").split("\n\n")[1]
    except (KeyError, IndexError):
        rules = ""
    return (
        "You control a self-replicating space probe in a simulated universe.\n"
        "Each turn you get the probe's observation as JSON. Answer with ONE JSON object and "
        'nothing else: {"action": "<name>", ...fields}.\n'
        f"Actions:\n{reference}\n{rules}\n"
        "Survey a body before mining it; land on rocky bodies, orbit belts and gas giants; "
        "repair when the hull is low; replicate when the cargo holds at least the observation's "
        "replication_cost of every resource. A rejected action's reason is in last_action."
    )


SYSTEM_PROMPT = system_prompt()

_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)
WAIT: dict[str, Any] = {"action": "wait"}


def parse_action(text: str) -> dict[str, Any] | None:
    """The action in a model reply (the first JSON object in it), or None if there is none."""
    match = _JSON_OBJECT.search(text or "")
    if match is None:
        return None
    try:
        obj = json.loads(match.group(0))
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    name = obj.get("action", obj.get("type"))
    if not isinstance(name, str) or name not in ACTION_NAMES:
        return None
    out = {k: v for k, v in obj.items() if k not in ("type", "probe_id") and _scalar(v)}
    out["action"] = name
    return out


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) or value is None


def summarize(obs: Mapping[str, Any]) -> dict[str, Any]:
    """The observation fields worth the model's tokens (universed's own model-sized view)."""
    return summarize_observation(obs)


class LLMPolicy:
    """See the module docstring."""

    name = "llm"

    def __init__(
        self,
        *,
        base_url: str | None = None,
        model: str | None = None,
        api_key: str | None = None,
        every: int | None = None,
        timeout: float | None = None,
        token_budget: int | None = None,
        max_tokens: int = 200,
        retries: int | None = None,
        backoff: tuple[float, float] = (0.5, 8.0),
        environ: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        env = os.environ if environ is None else environ
        self.base_url = (
            base_url
            or env.get("UNIVERSED_LLM_BASE_URL")
            or env.get("OPENAI_BASE_URL")
            or "http://127.0.0.1:11434/v1"
        ).rstrip("/")
        self.model = model or env.get("UNIVERSED_LLM_MODEL") or "gpt-4o-mini"
        self.api_key = api_key or env.get("UNIVERSED_LLM_API_KEY") or env.get("OPENAI_API_KEY")
        self.every = max(1, every if every is not None else int(env.get("UNIVERSED_LLM_EVERY", 10)))
        self.timeout = (
            timeout if timeout is not None else float(env.get("UNIVERSED_LLM_TIMEOUT", 20))
        )
        budget = (
            token_budget
            if token_budget is not None
            else int(env.get("UNIVERSED_LLM_TOKEN_BUDGET", 0))
        )
        self.token_budget = budget
        self.max_tokens = max_tokens
        self.retries = max(
            0, retries if retries is not None else int(env.get("UNIVERSED_LLM_RETRIES", 2))
        )
        self.backoff = backoff
        self._sleep = sleep
        self.retried = 0
        self.system_prompt = SYSTEM_PROMPT
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        # one client for the policy's life: its connections are reused (keep-alive); it is
        # thread-safe, so the worker threads of in-process deliberations share it
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 5.0)),
            transport=transport,
        )
        # a policy dropped without close() still closes its pooled connections
        weakref.finalize(self, self._http.close)
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.tokens_by_probe: dict[str, int] = {}
        self.calls = 0
        self.errors = 0
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self._plan: dict[str, dict[str, Any]] = {}  # probe -> model's latest action
        self._asked_at: dict[str, int] = {}  # probe -> tick of the latest deliberation
        self._fresh: dict[str, bool] = {}  # probe -> plan not yet used once
        self._pending: set[str] = set()  # probes with a deliberation in flight (in-process)

    # ------------------------------------------------------------------ accounting

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def budget_left(self) -> bool:
        return self.token_budget <= 0 or self.total_tokens < self.token_budget

    def stats(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "errors": self.errors,
            "retries": self.retried,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "last_error": self.last_error,
        }

    def on_death(self, probe_id: str) -> None:
        with self._lock:
            for table in (self._plan, self._asked_at, self._fresh):
                table.pop(probe_id, None)

    # ------------------------------------------------------------------ the model

    def close(self) -> None:
        """Close the HTTP client's pooled connections."""
        self._http.close()

    def _post(self, body: dict[str, Any]) -> httpx.Response:
        """POST /chat/completions, retrying timeouts, connection failures and the statuses of
        `RETRY_STATUSES` up to ``retries`` times with exponential backoff (``Retry-After`` is
        honoured up to the largest backoff). Raises the last failure."""
        delay, cap = self.backoff
        attempt = 0
        while True:
            try:
                response = self._http.post("/chat/completions", json=body)
                if response.status_code not in RETRY_STATUSES or attempt >= self.retries:
                    response.raise_for_status()
                    return response
                wait = _retry_after(response, cap)
            except (httpx.TimeoutException, httpx.TransportError):
                if attempt >= self.retries:
                    raise
                wait = None
            attempt += 1
            with self._lock:
                self.retried += 1
            self._sleep(min(cap, wait if wait is not None else delay * 2 ** (attempt - 1)))

    def ask(self, obs: Mapping[str, Any]) -> dict[str, Any] | None:
        """One chat completion for ``obs`` (blocking); the action, or None on any failure."""
        pid = str(obs.get("probe_id"))
        messages = [
            {"role": "system", "content": self.system_prompt},
            {"role": "user", "content": json.dumps(summarize(obs), separators=(",", ":"))},
        ]
        body = {
            "model": self.model,
            "messages": messages,
            "max_tokens": self.max_tokens,
            "temperature": 0,
        }
        with self._lock:
            self.calls += 1
        try:
            reply = self._post(body).json()
            text = reply["choices"][0]["message"]["content"]
            usage = reply.get("usage") or {}
        except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
            self._failed(f"{type(exc).__name__}: {exc}")
            return None
        prompt = usage.get("prompt_tokens") if isinstance(usage, dict) else None
        completion = usage.get("completion_tokens") if isinstance(usage, dict) else None
        if not isinstance(prompt, int):
            prompt = len(json.dumps(body)) // 4
        if not isinstance(completion, int):
            completion = len(str(text)) // 4
        with self._lock:
            self.prompt_tokens += prompt
            self.completion_tokens += completion
            self.tokens_by_probe[pid] = self.tokens_by_probe.get(pid, 0) + prompt + completion
        action = parse_action(str(text)) if isinstance(text, str) else None
        if action is None:
            self._failed(f"not an action: {str(text)[:120]!r}")
        return action

    def _failed(self, why: str) -> None:
        with self._lock:
            self.errors += 1
            self.last_error = why

    # ------------------------------------------------------------------ deciding

    def _due(self, obs: Mapping[str, Any]) -> bool:
        pid = str(obs.get("probe_id"))
        tick = int(obs.get("tick") or 0)
        asked = self._asked_at.get(pid)
        if not self.budget_left:
            return False
        if asked is None or tick - asked >= self.every:
            return True
        last = obs.get("last_action") or {}
        return last.get("ok") is False and tick > asked

    def _between(self, obs: Mapping[str, Any]) -> dict[str, Any]:
        """The action between deliberations: the plan once, then again while it succeeds."""
        pid = str(obs.get("probe_id"))
        plan = self._plan.get(pid)
        if plan is None:
            return WAIT
        if self._fresh.pop(pid, False):
            return plan
        last = obs.get("last_action") or {}
        if last.get("ok") and last.get("action") == plan["action"] and plan["action"] != "wait":
            return plan
        return WAIT

    def _store(self, pid: str, action: dict[str, Any] | None) -> None:
        with self._lock:
            if action is None:
                self._plan.pop(pid, None)
                self._fresh.pop(pid, None)
            else:
                self._plan[pid] = action
                self._fresh[pid] = True

    def decide(self, observation: Mapping[str, Any]) -> dict[str, Any]:
        """Non-blocking (for the daemon's tick loop): deliberations run on a worker thread."""
        obs = observation
        if obs.get("status") == "destroyed" or obs.get("activity"):
            return WAIT
        pid = str(obs.get("probe_id"))
        if pid not in self._pending and self._due(obs):
            self._asked_at[pid] = int(obs.get("tick") or 0)
            self._pending.add(pid)
            snapshot = dict(obs)

            def work() -> None:
                try:
                    self._store(pid, self.ask(snapshot))
                finally:
                    with self._lock:
                        self._pending.discard(pid)

            threading.Thread(target=work, name=f"llm-{pid}", daemon=True).start()
        with self._lock:
            return self._between(obs)

    async def adecide(self, observation: Mapping[str, Any]) -> dict[str, Any]:
        """For remote agents: deliberate (when due) and answer this observation with the result."""
        obs = observation
        if obs.get("status") == "destroyed" or obs.get("activity"):
            return WAIT
        pid = str(obs.get("probe_id"))
        if self._due(obs):
            self._asked_at[pid] = int(obs.get("tick") or 0)
            action = await trio.to_thread.run_sync(self.ask, dict(obs), abandon_on_cancel=True)
            self._store(pid, action)
        with self._lock:
            return self._between(obs)


def _retry_after(response: httpx.Response, cap: float) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return min(cap, max(0.0, float(value))) if value is not None else None
    except ValueError:
        return None
