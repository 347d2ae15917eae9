"""universed-policy-llm: a policy that asks an OpenAI-compatible chat endpoint what to do.

Registered as ``llm`` through the ``universed`` entry point group; configured from the
environment (see `policy.LLMPolicy`).
"""

from __future__ import annotations

from collections.abc import Mapping

from universed.plugins import hookimpl
from universed.policy import Policy

from .policy import LLMPolicy, parse_action

__all__ = ["LLMPolicy", "llm", "parse_action", "universed_policies"]


def llm() -> LLMPolicy:
    """A policy configured from the environment.

    For ``universed agent run universed_policy_llm:llm``.
    """
    return LLMPolicy()


@hookimpl
def universed_policies() -> Mapping[str, Policy]:
    return {"llm": LLMPolicy()}
