output "initial_cluster" {
  description = "etcd's --initial-cluster: name=https://<member dns>:2380 for every member."
  value       = local.initial
}

output "endpoints" {
  description = "YUI_ETCD_ENDPOINTS: every member's client address (host:2379)."
  value       = join(",", [for dns in values(var.members) : "${dns}:2379"])
}

output "flags" {
  description = "The flags every member is started with (besides its name, URLs and certificates): TLS with client certificates on both ports, the timeouts above."
  value = [
    "--initial-cluster=${local.initial}",
    "--initial-cluster-state=new",
    "--initial-cluster-token=${var.cluster_token}",
    "--client-cert-auth",
    "--peer-client-cert-auth",
    "--heartbeat-interval=${local.heartbeat_ms}",
    "--election-timeout=${local.election_ms}",
    "--auto-compaction-retention=1h",
    "--quota-backend-bytes=4294967296",
  ]
}

output "yui_settings" {
  description = "YUI_* settings of every site for this cluster's latency: lease TTL, keepalive interval, deadline of one etcd call."
  value = {
    YUI_LEASE_TTL_SECONDS          = tostring(local.lease_ttl_s)
    YUI_KEEPALIVE_INTERVAL_SECONDS = tostring(local.keepalive_s)
    YUI_RETRY_TIMEOUT_SECONDS      = tostring(local.call_timeout_s)
  }
}

output "timings" {
  description = "The derived timings, for the record: heartbeat and election (ms), lease TTL and keepalive (s)."
  value = {
    heartbeat_ms = local.heartbeat_ms
    election_ms  = local.election_ms
    lease_ttl_s  = local.lease_ttl_s
    keepalive_s  = local.keepalive_s
  }
}
