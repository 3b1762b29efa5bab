"""Provider adapters: one module per provider, the shared transport and the registry."""
