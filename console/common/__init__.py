"""What every console page shares: mounting, sessions, CSRF, security headers, templates,
the message catalogue, static files, and the in-process API client."""
