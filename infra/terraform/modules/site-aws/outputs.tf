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
  value       = aws_lb.site.dns_name
}

output "etcd_address" {
  description = "The public address of this site's etcd member: point etcd.<dns_name> at it."
  value       = aws_lb.site.dns_name
}

output "egress_cidr" {
  description = "The address (/32) the site's VMs reach the other sites from (their peer_cidrs)."
  value       = "${aws_eip.egress.public_ip}/32"
}

output "backup_target" {
  description = "This site's bucket as the other sites name it in YUI_BACKUP_TARGETS."
  value       = "https://s3.${var.region}.amazonaws.com/${aws_s3_bucket.backups.id}"
}

output "backup_writer" {
  description = "The S3-compatible credentials the other sites write this site's bucket with (put only; object lock keeps them from deleting)."
  value = {
    access_key = aws_iam_access_key.backup_writer.id
    secret_key = aws_iam_access_key.backup_writer.secret
    endpoint   = "https://s3.${var.region}.amazonaws.com"
  }
  sensitive = true
}

output "database_host" {
  description = "The managed PostgreSQL's private address."
  value       = aws_db_instance.yui.address
}
