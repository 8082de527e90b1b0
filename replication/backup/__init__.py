"""Backups: encrypted snapshots and log segments of each tenant in S3 buckets of other
sites, restored to a point in time (a seq or a moment). docs/replication.md, "Backups"."""
