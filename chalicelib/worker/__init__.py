"""The worker on the event log's stream: per batch it resolves identities, updates each
contact's profile once, runs the funnels, applies provider feedback and folds analytics.

Stream delivery is at least once: every step is idempotent (see each module), and a record that
fails is reported back to the stream, never dropped."""
