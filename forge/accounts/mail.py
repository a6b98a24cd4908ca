"""Outgoing mail: each message is a row (`MailMessage`) written in the transaction that caused
it, and sent by an rq job (`forge.jobs.send_mail`) that the outbox queues once that commits,
so a slow or broken SMTP server never holds a request and a rolled-back action mails nothing.

With no FORGE_SMTP_URL nothing is sent: the messages wait on the admin page (/admin/mail),
where a site admin can pass a link on, and each is logged.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from sqlalchemy import select
from sqlalchemy.orm import Session

from forge import outbox
from forge.config import SmtpSettings
from forge.db import utcnow
from forge.models import MailMessage

log = logging.getLogger(__name__)

SMTP_TIMEOUT_SECONDS = 30
MAX_ATTEMPTS = 5


def queue_mail(
    session: Session, smtp: SmtpSettings | None, recipient: str, subject: str, body: str
) -> MailMessage:
    """Record a mail to `recipient`; once this transaction commits it is sent (when SMTP is
    configured) or waits for an admin to see it."""
    message = MailMessage(
        recipient=recipient, subject=subject[:200], body=body, attempts=0, last_error=""
    )
    session.add(message)
    session.flush()
    if smtp is None:
        # Nobody receives it: whoever runs the forge finds it here and on /admin/mail.
        log.warning("no FORGE_SMTP_URL: mail to %s not sent (%s):\n%s", recipient, subject, body)
    else:
        outbox.put(session, "default", "forge.jobs.send_mail", message.id)
    return message


def unsent(session: Session, limit: int = 100) -> list[MailMessage]:
    """The newest mail that was not sent, for the admin page."""
    query = select(MailMessage).where(MailMessage.sent_at.is_(None))
    return list(session.scalars(query.order_by(MailMessage.id.desc()).limit(limit)))


def send(session: Session, smtp: SmtpSettings | None, message_id: int) -> bool:
    """Send one recorded message, once: True if it is sent (now or before). A failure is
    recorded on the row and raised, so the job shows as failed and is tried again (by rq's
    retry) up to MAX_ATTEMPTS times."""
    message = session.get(MailMessage, message_id)
    if message is None or message.sent_at is not None:
        return message is not None
    if smtp is None:
        log.warning("mail %d not sent: this worker has no FORGE_SMTP_URL", message_id)
        return False
    if message.attempts >= MAX_ATTEMPTS:
        return False
    message.attempts += 1
    try:
        deliver(smtp, compose(smtp, message))
    except (OSError, smtplib.SMTPException) as exc:
        message.last_error = f"{type(exc).__name__}: {exc}"[:1000]
        session.commit()
        raise
    message.sent_at = utcnow()
    message.last_error = ""
    session.commit()
    return True


def compose(smtp: SmtpSettings, message: MailMessage) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = smtp.sender
    mail["To"] = message.recipient
    mail["Subject"] = message.subject
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain=smtp.sender.rpartition("@")[2] or None)
    mail.set_content(message.body)
    return mail


def deliver(smtp: SmtpSettings, mail: EmailMessage) -> None:
    """Hand one message to the SMTP server FORGE_SMTP_URL names."""
    context = ssl.create_default_context()
    if smtp.tls:
        client = smtplib.SMTP_SSL(
            smtp.host, smtp.port, timeout=SMTP_TIMEOUT_SECONDS, context=context
        )
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=SMTP_TIMEOUT_SECONDS)
    with client:
        if smtp.starttls:
            client.starttls(context=context)
        if smtp.username:
            client.login(smtp.username, smtp.password)
        client.send_message(mail)
