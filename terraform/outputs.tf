output "region" {
  description = "AWS region of the cluster and the bucket."
  value       = var.region
}

output "cluster_name" {
  description = "EKS cluster name."
  value       = aws_eks_cluster.this.name
}

output "cluster_endpoint" {
  description = "Kubernetes API server endpoint (private unless cluster_endpoint_public_access_cidrs is set)."
  value       = aws_eks_cluster.this.endpoint
}

output "cluster_certificate_authority_data" {
  description = "Base64 CA certificate of the API server."
  value       = aws_eks_cluster.this.certificate_authority[0].data
}

output "cluster_oidc_issuer_url" {
  description = "OIDC issuer of the cluster (for IRSA, if an IAM OIDC provider is added later)."
  value       = aws_eks_cluster.this.identity[0].oidc[0].issuer
}

output "update_kubeconfig_command" {
  description = "Writes a kubeconfig context for the cluster."
  value       = "aws eks update-kubeconfig --region ${var.region} --name ${aws_eks_cluster.this.name}"
}

output "artifact_bucket_name" {
  description = "S3 bucket for model artifacts, e.g. MLflow's --artifacts-destination s3://<name>/mlflow."
  value       = aws_s3_bucket.artifacts.bucket
}

output "artifact_bucket_arn" {
  description = "ARN of the artifact bucket, for the IAM policies of its readers and writers."
  value       = aws_s3_bucket.artifacts.arn
}

output "artifact_bucket_kms_key_arn" {
  description = "KMS key that encrypts the artifact bucket: readers need kms:Decrypt, writers kms:GenerateDataKey."
  value       = aws_kms_key.artifacts.arn
}

output "vpc_id" {
  description = "VPC of the cluster."
  value       = aws_vpc.this.id
}

output "private_subnet_ids" {
  description = "Private subnets of the nodes."
  value       = aws_subnet.private[*].id
}

output "gpu_node_group_name" {
  description = "Name of the GPU node group, or null when enable_gpu_node_group is false."
  value       = var.enable_gpu_node_group ? aws_eks_node_group.gpu[0].node_group_name : null
}

output "runtime_role_arn" {
  description = "The model runtime's IAM role (runtime_identity), or null."
  value       = var.runtime_identity == null ? null : aws_iam_role.runtime[0].arn
}
