"""The failover controller: one active across all sites, elected through etcd."""
