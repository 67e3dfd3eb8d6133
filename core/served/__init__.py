"""Served models: OpenAI-compatible endpoints, requests and evaluation through them."""
