terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.70"
    }
    google = {
      source  = "hashicorp/google"
      version = "~> 6.10"
    }
    sakuracloud = {
      source  = "sacloud/sakuracloud"
      version = "~> 2.26"
    }
    tls = {
      source  = "hashicorp/tls"
      version = "~> 4.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }
  # The state holds the private keys made in pki.tf: keep it in an encrypted, access-logged
  # backend (docs/deploy.md, step 3), never on a laptop.
  backend "s3" {}
}

provider "aws" {
  region = var.sites["aws-tokyo"].region
}

provider "google" {
  project = var.google_project
  region  = var.sites["gcp-osaka"].region
}

provider "sakuracloud" {
  zone = var.sites["sakura-ishikari"].region
}

# Sakura's S3-compatible object storage, through the AWS provider.
provider "aws" {
  alias                       = "sakura_object_storage"
  region                      = "jp-north-1"
  access_key                  = var.sakura_object_storage_access_key
  secret_key                  = var.sakura_object_storage_secret_key
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_region_validation      = true
  endpoints {
    s3 = "https://s3.isk01.sakurastorage.jp"
  }
}
