"""Inbound webhooks from shops (Shopify, WooCommerce, any shop) and messenger bots (Telegram,
Meta): verify, parse into `Inbound` events, and store them through the ingest pipeline."""
