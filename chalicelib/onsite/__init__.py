"""On-site messages: the inbox the snippet polls, who may read it, and what it reports back."""
