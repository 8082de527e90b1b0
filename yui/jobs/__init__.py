"""Background jobs: rows in the tenant's replicated data, run step by step by the Celery
worker of the site that is the tenant's primary (DESIGN.md, "Runtime shape", "Failover")."""
