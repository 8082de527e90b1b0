# No resources: the cluster's flags and Yui's lease settings, derived from the measured
# latency, for every member and every site. The members themselves run on each site's etcd
# VM (site-* modules), with TLS and client-certificate authentication on both ports.
#
# Why these numbers (etcd's tuning guide: heartbeat about the round trip, election at least
# ten heartbeats):
# - heartbeat = 2.5 × the worst p99 RTT (≥ 100 ms): a heartbeat late by one spike does not
#   start an election (the sandbox on loopback uses 100 ms);
# - election timeout = 10 × heartbeat: a leader lost across clouds is replaced in ~2.5 s;
# - Yui's lease TTL must outlive one election plus one lost keepalive, or every site loses
#   its lease (and its primaries) whenever the etcd leader changes: TTL ≥ 2 × election +
#   keepalive, rounded up; keepalive = half the election timeout, rounded up to 0.5 s
#   (four renewals fit in one TTL: three may fail before it expires);
#   one etcd call's deadline = election timeout + 2 RTT (an election in progress is waited
#   out, not reported as a lost cluster).
# The price: a dead site is noticed after the TTL (7 s at 100 ms RTT) rather than 3 s.
locals {
  heartbeat_ms   = max(100, ceil(var.worst_rtt_ms * 2.5))
  election_ms    = local.heartbeat_ms * 10
  keepalive_s    = ceil(local.election_ms / 1000) / 2
  lease_ttl_s    = ceil(2 * local.election_ms / 1000 + local.keepalive_s)
  call_timeout_s = (local.election_ms + 2 * var.worst_rtt_ms) / 1000
  initial        = join(",", [for name, dns in var.members : "${name}=https://${dns}:2380"])
}
