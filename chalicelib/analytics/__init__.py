"""Analytics: figures kept as counters updated on write (never by scanning events), RFM scoring,
saved segments, and the queries behind `/admin/stats/...`, the CLI and the dashboard."""
