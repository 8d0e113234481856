"""Telling a person: email on a failed run and on a closed hour late past its grace.

Off unless FD_ALERT_SMTP_HOST is set (definitions.py reads the settings and passes them in). A failed run (any job of the location, asset-page runs
included) is Dagster's own `make_email_on_run_failure_sensor`; its freshness counterpart judges
the project's one freshness rule (`fd_pipeline/freshness.py`) and emails once per late hour, and
never about an hour that recovered. Both speak TLS only (STARTTLS or SSL, the system's CAs): the
password travels to the server in every message. The password is read from its variable through
`dg.EnvVar`, never held in a setting's value or shown in the UI.
"""

from __future__ import annotations

import html
import json
import smtplib
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import dagster as dg

from fd_pipeline import freshness, jobs

Clock = Callable[[], datetime]

SECURITY = ("starttls", "ssl")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465}
PASSWORD_VAR = "FD_ALERT_SMTP_PASSWORD"
# The settings `mail_from` takes, besides the password (only whether it is set).
VARIABLES = ("FD_ALERT_SMTP_HOST", "FD_ALERT_SMTP_PORT", "FD_ALERT_SMTP_SECURITY", "FD_ALERT_SMTP_USER",
             "FD_ALERT_EMAIL_FROM", "FD_ALERT_EMAIL_TO", "FD_ALERT_WEBSERVER_URL")


@dataclass(frozen=True)
class Mail:
    """Where alerts go. `password` is the variable holding it, read when the code location loads."""

    host: str
    port: int
    security: str
    sender: str
    recipients: tuple[str, ...]
    user: str
    password: dg.EnvVar
    webserver_url: str = ""

    def send(self, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, ", ".join(self.recipients), subject
        message.set_content(body)
        context = ssl.create_default_context()
        if self.security == "ssl":
            server: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, context=context, timeout=60)
        else:
            server = smtplib.SMTP(self.host, self.port, timeout=60)
        with server:
            if self.security == "starttls":
                server.starttls(context=context)
            server.login(self.user, self.password.get_value() or "")
            server.send_message(message)


def mail_from(values: Mapping[str, Any], *, password_set: bool) -> Mail | None:
    """The alert mail from the settings' values (`VARIABLES`, read by definitions.py), or None when
    FD_ALERT_SMTP_HOST is empty (alerts off).

    A host with the rest missing or malformed is a ValueError naming the variable: alerts that were
    asked for must not be silently off."""
    host = (values["FD_ALERT_SMTP_HOST"] or "").strip()
    if not host:
        return None
    security = (values["FD_ALERT_SMTP_SECURITY"] or "starttls").strip().lower()
    if security not in SECURITY:
        raise ValueError(f"FD_ALERT_SMTP_SECURITY must be one of {', '.join(SECURITY)}, got {security!r}")
    sender = (values["FD_ALERT_EMAIL_FROM"] or "").strip()
    recipients = tuple(r.strip() for r in values["FD_ALERT_EMAIL_TO"] or () if r.strip())
    missing = [name for name, given in (("FD_ALERT_EMAIL_FROM", sender), ("FD_ALERT_EMAIL_TO", recipients),
                                        (PASSWORD_VAR, password_set)) if not given]
    if missing:
        raise ValueError(f"FD_ALERT_SMTP_HOST is set (alerts on) but {', '.join(missing)} "
                         f"{'is' if len(missing) == 1 else 'are'} not set: set them, or unset FD_ALERT_SMTP_HOST")
    return Mail(
        host=host, port=values["FD_ALERT_SMTP_PORT"] or DEFAULT_PORTS[security], security=security, sender=sender,
        recipients=recipients, user=(values["FD_ALERT_SMTP_USER"] or "").strip() or sender,
        password=dg.EnvVar(PASSWORD_VAR), webserver_url=(values["FD_ALERT_WEBSERVER_URL"] or "").strip().rstrip("/"),
    )


def _utcnow() -> datetime:
    return datetime.now(UTC)


def build_alert_sensors(mail: Mail | None, rule: freshness.Rule, *, clock: Clock = _utcnow) -> list[dg.SensorDefinition]:
    """The two alert sensors, running from the start (setting the host is the opt-in); none without `mail`."""
    if mail is None:
        return []
    return [build_run_failure_email_sensor(mail), build_freshness_email_sensor(mail, rule, clock=clock)]


def _failure_body(context: dg.RunFailureSensorContext) -> str:
    run = context.dagster_run
    partition = run.tags.get("dagster/partition") or run.tags.get("dagster/asset_partition_range_start")
    lines = [f"Run {run.run_id} of {run.job_name}" + (f" (partition {partition})" if partition else "") + " failed.",
             f"Error: {context.failure_event.message}"]
    # The step's own error says what to fix (Dagster wraps it: the innermost cause is the project's line).
    for event in context.get_step_failure_events():
        error = event.step_failure_data.error if event.step_failure_data else None
        while error is not None and error.cause is not None:
            error = error.cause
        if error is not None:
            lines.append(f"{event.step_key}: {html.escape(error.message.strip().splitlines()[0])}")
    return "<br>".join(lines)


def build_run_failure_email_sensor(mail: Mail, *, name: str = "run_failure_email_sensor") -> dg.SensorDefinition:
    """Dagster's own run-failure email sensor, pointed at the configured server."""
    return dg.make_email_on_run_failure_sensor(
        email_from=mail.sender,
        # The library takes the password as a string: resolved here, from the variable only.
        email_password=mail.password.get_value() or "",
        email_to=list(mail.recipients),
        email_body_fn=_failure_body,
        email_subject_fn=lambda context: f"fd_pipeline: run of {context.dagster_run.job_name} failed",
        smtp_host=mail.host,
        smtp_type=mail.security.upper(),
        smtp_port=mail.port,
        smtp_user=mail.user,
        name=name,
        webserver_base_url=mail.webserver_url or None,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )


def build_freshness_email_sensor(
    mail: Mail, rule: freshness.Rule, *, clock: Clock = _utcnow, name: str = "freshness_email_sensor"
) -> dg.SensorDefinition:
    """Email when the freshness rule finds a closed hour late: one message for the hours newly late
    at a tick, each hour in one message only (the cursor keeps the hours told while the rule still
    inspects them), nothing when an hour recovers. A failed send fails the tick and leaves the
    cursor, so the next tick tries again."""

    @dg.sensor(
        name=name,
        minimum_interval_seconds=300,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Emails FD_ALERT_EMAIL_TO once per closed hour found late by the freshness rule (closed_hours_synced).",
    )
    def freshness_email(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        now = clock()
        told: dict[str, list[str]] = json.loads(context.cursor) if context.cursor else {}
        news, kept = [], {}
        for asset in jobs.COLLECTION_JOBS:
            verdict = freshness.judge(context.instance, asset, now, rule)
            earlier = set(told.get(asset, ()))
            new = [key for key in verdict.late if key not in earlier]
            if new:
                news.append((asset, new, verdict))
            # Hours past the lookback are never judged again, so the cursor forgets them.
            kept[asset] = sorted((earlier | set(new)) & set(verdict.due))
        cursor = json.dumps(kept, sort_keys=True)
        if not news:
            return dg.SensorResult(skip_reason="no closed hour newly late", cursor=cursor)
        hours = [f"{asset} {key}" for asset, new, _ in news for key in new]
        subject = f"fd_pipeline: {hours[0]} not synced" if len(hours) == 1 else f"fd_pipeline: {len(hours)} closed hours not synced"
        lines = []
        for asset, new, verdict in news:
            for key in new:
                lines.append(f"{asset} {key}: not materialised {verdict.minutes_late(key)} min after the hour closed "
                             f"(grace {rule.grace.total_seconds() / 60:g} min).")
        lines.append("late_partitions_sensor requests each late hour again; a run that fails is emailed on its own.")
        if mail.webserver_url:
            lines.append(f"Assets: {mail.webserver_url}/assets")
        mail.send(subject, "\n".join(lines))
        context.log.info("emailed %s about %s", ", ".join(mail.recipients), ", ".join(hours))
        return dg.SensorResult(skip_reason=f"emailed about {', '.join(hours)}", cursor=cursor)

    return freshness_email
