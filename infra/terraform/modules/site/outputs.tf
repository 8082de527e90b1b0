# The `site` contract's outputs: every implementation declares exactly these names (checked
# by tests/deploy). This module itself makes nothing: it is the contract, not a site.

output "site_name" {
  description = "The site's name (var.site_name)."
  value       = var.site_name
}

output "node_url" {
  description = "The site node's URL for the topology file: https://<dns_name>:<node_port>."
  value       = null
}

output "load_balancer_address" {
  description = "The public address of the load balancer in front of the site nodes: point <dns_name> at it."
  value       = null
}

output "etcd_address" {
  description = "The public address of this site's etcd member: point etcd.<dns_name> at it."
  value       = null
}

output "egress_cidr" {
  description = "The address (/32) the site's VMs reach the other sites from (their peer_cidrs)."
  value       = null
}

output "backup_target" {
  description = "This site's bucket as the other sites name it in YUI_BACKUP_TARGETS."
  value       = null
}

output "backup_writer" {
  description = "The S3-compatible credentials the other sites write this site's bucket with (put only; object lock keeps them from deleting)."
  value       = null
  sensitive   = true
}

output "database_host" {
  description = "The managed PostgreSQL's private address."
  value       = null
}
