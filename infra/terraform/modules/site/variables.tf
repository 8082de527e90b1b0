# The `site` contract: every implementation (site-aws, site-google, site-sakuracloud) has
# exactly these variables — this file, copied unchanged (tests/deploy checks it) — and the
# outputs of site/outputs.tf. One Yui site: network, compute behind a load balancer,
# PostgreSQL, a backup bucket (versioning, object lock, encryption), secrets, TLS.

variable "site_name" {
  description = "The site's name, as in the topology file (e.g. aws-tokyo): lowercase letters, digits, hyphens."
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,62}$", var.site_name))
    error_message = "site_name: lowercase letters, digits and hyphens, at most 63 characters."
  }
}

variable "region" {
  description = "The provider's region (aws: ap-northeast-1; google: asia-northeast2; sakuracloud: the zone, is1b)."
  type        = string
}

variable "dns_name" {
  description = "The site's public DNS name: its node URL is https://<dns_name>:<node_port> and its etcd member etcd.<dns_name>. The DNS records are made outside this module (see docs/deploy.md)."
  type        = string
}

variable "node_port" {
  description = "The HTTPS port of the site node behind the load balancer (the topology file's URL)."
  type        = number
  default     = 8443
}

variable "size" {
  description = "small: up to ~100 municipalities; large: all 1,741 spread over the sites (docs/deploy.md, Sizing). Each implementation maps it to its machine and database types."
  type        = string
  default     = "small"
  validation {
    condition     = contains(["small", "large"], var.size)
    error_message = "size: small or large."
  }
}

variable "node_count" {
  description = "How many site-node processes (one per VM) run behind the load balancer; each VM also runs a Celery worker. 2 or more for a site that must survive the loss of one VM."
  type        = number
  default     = 2
  validation {
    condition     = var.node_count >= 1 && var.node_count <= 32
    error_message = "node_count: 1 to 32."
  }
}

variable "image" {
  description = "The Yui container image, pinned by digest (registry/yui@sha256:...), built from the repository's Dockerfile."
  type        = string
  validation {
    condition     = can(regex("@sha256:[0-9a-f]{64}$", var.image))
    error_message = "image: pin the image by digest (…@sha256:<64 hex>)."
  }
}

variable "admin_cidrs" {
  description = "Addresses allowed to reach the VMs' SSH (empty: none; use the provider's console or session manager)."
  type        = list(string)
  default     = []
}

variable "peer_cidrs" {
  description = "The other sites' egress addresses (/32), allowed to the etcd peer and client ports; the node port is public (HTTPS, staff and residents)."
  type        = list(string)
}

variable "topology_toml" {
  description = "The topology file every node reads (YUI_TOPOLOGY_FILE), rendered once for all sites by the environment."
  type        = string
}

variable "etcd" {
  description = "This site's etcd member: its name, the initial cluster string, and the flags (timeouts for inter-cloud latency) from the etcd-cluster module."
  type = object({
    member_name     = string
    initial_cluster = string
    flags           = list(string)
    endpoints       = string
  })
}

variable "yui_settings" {
  description = "Non-secret YUI_* settings shared by every site (lease TTL, timeouts): the etcd-cluster module's yui_settings."
  type        = map(string)
  default     = {}
}

variable "backup_targets" {
  description = "The other sites' backup buckets this site writes to (YUI_BACKUP_TARGETS entries, https://endpoint/bucket or s3://bucket)."
  type        = list(string)
}

variable "backup_retention_days" {
  description = "Object-lock retention of this site's bucket (compliance mode): backups cannot be deleted or overwritten for this long, even by an administrator."
  type        = number
  default     = 30
}

variable "secrets" {
  description = "This site's secrets (PEM and tokens), stored in the provider's secret manager and read by the VMs at boot, never written to the instance metadata."
  type = object({
    tls_ca_pem          = string
    tls_cert_pem        = string
    tls_key_pem         = string
    etcd_cert_pem       = string
    etcd_key_pem        = string
    replication_key_pem = string
    trusted_sites_toml  = string
    backup_master_key   = string
    token_secret        = string
    alert_intake_token  = string
    # an AWS shared-credentials file: one profile per backup target (docs/deploy.md, gaps)
    backup_credentials_ini = string
  })
  sensitive = true
}

variable "labels" {
  description = "Labels (tags) put on every resource that takes them."
  type        = map(string)
  default     = {}
}
