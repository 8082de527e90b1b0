"""Comparing copies: a tenant's digest at one seq, and every copy's digest at the same seq."""
