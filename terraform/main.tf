# modelops infrastructure: the EKS cluster (with the VPC it needs) and the S3 bucket for model
# artifacts. Nothing else: the operator, its CRDs and RBAC come from the Helm chart.

provider "aws" {
  region = var.region

  default_tags {
    tags = merge(
      {
        "app.kubernetes.io/part-of" = "modelops"
        "modelops.dev/cluster"      = var.cluster_name
        "managed-by"                = "terraform"
      },
      var.tags,
    )
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:Zones are pinned: var.availability_zones lists them explicitly, or else the first N names in sorted order are taken, which a newly added zone (it gets the next letter) does not change; no state filter, so an impaired zone cannot shift the subnets either.
  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }
}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  az_count   = length(var.availability_zones) > 0 ? length(var.availability_zones) : var.availability_zone_count
  azs        = length(var.availability_zones) > 0 ? var.availability_zones : slice(sort(data.aws_availability_zones.available.names), 0, local.az_count)

  # Private subnets: 1/8 of the VPC each (pods take VPC addresses); public: 1/64 each, from
  # the top quarter. For 10.0.0.0/16: 10.0.0.0/19, 10.0.32.0/19, ... and 10.0.192.0/22, ...
  private_subnet_cidrs = [for i in range(local.az_count) : cidrsubnet(var.vpc_cidr, 3, i)]
  public_subnet_cidrs  = [for i in range(local.az_count) : cidrsubnet(var.vpc_cidr, 6, 48 + i)]
  nat_gateway_count    = var.single_nat_gateway ? 1 : local.az_count

  public_endpoint      = length(var.cluster_endpoint_public_access_cidrs) > 0
  control_plane_logs   = "/aws/eks/${var.cluster_name}/cluster"
  artifact_bucket_name = coalesce(var.artifact_bucket_name, "${var.cluster_name}-artifacts-${local.account_id}")
}

################################################################################ VPC

resource "aws_vpc" "this" {
  #checkov:skip=CKV2_AWS_11:VPC flow logs need a log destination and an IAM role outside this stack's scope (EKS + artifact bucket only); enable them centrally (landing zone / AWS Config).
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = { Name = var.cluster_name }
}

# The default security group of a new VPC allows all traffic between its members: strip it.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id

  tags = { Name = "${var.cluster_name}-default-deny" }
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id

  tags = { Name = var.cluster_name }
}

# Public subnets hold only the NAT gateways and internet-facing load balancers: nothing gets
# a public IP on launch.
resource "aws_subnet" "public" {
  count = local.az_count

  vpc_id                  = aws_vpc.this.id
  availability_zone       = local.azs[count.index]
  cidr_block              = local.public_subnet_cidrs[count.index]
  map_public_ip_on_launch = false

  tags = {
    Name                     = "${var.cluster_name}-public-${local.azs[count.index]}"
    "kubernetes.io/role/elb" = "1"
  }
}

# Nodes and pods live in the private subnets.
resource "aws_subnet" "private" {
  count = local.az_count

  vpc_id            = aws_vpc.this.id
  availability_zone = local.azs[count.index]
  cidr_block        = local.private_subnet_cidrs[count.index]

  tags = {
    Name                              = "${var.cluster_name}-private-${local.azs[count.index]}"
    "kubernetes.io/role/internal-elb" = "1"
  }
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id

  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.this.id
  }

  tags = { Name = "${var.cluster_name}-public" }
}

resource "aws_route_table_association" "public" {
  count = local.az_count

  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

resource "aws_eip" "nat" {
  count = local.nat_gateway_count

  domain = "vpc"

  tags = { Name = "${var.cluster_name}-nat-${local.azs[count.index]}" }

  depends_on = [aws_internet_gateway.this]
}

resource "aws_nat_gateway" "this" {
  count = local.nat_gateway_count

  allocation_id = aws_eip.nat[count.index].id
  subnet_id     = aws_subnet.public[count.index].id

  tags = { Name = "${var.cluster_name}-${local.azs[count.index]}" }

  depends_on = [aws_internet_gateway.this]
}

resource "aws_route_table" "private" {
  count = local.az_count

  vpc_id = aws_vpc.this.id

  route {
    cidr_block     = "0.0.0.0/0"
    nat_gateway_id = aws_nat_gateway.this[var.single_nat_gateway ? 0 : count.index].id
  }

  tags = { Name = "${var.cluster_name}-private-${local.azs[count.index]}" }
}

resource "aws_route_table_association" "private" {
  count = local.az_count

  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private[count.index].id
}

################################################################################ KMS

# Key policy of both keys: the account's IAM policies decide who may use the key (the AWS
# default key policy); the EKS key also lets CloudWatch Logs encrypt the control plane logs.
data "aws_iam_policy_document" "eks_key" {
  #checkov:skip=CKV_AWS_109:A key policy's Resource "*" is the key itself; this is the AWS default key policy (account root), which delegates access to IAM.
  #checkov:skip=CKV_AWS_111:Same: the default key policy, scoped to this key by definition.
  #checkov:skip=CKV_AWS_356:Same: in a key policy Resource must be "*" (the key it is attached to).
  statement {
    sid       = "AccountAdministersKeyThroughIAM"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchLogsEncryptsControlPlaneLogs"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:${local.control_plane_logs}"]
    }
  }
}

resource "aws_kms_key" "eks" {
  description             = "${var.cluster_name}: EKS secrets envelope encryption and control plane logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.eks_key.json
}

resource "aws_kms_alias" "eks" {
  name          = "alias/${var.cluster_name}-eks"
  target_key_id = aws_kms_key.eks.key_id
}

data "aws_iam_policy_document" "artifacts_key" {
  #checkov:skip=CKV_AWS_109:A key policy's Resource "*" is the key itself; this is the AWS default key policy (account root), which delegates access to IAM.
  #checkov:skip=CKV_AWS_111:Same: the default key policy, scoped to this key by definition.
  #checkov:skip=CKV_AWS_356:Same: in a key policy Resource must be "*" (the key it is attached to).
  statement {
    sid       = "AccountAdministersKeyThroughIAM"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
}

resource "aws_kms_key" "artifacts" {
  description             = "${var.cluster_name}: S3 artifact bucket encryption"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.artifacts_key.json
}

resource "aws_kms_alias" "artifacts" {
  name          = "alias/${var.cluster_name}-artifacts"
  target_key_id = aws_kms_key.artifacts.key_id
}

################################################################################ EKS cluster

data "aws_iam_policy_document" "cluster_assume_role" {
  statement {
    actions = ["sts:AssumeRole", "sts:TagSession"]

    principals {
      type        = "Service"
      identifiers = ["eks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "cluster" {
  name_prefix        = "${var.cluster_name}-cluster-"
  assume_role_policy = data.aws_iam_policy_document.cluster_assume_role.json
}

resource "aws_iam_role_policy_attachment" "cluster" {
  role       = aws_iam_role.cluster.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonEKSClusterPolicy"
}

# Envelope encryption of Kubernetes Secrets with the EKS key.
data "aws_iam_policy_document" "cluster_encryption" {
  statement {
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"]
    resources = [aws_kms_key.eks.arn]
  }
}

resource "aws_iam_role_policy" "cluster_encryption" {
  name   = "secrets-encryption"
  role   = aws_iam_role.cluster.id
  policy = data.aws_iam_policy_document.cluster_encryption.json
}

# Created here (not by EKS on first write) so it has a retention and is encrypted.
resource "aws_cloudwatch_log_group" "cluster" {
  name              = local.control_plane_logs
  retention_in_days = var.cluster_log_retention_days
  kms_key_id        = aws_kms_key.eks.arn
}

resource "aws_eks_cluster" "this" {
  name     = var.cluster_name
  version  = var.kubernetes_version
  role_arn = aws_iam_role.cluster.arn

  enabled_cluster_log_types = var.cluster_enabled_log_types

  access_config {
    authentication_mode                         = "API"
    bootstrap_cluster_creator_admin_permissions = true
  }

  vpc_config {
    subnet_ids              = aws_subnet.private[*].id
    endpoint_private_access = true
    # Private unless cluster_endpoint_public_access_cidrs names who may reach it.
    endpoint_public_access = local.public_endpoint
    public_access_cidrs    = local.public_endpoint ? var.cluster_endpoint_public_access_cidrs : null
  }

  encryption_config {
    resources = ["secrets"]

    provider {
      key_arn = aws_kms_key.eks.arn
    }
  }

  depends_on = [
    aws_iam_role_policy_attachment.cluster,
    aws_iam_role_policy.cluster_encryption,
    aws_cloudwatch_log_group.cluster,
  ]
}

resource "aws_eks_access_entry" "admin" {
  for_each = toset(var.cluster_admin_principal_arns)

  cluster_name  = aws_eks_cluster.this.name
  principal_arn = each.value
}

resource "aws_eks_access_policy_association" "admin" {
  for_each = toset(var.cluster_admin_principal_arns)

  cluster_name  = aws_eks_cluster.this.name
  principal_arn = aws_eks_access_entry.admin[each.value].principal_arn
  policy_arn    = "arn:${local.partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"

  access_scope {
    type = "cluster"
  }
}

# EKS-managed versions of the add-ons every cluster needs, so `tofu apply` upgrades them with
# the control plane. CoreDNS waits for nodes to schedule on.
resource "aws_eks_addon" "vpc_cni" {
  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = "vpc-cni"
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"
}

resource "aws_eks_addon" "kube_proxy" {
  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = "kube-proxy"
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"
}

resource "aws_eks_addon" "coredns" {
  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = "coredns"
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"

  depends_on = [aws_eks_node_group.serving]
}

# EKS Pod Identity: pods of an associated ServiceAccount get that association's IAM role's
# credentials from the agent on their node, with no static keys in Secrets. A DaemonSet, so
# it waits for nodes too.
resource "aws_eks_addon" "pod_identity_agent" {
  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = "eks-pod-identity-agent"
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"

  depends_on = [aws_eks_node_group.serving]
}

################################################################################ pod identity

# An example of the identity a model runtime needs: read the artifact bucket under one prefix
# (MLflow's artifacts of the models it serves), nothing else. Associated to one ServiceAccount
# of one namespace; a ModelDeployment there runs as it with spec.runtime.serviceAccountName
# (allowed by the chart's policy.allowedServiceAccounts).
data "aws_iam_policy_document" "runtime_assume_role" {
  statement {
    actions = ["sts:AssumeRole", "sts:TagSession"]

    principals {
      type        = "Service"
      identifiers = ["pods.eks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "runtime" {
  count              = var.runtime_identity == null ? 0 : 1
  name               = "${var.cluster_name}-runtime-${var.runtime_identity.namespace}"
  assume_role_policy = data.aws_iam_policy_document.runtime_assume_role.json
}

data "aws_iam_policy_document" "runtime_artifacts" {
  count = var.runtime_identity == null ? 0 : 1

  statement {
    sid       = "ReadArtifactsUnderPrefix"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${aws_s3_bucket.artifacts.arn}/${var.runtime_identity.artifact_prefix}*"]
  }

  statement {
    sid       = "ListArtifactsUnderPrefix"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.artifacts.arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.runtime_identity.artifact_prefix}*"]
    }
  }

  statement {
    sid       = "DecryptArtifacts"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.artifacts.arn]
  }
}

resource "aws_iam_role_policy" "runtime_artifacts" {
  count  = var.runtime_identity == null ? 0 : 1
  name   = "read-artifacts"
  role   = aws_iam_role.runtime[0].id
  policy = data.aws_iam_policy_document.runtime_artifacts[0].json
}

resource "aws_eks_pod_identity_association" "runtime" {
  count           = var.runtime_identity == null ? 0 : 1
  cluster_name    = aws_eks_cluster.this.name
  namespace       = var.runtime_identity.namespace
  service_account = var.runtime_identity.service_account
  role_arn        = aws_iam_role.runtime[0].arn

  depends_on = [aws_eks_addon.pod_identity_agent]
}

################################################################################ node groups

data "aws_iam_policy_document" "node_assume_role" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "node" {
  name_prefix        = "${var.cluster_name}-node-"
  assume_role_policy = data.aws_iam_policy_document.node_assume_role.json
}

# What a managed node needs: join the cluster, run the VPC CNI, pull EKS images from ECR.
resource "aws_iam_role_policy_attachment" "node" {
  for_each = toset([
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryPullOnly",
  ])

  role       = aws_iam_role.node.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/${each.value}"
}

# IMDSv2 only, with a hop limit of 1 so pods cannot borrow the node role; encrypted gp3 root.
resource "aws_launch_template" "serving" {
  name_prefix            = "${var.cluster_name}-serving-"
  update_default_version = true

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  block_device_mappings {
    device_name = "/dev/xvda"

    ebs {
      volume_size           = var.serving_node_group.disk_size_gib
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = { Name = "${var.cluster_name}-serving" }
  }
}

resource "aws_eks_node_group" "serving" {
  cluster_name           = aws_eks_cluster.this.name
  node_group_name_prefix = "serving-"
  node_role_arn          = aws_iam_role.node.arn
  subnet_ids             = aws_subnet.private[*].id
  version                = aws_eks_cluster.this.version

  ami_type       = "AL2023_x86_64_STANDARD"
  capacity_type  = var.serving_node_group.capacity_type
  instance_types = var.serving_node_group.instance_types

  scaling_config {
    min_size     = var.serving_node_group.min_size
    max_size     = var.serving_node_group.max_size
    desired_size = var.serving_node_group.desired_size
  }

  update_config {
    max_unavailable = 1
  }

  launch_template {
    id      = aws_launch_template.serving.id
    version = aws_launch_template.serving.latest_version
  }

  labels = {
    "modelops.dev/pool" = "serving"
  }

  lifecycle {
    create_before_destroy = true
    # An autoscaler owns the current size once the group exists.
    ignore_changes = [scaling_config[0].desired_size]
  }

  depends_on = [aws_iam_role_policy_attachment.node, aws_eks_addon.vpc_cni]
}

resource "aws_launch_template" "gpu" {
  count = var.enable_gpu_node_group ? 1 : 0

  name_prefix            = "${var.cluster_name}-gpu-"
  update_default_version = true

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  block_device_mappings {
    device_name = "/dev/xvda"

    ebs {
      volume_size           = var.gpu_node_group.disk_size_gib
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = { Name = "${var.cluster_name}-gpu" }
  }
}

# Only pods that tolerate nvidia.com/gpu=true:NoSchedule (a ModelDeployment's
# spec.runtime.tolerations) land here. The NVIDIA AMI has the driver and container toolkit;
# the NVIDIA device plugin DaemonSet is installed in the cluster, not here.
resource "aws_eks_node_group" "gpu" {
  count = var.enable_gpu_node_group ? 1 : 0

  cluster_name           = aws_eks_cluster.this.name
  node_group_name_prefix = "gpu-"
  node_role_arn          = aws_iam_role.node.arn
  subnet_ids             = aws_subnet.private[*].id
  version                = aws_eks_cluster.this.version

  ami_type       = "AL2023_x86_64_NVIDIA"
  capacity_type  = var.gpu_node_group.capacity_type
  instance_types = var.gpu_node_group.instance_types

  scaling_config {
    min_size     = var.gpu_node_group.min_size
    max_size     = var.gpu_node_group.max_size
    desired_size = var.gpu_node_group.desired_size
  }

  update_config {
    max_unavailable = 1
  }

  launch_template {
    id      = aws_launch_template.gpu[0].id
    version = aws_launch_template.gpu[0].latest_version
  }

  taint {
    key    = "nvidia.com/gpu"
    value  = "true"
    effect = "NO_SCHEDULE"
  }

  labels = {
    "modelops.dev/pool"      = "gpu"
    "nvidia.com/gpu.present" = "true"
  }

  lifecycle {
    create_before_destroy = true
    ignore_changes        = [scaling_config[0].desired_size]
  }

  depends_on = [aws_iam_role_policy_attachment.node, aws_eks_addon.vpc_cni]
}

################################################################################ S3 artifacts

resource "aws_s3_bucket" "artifacts" {
  #checkov:skip=CKV_AWS_18:Server access logging needs a second (log) bucket, out of this stack's scope; use CloudTrail data events or an organisation log bucket.
  #checkov:skip=CKV_AWS_144:Cross-region replication needs a second bucket and region; artifacts are reproducible from the registry and versioning guards against deletes.
  #checkov:skip=CKV2_AWS_62:No consumer of S3 event notifications exists in modelops; MLflow reads the bucket directly.
  bucket = local.artifact_bucket_name
}

resource "aws_s3_bucket_ownership_controls" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.artifacts.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.artifact_noncurrent_version_days
    }
  }

  depends_on = [aws_s3_bucket_versioning.artifacts]
}

data "aws_iam_policy_document" "artifacts_bucket" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.artifacts.arn,
      "${aws_s3_bucket.artifacts.arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid     = "DenyOutdatedTLS"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.artifacts.arn,
      "${aws_s3_bucket.artifacts.arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "NumericLessThan"
      variable = "s3:TlsVersion"
      values   = ["1.2"]
    }
  }
}

resource "aws_s3_bucket_policy" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  policy = data.aws_iam_policy_document.artifacts_bucket.json

  # A bucket policy written before the public access block may be judged public.
  depends_on = [aws_s3_bucket_public_access_block.artifacts]
}
