"""``voicefsm start``: settings fail fast with the variable's name; a failed worker exits non-zero."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from trials.support import Backend, event, free_port
from voicefsm.cli import main
from voicefsm.errors import ConfigurationError
from voicefsm.ids import ConversationId
from voicefsm.persistence.spool import Spool
from voicefsm.persistence.targets import SpoolTarget
from voicefsm.providers.real import build_providers
from voicefsm.settings import check_providers, load_settings

FULL = {
    "LIVEKIT_URL": "http://127.0.0.1:1",
    "LIVEKIT_API_KEY": "lk-key",
    "LIVEKIT_API_SECRET": "lk-secret-value-0123456789abcdefghijklmnop",
    "DEEPGRAM_API_KEY": "dg-secret-value",
    "ELEVEN_API_KEY": "el-secret-value",
    "VOICEFSM_VAD": "none",
}


def run(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "voicefsm", *args],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=tmp_path,
        check=False,
        # any free health port: workers of tests running side by side never share 8081
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "VOICEFSM_HEALTH_PORT": "0", **env},
    )


@pytest.mark.slow
def test_the_worker_serves_its_health_check_on_the_port_it_is_given(tmp_path: Path) -> None:
    """Two workers on one host each need a port of their own (livekit's is 8081 for start)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    worker = subprocess.Popen(
        [sys.executable, "-m", "voicefsm", "start", "--log-level", "ERROR"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            **FULL,
            "VOICEFSM_HEALTH_PORT": str(port),
        },
    )
    try:
        deadline = time.monotonic() + 120
        answered = None
        while answered is None and time.monotonic() < deadline and worker.poll() is None:
            with contextlib.suppress(httpx.TransportError):
                answered = httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code
            time.sleep(0.2)
        assert answered == 200
    finally:
        worker.terminate()
        worker.wait(timeout=60)


@pytest.mark.parametrize("command", ["start", "dev"])
@pytest.mark.slow
def test_missing_settings_exit_2_naming_every_one_in_one_line(tmp_path: Path, command: str) -> None:
    """LiveKit's and the providers' variables together: no second round after fixing the first."""
    result = run(tmp_path, {}, command)
    assert result.returncode == 2
    assert result.stderr == (
        f"voicefsm {command}: cannot start the worker: LIVEKIT_URL, LIVEKIT_API_KEY, "
        "LIVEKIT_API_SECRET, DEEPGRAM_API_KEY, ELEVEN_API_KEY not set\n"
    )


@pytest.mark.slow
def test_missing_provider_keys_exit_2_naming_them(tmp_path: Path) -> None:
    env = {k: v for k, v in FULL.items() if k not in ("DEEPGRAM_API_KEY", "ELEVEN_API_KEY")}
    result = run(tmp_path, env, "start")
    assert result.returncode == 2
    assert "DEEPGRAM_API_KEY, ELEVEN_API_KEY not set" in result.stderr
    assert "lk-secret-value" not in result.stderr + result.stdout


@pytest.mark.slow
def test_a_worker_that_cannot_reach_livekit_exits_1_without_leaking_secrets(tmp_path: Path) -> None:
    env = FULL | {
        "LIVEKIT_URL": f"http://127.0.0.1:{free_port()}",
        "VOICEFSM_LIVEKIT_MAX_RETRY": "1",
    }
    result = run(tmp_path, env, "start", "--log-level", "WARNING")
    assert result.returncode == 1  # livekit's own CLI exits 0 here
    assert "the worker failed" in result.stderr
    output = result.stdout + result.stderr
    for secret in ("lk-secret-value", "dg-secret-value", "el-secret-value"):
        assert secret not in output


@pytest.mark.parametrize("variable", ["LIVEKIT_URL", "VOICEFSM_LIVEKIT_URL"])
@pytest.mark.slow
def test_a_livekit_cloud_style_wss_url_starts_the_connection_attempt(
    tmp_path: Path, variable: str
) -> None:
    """``wss://``, the form LiveKit Cloud gives, passes the settings and reaches livekit's own
    connection attempt (over TLS, to a local port where nothing listens)."""
    port = free_port()
    env = {k: v for k, v in FULL.items() if k != "LIVEKIT_URL"} | {
        variable: f"wss://127.0.0.1:{port}",
        "VOICEFSM_LIVEKIT_MAX_RETRY": "1",
    }
    result = run(tmp_path, env, "start", "--log-level", "WARNING")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "cannot start" not in output
    assert "failed to connect to livekit" in output
    assert f"127.0.0.1:{port} ssl" in output  # the attempt was TLS, as wss:// asks


def test_an_openai_compatible_llm_needs_its_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, value in FULL.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("VOICEFSM_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    with pytest.raises(ConfigurationError, match="VOICEFSM_LLM_API_KEY not set"):
        check_providers(load_settings())
    monkeypatch.setenv("VOICEFSM_TURN_DETECTION", "sideways")
    with pytest.raises(ConfigurationError, match="VOICEFSM_TURN_DETECTION"):
        check_providers(load_settings())


def test_providers_are_the_real_plugins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name, value in FULL.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    check_providers(settings)
    providers = build_providers(settings)
    assert type(providers.stt).__module__.startswith("livekit.plugins.deepgram")
    assert type(providers.tts).__module__.startswith("livekit.plugins.elevenlabs")
    assert type(providers.llm).__module__.startswith("livekit.agents.inference")
    assert (providers.vad, providers.turn_detection) == (None, "stt")


@pytest.mark.slow
def test_a_starting_worker_delivers_what_crashed_jobs_left_in_the_spool(
    tmp_path: Path, backend: Backend
) -> None:
    """A crashed job's acknowledged writes reach the backend when the next worker starts, before
    it takes a job (here LiveKit is unreachable, so the worker stops right after); with no
    ``--agent`` it runs the example agent."""
    spool_path = tmp_path / "spool.sqlite3"
    spool = Spool(spool_path)
    spool.insert(
        (e.idempotency_key, SpoolTarget.events(ConversationId("c1")).encode(), e.model_dump_json())
        for e in map(event, range(12))
    )
    spool.close()
    env = FULL | {
        "LIVEKIT_URL": f"http://127.0.0.1:{free_port()}",
        "VOICEFSM_LIVEKIT_MAX_RETRY": "1",
        "VOICEFSM_BACKEND_URL": backend.url,
        "VOICEFSM_SPOOL_PATH": str(spool_path),
    }
    result = run(tmp_path, env, "start", "--log-level", "INFO")
    output = result.stdout + result.stderr
    assert "orphaned spool drained" in output
    assert "BistroAgent" in output
    assert sorted(backend.stored_keys()) == [f"s1:{index:06d}" for index in range(12)]


def test_a_bad_scenario_is_refused_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "bad.json"
    scenario.write_text('{"turns": [{"user": ""}]}')
    assert main(["simulate", "--scenario", str(scenario)]) == 2
    assert "turns.0.user" in capsys.readouterr().err
