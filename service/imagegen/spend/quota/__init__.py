"""Per-key quotas (rate windows, budget holds and committed spend) behind one protocol.

`memory`: one process's own state, the embedded default. `redis_quota`: shared by every
replica on the same Redis, so a fleet enforces one key's limits and budget as one gateway.
`policy` decides what happens when the shared store cannot be reached.
"""
