variable "region" {
  description = "AWS region for the cluster, its VPC and the artifact bucket, e.g. eu-west-1."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region code such as eu-west-1 or us-gov-west-1."
  }
}

variable "cluster_name" {
  description = "EKS cluster name; also the prefix of every other resource name."
  type        = string
  default     = "modelops"

  validation {
    # EKS allows up to 100 characters, but the name starts IAM role name prefixes (at most 38
    # characters with "-cluster-") and the default bucket name (at most 63 with the account id).
    condition     = can(regex("^[a-z][a-z0-9-]{0,26}[a-z0-9]$", var.cluster_name))
    error_message = "cluster_name must be 2-28 characters: lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "kubernetes_version" {
  description = "Kubernetes minor version of the EKS control plane and node groups, e.g. 1.35. Check what EKS offers: aws eks describe-cluster-versions."
  type        = string
  default     = "1.35"

  validation {
    condition     = can(regex("^1\\.[0-9]{2}$", var.kubernetes_version))
    error_message = "kubernetes_version must be MAJOR.MINOR such as 1.35 (no patch version: EKS picks the patch)."
  }
}

variable "vpc_cidr" {
  description = "IPv4 CIDR of the VPC. Private subnets get 1/8 of it each (pods take VPC addresses with the VPC CNI), public subnets 1/64 each."
  type        = string
  default     = "10.0.0.0/16"

  validation {
    condition = (
      can(cidrhost(var.vpc_cidr, 0)) &&
      can(regex("^[0-9.]+/[0-9]+$", var.vpc_cidr)) &&
      try(tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 20, false)
    )
    error_message = "vpc_cidr must be an IPv4 CIDR with a prefix length between /16 and /20."
  }
}

variable "availability_zone_count" {
  description = "How many availability zones get a private and a public subnet (EKS needs at least 2); ignored when availability_zones is set."
  type        = number
  default     = 3

  validation {
    condition     = var.availability_zone_count >= 2 && var.availability_zone_count <= 4 && floor(var.availability_zone_count) == var.availability_zone_count
    error_message = "availability_zone_count must be a whole number from 2 to 4."
  }
}

variable "availability_zones" {
  description = "Availability zone names to use, e.g. [\"eu-west-1a\", \"eu-west-1b\", \"eu-west-1c\"]. Empty: the first availability_zone_count zones of the region, in name order."
  type        = list(string)
  default     = []

  validation {
    condition = (
      length(var.availability_zones) == 0 ||
      (length(var.availability_zones) >= 2 && length(var.availability_zones) <= 4 && length(distinct(var.availability_zones)) == length(var.availability_zones))
    )
    error_message = "availability_zones must be empty or list 2 to 4 distinct zones."
  }
  validation {
    condition     = alltrue([for z in var.availability_zones : can(regex("^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9][a-z]$", z))])
    error_message = "availability_zones must hold zone names such as eu-west-1a."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all private subnets (cheaper, but one AZ's outage cuts egress everywhere) instead of one per AZ."
  type        = bool
  default     = false
}

variable "cluster_endpoint_public_access_cidrs" {
  description = "CIDRs allowed to reach the Kubernetes API endpoint from the internet. Empty (the default) keeps the endpoint private: reach it from inside the VPC, a peered network or a VPN."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.cluster_endpoint_public_access_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "cluster_endpoint_public_access_cidrs must hold valid CIDRs and not 0.0.0.0/0."
  }
}

variable "cluster_admin_principal_arns" {
  description = "IAM role or user ARNs given cluster-admin through EKS access entries, besides the identity that creates the cluster."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.cluster_admin_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$", a))])
    error_message = "cluster_admin_principal_arns must be IAM role or user ARNs (arn:aws:iam::123456789012:role/NAME)."
  }
}

variable "cluster_enabled_log_types" {
  description = "EKS control plane logs sent to CloudWatch Logs."
  type        = list(string)
  default     = ["api", "audit", "authenticator", "controllerManager", "scheduler"]

  validation {
    condition     = alltrue([for t in var.cluster_enabled_log_types : contains(["api", "audit", "authenticator", "controllerManager", "scheduler"], t)])
    error_message = "cluster_enabled_log_types may hold only api, audit, authenticator, controllerManager and scheduler."
  }
}

variable "cluster_log_retention_days" {
  description = "Retention of the control plane log group, in days."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.cluster_log_retention_days)
    error_message = "cluster_log_retention_days must be a CloudWatch Logs retention value (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653)."
  }
}

variable "serving_node_group" {
  description = "The managed node group that runs the operator and the serving runtime pods."
  type = object({
    instance_types = optional(list(string), ["m6i.large"])
    capacity_type  = optional(string, "ON_DEMAND")
    min_size       = optional(number, 2)
    max_size       = optional(number, 6)
    desired_size   = optional(number, 2)
    disk_size_gib  = optional(number, 50)
  })
  default = {}

  validation {
    condition = (
      length(var.serving_node_group.instance_types) > 0 &&
      alltrue([for t in var.serving_node_group.instance_types : can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", t))])
    )
    error_message = "serving_node_group.instance_types must list EC2 instance types such as m6i.large."
  }
  validation {
    condition     = contains(["ON_DEMAND", "SPOT"], var.serving_node_group.capacity_type)
    error_message = "serving_node_group.capacity_type must be ON_DEMAND or SPOT."
  }
  validation {
    condition = (
      var.serving_node_group.min_size >= 1 &&
      var.serving_node_group.min_size <= var.serving_node_group.desired_size &&
      var.serving_node_group.desired_size <= var.serving_node_group.max_size &&
      var.serving_node_group.max_size <= 100
    )
    error_message = "serving_node_group needs 1 <= min_size <= desired_size <= max_size <= 100."
  }
  validation {
    condition     = var.serving_node_group.disk_size_gib >= 20 && var.serving_node_group.disk_size_gib <= 1000
    error_message = "serving_node_group.disk_size_gib must be between 20 and 1000."
  }
}

variable "enable_gpu_node_group" {
  description = "Create a GPU node group (NVIDIA AMI, tainted nvidia.com/gpu=true:NoSchedule, may scale to zero)."
  type        = bool
  default     = false
}

variable "gpu_node_group" {
  description = "The optional GPU node group; used only when enable_gpu_node_group is true."
  type = object({
    instance_types = optional(list(string), ["g5.xlarge"])
    capacity_type  = optional(string, "ON_DEMAND")
    min_size       = optional(number, 0)
    max_size       = optional(number, 2)
    desired_size   = optional(number, 0)
    disk_size_gib  = optional(number, 100)
  })
  default = {}

  validation {
    condition = (
      length(var.gpu_node_group.instance_types) > 0 &&
      alltrue([for t in var.gpu_node_group.instance_types : can(regex("^(g|p)[0-9][a-z0-9-]*\\.[a-z0-9]+$", t))])
    )
    error_message = "gpu_node_group.instance_types must list NVIDIA GPU instance types (g*/p* families, e.g. g5.xlarge)."
  }
  validation {
    condition     = contains(["ON_DEMAND", "SPOT"], var.gpu_node_group.capacity_type)
    error_message = "gpu_node_group.capacity_type must be ON_DEMAND or SPOT."
  }
  validation {
    condition = (
      var.gpu_node_group.min_size >= 0 &&
      var.gpu_node_group.min_size <= var.gpu_node_group.desired_size &&
      var.gpu_node_group.desired_size <= var.gpu_node_group.max_size &&
      var.gpu_node_group.max_size >= 1 &&
      var.gpu_node_group.max_size <= 50
    )
    error_message = "gpu_node_group needs 0 <= min_size <= desired_size <= max_size, and 1 <= max_size <= 50."
  }
  validation {
    condition     = var.gpu_node_group.disk_size_gib >= 50 && var.gpu_node_group.disk_size_gib <= 2000
    error_message = "gpu_node_group.disk_size_gib must be between 50 and 2000 (the NVIDIA AMI and CUDA images are large)."
  }
}

variable "artifact_bucket_name" {
  description = "Name of the S3 bucket for model artifacts (MLflow artifact store). Null: <cluster_name>-artifacts-<account id>."
  type        = string
  default     = null

  validation {
    condition = var.artifact_bucket_name == null ? true : (
      can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.artifact_bucket_name)) &&
      !strcontains(var.artifact_bucket_name, "..") &&
      !can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+$", var.artifact_bucket_name))
    )
    error_message = "artifact_bucket_name must be a valid S3 bucket name: 3-63 lowercase letters, digits, dots and hyphens, no '..', not an IP address."
  }
}

variable "artifact_noncurrent_version_days" {
  description = "Days a replaced or deleted artifact version is kept before it expires (versioning is on)."
  type        = number
  default     = 90

  validation {
    condition     = var.artifact_noncurrent_version_days >= 1 && floor(var.artifact_noncurrent_version_days) == var.artifact_noncurrent_version_days
    error_message = "artifact_noncurrent_version_days must be a whole number of days, at least 1."
  }
}

variable "runtime_identity" {
  description = "An IAM role for model pods that reads the artifact bucket under artifact_prefix, associated (EKS Pod Identity) to service_account in namespace. Null: none."
  type = object({
    namespace       = string
    service_account = optional(string, "model-runtime")
    artifact_prefix = optional(string, "mlflow/")
  })
  default = null

  validation {
    condition = var.runtime_identity == null ? true : (
      can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.runtime_identity.namespace)) &&
      can(regex("^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", var.runtime_identity.service_account))
    )
    error_message = "runtime_identity.namespace must be a Kubernetes namespace name and service_account a ServiceAccount name (lowercase letters, digits, '-')."
  }
  validation {
    condition = var.runtime_identity == null ? true : (
      can(regex("^([A-Za-z0-9!_.*'()-]+/)*$", var.runtime_identity.artifact_prefix))
    )
    error_message = "runtime_identity.artifact_prefix must be empty (the whole bucket) or a key prefix ending in '/', e.g. mlflow/ or mlflow/team-a/."
  }
}

variable "tags" {
  description = "Tags added to every resource (through the provider's default_tags)."
  type        = map(string)
  default     = {}
}
