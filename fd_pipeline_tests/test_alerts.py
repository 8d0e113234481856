"""Alerts reach a person, against a real SMTP server (aiosmtpd on loopback: STARTTLS and AUTH
required, a certificate from a CA the clients trust through SSL_CERT_FILE).

- Off unless FD_ALERT_SMTP_HOST is set; a host with the rest missing fails naming what to set.
- A failed run (a real pipeline run, ended by the 429 wait budget) is one message, through
  Dagster's `make_email_on_run_failure_sensor`; later ticks send nothing more.
- A closed hour late past its grace is one message; the same hour late again (its run failed) and
  an hour that recovered send none.
- The freshness verdict reaches `closed_hours_synced` from the sensor's tick, with no run: the
  evaluation the sensor returns is what the daemon records, and the check's latest execution fails.
"""

from __future__ import annotations

import socket
import ssl
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

import dagster as dg
import pytest

from fd_pipeline import alerts, sensors
from fd_pipeline.emulator import FaultConfig
from fd_pipeline.emulator.server import write_self_signed
from fd_pipeline.freshness import CHECK_NAME, Rule
from fd_pipeline.definitions import defs
from fd_pipeline.partitions import PARTITION_TAG, hour_key

from .fixtures.pipeline import ALL_ASSETS

aiosmtpd = pytest.importorskip("aiosmtpd", reason="the test extra (aiosmtpd) is not installed")
from aiosmtpd.controller import Controller  # noqa: E402
from aiosmtpd.smtp import AuthResult  # noqa: E402

PASSWORD = "smtp-s3cret-pw"
NOW = datetime(2025, 6, 2, 12, 40, tzinfo=UTC)


class Inbox:
    def __init__(self) -> None:
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(tmp_path, monkeypatch):
    ca_file, cert_file, key_file = write_self_signed(tmp_path / "tls")
    # Both senders verify with the system's CAs (ssl.create_default_context); OpenSSL reads this.
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    monkeypatch.setenv(alerts.PASSWORD_VAR, PASSWORD)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    logins = []

    def authenticate(server, session, envelope, mechanism, auth_data):
        logins.append(auth_data.login.decode())
        return AuthResult(success=auth_data.login == b"alerts@example.com" and auth_data.password == PASSWORD.encode())

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port(), tls_context=context, require_starttls=True,
                            authenticator=authenticate, auth_require_tls=True)
    controller.start()
    try:
        inbox.port, inbox.logins = controller.port, logins
        yield inbox
    finally:
        controller.stop()


def _mail(port: int) -> alerts.Mail:
    values = {name: "" for name in alerts.VARIABLES}
    values.update(FD_ALERT_SMTP_HOST="localhost", FD_ALERT_SMTP_PORT=port, FD_ALERT_EMAIL_FROM="alerts@example.com",
                  FD_ALERT_EMAIL_TO=["oncall@example.com"])
    mail = alerts.mail_from(values, password_set=True)
    assert mail is not None
    return mail


def test_alerts_are_off_unless_the_host_is_set_and_then_need_the_rest():
    empty = {name: "" for name in alerts.VARIABLES} | {"FD_ALERT_SMTP_PORT": 0, "FD_ALERT_EMAIL_TO": []}
    assert alerts.mail_from(empty, password_set=True) is None
    assert alerts.build_alert_sensors(None, Rule()) == []
    with pytest.raises(ValueError, match="FD_ALERT_EMAIL_TO, FD_ALERT_SMTP_PASSWORD are not set"):
        alerts.mail_from(empty | {"FD_ALERT_SMTP_HOST": "smtp.example.com", "FD_ALERT_EMAIL_FROM": "a@example.com"},
                         password_set=False)
    mail = alerts.mail_from(empty | {"FD_ALERT_SMTP_HOST": "smtp.example.com", "FD_ALERT_EMAIL_FROM": "a@example.com",
                                     "FD_ALERT_EMAIL_TO": ["b@example.com"], "FD_ALERT_SMTP_SECURITY": "SSL"},
                            password_set=True)
    assert (mail.port, mail.user, mail.security) == (465, "a@example.com", "ssl")
    assert isinstance(mail.password, dg.EnvVar) and mail.password.env_var_name == alerts.PASSWORD_VAR
    with pytest.raises(ValueError, match="FD_ALERT_SMTP_SECURITY must be one of starttls, ssl"):
        alerts.mail_from(empty | {"FD_ALERT_SMTP_HOST": "h", "FD_ALERT_SMTP_SECURITY": "plain"}, password_set=True)
    names = {s.name for s in alerts.build_alert_sensors(mail, Rule())}
    assert names == {"run_failure_email_sensor", "freshness_email_sensor"}


def test_a_failed_run_is_emailed_once(smtp, pipeline_harness, sqlite_url):
    """A real run of raw_articles that the 429 wait budget ends: one message naming the budget."""
    sensor = alerts.build_run_failure_email_sensor(_mail(smtp.port))
    h = pipeline_harness(sqlite_url, tickets=10, articles=4, span_hours=2, rate_window_s=2.0)
    with dg.DagsterInstance.ephemeral() as instance:
        first = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
        assert "Initiating" in (first.skip_message or "")  # Dagster's sensor starts after what exists
        h.emulator.set_faults(FaultConfig(storm_429={"/api/v2/solutions/categories": 10}, retry_after_s=1))
        h.freshdesk_overrides = {"rate_limit_budget_minutes": 0.02}  # one wait of 1 s fits, the second does not
        result = dg.materialize(
            [a for a in ALL_ASSETS if a.key.path[-1] == "raw_articles"], resources=h.resources(),
            instance=instance, partition_key=h.window_keys(1)[0], raise_on_error=False,
        )
        assert not result.success
        cursor = first.cursor
        for _ in range(3):
            tick = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor))
            cursor = tick.cursor or cursor
    assert len(smtp.messages) == 1
    (message,) = smtp.messages
    assert message["Subject"] == "fd_pipeline: run of __ephemeral_asset_job__ failed"
    assert message["To"] == "oncall@example.com" and smtp.logins == ["alerts@example.com"]
    body = message.get_body().get_content()
    assert result.run_id in body and "raw_articles: fd_pipeline.freshdesk.errors.FreshdeskRateLimited" in body
    assert "FRESHDESK_RATE_LIMIT_BUDGET_MINUTES" in body
    assert PASSWORD not in message.as_string()


def _materialised(instance, asset: str, *keys: str) -> None:
    for key in keys:
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=asset, partition=key))


def test_a_late_hour_is_emailed_once_and_a_recovered_hour_never(smtp):
    clock = {"now": NOW}
    rule = Rule(lookback_hours=4, grace=timedelta(minutes=20))
    sensor = alerts.build_freshness_email_sensor(_mail(smtp.port), rule, clock=lambda: clock["now"])
    hours = [hour_key(NOW - timedelta(hours=h)) for h in range(4, 0, -1)]  # 08:00 .. 11:00, all due at 12:40
    with dg.DagsterInstance.ephemeral() as instance:
        for asset in ("support_tickets", "kb_procedures"):
            _materialised(instance, asset, *[k for k in hours if not (asset == "support_tickets" and k == hours[1])])

        def tick(cursor):
            return sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor))

        result = tick(None)
        assert len(smtp.messages) == 1
        message = smtp.messages[0]
        assert message["Subject"] == f"fd_pipeline: support_tickets {hours[1]} not synced"
        assert "160 min after the hour closed" in message.get_body().get_content()

        # Later ticks see the same late hour: nothing more.
        clock["now"] += timedelta(minutes=5)
        result = tick(result.cursor)
        assert len(smtp.messages) == 1 and result.skip_message == "no closed hour newly late"

        # Its run starts (not late), then fails (late again): still the one message for that hour.
        instance.create_run_for_job(defs.resolve_job_def("tickets_job"), tags={PARTITION_TAG: hours[1]},
                                    status=dg.DagsterRunStatus.STARTED)
        result = tick(result.cursor)
        (run,) = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        instance.report_run_failed(run)
        result = tick(result.cursor)
        assert len(smtp.messages) == 1

        # The hour recovers: no message. An hour later, a new hour is late: one more message.
        _materialised(instance, "support_tickets", hours[1])
        result = tick(result.cursor)
        assert len(smtp.messages) == 1
        clock["now"] += timedelta(hours=1)
        _materialised(instance, "kb_procedures", hour_key(NOW))
        result = tick(result.cursor)
    assert len(smtp.messages) == 2
    assert smtp.messages[1]["Subject"] == f"fd_pipeline: support_tickets {hour_key(NOW)} not synced"
    assert smtp.logins == ["alerts@example.com"] * 2


def test_the_sensor_turns_the_check_red_without_a_run(monkeypatch):
    """What late_partitions_sensor returns is what the daemon records (`report_runless_asset_event`
    for each of SensorResult.asset_events, dagster/_daemon/sensor.py): the check's latest execution
    fails at the tick that finds the hour late, and passes at the tick that finds it synced."""
    monkeypatch.setenv("FRESHDESK_API_KEY", "not-used")  # the run request resolves its job's resources
    sensor = sensors.build_freshness_sensor(Rule(lookback_hours=2), False, clock=lambda: NOW)
    key = dg.AssetCheckKey(dg.AssetKey("support_tickets"), CHECK_NAME)
    late = hour_key(NOW - timedelta(hours=1))
    with dg.DagsterInstance.ephemeral() as instance:
        _materialised(instance, "kb_procedures", late, hour_key(NOW - timedelta(hours=2)))
        _materialised(instance, "support_tickets", hour_key(NOW - timedelta(hours=2)))
        cursor = None
        for expected in ("FAILED", "SUCCEEDED"):
            result = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs))
            for event in result.asset_events:
                instance.report_runless_asset_event(event)
            record = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]
            assert record.status.value == expected and record.run_id == ""
            cursor = result.cursor
            _materialised(instance, "support_tickets", late)
