"""Settings: from the environment and .env, secrets hidden, errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicefsm.errors import ConfigurationError
from voicefsm.settings import load_settings


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
        f"invalid settings: {name}: URL scheme should be 'ws', 'wss', 'http' or 'https'"
    )


def test_an_error_in_the_dotenv_file_names_the_variable_written_there(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("voicefsm_livekit_url=ftp://127.0.0.1\n")
    with pytest.raises(ConfigurationError, match=r"^invalid settings: VOICEFSM_LIVEKIT_URL: "):
        load_settings()


@pytest.mark.parametrize("url", ["ws://127.0.0.1:7880", "wss://my-project.livekit.cloud"])
def test_livekit_url_accepts_livekits_own_websocket_forms(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("LIVEKIT_URL", url)
    assert str(load_settings().livekit_url).rstrip("/") == url


def test_backend_limits_are_validated_like_every_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICEFSM_BACKEND_POOL_SIZE", "0")
    with pytest.raises(
        ConfigurationError, match=r"^invalid settings: VOICEFSM_BACKEND_POOL_SIZE: "
    ):
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
