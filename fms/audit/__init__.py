"""Audit: an append-only, hash-chained log. Stores ids only and imports no domain."""
