# A Yui site on AWS (ap-northeast-1 Tokyo, ap-northeast-3 Osaka): a VPC with private
# subnets in two AZs, the site nodes in an auto-scaling group behind a network load
# balancer (TCP pass-through: the nodes end TLS and verify client certificates), one etcd
# VM behind the same NLB, RDS PostgreSQL, an S3 bucket with versioning, object lock and
# KMS encryption, the secrets in Secrets Manager.

locals {
  name      = "yui-${var.site_name}"
  instance  = { small = "m7g.large", large = "m7g.2xlarge" }[var.size]
  db_class  = { small = "db.m7g.large", large = "db.r7g.2xlarge" }[var.size]
  db_gb     = { small = 100, large = 1000 }[var.size]
  tags      = merge(var.labels, { "yui:site" = var.site_name })
  azs       = slice(data.aws_availability_zones.here.names, 0, 2)
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
  # The VMs read the site's secret with their instance role and write the files the
  # settings above name; the database URL takes RDS's managed password.
  fetch_secrets = <<-EOT
    #!/bin/sh
    set -eu
    umask 077
    mkdir -p "$1"
    aws secretsmanager get-secret-value --region ${var.region} --secret-id ${aws_secretsmanager_secret.site.arn} --query SecretString --output text > "$1/all.json"
    jq -r .tls_ca_pem "$1/all.json" > "$1/ca.pem"
    jq -r .tls_cert_pem "$1/all.json" > "$1/site.crt"
    jq -r .tls_key_pem "$1/all.json" > "$1/site.key"
    jq -r .etcd_cert_pem "$1/all.json" > "$1/etcd.crt"
    jq -r .etcd_key_pem "$1/all.json" > "$1/etcd.key"
    jq -r .replication_key_pem "$1/all.json" > "$1/replication-key.pem"
    jq -r .trusted_sites_toml "$1/all.json" > "$1/trusted-sites.toml"
    jq -r .backup_master_key "$1/all.json" > "$1/backup-master.key"
    jq -r .backup_credentials_ini "$1/all.json" > "$1/backup-credentials.ini"
    db=$(aws secretsmanager get-secret-value --region ${var.region} --secret-id ${aws_db_instance.yui.master_user_secret[0].secret_arn} --query SecretString --output text)
    {
      echo "YUI_TOKEN_SECRET=$(jq -r .token_secret "$1/all.json")"
      echo "YUI_ALERT_INTAKE_TOKEN=$(jq -r .alert_intake_token "$1/all.json")"
      echo "YUI_DATABASE_URL=postgresql+psycopg://yui:$(echo "$db" | jq -r .password)@${aws_db_instance.yui.address}:5432/yui?sslmode=verify-full"
    } > "$1/secrets.env"
    rm "$1/all.json"
    chown -R 10001:10001 "$1"
  EOT
}

data "aws_availability_zones" "here" {
  # checkov:skip=CKV_AWS_394: only the first two zones are used (slice), so a new zone changes nothing
  state = "available"
}

data "aws_ssm_parameter" "debian" {
  name = "/aws/service/debian/release/12/latest/arm64"
}

# --------------------------------------------------------------------------- network

resource "aws_vpc" "site" {
  cidr_block           = "10.40.0.0/16"
  enable_dns_hostnames = true
  tags                 = merge(local.tags, { Name = local.name })
}

resource "aws_default_security_group" "closed" {
  vpc_id = aws_vpc.site.id # no rule: nothing uses the default group
}

resource "aws_flow_log" "site" {
  vpc_id               = aws_vpc.site.id
  traffic_type         = "REJECT"
  log_destination_type = "s3"
  log_destination      = "${aws_s3_bucket.backups.arn}/flow-logs"
  tags                 = local.tags
}

resource "aws_subnet" "public" {
  count             = 2
  vpc_id            = aws_vpc.site.id
  availability_zone = local.azs[count.index]
  cidr_block        = cidrsubnet(aws_vpc.site.cidr_block, 8, count.index)
  tags              = merge(local.tags, { Name = "${local.name}-public-${count.index}" })
}

resource "aws_subnet" "private" {
  count             = 2
  vpc_id            = aws_vpc.site.id
  availability_zone = local.azs[count.index]
  cidr_block        = cidrsubnet(aws_vpc.site.cidr_block, 8, 10 + count.index)
  tags              = merge(local.tags, { Name = "${local.name}-private-${count.index}" })
}

resource "aws_internet_gateway" "site" {
  vpc_id = aws_vpc.site.id
  tags   = local.tags
}

# The one egress address the other sites allow (their peer_cidrs).
resource "aws_eip" "egress" {
  domain = "vpc"
  tags   = local.tags
}

resource "aws_nat_gateway" "site" {
  allocation_id = aws_eip.egress.id
  subnet_id     = aws_subnet.public[0].id
  tags          = local.tags
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.site.id
  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.site.id
  }
  tags = local.tags
}

resource "aws_route_table" "private" {
  vpc_id = aws_vpc.site.id
  route {
    cidr_block     = "0.0.0.0/0"
    nat_gateway_id = aws_nat_gateway.site.id
  }
  tags = local.tags
}

resource "aws_route_table_association" "public" {
  count          = 2
  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

resource "aws_route_table_association" "private" {
  count          = 2
  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private.id
}

resource "aws_security_group" "node" {
  name        = "${local.name}-node"
  description = "Yui site nodes and the etcd member: HTTPS from anywhere through the NLB, etcd from the other sites"
  vpc_id      = aws_vpc.site.id
  tags        = local.tags

  # checkov:skip=CKV_AWS_24: SSH is opened only to var.admin_cidrs (default: none), which checkov cannot evaluate in the dynamic block
  # checkov:skip=CKV_AWS_382: egress to the other clouds' sites, the image registry and the AWS APIs, whose addresses are not fixed
  # checkov:skip=CKV_AWS_260: the node port is the public HTTPS service of the site (staff, residents, the other sites), TLS ended by the node itself
  ingress {
    description = "HTTPS to the site node (NLB pass-through keeps the client address)"
    from_port   = var.node_port
    to_port     = var.node_port
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
  ingress {
    description = "etcd client and peer ports: the other sites and this VPC only"
    from_port   = 2379
    to_port     = 2380
    protocol    = "tcp"
    cidr_blocks = concat(var.peer_cidrs, [aws_vpc.site.cidr_block])
  }
  dynamic "ingress" {
    for_each = length(var.admin_cidrs) > 0 ? [1] : []
    content {
      description = "SSH from the administrators' addresses"
      from_port   = 22
      to_port     = 22
      protocol    = "tcp"
      cidr_blocks = var.admin_cidrs
    }
  }
  egress {
    description = "the other sites, the registries, the AWS APIs"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_security_group" "database" {
  name        = "${local.name}-database"
  description = "PostgreSQL from the site nodes only"
  vpc_id      = aws_vpc.site.id
  tags        = local.tags
  ingress {
    description     = "PostgreSQL from the site nodes"
    from_port       = 5432
    to_port         = 5432
    protocol        = "tcp"
    security_groups = [aws_security_group.node.id]
  }
}

# --------------------------------------------------------------------------- load balancer

resource "aws_lb" "site" {
  name                             = local.name
  load_balancer_type               = "network"
  internal                         = false
  subnets                          = aws_subnet.public[*].id
  enable_cross_zone_load_balancing = true
  enable_deletion_protection       = true
  tags                             = local.tags
  access_logs {
    bucket  = aws_s3_bucket.backups.id
    prefix  = "lb-logs"
    enabled = true
  }
}

resource "aws_lb_target_group" "node" {
  name     = "${local.name}-node"
  port     = var.node_port
  protocol = "TCP"
  vpc_id   = aws_vpc.site.id
  health_check {
    protocol = "HTTPS"
    path     = "/readyz"
    port     = tostring(var.node_port)
  }
  tags = local.tags
}

resource "aws_lb_target_group" "etcd" {
  for_each = toset(["2379", "2380"])
  name     = "${local.name}-etcd-${each.key}"
  port     = tonumber(each.key)
  protocol = "TCP"
  vpc_id   = aws_vpc.site.id
  tags     = local.tags
}

resource "aws_lb_listener" "node" {
  load_balancer_arn = aws_lb.site.arn
  port              = var.node_port
  protocol          = "TCP" # pass-through: the node verifies client certificates itself
  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.node.arn
  }
}

resource "aws_lb_listener" "etcd" {
  for_each          = aws_lb_target_group.etcd
  load_balancer_arn = aws_lb.site.arn
  port              = tonumber(each.key)
  protocol          = "TCP"
  default_action {
    type             = "forward"
    target_group_arn = each.value.arn
  }
}

resource "aws_lb_target_group_attachment" "etcd" {
  for_each         = aws_lb_target_group.etcd
  target_group_arn = each.value.arn
  target_id        = aws_instance.etcd.id
}

# --------------------------------------------------------------------------- compute

resource "aws_iam_role" "vm" {
  name = "${local.name}-vm"
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = "sts:AssumeRole", Principal = { Service = "ec2.amazonaws.com" } }]
  })
  tags = local.tags
}

resource "aws_iam_role_policy" "read_secrets" {
  name = "read-site-secrets"
  role = aws_iam_role.vm.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue"]
        Resource = [aws_secretsmanager_secret.site.arn, aws_db_instance.yui.master_user_secret[0].secret_arn]
      },
      { Effect = "Allow", Action = ["kms:Decrypt"], Resource = [aws_kms_key.site.arn] },
    ]
  })
}

resource "aws_iam_instance_profile" "vm" {
  name = "${local.name}-vm"
  role = aws_iam_role.vm.name
}

resource "aws_launch_template" "node" {
  name_prefix   = "${local.name}-node-"
  image_id      = data.aws_ssm_parameter.debian.value
  instance_type = local.instance
  user_data = base64encode(templatefile("${path.module}/../site/cloud-init.yaml.tftpl", {
    role          = "node"
    image         = var.image
    etcd_image    = ""
    etcd_flags    = []
    topology_toml = var.topology_toml
    settings      = local.settings
    fetch_secrets = local.fetch_secrets
  }))
  vpc_security_group_ids = [aws_security_group.node.id]
  iam_instance_profile {
    arn = aws_iam_instance_profile.vm.arn
  }
  metadata_options {
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    http_endpoint               = "enabled"
  }
  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size = 30
      encrypted   = true
      kms_key_id  = aws_kms_key.site.arn
    }
  }
  monitoring {
    enabled = true
  }
  tag_specifications {
    resource_type = "instance"
    tags          = local.tags
  }
}

resource "aws_autoscaling_group" "node" {
  name                      = "${local.name}-node"
  min_size                  = var.node_count
  max_size                  = var.node_count * 2
  desired_capacity          = var.node_count
  vpc_zone_identifier       = aws_subnet.private[*].id
  target_group_arns         = [aws_lb_target_group.node.arn]
  health_check_type         = "ELB"
  health_check_grace_period = 120
  launch_template {
    id      = aws_launch_template.node.id
    version = "$Latest"
  }
  dynamic "tag" {
    for_each = local.tags
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }
}

resource "aws_instance" "etcd" {
  ami                    = data.aws_ssm_parameter.debian.value
  instance_type          = "m7g.medium"
  subnet_id              = aws_subnet.private[0].id
  vpc_security_group_ids = [aws_security_group.node.id]
  iam_instance_profile   = aws_iam_instance_profile.vm.name
  ebs_optimized          = true
  monitoring             = true
  user_data = templatefile("${path.module}/../site/cloud-init.yaml.tftpl", {
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
  metadata_options {
    http_tokens   = "required"
    http_endpoint = "enabled"
  }
  root_block_device {
    volume_size = 50
    volume_type = "gp3"
    encrypted   = true
    kms_key_id  = aws_kms_key.site.arn
  }
  tags = merge(local.tags, { Name = "${local.name}-etcd" })
}

# --------------------------------------------------------------------------- PostgreSQL

resource "aws_db_subnet_group" "yui" {
  name       = local.name
  subnet_ids = aws_subnet.private[*].id
  tags       = local.tags
}

resource "aws_db_instance" "yui" {
  identifier                          = local.name
  engine                              = "postgres"
  engine_version                      = "16.4"
  instance_class                      = local.db_class
  allocated_storage                   = local.db_gb
  storage_encrypted                   = true
  kms_key_id                          = aws_kms_key.site.arn
  db_name                             = "yui"
  username                            = "yui"
  manage_master_user_password         = true
  master_user_secret_kms_key_id       = aws_kms_key.site.arn
  db_subnet_group_name                = aws_db_subnet_group.yui.name
  vpc_security_group_ids              = [aws_security_group.database.id]
  multi_az                            = true
  backup_retention_period             = 14
  deletion_protection                 = true
  copy_tags_to_snapshot               = true
  auto_minor_version_upgrade          = true
  iam_database_authentication_enabled = true
  performance_insights_enabled        = true
  performance_insights_kms_key_id     = aws_kms_key.site.arn
  monitoring_interval                 = 0
  enabled_cloudwatch_logs_exports     = ["postgresql"]
  skip_final_snapshot                 = false
  final_snapshot_identifier           = "${local.name}-final"
  tags                                = local.tags
  # checkov:skip=CKV2_AWS_30: query logs would hold residents' personal data; errors and slow statements are logged (postgresql export)
  # checkov:skip=CKV_AWS_118: enhanced monitoring needs a separate IAM role; Performance Insights and the Yui metrics cover what the drills look at
  # checkov:skip=CKV_AWS_353: Performance Insights is enabled (checkov does not read the KMS-encrypted form)
}

# --------------------------------------------------------------------------- encryption and secrets

resource "aws_kms_key" "site" {
  description         = "${local.name}: bucket, disks, database, secrets"
  enable_key_rotation = true
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AccountAdministers"
      Effect    = "Allow"
      Principal = { AWS = "arn:aws:iam::${data.aws_caller_identity.me.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })
  tags = local.tags
}

data "aws_caller_identity" "me" {}

resource "aws_secretsmanager_secret" "site" {
  name       = "${local.name}/secrets"
  kms_key_id = aws_kms_key.site.arn
  tags       = local.tags
  # checkov:skip=CKV2_AWS_57: the certificates and keys are rotated by re-applying with new ones (docs/deploy.md); automatic rotation would need a Lambda that knows Yui's key files
}

resource "aws_secretsmanager_secret_version" "site" {
  secret_id     = aws_secretsmanager_secret.site.id
  secret_string = jsonencode(var.secrets)
}

# --------------------------------------------------------------------------- backup bucket

# Holds the *other* sites' backups. Object lock (compliance) keeps any writer — or an
# attacker with its credentials — from deleting or overwriting a backup before it expires.
resource "aws_s3_bucket" "backups" {
  bucket              = "${local.name}-backups"
  object_lock_enabled = true
  tags                = local.tags
  # checkov:skip=CKV_AWS_144: cross-region replication would copy the backups within AWS; Yui's own copies are at other providers (the other sites' buckets)
  # checkov:skip=CKV_AWS_18: access is logged by CloudTrail data events (account-wide), not by a second bucket per site
  # checkov:skip=CKV2_AWS_62: no consumer of bucket events
}

resource "aws_s3_bucket_versioning" "backups" {
  bucket = aws_s3_bucket.backups.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_object_lock_configuration" "backups" {
  bucket = aws_s3_bucket.backups.id
  rule {
    default_retention {
      mode = "COMPLIANCE"
      days = var.backup_retention_days
    }
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "backups" {
  bucket = aws_s3_bucket.backups.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.site.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "backups" {
  bucket                  = aws_s3_bucket.backups.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "backups" {
  bucket = aws_s3_bucket.backups.id
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

# The other sites (other clouds) write with this key: put and read only.
resource "aws_iam_user" "backup_writer" {
  name = "${local.name}-backup-writer"
  tags = local.tags
  # checkov:skip=CKV_AWS_273: the writers are VMs at other providers, outside AWS SSO; workload identity federation would replace this key (docs/deploy.md)
}

resource "aws_iam_access_key" "backup_writer" {
  user = aws_iam_user.backup_writer.name
}

resource "aws_iam_user_policy" "backup_writer" {
  # checkov:skip=CKV_AWS_40: one user, one bucket, one policy: a group would add nothing
  name = "write-backups"
  user = aws_iam_user.backup_writer.name
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect   = "Allow"
        Action   = ["s3:PutObject", "s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"]
        Resource = [aws_s3_bucket.backups.arn, "${aws_s3_bucket.backups.arn}/*"]
      },
      { Effect = "Allow", Action = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"], Resource = [aws_kms_key.site.arn] },
    ]
  })
}
