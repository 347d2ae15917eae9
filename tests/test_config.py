"""Configuration: sources, precedence, validation errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from universed.core.config import ConfigError, load_config


def test_embedded_defaults() -> None:
    cfg = load_config(environ={})
    assert (cfg.seed, cfg.host, cfg.port, cfg.mode) == (42, "127.0.0.1", 8000, "realtime")
    assert cfg.fallback_policy == "fallback"


def test_precedence_default_file_env_flags(tmp_path: Path) -> None:
    path = tmp_path / "u.toml"
    path.write_text(
        'seed = 1\nport = 9001\ntick_rate = 2.0\nmode = "lockstep"\n'
        "[sim_config]\nevent_freq_hazard = 0.5\n"
    )
    env = {"UNIVERSED_PORT": "9002", "UNIVERSED_TICK_RATE": "3", "UNIVERSED_CONFIG": str(path)}
    cfg = load_config({"tick_rate": 4.0, "seed": None}, environ=env)
    assert cfg.seed == 1  # file
    assert cfg.port == 9002  # env beats file
    assert cfg.tick_rate == 4.0  # flag beats env
    assert cfg.mode == "lockstep"
    assert cfg.sim_config == {"event_freq_hazard": 0.5}
    explicit = load_config(config_path=path, environ={})
    assert explicit.port == 9001


@pytest.mark.parametrize(
    ("flags", "env", "text"),
    [
        ({"port": 70000}, {}, "flags: port must be 0..65535"),
        ({}, {"UNIVERSED_PORT": "eighty"}, "UNIVERSED_PORT: expected an integer"),
        ({}, {"UNIVERSED_MODE": "warp"}, "environment: mode:"),
        ({}, {"UNIVERSED_INHERIT_CONTROLLER": "maybe"}, "expected true or false"),
        ({"tick_rate": 0.0}, {}, "tick_rate must be > 0"),
        ({"log_level": "loud"}, {}, "log_level must be one of"),
        ({"warp": 1}, {}, "unknown key 'warp'"),
        ({"seed": -1}, {}, "seed must be an unsigned 64-bit integer"),
        ({}, {"UNIVERSED_CONFIG": "/nonexistent/u.toml"}, "config file /nonexistent/u.toml"),
    ],
)
def test_validation_errors_name_source_and_key(
    flags: dict[str, object], env: dict[str, str], text: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(flags, environ=env)
    assert text in str(info.value)


def test_bad_toml(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("seed = = 1\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(config_path=path, environ={})
    path.write_text('port = "x"\n')
    with pytest.raises(ConfigError, match=r"config file .*: port: expected an integer"):
        load_config(config_path=path, environ={})


def test_save_dirs_from_file_env_and_flags(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    assert load_config(environ={}).save_dirs == ()
    path = tmp_path / "u.toml"
    path.write_text(f'save_dirs = ["{a}"]\n')
    assert load_config(config_path=path, environ={}).save_dirs == (str(a),)
    env = {"UNIVERSED_SAVE_DIRS": f"{a}:{b}"}  # colon-separated, like PATH
    assert load_config(config_path=path, environ=env).save_dirs == (str(a), str(b))
    assert load_config(environ={"UNIVERSED_SAVE_DIRS": ""}).save_dirs == ()
    assert load_config({"save_dirs": [str(b)]}, environ=env).save_dirs == (str(b),)
    assert load_config({"save_dirs": [str(b)]}, environ={}).to_json()["save_dirs"] == (str(b),)


def test_save_dirs_errors_are_precise(tmp_path: Path) -> None:
    afile = tmp_path / "file"
    afile.write_text("")
    cases: list[tuple[dict[str, object], dict[str, str], str]] = [
        ({}, {"UNIVERSED_SAVE_DIRS": f"{tmp_path}::/tmp"}, "UNIVERSED_SAVE_DIRS: entry 1 is empty"),
        ({}, {"UNIVERSED_SAVE_DIRS": "saves"}, "environment: save_dirs[0]: 'saves' is not an "
         "absolute path"),
        ({"save_dirs": [str(tmp_path), str(tmp_path / "nope")]}, {},
         f"flags: save_dirs[1]: '{tmp_path / 'nope'}' does not exist"),
        ({"save_dirs": [str(afile)]}, {}, "is not a directory"),
        ({"save_dirs": [""]}, {}, "save_dirs[0]: empty directory name"),
        ({"save_dirs": "/tmp"}, {}, "flags: save_dirs: expected a list of strings"),
        ({"save_dirs": ["/tmp", 3]}, {}, "expected a list of strings, got 3 in it"),
    ]  # fmt: skip
    for flags, env, text in cases:
        with pytest.raises(ConfigError) as info:
            load_config(flags, environ=env)
        assert text in str(info.value), (flags, env, str(info.value))
