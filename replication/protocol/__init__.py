"""The protocol both sides speak: its messages, site signatures, the batch transport and
the signed HTTP client. Imports nothing of the primary or replica side."""
