"""What runs at a tenant's replica: the endpoints, taking batches in order, applying
them, seals and promotion, quarantine, snapshots in, the copy's lag."""
