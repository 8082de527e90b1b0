output "topology_toml" {
  description = "The topology file every site node reads, rendered from var.sites."
  value       = local.topology_toml
}

output "dns_records" {
  description = "The DNS records to create (name => address): each site's node name at its load balancer, etcd.<name> at its etcd member."
  value = merge(
    { for m in [module.aws_tokyo, module.gcp_osaka, module.sakura_ishikari] : trimprefix(trimsuffix(m.node_url, ":${var.node_port}"), "https://") => m.load_balancer_address },
    { for name, m in { "aws-tokyo" = module.aws_tokyo, "gcp-osaka" = module.gcp_osaka, "sakura-ishikari" = module.sakura_ishikari } : "etcd.${var.sites[name].dns_name}" => m.etcd_address },
  )
}

output "node_urls" {
  description = "Each site node's URL (site name => https URL)."
  value       = { for m in [module.aws_tokyo, module.gcp_osaka, module.sakura_ishikari] : m.site_name => m.node_url }
}

output "backup_targets" {
  description = "Where each site's backups go: the other two sites' buckets."
  value       = local.targets
}

output "etcd_timings" {
  description = "The etcd heartbeat and election timeout, and Yui's lease TTL and keepalive, derived from var.worst_rtt_ms."
  value       = module.etcd.timings
}

output "ca_cert_pem" {
  description = "The private CA's certificate: the operator's tools verify the sites with it."
  value       = tls_self_signed_cert.ca.cert_pem
}

output "operator_tls" {
  description = "The operator's certificate and key (client certificate for etcdctl and the sites): write them to files of mode 0600, never to the repository."
  value = {
    cert_pem = tls_locally_signed_cert.member["operator"].cert_pem
    key_pem  = tls_private_key.member["operator"].private_key_pem
  }
  sensitive = true
}
