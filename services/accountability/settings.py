"""Accountability settings: tokens, and every time-based behaviour (windows, auto-resolve, escalation, outbox)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.accountability.receivers import ReceiverPolicy
from shared.settings import CommonSettings, refuse_placeholder_secrets

# Development defaults; `refuse_placeholder_secrets` refuses anything starting with "change-me" in production.
DEV_READ_TOKEN = "change-me-read"  # noqa: S105
DEV_OPERATOR_TOKEN = "change-me-operator"  # noqa: S105
DEV_ADMIN_TOKEN = "change-me-admin"  # noqa: S105
DEV_SESSION_SECRET = "change-me-session"  # noqa: S105


class AccountabilitySettings(CommonSettings):
    """Environment: the common names (KAFKA_*, DATABASE_URL, ...) plus `ACCOUNTABILITY_*` for these fields."""

    model_config = SettingsConfigDict(env_prefix="ACCOUNTABILITY_", extra="ignore", populate_by_name=True)

    read_token: str = DEV_READ_TOKEN
    operator_token: str = DEV_OPERATOR_TOKEN
    admin_token: str = DEV_ADMIN_TOKEN
    # Signs the journey board's session cookies (HMAC-SHA256); changing it signs everybody out.
    session_secret: str = DEV_SESSION_SECRET
    # How long a board sign-in lasts (seconds).
    session_max_age_s: int = Field(default=12 * 3600, ge=60)

    # Consumer: records per poll, stored in one transaction. 2,000: when the consumer is behind, a commit's page
    # writes serve four times the items of a 500-record batch (24 % less per item among 200,000 stored items).
    max_batch: int = Field(default=2000, ge=1)
    # Alerts: how long a condition must stay clear before auto-resolve; how long before an unacknowledged
    # alert escalates; how often the evaluator runs (auto-resolve, escalation, window rules, gauges).
    auto_resolve_after_s: float = Field(default=3600.0, gt=0)
    escalate_after_s: float = Field(default=1800.0, gt=0)
    # Verify every resolved window alert this long after its resolution instead of its rule's `verify_after`
    # (tests and drills; unset in production).
    verify_after_s: float | None = Field(default=None, gt=0)
    # After a person resolves an alert, ask at most this many of the customers behind it "is it fixed for you?"
    # (on cx.followups); 0: ask nobody.
    followups_per_alert: int = Field(default=50, ge=0, le=1000)
    evaluate_interval_s: float = Field(default=30.0, gt=0)
    # A silence still in force this long after it was created is reported to its creator once (audit entry and
    # an event on the alerts topic; their contact too when a team lists them as a member). Unset: never.
    silence_remind_after_s: float | None = Field(default=24 * 3600.0, gt=0)
    # The alert rules re-read their window aggregates from the database at most this often (seconds).
    alert_window_refresh_s: float = Field(default=5.0, ge=0)
    # Outbox delivery: poll interval, exponential back-off base and cap, attempts before giving up.
    outbox_poll_s: float = Field(default=1.0, gt=0)
    outbox_backoff_base_s: float = Field(default=2.0, gt=0)
    outbox_backoff_max_s: float = Field(default=300.0, gt=0)
    outbox_max_attempts: int = Field(default=50, ge=1)
    outbox_lease_s: float = Field(default=60.0, gt=0)
    delivery_timeout_s: float = Field(default=5.0, gt=0)
    outbox_retention_s: float = Field(default=7 * 86400.0, gt=0, description="Keep delivered outbox rows this long")
    # Prometheus gauges for the scorecards are recomputed this often.
    gauges_interval_s: float = Field(default=30.0, gt=0)
    # SQLite: how often the WAL is checkpointed beside the store's commits (which never checkpoint themselves).
    checkpoint_interval_s: float = Field(default=1.0, gt=0)
    run_migrations: bool = True
    # Receivers on internal addresses (loopback, private, link-local, metadata) are refused unless named here:
    # comma-separated host names, addresses or networks, e.g. "hooks.internal,10.20.0.0/16".
    receiver_allow_hosts: str = ""
    # Free text of stored items is removed this many days after it was received (counts, scores and the
    # classification stay); unset: kept.
    text_retention_days: float | None = Field(default=None, gt=0)
    # The triage queue holds `unassigned` items and, from every stage, those classified with less confidence.
    triage_below_confidence: float = Field(default=0.6, ge=0, le=1)
    # Themes (services/accountability/themes.py): how often the job counts newly stored items and re-ranks the
    # themes, and how old a stored item must be before it is counted (a batch still committing is not skipped).
    themes_interval_s: float = Field(default=300.0, gt=0)
    themes_settle_s: float = Field(default=30.0, ge=0)
    # How many steps (Linux nice) below the service the job's reading and ranking run: a busy machine stores the
    # stream first and the themes wait (its writes keep the service's priority). 0: the same priority.
    themes_nice: int = Field(default=10, ge=0, le=19)
    # SQLite: the largest share of the time the job's writes may hold the database's lock (it pauses after each
    # batch for the rest); 1: no pause. PostgreSQL's writes do not lock the store out: no pause there.
    themes_write_share: float = Field(default=0.2, gt=0, le=1)
    # The largest request body any route takes (every write is a small JSON document).
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # E-mail receivers (weekly digests) go out over SMTP: ACCOUNTABILITY_SMTP_HOST (unset: e-mail deliveries fail
    # and are retried), _PORT, _FROM, _USERNAME/_PASSWORD (login when set), _STARTTLS, and a timeout per attempt.
    smtp_host: str = ""
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_from: str = "journeyline@localhost"
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    smtp_timeout_s: float = Field(default=10.0, gt=0)
    # Weekly digests (services/accountability/digest.py): sent from this ISO weekday (1 = Monday) and local hour on,
    # once per ISO week, to every team's e-mail and Slack receivers and to the leadership addresses (comma-separated)
    # and Slack webhook. The job checks every `digest_check_interval_s`; `digest_enabled=false` turns it off.
    digest_enabled: bool = True
    digest_weekday: int = Field(default=1, ge=1, le=7)
    digest_hour: int = Field(default=8, ge=0, le=23)
    digest_timezone: str = "UTC"
    digest_leadership_emails: str = ""
    digest_leadership_slack: str = ""
    digest_check_interval_s: float = Field(default=300.0, gt=0)

    def receiver_policy(self) -> ReceiverPolicy:
        """Which receiver URLs may be called: https only in production; internal addresses only if allow-listed."""
        return ReceiverPolicy.from_setting(self.receiver_allow_hosts, https_only=self.is_production)

    def check(self) -> None:
        """Refuse placeholder tokens outside development."""
        refuse_placeholder_secrets(
            self,
            ACCOUNTABILITY_READ_TOKEN=self.read_token,
            ACCOUNTABILITY_OPERATOR_TOKEN=self.operator_token,
            ACCOUNTABILITY_ADMIN_TOKEN=self.admin_token,
            ACCOUNTABILITY_SESSION_SECRET=self.session_secret,
        )
