variable "members" {
  description = "The etcd members: site name => the member's DNS name (etcd.<site dns_name>). Three members at three providers: any one can be lost."
  type        = map(string)
  validation {
    condition     = length(var.members) % 2 == 1 && length(var.members) >= 3
    error_message = "members: an odd number, at least three (a quorum survives one loss)."
  }
}

variable "cluster_token" {
  description = "The etcd initial-cluster token: a new one for each new cluster, so that a member of an old cluster never joins it."
  type        = string
}

variable "worst_rtt_ms" {
  description = "The worst round-trip time measured between two members' sites, in ms, at the 99th percentile (Tokyo–Osaka–Ishikari across providers: 10–30 ms; spikes to ~100 ms)."
  type        = number
  default     = 100
}
