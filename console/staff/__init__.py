"""The staff console: sign-in, the municipality switcher, residents, the incident
dashboard and the operators' platform pages."""
