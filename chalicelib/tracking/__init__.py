"""Signed tokens and link rewriting: click tracking and unsubscribe links in every channel."""
