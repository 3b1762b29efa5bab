"""Virtual keys: hashed secrets with an alias, allowed models, limits and a budget."""
