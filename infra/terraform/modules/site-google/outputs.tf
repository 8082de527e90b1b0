output "site_name" {
  description = "The site's name (var.site_name)."
  value       = var.site_name
}

output "node_url" {
  description = "The site node's URL for the topology file: https://<dns_name>:<node_port>."
  value       = "https://${var.dns_name}:${var.node_port}"
}

output "load_balancer_address" {
  description = "The public address of the load balancer in front of the site nodes: point <dns_name> at it."
  value       = google_compute_address.lb.address
}

output "etcd_address" {
  description = "The public address of this site's etcd member: point etcd.<dns_name> at it."
  value       = google_compute_address.etcd.address
}

output "egress_cidr" {
  description = "The address (/32) the site's VMs reach the other sites from (their peer_cidrs)."
  value       = "${google_compute_address.egress.address}/32"
}

output "backup_target" {
  description = "This site's bucket as the other sites name it in YUI_BACKUP_TARGETS."
  value       = "https://storage.googleapis.com/${google_storage_bucket.backups.name}"
}

output "backup_writer" {
  description = "The S3-compatible credentials the other sites write this site's bucket with (put only; object lock keeps them from deleting)."
  value = {
    access_key = google_storage_hmac_key.backup_writer.access_id
    secret_key = google_storage_hmac_key.backup_writer.secret
    endpoint   = "https://storage.googleapis.com"
  }
  sensitive = true
}

output "database_host" {
  description = "The managed PostgreSQL's private address."
  value       = google_sql_database_instance.yui.private_ip_address
}
