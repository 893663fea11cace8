output "api_endpoint" {
  description = "Base URL, stage included."
  value       = aws_api_gateway_stage.this.invoke_url
}

output "region" {
  value = var.region
}

output "root_key_arn" {
  value = aws_kms_key.root.arn
}

output "admin_role_arn" {
  value = aws_iam_role.admin.arn
}

output "approver_role_arn" {
  description = "Assumed by the people who approve or reject approval_required requests."
  value       = aws_iam_role.approver.arn
}

output "agent_role_arns" {
  description = "Register each agent with its role ARN: zt agents register <agentId> --principal-arn <arn>."
  value       = { for id, r in aws_iam_role.agent : id => r.arn }
}

output "table_name" {
  value = aws_dynamodb_table.this.name
}

output "checkpoint_bucket" {
  value = aws_s3_bucket.checkpoints.bucket
}
