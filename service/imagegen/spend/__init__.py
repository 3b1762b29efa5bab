"""Spend and access control: virtual keys, budgets with reservation, the spend log."""
