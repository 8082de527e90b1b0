# A Yui site on Sakura Cloud (is1a/is1b Ishikari, tk1a/tk1b Tokyo; var.region is the zone):
# a switch behind a router with a fixed block of public addresses, the site nodes behind an
# enhanced load balancer (TCP proxy: the nodes end TLS), one etcd server, the managed
# PostgreSQL appliance, a bucket on Sakura's S3-compatible object storage, the secrets in
# Sakura's secret manager (its KMS-encrypted vault).
#
# Not checked against a Sakura account (docs/deploy.md, What was validated): whether the
# object storage of your contract supports versioning and object lock must be confirmed —
# the bucket's lock is requested below and the apply fails if it is not.

locals {
  name      = "yui-${var.site_name}"
  core      = { small = 2, large = 8 }[var.size]
  memory    = { small = 8, large = 32 }[var.size]
  db_plan   = { small = "30g", large = "250g" }[var.size]
  tags      = [for k, v in merge(var.labels, { "yui-site" = var.site_name }) : "${k}=${v}"]
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
  # Sakura's secret manager is read with an API key of the site's project, kept on the
  # server by the disk's cloud-init (usacloud); the key can read this vault only.
  fetch_secrets = <<-EOT
    #!/bin/sh
    set -eu
    umask 077
    mkdir -p "$1"
    usacloud secret-manager secret unveil --vault-id ${sakuracloud_secret_manager.site.id} --name secrets --output-type json | jq -r .Value > "$1/all.json"
    for f in tls_ca_pem:ca.pem tls_cert_pem:site.crt tls_key_pem:site.key etcd_cert_pem:etcd.crt etcd_key_pem:etcd.key replication_key_pem:replication-key.pem trusted_sites_toml:trusted-sites.toml backup_master_key:backup-master.key backup_credentials_ini:backup-credentials.ini; do
      jq -r ".$${f%%:*}" "$1/all.json" > "$1/$${f#*:}"
    done
    {
      echo "YUI_TOKEN_SECRET=$(jq -r .token_secret "$1/all.json")"
      echo "YUI_ALERT_INTAKE_TOKEN=$(jq -r .alert_intake_token "$1/all.json")"
      echo "YUI_DATABASE_URL=postgresql+psycopg://yui:$(jq -r .database_password "$1/all.json")@${cidrhost("192.168.50.0/24", 10)}:5432/yui?sslmode=require"
    } > "$1/secrets.env"
    rm "$1/all.json"
    chown -R 10001:10001 "$1"
  EOT
  user_data = {
    node = templatefile("${path.module}/../site/cloud-init.yaml.tftpl", {
      role          = "node"
      image         = var.image
      etcd_image    = ""
      etcd_flags    = []
      topology_toml = var.topology_toml
      settings      = local.settings
      fetch_secrets = local.fetch_secrets
    })
    etcd = templatefile("${path.module}/../site/cloud-init.yaml.tftpl", {
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

data "sakuracloud_archive" "debian" {
  zone    = var.region
  os_type = "debian12"
}

# --------------------------------------------------------------------------- network

# A router with a /28 of fixed public addresses: the first is the site's egress (the
# other sites' peer_cidrs), the etcd server and the load balancer's back ends use others.
resource "sakuracloud_internet" "site" {
  name        = local.name
  zone        = var.region
  netmask     = 28
  band_width  = 500
  tags        = local.tags
  description = "Yui site ${var.site_name}"
}

resource "sakuracloud_switch" "private" {
  name = "${local.name}-private"
  zone = var.region
  tags = local.tags
}

resource "sakuracloud_packet_filter" "site" {
  name = local.name
  zone = var.region
}

resource "sakuracloud_packet_filter_rules" "site" {
  zone             = var.region
  packet_filter_id = sakuracloud_packet_filter.site.id
  expression {
    protocol         = "tcp"
    destination_port = tostring(var.node_port)
    description      = "the site's public HTTPS"
  }
  dynamic "expression" {
    for_each = var.peer_cidrs
    content {
      protocol         = "tcp"
      source_network   = expression.value
      destination_port = "2379-2380"
      description      = "etcd from another site"
    }
  }
  dynamic "expression" {
    for_each = var.admin_cidrs
    content {
      protocol         = "tcp"
      source_network   = expression.value
      destination_port = "22"
      description      = "SSH from an administrator"
    }
  }
  expression {
    protocol         = "tcp"
    destination_port = "32768-61000"
    description      = "replies to the servers' own connections"
  }
  expression {
    protocol    = "udp"
    source_port = "53"
    description = "DNS replies"
  }
  expression {
    protocol    = "ip"
    allow       = false
    description = "everything else"
  }
}

# --------------------------------------------------------------------------- compute

resource "sakuracloud_disk" "node" {
  count                = var.node_count
  name                 = "${local.name}-node-${count.index}"
  zone                 = var.region
  source_archive_id    = data.sakuracloud_archive.debian.id
  size                 = 40
  encryption_algorithm = "aes256_xts"
  tags                 = local.tags
}

resource "sakuracloud_server" "node" {
  count  = var.node_count
  name   = "${local.name}-node-${count.index}"
  zone   = var.region
  core   = local.core
  memory = local.memory
  disks  = [sakuracloud_disk.node[count.index].id]
  tags   = local.tags
  network_interface {
    upstream         = sakuracloud_internet.site.switch_id
    user_ip_address  = sakuracloud_internet.site.ip_addresses[2 + count.index]
    packet_filter_id = sakuracloud_packet_filter.site.id
  }
  network_interface {
    upstream        = sakuracloud_switch.private.id
    user_ip_address = cidrhost("192.168.50.0/24", 100 + count.index)
  }
  user_data = local.user_data.node
}

resource "sakuracloud_disk" "etcd" {
  name                 = "${local.name}-etcd"
  zone                 = var.region
  source_archive_id    = data.sakuracloud_archive.debian.id
  size                 = 40
  encryption_algorithm = "aes256_xts"
  tags                 = local.tags
}

resource "sakuracloud_server" "etcd" {
  name   = "${local.name}-etcd"
  zone   = var.region
  core   = 2
  memory = 4
  disks  = [sakuracloud_disk.etcd.id]
  tags   = local.tags
  network_interface {
    upstream         = sakuracloud_internet.site.switch_id
    user_ip_address  = sakuracloud_internet.site.ip_addresses[1]
    packet_filter_id = sakuracloud_packet_filter.site.id
  }
  network_interface {
    upstream        = sakuracloud_switch.private.id
    user_ip_address = cidrhost("192.168.50.0/24", 20)
  }
  user_data = local.user_data.etcd
}

resource "sakuracloud_proxylb" "site" {
  name   = local.name
  plan   = 1000
  region = "is1"
  tags   = local.tags
  health_check {
    protocol   = "tcp"
    delay_loop = 10
  }
  bind_port {
    proxy_mode = "tcp"
    port       = var.node_port
  }
  dynamic "server" {
    for_each = sakuracloud_server.node
    content {
      ip_address = server.value.network_interface[0].user_ip_address
      port       = var.node_port
    }
  }
}

# --------------------------------------------------------------------------- PostgreSQL

resource "random_password" "database" {
  length  = 40
  special = false
}

resource "sakuracloud_database" "yui" {
  name             = local.name
  zone             = var.region
  database_type    = "postgres"
  plan             = local.db_plan
  username         = "yui"
  password         = random_password.database.result
  replica_password = random_password.database.result
  network_interface {
    switch_id     = sakuracloud_switch.private.id
    ip_address    = cidrhost("192.168.50.0/24", 10)
    netmask       = 24
    gateway       = cidrhost("192.168.50.0/24", 1)
    source_ranges = ["192.168.50.0/24"]
  }
  backup {
    time     = "03:00"
    weekdays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
  }
  tags = local.tags
}

# --------------------------------------------------------------------------- secrets

resource "sakuracloud_kms" "site" {
  name = local.name
  tags = local.tags
}

resource "sakuracloud_secret_manager" "site" {
  name       = local.name
  kms_key_id = sakuracloud_kms.site.id
  tags       = local.tags
}

resource "sakuracloud_secret_manager_secret" "site" {
  name     = "secrets"
  vault_id = sakuracloud_secret_manager.site.id
  value    = jsonencode(merge(var.secrets, { database_password = random_password.database.result }))
}

# --------------------------------------------------------------------------- backup bucket

resource "aws_s3_bucket" "backups" {
  provider            = aws.sakura_object_storage
  bucket              = "${local.name}-backups"
  object_lock_enabled = true
  # checkov:skip=CKV_AWS_144: cross-region replication is Yui's own: the backups are other sites' copies
  # checkov:skip=CKV_AWS_18: Sakura's object storage has no S3 access-log delivery
  # checkov:skip=CKV2_AWS_62: no consumer of bucket events
  # checkov:skip=CKV_AWS_145: Sakura's object storage encrypts at rest with its own keys; it has no KMS key to name (SSE-S3 below)
}

resource "aws_s3_bucket_versioning" "backups" {
  provider = aws.sakura_object_storage
  bucket   = aws_s3_bucket.backups.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_object_lock_configuration" "backups" {
  provider = aws.sakura_object_storage
  bucket   = aws_s3_bucket.backups.id
  rule {
    default_retention {
      mode = "COMPLIANCE"
      days = var.backup_retention_days
    }
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "backups" {
  provider = aws.sakura_object_storage
  bucket   = aws_s3_bucket.backups.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_public_access_block" "backups" {
  provider                = aws.sakura_object_storage
  bucket                  = aws_s3_bucket.backups.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "backups" {
  provider = aws.sakura_object_storage
  bucket   = aws_s3_bucket.backups.id
  rule {
    id     = "expire-old-backups"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.backup_retention_days + 1
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

# The writers' key is a permission of the object storage's site account (made in the
# control panel: the provider has no resource for it); it comes in through the environment.
