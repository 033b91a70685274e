"""What a delivery says and how it is signed: the webhook signature, the Slack-compatible message, the e-mail,
and sending an e-mail over SMTP."""

from __future__ import annotations

import hashlib
import hmac
import smtplib
import ssl
import uuid
from email.message import EmailMessage
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from services.accountability.settings import AccountabilitySettings

ID_NAMESPACE = uuid.UUID("0b9f7c1e-8d55-4a43-b0a6-2f0e3b3c7a19")  # delivery ids and e-mail Message-IDs
SIGNATURE_HEADER = "X-Journeyline-Signature"


def sign(secret: str, body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 of the exact request body with the receiver's secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def slack_message(payload: dict[str, Any]) -> dict[str, Any]:
    """A Slack incoming-webhook message (`text` plus a section block) for an alert transition: what happened, who
    owns it, the top terms and one example item."""
    text = slack_escape("\n".join(alert_lines(payload)))
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}]}


def alert_lines(payload: dict[str, Any]) -> list[str]:
    """An alert transition in a few lines (Slack and e-mail): what happened, who owns it, top terms, an example."""
    owners = payload.get("owners") or {}
    contributing = ", ".join(owners.get("contributing") or []) or "none"
    lines = [
        f"[{payload.get('transition', '').upper()}] {payload.get('title')} "
        f"(stage {payload.get('stage')}, rule {payload.get('rule_id')}, count {payload.get('count')})",
        f"Accountable: {owners.get('accountable') or 'nobody'}; contributing: {contributing}",
    ]
    evidence = payload.get("evidence") or {}
    terms = [t.get("term") for t in evidence.get("top_terms") or [] if isinstance(t, dict)][:5]
    if terms:
        lines.append(f"Top terms: {', '.join(str(t) for t in terms)} ({evidence.get('total', 0)} items)")
    examples = evidence.get("examples") or []
    if examples and isinstance(examples[0], dict) and examples[0].get("text"):
        first = examples[0]
        lines.append(f"Example ({first.get('channel')}, {first.get('severity')}): \u201c{first.get('text')}\u201d")
    return lines


def slack_escape(text: str) -> str:
    """Slack's control characters as entities: a customer's text cannot mention `<!channel>` or forge a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def email_message(payload: dict[str, Any], *, sender: str, to: str, key: str) -> EmailMessage:
    """An e-mail from a digest payload (`subject`, `text`, `html`: multipart/alternative) or, for any other payload
    (an alert transition), its summary as plain text. The Message-ID comes from the delivery key: a retried delivery
    is recognisably the same message."""
    if "subject" not in payload:
        transition = str(payload.get("transition") or "alert").upper()
        payload = {
            "subject": f"[Journeyline] {transition}: {payload.get('title')} (stage {payload.get('stage')})",
            "text": "\n".join(alert_lines(payload)) + "\n",
        }
    message = EmailMessage()
    message["Subject"] = " ".join(str(payload.get("subject") or "Journeyline").split())[:900]  # one line, always
    message["From"] = sender
    message["To"] = ", ".join(payload.get("to") or [to])
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = f"<{uuid.uuid5(ID_NAMESPACE, key)}@journeyline>"
    message["X-Journeyline-Delivery"] = key
    message.set_content(str(payload.get("text") or ""))
    if payload.get("html"):
        message.add_alternative(str(payload["html"]), subtype="html")
    return message


def send_smtp(settings: AccountabilitySettings, message: EmailMessage) -> None:
    """Blocking SMTP send: STARTTLS and login when configured; raises on any failure (the caller records it)."""
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_s) as smtp:
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password)
        smtp.send_message(message)
