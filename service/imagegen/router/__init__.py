"""Routing: deployments, strategies, retries, cooldowns, fallbacks, state (memory | redis)."""
