"""Data in the challenge's formats: token shards and toy data sets (needs the `trace` or `reference` extra)."""
