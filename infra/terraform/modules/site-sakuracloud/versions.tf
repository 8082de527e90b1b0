terraform {
  required_version = ">= 1.6"
  required_providers {
    sakuracloud = {
      source  = "sacloud/sakuracloud"
      version = "~> 2.26"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
    # Sakura's object storage speaks S3: its bucket is made with the AWS provider pointed at
    # Sakura's endpoint (the environment passes it as aws.sakura_object_storage).
    aws = {
      source                = "hashicorp/aws"
      version               = "~> 5.70"
      configuration_aliases = [aws.sakura_object_storage]
    }
  }
}
