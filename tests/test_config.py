"""``aerofs_pipelines.config``: every setting typed, checked and read in one module."""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from aerofs_pipelines import config

PACKAGE = Path(config.__file__).parent
ENV_READ = re.compile(r"os\.environ|os\.getenv|getenv\(")


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for setting in config.SETTINGS:
        for name in (setting.name, *setting.also):
            monkeypatch.delenv(name, raising=False)


def test_no_other_module_reads_the_environment() -> None:
    readers = sorted(
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if ENV_READ.search(p.read_text(encoding="utf-8"))
    )
    assert readers == ["config.py"]


def test_every_aerofs_variable_the_package_names_is_a_setting() -> None:
    named = set()
    for path in PACKAGE.rglob("*.py"):
        named |= set(re.findall(r"\bAEROFS_[A-Z_]*[A-Z]\b", path.read_text(encoding="utf-8")))
    listed = {s.name for s in config.SETTINGS} | {a for s in config.SETTINGS for a in s.also}
    assert named - listed == set()


def test_defaults_run_with_nothing_set() -> None:
    assert config.landing_url().endswith("data/landing")
    assert config.sensor_max_per_tick() == 1000
    assert config.sweep_interval() == 60.0
    assert config.executor_name() == "in_process"
    assert config.production() is False
    assert config.secure_cookies() is None
    assert config.trusted_proxies() == ()
    assert config.postgres_url() is None
    assert all(e.error is None for e in config.effective())


@pytest.mark.parametrize(
    ("name", "value", "accepts"),
    [
        ("AEROFS_SENSOR_MAX_PER_TICK", "lots", "an integer >= 1"),
        ("AEROFS_SENSOR_MAX_PER_TICK", "0", "an integer >= 1"),
        ("AEROFS_SWEEP_INTERVAL", "-5", "a number >= 0"),
        ("AEROFS_PG_RETRY_SECONDS", "soon", "a number >= 0"),
        ("AEROFS_INGEST_LEASE_SECONDS", "0", "a number > 0"),
        ("AEROFS_IDENTITY_CACHE_SECONDS", "61", "a number in [0, 60]"),
        ("AEROFS_SECURE_COOKIES", "maybe", "a boolean"),
        ("AEROFS_EXECUTOR", "celery", "one of in_process, multiprocess, k8s"),
        ("AEROFS_ENV", "staging", "one of embedded, production"),
        ("AEROFS_TRUSTED_PROXIES", "10.0.0.0/8,not-an-ip", "an IP address or CIDR"),
        ("AEROFS_ALLOWED_ORIGINS", "ftp://x", "an origin"),
        ("AEROFS_LAKE", "gs://bucket", "a folder or s3://bucket/prefix"),
        ("AEROFS_LANDING", "s3://", "a folder or s3://bucket/prefix"),
        ("AEROFS_PORT", "99999", "an integer in [1, 65535]"),
        ("AWS_MAX_ATTEMPTS", "many", "an integer >= 1"),
        ("AWS_RETRY_MODE", "eager", "one of standard, adaptive, legacy"),
        ("AEROFS_ALERT_WEBHOOK_URL", "hooks.example.com/x", "an http(s) URL"),
        ("AEROFS_ALERT_EMAIL_TO", "ops@example.com, nobody", "an e-mail address"),
        ("AEROFS_SMTP_URL", "mail.example.com:25", "smtp://host:port or smtps://host:port"),
        ("AEROFS_SMTP_URL", "smtp://mail.example.com:smtp", "smtp://host:port"),
        ("AEROFS_PUBLIC_URL", "aerofs.example.com", "an http(s) URL"),
    ],
)
def test_a_bad_value_names_the_variable_and_what_it_accepts(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, accepts: str
) -> None:
    monkeypatch.setenv(name, value)
    setting = next(s for s in config.SETTINGS if s.name == name)
    with pytest.raises(config.ConfigError) as info:
        setting.read()
    message = str(info.value)
    assert message.startswith(f"{name}=") and accepts in message
    assert "\n" not in message


def test_values_are_parsed_into_their_types(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AEROFS_TRUSTED_PROXIES", " 10.0.0.0/8 , 192.0.2.7 ")
    monkeypatch.setenv("AEROFS_SECURE_COOKIES", "on")
    monkeypatch.setenv("AEROFS_LANDING_QUEUE", "landing-events")
    monkeypatch.setenv("AEROFS_LAKE", "s3://bucket/lake/")
    monkeypatch.setenv("AEROFS_ENV", "Production")
    assert config.trusted_proxies() == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("192.0.2.7/32"),
    )
    assert config.secure_cookies() is True
    assert config.sweep_interval() == 3600.0  # with a queue
    assert config.lake_url() == "s3://bucket/lake"
    assert config.production() is True


def test_postgres_url_from_dagster_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGSTER_PG_HOST", "db")
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "p@ss/word")
    assert config.postgres_url() == "postgresql://postgres:p%40ss%2Fword@db:5432/postgres"
    shown = {e.setting.name: e for e in config.effective()}["AEROFS_PG_URL"]
    assert shown.value == "postgresql://postgres:***@db:5432/postgres"
    assert shown.source == "environment"


def test_alert_settings_and_their_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    assert config.alert_webhook_url() is None and config.alert_email_to() == ()
    assert config.alert_email_from().startswith("aerofs@")
    hook = "https://hooks.slack.com/services/T0/B0/s3cr3t"
    monkeypatch.setenv("AEROFS_ALERT_WEBHOOK_URL", hook)
    monkeypatch.setenv("AEROFS_ALERT_EMAIL_TO", " ops@example.com , data@example.com ")
    monkeypatch.setenv("AEROFS_SMTP_URL", "smtp://alerts:pa55@mail.example.com:587")
    monkeypatch.setenv("AEROFS_PUBLIC_URL", "https://aerofs.example.com/")
    assert config.alert_webhook_url() == hook
    assert config.alert_email_to() == ("ops@example.com", "data@example.com")
    assert config.smtp_url() == "smtp://alerts:pa55@mail.example.com:587"
    assert config.public_url() == "https://aerofs.example.com"
    shown = {e.setting.name: e.value for e in config.effective()}
    assert shown["AEROFS_ALERT_WEBHOOK_URL"] == "***"
    assert shown["AEROFS_SMTP_URL"] == "smtp://alerts:***@mail.example.com:587"
    assert shown["AEROFS_ALERT_EMAIL_TO"] == ["ops@example.com", "data@example.com"]
    monkeypatch.setenv("AEROFS_SMTP_URL", "smtp://mail.example.com")
    assert {e.setting.name: e.value for e in config.effective()}["AEROFS_SMTP_URL"] == (
        "smtp://mail.example.com"
    )
    # a bad value is reported without the secret it holds
    monkeypatch.setenv("AEROFS_ALERT_WEBHOOK_URL", "hxxps://hooks.slack.com/services/s3cr3t")
    monkeypatch.setenv("AEROFS_SMTP_URL", "smtp://alerts:pa55@mail.example.com:x")
    for read in (config.alert_webhook_url, config.smtp_url):
        with pytest.raises(config.ConfigError) as info:
            read()
        assert "s3cr3t" not in str(info.value) and "pa55" not in str(info.value)


def aerofs(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).with_name("aerofs"))
    return subprocess.run(
        [exe, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_config_command(tmp_path: Path) -> None:
    base = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DAGSTER_HOME": str(tmp_path)}
    env = {**base, "AEROFS_SECRET_KEY": "k" * 40, "AEROFS_SENSOR_MAX_PER_TICK": "50"}
    done = aerofs("config", "--json", env=env)
    assert done.returncode == 0, done.stderr
    settings = {s["name"]: s for s in json.loads(done.stdout)["settings"]}
    assert settings["AEROFS_SENSOR_MAX_PER_TICK"] == {
        **settings["AEROFS_SENSOR_MAX_PER_TICK"],
        "value": 50,
        "source": "environment",
    }
    assert settings["AEROFS_SECRET_KEY"]["value"] == "***"  # set, and masked
    assert "k" * 40 not in done.stdout
    assert settings["AEROFS_LAKE"]["source"] == "default"
    text = aerofs("config", env=env)
    assert text.returncode == 0 and "AEROFS_SENSOR_MAX_PER_TICK" in text.stdout
    assert "k" * 40 not in text.stdout
    bad = aerofs("config", env={**base, "AEROFS_PORT": "http", "AEROFS_EXECUTOR": "celery"})
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.splitlines() == [
        "aerofs: error: AEROFS_EXECUTOR='celery' is not one of in_process, multiprocess, k8s",
        "aerofs: error: AEROFS_PORT='http' is not an integer in [1, 65535]",
    ]


def test_a_bad_value_stops_any_command_with_exit_code_2(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "DAGSTER_HOME": str(tmp_path), "AEROFS_LANDING": "gs://x"}
    (tmp_path / "f.txt").write_text("a\n")
    done = aerofs("ingest", str(tmp_path / "f.txt"), "--batch", "b1", env=env)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "aerofs: error: AEROFS_LANDING='gs://x' is not a folder or s3://bucket/prefix"
    )
