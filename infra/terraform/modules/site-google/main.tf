# A Yui site on Google Cloud (asia-northeast1 Tokyo, asia-northeast2 Osaka): a VPC with one
# private subnet, the site nodes in a regional managed instance group behind a passthrough
# network load balancer (the nodes end TLS and verify client certificates), one etcd VM,
# Cloud SQL for PostgreSQL on a private address, a Cloud Storage bucket (versioning, a
# locked retention policy, a customer-managed key) written through the S3-compatible XML
# API with HMAC keys, the secrets in Secret Manager.

locals {
  name      = "yui-${var.site_name}"
  machine   = { small = "n2d-standard-2", large = "n2d-standard-8" }[var.size]
  db_tier   = { small = "db-custom-2-8192", large = "db-custom-8-32768" }[var.size]
  labels    = merge(var.labels, { "yui-site" = var.site_name })
  etcd_name = "etcd.${var.dns_name}"
  settings = merge(var.yui_settings, {
    YUI_SITE                    = var.site_name
    YUI_HOST                    = "0.0.0.0"
    YUI_PORT                    = tostring(var.node_port)
    YUI_TOPOLOGY_FILE           = "/etc/yui/topology.toml"
    YUI_ETCD_ENDPOINTS          = var.etcd.endpoints
    YUI_ETCD_CA_FILE            = "/etc/yui/secrets/ca.pem"
    YUI_ETCD_CERT_FILE          = "/etc/yui/secrets/site.crt"
    YUI_ETCD_KEY_FILE           = "/etc/yui/secrets/site.key"
    YUI_TLS_CA_FILE             = "/etc/yui/secrets/ca.pem"
    YUI_TLS_CERT_FILE           = "/etc/yui/secrets/site.crt"
    YUI_TLS_KEY_FILE            = "/etc/yui/secrets/site.key"
    YUI_REPLICATION_TRUST_FILE  = "/etc/yui/secrets/trusted-sites.toml"
    YUI_REPLICATION_KEY_FILE    = "/etc/yui/secrets/replication-key.pem"
    YUI_BACKUP_KEY_FILE         = "/etc/yui/secrets/backup-master.key"
    YUI_BACKUP_TARGETS          = join(",", var.backup_targets)
    YUI_BACKUP_INTERVAL_SECONDS = "3600"
    AWS_SHARED_CREDENTIALS_FILE = "/etc/yui/secrets/backup-credentials.ini"
  })
  fetch_secrets = <<-EOT
    #!/bin/sh
    set -eu
    umask 077
    mkdir -p "$1"
    gcloud secrets versions access latest --secret=${google_secret_manager_secret.site.secret_id} > "$1/all.json"
    for f in tls_ca_pem:ca.pem tls_cert_pem:site.crt tls_key_pem:site.key etcd_cert_pem:etcd.crt etcd_key_pem:etcd.key replication_key_pem:replication-key.pem trusted_sites_toml:trusted-sites.toml backup_master_key:backup-master.key backup_credentials_ini:backup-credentials.ini; do
      jq -r ".$${f%%:*}" "$1/all.json" > "$1/$${f#*:}"
    done
    {
      echo "YUI_TOKEN_SECRET=$(jq -r .token_secret "$1/all.json")"
      echo "YUI_ALERT_INTAKE_TOKEN=$(jq -r .alert_intake_token "$1/all.json")"
      echo "YUI_DATABASE_URL=postgresql+psycopg://yui:$(gcloud secrets versions access latest --secret=${google_secret_manager_secret.database.secret_id})@${google_sql_database_instance.yui.private_ip_address}:5432/yui?sslmode=require"
    } > "$1/secrets.env"
    rm "$1/all.json"
    chown -R 10001:10001 "$1"
  EOT
}

data "google_project" "here" {}

# --------------------------------------------------------------------------- network

resource "google_compute_network" "site" {
  name                    = local.name
  auto_create_subnetworks = false
}

resource "google_compute_subnetwork" "site" {
  name                     = local.name
  region                   = var.region
  network                  = google_compute_network.site.id
  ip_cidr_range            = "10.50.0.0/20"
  private_ip_google_access = true
  log_config {
    aggregation_interval = "INTERVAL_5_MIN"
    flow_sampling        = 0.5
  }
}

resource "google_compute_router" "site" {
  name    = local.name
  region  = var.region
  network = google_compute_network.site.id
}

# The one egress address the other sites allow (their peer_cidrs).
resource "google_compute_address" "egress" {
  name   = "${local.name}-egress"
  region = var.region
}

resource "google_compute_router_nat" "site" {
  name                               = local.name
  router                             = google_compute_router.site.name
  region                             = var.region
  nat_ip_allocate_option             = "MANUAL_ONLY"
  nat_ips                            = [google_compute_address.egress.self_link]
  source_subnetwork_ip_ranges_to_nat = "ALL_SUBNETWORKS_ALL_IP_RANGES"
}

resource "google_compute_firewall" "node" {
  name      = "${local.name}-node"
  network   = google_compute_network.site.id
  direction = "INGRESS"
  allow {
    protocol = "tcp"
    ports    = [tostring(var.node_port)]
  }
  source_ranges = ["0.0.0.0/0"] # the site's public HTTPS (the load balancer passes clients through)
  target_tags   = ["yui-node"]
}

resource "google_compute_firewall" "etcd" {
  name      = "${local.name}-etcd"
  network   = google_compute_network.site.id
  direction = "INGRESS"
  allow {
    protocol = "tcp"
    ports    = ["2379", "2380"]
  }
  source_ranges = concat(var.peer_cidrs, [google_compute_subnetwork.site.ip_cidr_range])
  target_tags   = ["yui-etcd"]
}

resource "google_compute_firewall" "admin" {
  count     = length(var.admin_cidrs) > 0 ? 1 : 0
  name      = "${local.name}-admin"
  network   = google_compute_network.site.id
  direction = "INGRESS"
  allow {
    protocol = "tcp"
    ports    = ["22"]
  }
  source_ranges = var.admin_cidrs
  target_tags   = ["yui-node", "yui-etcd"]
}

# --------------------------------------------------------------------------- load balancer

resource "google_compute_address" "lb" {
  name   = "${local.name}-lb"
  region = var.region
}

resource "google_compute_region_health_check" "node" {
  name   = "${local.name}-node"
  region = var.region
  https_health_check {
    port         = var.node_port
    request_path = "/readyz"
  }
}

resource "google_compute_region_backend_service" "node" {
  name                  = "${local.name}-node"
  region                = var.region
  protocol              = "TCP"
  load_balancing_scheme = "EXTERNAL"
  health_checks         = [google_compute_region_health_check.node.id]
  backend {
    group = google_compute_region_instance_group_manager.node.instance_group
  }
}

resource "google_compute_forwarding_rule" "node" {
  name                  = "${local.name}-node"
  region                = var.region
  ip_address            = google_compute_address.lb.address
  ip_protocol           = "TCP"
  ports                 = [tostring(var.node_port)]
  load_balancing_scheme = "EXTERNAL"
  backend_service       = google_compute_region_backend_service.node.id
}

resource "google_compute_address" "etcd" {
  name   = "${local.name}-etcd"
  region = var.region
}

resource "google_compute_target_instance" "etcd" {
  name     = "${local.name}-etcd"
  zone     = "${var.region}-a"
  instance = google_compute_instance.etcd.id
}

resource "google_compute_forwarding_rule" "etcd" {
  name                  = "${local.name}-etcd"
  region                = var.region
  ip_address            = google_compute_address.etcd.address
  ip_protocol           = "TCP"
  port_range            = "2379-2380"
  load_balancing_scheme = "EXTERNAL"
  target                = google_compute_target_instance.etcd.id
}

# --------------------------------------------------------------------------- compute

resource "google_service_account" "vm" {
  account_id   = "${local.name}-vm"
  display_name = "Yui site ${var.site_name}: its VMs"
}

resource "google_secret_manager_secret_iam_member" "vm" {
  for_each  = { site = google_secret_manager_secret.site.id, database = google_secret_manager_secret.database.id }
  secret_id = each.value
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.vm.email}"
}

resource "google_compute_instance_template" "node" {
  name_prefix  = "${local.name}-node-"
  machine_type = local.machine
  tags         = ["yui-node"]
  labels       = local.labels
  disk {
    source_image = "debian-cloud/debian-12"
    disk_size_gb = 30
    disk_encryption_key {
      kms_key_self_link = google_kms_crypto_key.site.id
    }
  }
  network_interface {
    subnetwork = google_compute_subnetwork.site.id
  }
  service_account {
    email  = google_service_account.vm.email
    scopes = ["cloud-platform"]
  }
  shielded_instance_config {
    enable_secure_boot          = true
    enable_vtpm                 = true
    enable_integrity_monitoring = true
  }
  metadata = {
    block-project-ssh-keys = "true"
    user-data = templatefile("${path.module}/../site/cloud-init.yaml.tftpl", {
      role          = "node"
      image         = var.image
      etcd_image    = ""
      etcd_flags    = []
      topology_toml = var.topology_toml
      settings      = local.settings
      fetch_secrets = local.fetch_secrets
    })
  }
  lifecycle {
    create_before_destroy = true
  }
}

resource "google_compute_region_instance_group_manager" "node" {
  name               = "${local.name}-node"
  region             = var.region
  base_instance_name = "${local.name}-node"
  target_size        = var.node_count
  version {
    instance_template = google_compute_instance_template.node.id
  }
  auto_healing_policies {
    health_check      = google_compute_region_health_check.node.id
    initial_delay_sec = 120
  }
}

resource "google_compute_instance" "etcd" {
  name         = "${local.name}-etcd"
  zone         = "${var.region}-a"
  machine_type = "e2-standard-2"
  tags         = ["yui-etcd"]
  labels       = local.labels
  boot_disk {
    kms_key_self_link = google_kms_crypto_key.site.id
    initialize_params {
      image = "debian-cloud/debian-12"
      size  = 50
    }
  }
  network_interface {
    subnetwork = google_compute_subnetwork.site.id
  }
  service_account {
    email  = google_service_account.vm.email
    scopes = ["cloud-platform"]
  }
  shielded_instance_config {
    enable_secure_boot          = true
    enable_vtpm                 = true
    enable_integrity_monitoring = true
  }
  metadata = {
    block-project-ssh-keys = "true"
    user-data = templatefile("${path.module}/../site/cloud-init.yaml.tftpl", {
      role          = "etcd"
      image         = var.image
      etcd_image    = "quay.io/coreos/etcd:v3.5.17"
      topology_toml = var.topology_toml
      settings      = {}
      fetch_secrets = local.fetch_secrets
      etcd_flags = concat(var.etcd.flags, [
        "--name=${var.etcd.member_name}",
        "--data-dir=/var/lib/etcd",
        "--listen-client-urls=https://0.0.0.0:2379",
        "--advertise-client-urls=https://${local.etcd_name}:2379",
        "--listen-peer-urls=https://0.0.0.0:2380",
        "--initial-advertise-peer-urls=https://${local.etcd_name}:2380",
        "--trusted-ca-file=/etc/yui/secrets/ca.pem",
        "--cert-file=/etc/yui/secrets/etcd.crt",
        "--key-file=/etc/yui/secrets/etcd.key",
        "--peer-trusted-ca-file=/etc/yui/secrets/ca.pem",
        "--peer-cert-file=/etc/yui/secrets/etcd.crt",
        "--peer-key-file=/etc/yui/secrets/etcd.key",
      ])
    })
  }
}

# --------------------------------------------------------------------------- PostgreSQL

resource "google_compute_global_address" "sql" {
  name          = "${local.name}-sql"
  purpose       = "VPC_PEERING"
  address_type  = "INTERNAL"
  prefix_length = 20
  network       = google_compute_network.site.id
}

resource "google_service_networking_connection" "sql" {
  network                 = google_compute_network.site.id
  service                 = "servicenetworking.googleapis.com"
  reserved_peering_ranges = [google_compute_global_address.sql.name]
}

resource "random_password" "database" {
  length  = 40
  special = false
}

resource "google_sql_database_instance" "yui" {
  # checkov:skip=CKV_GCP_6: ssl_mode ENCRYPTED_ONLY below refuses unencrypted connections (checkov looks for the older require_ssl)
  # checkov:skip=CKV_GCP_79: PostgreSQL 16, the version the project tests against (docker-compose.yml); a major upgrade is a planned step, not a default
  # checkov:skip=CKV_GCP_111: statement logs would hold residents' personal data; errors, lock waits and durations are logged
  name                = local.name
  region              = var.region
  database_version    = "POSTGRES_16"
  deletion_protection = true
  encryption_key_name = google_kms_crypto_key.site.id
  depends_on          = [google_service_networking_connection.sql]
  settings {
    tier              = local.db_tier
    availability_type = "REGIONAL"
    disk_autoresize   = true
    ip_configuration {
      ipv4_enabled    = false
      private_network = google_compute_network.site.id
      ssl_mode        = "ENCRYPTED_ONLY"
    }
    backup_configuration {
      enabled                        = true
      point_in_time_recovery_enabled = true
    }
    database_flags {
      name  = "log_checkpoints"
      value = "on"
    }
    database_flags {
      name  = "log_connections"
      value = "on"
    }
    database_flags {
      name  = "log_disconnections"
      value = "on"
    }
    database_flags {
      name  = "log_lock_waits"
      value = "on"
    }
    database_flags {
      name  = "log_min_messages"
      value = "error"
    }
    database_flags {
      name  = "log_min_duration_statement"
      value = "-1"
    }
    database_flags {
      name  = "log_temp_files"
      value = "0"
    }
    database_flags {
      name  = "log_min_error_statement"
      value = "error"
    }
    database_flags {
      name  = "log_hostname"
      value = "on"
    }
    database_flags {
      name  = "log_duration"
      value = "on"
    }
    database_flags {
      name  = "cloudsql.enable_pgaudit"
      value = "on"
    }
  }
}

resource "google_sql_database" "yui" {
  name     = "yui"
  instance = google_sql_database_instance.yui.name
}

resource "google_sql_user" "yui" {
  name     = "yui"
  instance = google_sql_database_instance.yui.name
  password = random_password.database.result
}

# --------------------------------------------------------------------------- encryption and secrets

resource "google_kms_key_ring" "site" {
  name     = local.name
  location = var.region
}

resource "google_kms_crypto_key" "site" {
  name            = "${local.name}-data"
  key_ring        = google_kms_key_ring.site.id
  rotation_period = "7776000s"
  lifecycle {
    prevent_destroy = true
  }
}

resource "google_secret_manager_secret" "site" {
  secret_id = "${local.name}-secrets"
  labels    = local.labels
  replication {
    user_managed {
      replicas {
        location = var.region
        customer_managed_encryption {
          kms_key_name = google_kms_crypto_key.site.id
        }
      }
    }
  }
}

resource "google_secret_manager_secret_version" "site" {
  secret      = google_secret_manager_secret.site.id
  secret_data = jsonencode(var.secrets)
}

resource "google_secret_manager_secret" "database" {
  secret_id = "${local.name}-database-password"
  labels    = local.labels
  replication {
    user_managed {
      replicas {
        location = var.region
        customer_managed_encryption {
          kms_key_name = google_kms_crypto_key.site.id
        }
      }
    }
  }
}

resource "google_secret_manager_secret_version" "database" {
  secret      = google_secret_manager_secret.database.id
  secret_data = random_password.database.result
}

# --------------------------------------------------------------------------- backup bucket

# Holds the *other* sites' backups; a locked retention policy keeps every object for
# backup_retention_days, whoever asks to delete it.
resource "google_storage_bucket" "backups" {
  name                        = "${local.name}-backups-${data.google_project.here.number}"
  location                    = upper(var.region)
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  labels                      = local.labels
  versioning {
    enabled = true
  }
  retention_policy {
    retention_period = var.backup_retention_days * 86400
    is_locked        = true
  }
  encryption {
    default_kms_key_name = google_kms_crypto_key.site.id
  }
  logging {
    log_bucket = "${local.name}-access-logs-${data.google_project.here.number}"
  }
}

# The other sites (other clouds) write through the S3-compatible XML API with HMAC keys.
resource "google_service_account" "backup_writer" {
  account_id   = "${local.name}-backup"
  display_name = "Yui site ${var.site_name}: the other sites writing their backups"
}

resource "google_storage_bucket_iam_member" "backup_writer" {
  for_each = toset(["roles/storage.objectCreator", "roles/storage.objectViewer"])
  bucket   = google_storage_bucket.backups.name
  role     = each.key
  member   = "serviceAccount:${google_service_account.backup_writer.email}"
}

resource "google_storage_hmac_key" "backup_writer" {
  service_account_email = google_service_account.backup_writer.email
}
