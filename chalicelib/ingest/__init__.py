"""Ingestion of Segment-spec calls: decode, validate, store once, hand to the funnels."""
