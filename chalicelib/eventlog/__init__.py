"""The event log: every inbound event (site calls, shop and messenger webhooks, provider
feedback, clicks and opt-outs) is appended once to the events table; the table's DynamoDB stream
feeds the worker (chalicelib.worker), which does the rest. A route's 2xx means stored."""
