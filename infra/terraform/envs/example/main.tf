# Three sites in three hazard zones at three providers; each backs up to the other two's
# buckets; one etcd cluster across the three. docs/deploy.md walks through applying it.

locals {
  topology_toml = templatefile("${path.module}/topology.toml.tftpl", {
    sites = {
      for name, site in var.sites : name => merge(site, {
        zones = join(", ", [for zone in site.hazard_zones : "\"${zone}\""])
      })
    }
    node_port = var.node_port
  })
  # each site's bucket as the others name it; the site itself is left out of its targets
  buckets = {
    "aws-tokyo"       = module.aws_tokyo.backup_target
    "gcp-osaka"       = module.gcp_osaka.backup_target
    "sakura-ishikari" = module.sakura_ishikari.backup_target
  }
  writers = {
    "aws-tokyo" = module.aws_tokyo.backup_writer
    "gcp-osaka" = module.gcp_osaka.backup_writer
    "sakura-ishikari" = {
      access_key = var.sakura_object_storage_access_key
      secret_key = var.sakura_object_storage_secret_key
      endpoint   = "https://s3.isk01.sakurastorage.jp"
    }
  }
  targets = { for name in keys(var.sites) : name => [for other, bucket in local.buckets : bucket if other != name] }
  egress = {
    "aws-tokyo"       = module.aws_tokyo.egress_cidr
    "gcp-osaka"       = module.gcp_osaka.egress_cidr
    "sakura-ishikari" = module.sakura_ishikari.egress_cidr
  }
  peers = { for name in keys(var.sites) : name => [for other, cidr in local.egress : cidr if other != name] }
  secrets = {
    for name in keys(var.sites) : name => {
      tls_ca_pem          = tls_self_signed_cert.ca.cert_pem
      tls_cert_pem        = tls_locally_signed_cert.member[name].cert_pem
      tls_key_pem         = tls_private_key.member[name].private_key_pem
      etcd_cert_pem       = tls_locally_signed_cert.member["etcd-${name}"].cert_pem
      etcd_key_pem        = tls_private_key.member["etcd-${name}"].private_key_pem
      replication_key_pem = tls_private_key.replication[name].private_key_pem
      trusted_sites_toml  = local.trusted_sites_toml
      backup_master_key   = random_bytes.backup_master_key.base64
      token_secret        = random_password.token["token_secret"].result
      alert_intake_token  = random_password.token["alert_intake_token"].result
      backup_credentials_ini = join("\n", [
        for other, writer in local.writers :
        "[${other}]\naws_access_key_id = ${writer.access_key}\naws_secret_access_key = ${writer.secret_key}\n" if other != name
      ])
    }
  }
}

module "etcd" {
  source        = "../../modules/etcd-cluster"
  members       = { for name, site in var.sites : name => "etcd.${site.dns_name}" }
  cluster_token = var.etcd_cluster_token
  worst_rtt_ms  = var.worst_rtt_ms
}

module "aws_tokyo" {
  source                = "../../modules/site-aws"
  site_name             = "aws-tokyo"
  region                = var.sites["aws-tokyo"].region
  dns_name              = var.sites["aws-tokyo"].dns_name
  node_port             = var.node_port
  size                  = var.size
  node_count            = var.node_count
  image                 = var.image
  admin_cidrs           = var.admin_cidrs
  peer_cidrs            = local.peers["aws-tokyo"]
  topology_toml         = local.topology_toml
  etcd                  = { member_name = "aws-tokyo", initial_cluster = module.etcd.initial_cluster, flags = module.etcd.flags, endpoints = module.etcd.endpoints }
  yui_settings          = module.etcd.yui_settings
  backup_targets        = local.targets["aws-tokyo"]
  backup_retention_days = var.backup_retention_days
  secrets               = local.secrets["aws-tokyo"]
  labels                = { system = "yui" }
}

module "gcp_osaka" {
  source                = "../../modules/site-google"
  site_name             = "gcp-osaka"
  region                = var.sites["gcp-osaka"].region
  dns_name              = var.sites["gcp-osaka"].dns_name
  node_port             = var.node_port
  size                  = var.size
  node_count            = var.node_count
  image                 = var.image
  admin_cidrs           = var.admin_cidrs
  peer_cidrs            = local.peers["gcp-osaka"]
  topology_toml         = local.topology_toml
  etcd                  = { member_name = "gcp-osaka", initial_cluster = module.etcd.initial_cluster, flags = module.etcd.flags, endpoints = module.etcd.endpoints }
  yui_settings          = module.etcd.yui_settings
  backup_targets        = local.targets["gcp-osaka"]
  backup_retention_days = var.backup_retention_days
  secrets               = local.secrets["gcp-osaka"]
  labels                = { system = "yui" }
}

module "sakura_ishikari" {
  source = "../../modules/site-sakuracloud"
  providers = {
    sakuracloud               = sakuracloud
    random                    = random
    aws.sakura_object_storage = aws.sakura_object_storage
  }
  site_name             = "sakura-ishikari"
  region                = var.sites["sakura-ishikari"].region
  dns_name              = var.sites["sakura-ishikari"].dns_name
  node_port             = var.node_port
  size                  = var.size
  node_count            = var.node_count
  image                 = var.image
  admin_cidrs           = var.admin_cidrs
  peer_cidrs            = local.peers["sakura-ishikari"]
  topology_toml         = local.topology_toml
  etcd                  = { member_name = "sakura-ishikari", initial_cluster = module.etcd.initial_cluster, flags = module.etcd.flags, endpoints = module.etcd.endpoints }
  yui_settings          = module.etcd.yui_settings
  backup_targets        = local.targets["sakura-ishikari"]
  backup_retention_days = var.backup_retention_days
  secrets               = local.secrets["sakura-ishikari"]
  labels                = { system = "yui" }
}
