"""Optimise and deploy, measured on the loaded model: KV cache, prefill vs decode, batching, prefixes, formats."""
