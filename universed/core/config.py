"""Daemon configuration: one typed `Config`, four sources, one precedence order.

Sources, lowest to highest precedence:

1. the embedded defaults (``universed/default.toml``, shipped in the package);
2. a TOML file (``--config PATH`` or ``UNIVERSED_CONFIG``);
3. environment variables ``UNIVERSED_<KEY>`` (e.g. ``UNIVERSED_TICK_RATE=20``);
4. command-line flags (``--seed --host --port --tick-rate --agent-timeout --mode``).

Everything is validated once, at start, by `load_config`; a bad value raises `ConfigError` naming
its source and key (``UNIVERSED_PORT: expected an integer, got 'x'``).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import attrs
import cattrs

from .grants import AuthConfigError, is_loopback, parse_agent_tokens

__all__ = ["Config", "ConfigError", "load_config"]

ENV_PREFIX = "UNIVERSED_"
LOG_LEVELS = ("debug", "info", "warning", "error")


class ConfigError(ValueError):
    """An invalid configuration value; the message names the source and the key."""


def _positive(_inst: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}")


def _port(_inst: object, _attribute: attrs.Attribute[Any], value: int) -> None:
    if not 0 <= value <= 65535:
        raise ValueError(f"port must be 0..65535, got {value}")


def _at_least_two(_inst: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if value < 2:
        raise ValueError(f"{attribute.name} must be >= 2, got {value}")


def _agent_tokens(_inst: object, _attribute: attrs.Attribute[Any], value: Any) -> None:
    try:
        parse_agent_tokens(value)
    except AuthConfigError as exc:
        raise ValueError(str(exc)) from None


def _non_negative(_inst: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value}")


def _save_dirs(_inst: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    for index, text in enumerate(value):
        where = f"{attribute.name}[{index}]"
        if not text:
            raise ValueError(f"{where}: empty directory name")
        path = Path(text)
        if not path.is_absolute():
            raise ValueError(f"{where}: {text!r} is not an absolute path")
        try:
            is_dir = path.resolve().is_dir()
        except OSError as exc:
            raise ValueError(f"{where}: {text!r}: {exc.strerror}") from None
        if not is_dir:
            what = "is not a directory" if path.exists() else "does not exist"
            raise ValueError(f"{where}: {text!r} {what}")


@attrs.frozen
class Config:
    """The daemon's configuration (see default.toml for the meaning of every key)."""

    seed: int = attrs.field(default=42)
    host: str = "127.0.0.1"
    port: int = attrs.field(default=8000, validator=_port)
    mode: Literal["realtime", "lockstep", "paused"] = "realtime"
    tick_rate: float = attrs.field(default=10.0, validator=_positive)
    agent_timeout_ms: int = attrs.field(default=5000, validator=_positive)
    fallback_policy: str = "fallback"
    default_policy: str = "wait"
    inherit_controller: bool = True
    sim_timeout_ms: int = attrs.field(default=10000, validator=_positive)
    sim_path: str = ""
    state_dir: str = ""
    save_dirs: tuple[str, ...] = attrs.field(default=(), validator=_save_dirs)
    checkpoint_every: int = attrs.field(default=1000, validator=_positive)
    verify_every: int = attrs.field(default=100, validator=_positive)
    checkpoint_keep: int = attrs.field(default=3, validator=_at_least_two)
    journal_sync: Literal["normal", "full"] = "normal"
    fork_from: str = ""
    ledger_scope: Literal["all", "controlled"] = "all"
    dashboard_max_observations: int = attrs.field(default=500, validator=_non_negative)
    dashboard_queue: int = attrs.field(default=8, validator=_positive)
    max_message_bytes: int = attrs.field(default=1 << 20, validator=_positive)
    # security (docs/security.md)
    admin_token: str = ""
    auth_admin: Literal["token", "open"] = "token"
    auth_read: Literal["open", "token"] = "open"
    read_token: str = ""
    auth_agents: Literal["auto", "open", "token"] = "auto"
    agent_tokens: Mapping[str, Any] = attrs.field(factory=dict, validator=_agent_tokens)
    max_connections: int = attrs.field(default=4096, validator=_positive)
    max_connections_per_address: int = attrs.field(default=1024, validator=_positive)
    ws_messages_per_second: float = attrs.field(default=5000.0, validator=_positive)
    ws_message_burst: int = attrs.field(default=10000, validator=_positive)
    ws_send_queue: int = attrs.field(default=256, validator=_positive)
    ws_max_fragments: int = attrs.field(default=1024, validator=_positive)
    ping_interval_ms: int = attrs.field(default=20000, validator=_positive)
    ping_timeout_ms: int = attrs.field(default=20000, validator=_positive)
    rest_requests_per_second: float = attrs.field(default=50.0, validator=_positive)
    rest_request_burst: int = attrs.field(default=100, validator=_positive)
    max_rest_body_bytes: int = attrs.field(default=1 << 20, validator=_positive)
    log_level: str = attrs.field(default="info")
    sim_config: Mapping[str, float | int | str] = attrs.field(factory=dict)
    policies: Mapping[str, str] = attrs.field(factory=dict)
    lineage_policies: Mapping[str, str] = attrs.field(factory=dict)
    newborn_policy: str = ""

    @log_level.validator
    def _log_level_ok(self, _attribute: attrs.Attribute[Any], value: str) -> None:
        if value not in LOG_LEVELS:
            raise ValueError(f"log_level must be one of {', '.join(LOG_LEVELS)}, got {value!r}")

    @seed.validator
    def _seed_ok(self, _attribute: attrs.Attribute[Any], value: int) -> None:
        if not 0 <= value < 2**64:
            raise ValueError(f"seed must be an unsigned 64-bit integer, got {value}")

    def __attrs_post_init__(self) -> None:
        if is_loopback(self.host):
            return
        if self.auth_admin == "open":
            raise ValueError(
                f"auth_admin = open is only allowed on a loopback address, not {self.host!r}"
            )
        if not self.admin_token and not self.state_dir:
            raise ValueError(
                f"refusing to listen on {self.host!r} (not a loopback address) without an admin "
                "token: set admin_token (or UNIVERSED_ADMIN_TOKEN) or state_dir "
                "(admin.token is generated there on first start)"
            )

    @property
    def agent_timeout(self) -> float:
        """The agent timeout in seconds."""
        return self.agent_timeout_ms / 1000.0

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


attrs.resolve_types(Config)
_FIELDS = {f.name: f for f in attrs.fields(Config)}
_converter = cattrs.Converter(forbid_extra_keys=True)


def _strict_int(value: Any, _t: type) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {value!r}")
    return value


def _strict_float(value: Any, _t: type) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {value!r}")
    return float(value)


def _strict_str(value: Any, _t: type) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def _strict_bool(value: Any, _t: type) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _sim_value(value: Any, _t: type) -> float | int | str:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected a number or a numeric string, got {value!r}")
    return value


_converter.register_structure_hook(int, _strict_int)
_converter.register_structure_hook(float, _strict_float)
_converter.register_structure_hook(str, _strict_str)
_converter.register_structure_hook(bool, _strict_bool)
_converter.register_structure_hook(float | int | str, _sim_value)


def _str_list(value: Any, _t: type) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise ValueError(f"expected a list of strings, got {value!r}")
    for item in value:
        if not isinstance(item, str):
            raise ValueError(f"expected a list of strings, got {item!r} in it")
    return tuple(value)


_converter.register_structure_hook_func(lambda t: t == tuple[str, ...], _str_list)


def _leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _parse_env_value(key: str, text: str) -> Any:
    """Environment values are strings: convert by the field's type."""
    kind = _FIELDS[key].type
    if kind is int:
        try:
            return int(text, 0)
        except ValueError:
            raise ValueError(f"expected an integer, got {text!r}") from None
    if kind is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"expected a number, got {text!r}") from None
    if kind is bool:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected true or false, got {text!r}")
    if key == "save_dirs":  # a list of directories, like PATH
        if not text:
            return []
        parts = text.split(os.pathsep)
        for index, part in enumerate(parts):
            if not part:
                raise ValueError(
                    f"entry {index} is empty (directories are separated by {os.pathsep!r}), "
                    f"got {text!r}"
                )
        return parts
    if key in ("sim_config", "policies", "lineage_policies", "agent_tokens"):
        try:
            return tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            raise ValueError(f"expected a TOML inline table, got {text!r}") from None
    return text


def _check_layer(source: str, layer: Mapping[str, Any]) -> None:
    for key, value in layer.items():
        if key not in _FIELDS:
            known = ", ".join(sorted(_FIELDS))
            raise ConfigError(f"{source}: unknown key {key!r} (known keys: {known})")
        try:
            _converter.structure(value, _FIELDS[key].type)  # type: ignore[arg-type]
        except Exception as exc:  # cattrs raises several kinds; all mean "bad value"
            text = str(_leaf(exc)).replace("typing.Literal", "")
            raise ConfigError(f"{source}: {key}: {text}") from None


def default_layer() -> dict[str, Any]:
    text = resources.files("universed").joinpath("default.toml").read_text()
    return tomllib.loads(text)


def file_layer(path: str | Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: invalid TOML: {exc}") from None


def env_layer(environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, text in environ.items():
        if not name.startswith(ENV_PREFIX) or name in (f"{ENV_PREFIX}CONFIG", f"{ENV_PREFIX}SIM"):
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if key not in _FIELDS:
            continue  # other UNIVERSED_* variables belong to other tools
        try:
            out[key] = _parse_env_value(key, text)
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from None
    return out


def load_config(
    flags: Mapping[str, Any] | None = None,
    *,
    config_path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Merge defaults < file < environment < flags and validate the result.

    Args:
        flags: values given on the command line (None values are ignored).
        config_path: a TOML file; if None, ``UNIVERSED_CONFIG`` from ``environ`` is used if set.
        environ: the environment (default ``os.environ``).

    Raises:
        ConfigError: naming the source and key of the first bad value.
    """
    environ = os.environ if environ is None else environ
    layers: list[tuple[str, dict[str, Any]]] = [("default.toml", default_layer())]
    path = config_path if config_path is not None else environ.get(f"{ENV_PREFIX}CONFIG")
    if path:
        layers.append((f"config file {path}", file_layer(path)))
    layers.append(("environment", env_layer(environ)))
    layers.append(("flags", {k: v for k, v in (flags or {}).items() if v is not None}))
    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for source, layer in layers:
        _check_layer(source, layer)
        merged.update(layer)
        origin.update(dict.fromkeys(layer, source))
    try:
        return _converter.structure(merged, Config)
    except Exception as exc:
        text = str(_leaf(exc))
        key = next((k for k in origin if text.startswith(k)), None)
        raise ConfigError(f"{origin[key]}: {text}" if key else text) from None
