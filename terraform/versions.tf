terraform {
  # OpenTofu >= 1.6 or Terraform >= 1.6 (optional object attributes with defaults, strcontains).
  required_version = ">= 1.6.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }

  # State: no backend is configured here, so state is local. For a shared environment add a
  # partial S3 backend and pass its settings at init:
  #   backend "s3" {}
  #   tofu init -backend-config="bucket=..." -backend-config="key=modelops/terraform.tfstate" \
  #             -backend-config="region=..." -backend-config="use_lockfile=true"
}
