# One source of truth for the sites: their names, providers, regions, hazard zones and
# coordinates are this variable; the topology file every node reads is rendered from it
# (topology.toml.tftpl), and the site modules take their region and DNS name from it. Its
# default is the sandbox's three sites (assembly/sandbox/plan.py), checked by tests/deploy.
variable "sites" {
  description = "The three sites: name => provider (aws, gcp, sakura), region (Sakura: the zone), hazard zones (each site's must differ from the others'), latitude, longitude, and the DNS name its node and etcd member answer at."
  type = map(object({
    provider     = string
    region       = string
    hazard_zones = list(string)
    latitude     = number
    longitude    = number
    dns_name     = string
  }))
  default = {
    "aws-tokyo" = {
      provider     = "aws"
      region       = "ap-northeast-1"
      hazard_zones = ["kanto"]
      latitude     = 35.68
      longitude    = 139.69
      dns_name     = "aws-tokyo.yui.example.jp"
    }
    "gcp-osaka" = {
      provider     = "gcp"
      region       = "asia-northeast2"
      hazard_zones = ["kansai", "nankai-trough"]
      latitude     = 34.69
      longitude    = 135.5
      dns_name     = "gcp-osaka.yui.example.jp"
    }
    "sakura-ishikari" = {
      provider     = "sakura"
      region       = "is1b"
      hazard_zones = ["hokkaido"]
      latitude     = 43.17
      longitude    = 141.32
      dns_name     = "sakura-ishikari.yui.example.jp"
    }
  }
  validation {
    condition = alltrue([
      for a, x in var.sites : alltrue([
        for b, y in var.sites : a == b || length(setintersection(toset(x.hazard_zones), toset(y.hazard_zones))) == 0
      ])
    ])
    error_message = "sites: two sites share a hazard zone; one disaster could take both."
  }
}

variable "image" {
  description = "The Yui image built from the repository's Dockerfile and pushed to your registry, pinned by digest (registry/yui@sha256:...)."
  type        = string
}

variable "size" {
  description = "small (about 100 municipalities) or large (all 1,741 over the three sites): docs/deploy.md, Sizing."
  type        = string
  default     = "small"
}

variable "node_count" {
  description = "Site-node VMs per site behind its load balancer (each also runs a Celery worker)."
  type        = number
  default     = 2
}

variable "node_port" {
  description = "The HTTPS port of every site node (the topology file's URLs)."
  type        = number
  default     = 8443
}

variable "worst_rtt_ms" {
  description = "The worst p99 round trip measured between two sites, in ms: the etcd timings and Yui's lease settings are derived from it (modules/etcd-cluster)."
  type        = number
  default     = 100
}

variable "etcd_cluster_token" {
  description = "A new etcd initial-cluster token for each new cluster (e.g. yui-2026-12)."
  type        = string
  default     = "yui-example-1"
}

variable "admin_cidrs" {
  description = "Addresses allowed to SSH to the VMs (default: none)."
  type        = list(string)
  default     = []
}

variable "backup_retention_days" {
  description = "How long each bucket's object lock keeps a backup (compliance mode)."
  type        = number
  default     = 30
}

variable "google_project" {
  description = "The Google Cloud project of the gcp-osaka site."
  type        = string
}

variable "sakura_object_storage_access_key" {
  description = "The access key of the Sakura object storage site account (control panel); also what the other sites write the Sakura bucket with."
  type        = string
  sensitive   = true
}

variable "sakura_object_storage_secret_key" {
  description = "Its secret key."
  type        = string
  sensitive   = true
}
