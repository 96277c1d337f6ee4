"""Settings: from the environment and .env, secrets hidden, errors that name the variable."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from voicefsm.errors import ConfigurationError
from voicefsm.settings import Settings, env_name, load_settings, settings_table
from voicefsm.settings.durations import is_duration


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "VOICEFSM_BACKEND_URL",
        "VOICEFSM_BACKEND_TOKEN",
        "VOICEFSM_SPOOL_PATH",
        "LIVEKIT_URL",
        "LIVEKIT_API_KEY",
        "LIVEKIT_API_SECRET",
        "VOICEFSM_LIVEKIT_URL",
        "VOICEFSM_BACKEND_POOL_SIZE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setattr("voicefsm.settings.names._WARNED", set())  # each test warns afresh


def test_secrets_never_show_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICEFSM_BACKEND_TOKEN", "tok-very-secret")
    monkeypatch.setenv("LIVEKIT_API_SECRET", "lk-very-secret")
    settings = load_settings()
    assert settings.backend_token is not None
    assert settings.backend_token.get_secret_value() == "tok-very-secret"
    assert "very-secret" not in repr(settings)
    assert "very-secret" not in str(settings)


def test_a_bad_value_names_its_variable_without_echoing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICEFSM_BACKEND_URL", "not a url with secret-123")
    with pytest.raises(ConfigurationError, match="VOICEFSM_BACKEND_URL") as error:
        load_settings()
    assert "secret-123" not in str(error.value)


@pytest.mark.parametrize("name", ["LIVEKIT_URL", "VOICEFSM_LIVEKIT_URL"])
def test_an_error_names_the_variable_the_user_set(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """A setting read under two names is reported under the one that was set."""
    monkeypatch.setenv(name, "ftp://127.0.0.1:7880")
    with pytest.raises(ConfigurationError) as error:
        load_settings()
    assert str(error.value) == (
        f"invalid {name}: URL scheme should be 'ws', 'wss', 'http' or 'https'"
    )


def test_an_error_in_the_dotenv_file_names_the_variable_written_there(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("voicefsm_livekit_url=ftp://127.0.0.1\n")
    with pytest.raises(ConfigurationError, match=r"^invalid VOICEFSM_LIVEKIT_URL: "):
        load_settings()


@pytest.mark.parametrize("url", ["ws://127.0.0.1:7880", "wss://my-project.livekit.cloud"])
def test_livekit_url_accepts_livekits_own_websocket_forms(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("LIVEKIT_URL", url)
    assert str(load_settings().livekit_url).rstrip("/") == url


def test_backend_limits_are_validated_like_every_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICEFSM_BACKEND_POOL_SIZE", "0")
    with pytest.raises(ConfigurationError, match=r"^invalid VOICEFSM_BACKEND_POOL_SIZE: "):
        load_settings()


def test_settings_come_from_a_dotenv_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"VOICEFSM_SPOOL_PATH={tmp_path / 'x.sqlite3'}\n")
    assert load_settings().spool_path == tmp_path / "x.sqlite3"


def test_livekit_credentials_need_all_three(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEKIT_URL", "http://127.0.0.1:7880")
    monkeypatch.setenv("LIVEKIT_API_KEY", "key")
    assert load_settings().livekit_credentials() is None
    monkeypatch.setenv("LIVEKIT_API_SECRET", "secret")
    credentials = load_settings().livekit_credentials()
    assert credentials is not None
    assert credentials[0] == "http://127.0.0.1:7880/"


def test_the_readme_lists_every_setting_as_the_code_defines_it() -> None:
    from pathlib import Path  # noqa: PLC0415

    from voicefsm.settings import settings_table  # noqa: PLC0415

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    start = readme.index("<!-- settings table: generated -->\n") + len(
        "<!-- settings table: generated -->\n"
    )
    end = readme.index("<!-- settings table: end -->")
    assert readme[start:end] == settings_table()


DURATIONS = [name for name in Settings.model_fields if name.endswith("_s")]


def test_every_duration_setting_is_made_by_the_one_validator() -> None:
    """Finite and bounded above, each of them: a new duration cannot forget either."""
    assert DURATIONS
    assert [name for name in DURATIONS if not is_duration(Settings.model_fields[name])] == []


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e308", "99999999999999999999999"])
@pytest.mark.parametrize("name", DURATIONS)
def test_a_duration_that_never_ends_is_refused_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    variable = env_name(name)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=rf"^invalid {variable}: ") as error:
        load_settings()
    assert value not in str(error.value)


@pytest.mark.parametrize(
    ("name", "zero_allowed"),
    [("hook_deadline_s", False), ("tool_filler_after_s", True), ("rejoin_grace_s", True)],
)
def test_zero_is_a_duration_only_where_it_means_off(
    monkeypatch: pytest.MonkeyPatch, name: str, zero_allowed: bool
) -> None:
    monkeypatch.setenv(env_name(name), "0")
    if zero_allowed:
        assert getattr(load_settings(), name) == 0
        assert "(0: " in (Settings.model_fields[name].description or "")  # and says what it means
    else:
        with pytest.raises(ConfigurationError, match=env_name(name)):
            load_settings()


def test_the_readme_table_says_each_durations_bounds() -> None:
    table = settings_table()
    assert "| `VOICEFSM_HOOK_DEADLINE_S` | `2.0` | " in table
    assert "the summary waits this long (seconds, > 0 to 60) |" in table
    assert "(seconds, 0 to 300) |" in table  # the rejoin grace: 0 is allowed, and means off
    assert "(seconds, > 0 to 86400) |" in table  # the drain timeout


def test_a_misspelled_variable_is_warned_about_once_with_the_closest_name(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    monkeypatch.setenv("VOICEFSM_FLUSH_DEADLINE", "3")
    (tmp_path / ".env").write_text("VOICEFSM_SPOL_PATH=/tmp/x\nVOICEFSM_TEST_ANYTHING=1\n")
    with caplog.at_level(logging.WARNING, logger="voicefsm.settings"):
        load_settings()
        load_settings()
    assert [r.getMessage() for r in caplog.records] == [
        "VOICEFSM_FLUSH_DEADLINE is not a voicefsm setting; it is ignored "
        "(did you mean VOICEFSM_FLUSH_DEADLINE_S?)",
        "VOICEFSM_SPOL_PATH is not a voicefsm setting; it is ignored "
        "(did you mean VOICEFSM_SPOOL_PATH?)",
    ]


def test_a_dotenv_that_is_not_utf8_is_named_in_one_line(tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(b"VOICEFSM_AGENT_NAME=caf\xe9\n")
    with pytest.raises(ConfigurationError) as error:
        load_settings()
    assert str(error.value) == (
        f"{tmp_path / '.env'}: settings file is not UTF-8 text (byte 0xe9 at offset 23)"
    )
