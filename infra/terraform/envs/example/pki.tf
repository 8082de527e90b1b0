# The private CA, each site's certificate (its node, and its client certificate for etcd),
# each etcd member's, each site's Ed25519 replication key, the backup master key and the
# tokens: what `yui deploy secrets` makes for docker compose, made here with the same
# shapes (ECDSA P-256 certificates valid as server and client, Ed25519 site keys). They
# live in the Terraform state: see versions.tf.

resource "tls_private_key" "ca" {
  algorithm   = "ECDSA"
  ecdsa_curve = "P256"
}

resource "tls_self_signed_cert" "ca" {
  private_key_pem       = tls_private_key.ca.private_key_pem
  is_ca_certificate     = true
  validity_period_hours = 24 * 365
  early_renewal_hours   = 24 * 60
  allowed_uses          = ["cert_signing", "crl_signing"]
  subject {
    organization = "Yui"
    common_name  = "Yui CA"
  }
}

locals {
  # each site's node and each etcd member: one certificate each
  tls_names = merge(
    { for name, site in var.sites : name => [name, site.dns_name] },
    { for name, site in var.sites : "etcd-${name}" => ["etcd.${site.dns_name}"] },
    { operator = ["operator"] }, # the people and tools that speak to the sites and etcd
  )
}

resource "tls_private_key" "member" {
  for_each    = local.tls_names
  algorithm   = "ECDSA"
  ecdsa_curve = "P256"
}

resource "tls_cert_request" "member" {
  for_each        = local.tls_names
  private_key_pem = tls_private_key.member[each.key].private_key_pem
  dns_names       = each.value
  subject {
    organization = "Yui"
    common_name  = each.key
  }
}

resource "tls_locally_signed_cert" "member" {
  for_each              = local.tls_names
  cert_request_pem      = tls_cert_request.member[each.key].cert_request_pem
  ca_private_key_pem    = tls_private_key.ca.private_key_pem
  ca_cert_pem           = tls_self_signed_cert.ca.cert_pem
  validity_period_hours = 24 * 90
  early_renewal_hours   = 24 * 30
  allowed_uses          = ["digital_signature", "key_agreement", "server_auth", "client_auth"]
}

resource "tls_private_key" "replication" {
  for_each  = var.sites
  algorithm = "ED25519"
}

resource "random_bytes" "backup_master_key" {
  length = 32
}

resource "random_password" "token" {
  for_each = toset(["token_secret", "alert_intake_token"])
  length   = 48
  special  = false
}

locals {
  # replication.protocol.signing's trust file: every site's Ed25519 public key (raw, base64)
  trusted_sites_toml = join("\n", concat(
    ["# Sites this site accepts replication requests from: name = Ed25519 public key", "[sites]"],
    [for name in sort(keys(var.sites)) : "\"${name}\" = \"${substr(replace(replace(tls_private_key.replication[name].public_key_pem, "/-----[A-Z ]+-----/", ""), "\n", ""), 16, -1)}\""],
  ))
}
