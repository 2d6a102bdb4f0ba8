"""One contact per person: identity keys, resolution to a contact, merges and erasure."""
