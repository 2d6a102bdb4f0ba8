"""Opt-out and opt-in keywords a person may text to any of our numbers or chats.

Twilio's defaults (https://help.twilio.com/articles/223134027), applied the same way to SMS,
WhatsApp, Messenger and Instagram: a message that is only one of these words changes that
channel's consent."""

from __future__ import annotations

STOP = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
START = frozenset({"START", "YES", "UNSTOP"})
HELP = frozenset({"HELP", "INFO"})


def keyword(body: str) -> str:
    """The message as a keyword: "Stop." and " stop! " are STOP."""
    return body.strip().strip(".!").strip().upper()


def consent_change(body: str) -> bool | None:
    """False for an opt-out word, True for an opt-in word, None for anything else."""
    word = keyword(body)
    if word in STOP:
        return False
    if word in START:
        return True
    return None
