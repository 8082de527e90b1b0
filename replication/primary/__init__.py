"""What runs at a tenant's primary: a stream per replica, the outbox, acknowledgements
and the in-sync set, the write's wait, snapshots out."""
