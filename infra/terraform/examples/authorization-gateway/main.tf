# The authorization gateway in Terraform, the same shape as cdk/ZtInfraStack.ts:
# API Gateway REST (AWS_IAM on every method but GET /health) -> one Lambda per route group
# -> one DynamoDB table + a KMS P-256 root key; a scheduled function archives checkpoints to
# an Object Lock bucket. Alarms (but the one on approvals pending too long), gateway responses and
# the catch-all methods of the CDK stack are left out to keep the example short.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account = data.aws_caller_identity.current.account_id
  stage   = "v1"
  chain   = "main"

  # Must agree with the route table, core/model/routes.ts (test/contract/routeTable.test.ts checks both ways).
  routes = {
    "GET /health"                  = "decisions"
    "POST /actions"                = "decisions"
    "POST /actions/allowed"        = "decisions"
    "POST /actions/{id}/outcome"   = "decisions"
    "GET /whoami"                  = "decisions"
    "GET /keys"                    = "decisions"
    "POST /agents"                 = "admin"
    "GET /agents"                  = "admin"
    "GET /agents/{agentId}"        = "admin"
    "DELETE /agents/{agentId}"     = "admin"
    "POST /policies/allow"         = "admin"
    "GET /policies"                = "admin"
    "PUT /policies/{policyId}"     = "admin"
    "GET /policies/{policyId}"     = "admin"
    "DELETE /policies/{policyId}"  = "admin"
    "PUT /schema"                  = "admin"
    "GET /schema"                  = "admin"
    "GET /approvals"               = "admin"
    "GET /approvals/{id}"          = "admin"
    "POST /approvals/{id}/approve" = "admin"
    "POST /approvals/{id}/reject"  = "admin"
    "GET /audit"                   = "audit"
    "GET /audit/checkpoint"        = "audit"
    "GET /audit/checkpoints"       = "audit"
  }
  groups = toset(["decisions", "admin", "audit"])

  # API Gateway resources need their parents first: paths by depth.
  paths = distinct([for k, _ in local.routes : split(" ", k)[1]])
  all_paths = distinct(flatten([
    for p in local.paths : [
      for i in range(1, length(split("/", trimprefix(p, "/"))) + 1) :
      "/${join("/", slice(split("/", trimprefix(p, "/")), 0, i))}"
    ]
  ]))
  depth1 = [for p in local.all_paths : p if length(split("/", trimprefix(p, "/"))) == 1]
  depth2 = [for p in local.all_paths : p if length(split("/", trimprefix(p, "/"))) == 2]
  depth3 = [for p in local.all_paths : p if length(split("/", trimprefix(p, "/"))) == 3]
  resource_ids = merge(
    { for p, r in aws_api_gateway_resource.d1 : p => r.id },
    { for p, r in aws_api_gateway_resource.d2 : p => r.id },
    { for p, r in aws_api_gateway_resource.d3 : p => r.id },
  )

  signer_role_arns = concat([for g in local.groups : aws_iam_role.fn[g].arn], [aws_iam_role.checkpoint.arn])
  admin_arns       = concat([aws_iam_role.admin.arn], var.admin_principal_arns)
  agent_arns       = concat([for id, r in aws_iam_role.agent : r.arn], var.agent_principal_arns)
  approver_arns    = concat([aws_iam_role.approver.arn], var.approver_principal_arns)
  arn_path         = { for k, _ in local.routes : k => replace(split(" ", k)[1], "/\\{[^}]+\\}/", "*") }

  # The routes each caller may invoke, as execute-api ARNs: one list for the roles' IAM policies and the
  # API's resource policy alike (admin: admin and audit routes and GET /keys; agent: decisions, allowed actions, outcomes, whoami, keys).
  route_arn = { for k, _ in local.routes : k => "${aws_api_gateway_rest_api.this.execution_arn}/${local.stage}/${split(" ", k)[0]}${local.arn_path[k]}" }

  admin_route_arns = concat(
    [for k, g in local.routes : local.route_arn[k] if g != "decisions"],
    [local.route_arn["GET /keys"]],
  )

  # approvers: the approval routes only (admins reach them too, as admin routes)
  approver_route_arns = [for k, _ in local.routes : local.route_arn[k] if startswith(split(" ", k)[1], "/approvals")]

  agent_route_arns = [
    local.route_arn["POST /actions"],
    local.route_arn["POST /actions/allowed"],
    local.route_arn["POST /actions/{id}/outcome"],
    local.route_arn["GET /whoami"],
    local.route_arn["GET /keys"],
  ]
}

# ---------------------------------------------------------------- data

resource "aws_dynamodb_table" "this" {
  name                        = var.name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  range_key                   = "sk"
  deletion_protection_enabled = true

  attribute {
    name = "pk"
    type = "S"
  }
  attribute {
    name = "sk"
    type = "S"
  }
  point_in_time_recovery {
    enabled = true
  }
  server_side_encryption {
    enabled = true
  }
  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_kms_key" "root" {
  description              = "zt-infra root signing key: certifies session keys and signs checkpoints"
  customer_master_key_spec = "ECC_NIST_P256"
  key_usage                = "SIGN_VERIFY"
  deletion_window_in_days  = 30
  policy                   = data.aws_iam_policy_document.root_key.json
  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_kms_alias" "root" {
  name          = "alias/${var.name}/root"
  target_key_id = aws_kms_key.root.key_id
}

data "aws_iam_policy_document" "root_key" {
  statement {
    sid = "DelegateToAccountIam"
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${local.account}:root"]
    }
    # no kms:* and no grants: a grant could hand out kms:Sign
    actions = [
      "kms:Sign", "kms:GetPublicKey", "kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy",
      "kms:GetKeyRotationStatus", "kms:ListKeyPolicies", "kms:ListResourceTags", "kms:TagResource",
      "kms:UntagResource", "kms:EnableKey", "kms:DisableKey", "kms:UpdateKeyDescription",
      "kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias", "kms:ScheduleKeyDeletion",
      "kms:CancelKeyDeletion",
    ]
    resources = ["*"]
  }
  statement {
    sid    = "DenySignExceptGatewayFunctions"
    effect = "Deny"
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
    actions   = ["kms:Sign"]
    resources = ["*"]
    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      # role ARNs are known before the roles exist: name them here to avoid a cycle
      values = concat(
        [for g in local.groups : "arn:${data.aws_partition.current.partition}:iam::${local.account}:role/${var.name}-${g}-fn"],
        ["arn:${data.aws_partition.current.partition}:iam::${local.account}:role/${var.name}-checkpoint-fn"],
      )
    }
  }
}

resource "aws_s3_bucket" "checkpoints" {
  bucket_prefix       = "${var.name}-checkpoints-"
  object_lock_enabled = true
  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_s3_bucket_versioning" "checkpoints" {
  bucket = aws_s3_bucket.checkpoints.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_object_lock_configuration" "checkpoints" {
  bucket = aws_s3_bucket.checkpoints.id
  rule {
    default_retention {
      mode = "COMPLIANCE"
      days = var.checkpoint_retention_days
    }
  }
}

resource "aws_s3_bucket_public_access_block" "checkpoints" {
  bucket                  = aws_s3_bucket.checkpoints.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "checkpoints" {
  bucket = aws_s3_bucket.checkpoints.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_policy" "checkpoints_tls_only" {
  bucket = aws_s3_bucket.checkpoints.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [aws_s3_bucket.checkpoints.arn, "${aws_s3_bucket.checkpoints.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })
}

# ---------------------------------------------------------------- functions

data "archive_file" "api" {
  type        = "zip"
  source_dir  = var.api_bundle_dir
  output_path = "${path.module}/.build/api.zip"
}

data "archive_file" "checkpoint" {
  type        = "zip"
  source_dir  = var.checkpoint_bundle_dir
  output_path = "${path.module}/.build/checkpoint.zip"
}

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "fn" {
  for_each           = local.groups
  name               = "${var.name}-${each.key}-fn"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

resource "aws_iam_role" "checkpoint" {
  name               = "${var.name}-checkpoint-fn"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

resource "aws_cloudwatch_log_group" "fn" {
  for_each          = toset(concat(tolist(local.groups), ["checkpoint"]))
  name              = "/aws/lambda/${var.name}-${each.key}"
  retention_in_days = var.log_retention_days
}

locals {
  table_read  = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:DescribeTable"]
  table_write = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
}

data "aws_iam_policy_document" "fn" {
  for_each = toset(concat(tolist(local.groups), ["checkpoint"]))

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.fn[each.key].arn}:*"]
  }
  statement {
    sid       = "RootKey"
    actions   = ["kms:Sign", "kms:GetPublicKey"]
    resources = [aws_kms_key.root.arn]
  }
  statement {
    sid       = "TableRead"
    actions   = local.table_read
    resources = [aws_dynamodb_table.this.arn]
  }
  # decisions and admin append records; audit and checkpoint write checkpoint state only
  dynamic "statement" {
    for_each = contains(["decisions", "admin"], each.key) ? [1] : []
    content {
      sid       = "TableWrite"
      actions   = local.table_write
      resources = [aws_dynamodb_table.this.arn]
    }
  }
  dynamic "statement" {
    for_each = contains(["audit", "checkpoint"], each.key) ? [1] : []
    content {
      sid       = "CheckpointStateWrite"
      actions   = ["dynamodb:PutItem"]
      resources = [aws_dynamodb_table.this.arn]
      condition {
        test     = "ForAllValues:StringLike"
        variable = "dynamodb:LeadingKeys"
        values   = ["merkle#*", "checkpoint#*", "checkpoint-heartbeat#*"]
      }
    }
  }
  dynamic "statement" {
    for_each = each.key == "checkpoint" ? [1] : []
    content {
      sid       = "ArchiveCheckpoints"
      actions   = ["s3:PutObject", "s3:PutObjectRetention"]
      resources = ["${aws_s3_bucket.checkpoints.arn}/checkpoints/*"]
    }
  }
}

resource "aws_iam_role_policy" "fn" {
  for_each = local.groups
  name     = "least-privilege"
  role     = aws_iam_role.fn[each.key].id
  policy   = data.aws_iam_policy_document.fn[each.key].json
}

resource "aws_iam_role_policy" "checkpoint" {
  name   = "least-privilege"
  role   = aws_iam_role.checkpoint.id
  policy = data.aws_iam_policy_document.fn["checkpoint"].json
}

locals {
  # CHECKPOINT_ORIGIN is unique per deployment, so witnesses and monitors tell two logs apart (the CDK
  # stack puts its stack name where this puts var.name)
  common_env = {
    TABLE_NAME                                       = aws_dynamodb_table.this.name
    ROOT_KEY_ARN                                     = aws_kms_key.root.arn
    CHAIN                                            = local.chain
    CHECKPOINT_ORIGIN                                = "zt-infra/${data.aws_partition.current.partition}/${local.account}/${var.region}/${var.name}/${local.chain}"
    SERVICE_NAME                                     = var.name
    METRICS_NAMESPACE                                = "ZtInfra"
    NODE_OPTIONS                                     = "--enable-source-maps"
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true"
  }
}

resource "aws_lambda_function" "api" {
  for_each         = local.groups
  function_name    = "${var.name}-${each.key}"
  role             = aws_iam_role.fn[each.key].arn
  runtime          = "nodejs22.x"
  architectures    = ["arm64"]
  handler          = "index.handler"
  filename         = data.archive_file.api.output_path
  source_code_hash = data.archive_file.api.output_base64sha256
  memory_size      = 1024
  timeout          = 10
  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.fn[each.key].name
  }
  environment {
    variables = merge(local.common_env, {
      ROUTE_GROUP             = each.key
      ADMIN_PRINCIPAL_ARNS    = join(",", local.admin_arns)
      APPROVER_PRINCIPAL_ARNS = join(",", local.approver_arns)
      GATEWAY_PRINCIPAL_ARN   = aws_iam_role.fn[each.key].arn
    })
  }
  depends_on = [aws_iam_role_policy.fn]
}

resource "aws_lambda_function" "checkpoint" {
  function_name    = "${var.name}-checkpoint"
  role             = aws_iam_role.checkpoint.arn
  runtime          = "nodejs22.x"
  architectures    = ["arm64"]
  handler          = "index.handler"
  filename         = data.archive_file.checkpoint.output_path
  source_code_hash = data.archive_file.checkpoint.output_base64sha256
  memory_size      = 1024
  timeout          = 60
  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.fn["checkpoint"].name
  }
  environment {
    variables = merge(local.common_env, {
      CHECKPOINT_BUCKET         = aws_s3_bucket.checkpoints.bucket
      CHECKPOINT_RETENTION_DAYS = tostring(var.checkpoint_retention_days)
      GATEWAY_PRINCIPAL_ARN     = aws_iam_role.checkpoint.arn
    })
  }
  depends_on = [aws_iam_role_policy.checkpoint]
}

resource "aws_cloudwatch_event_rule" "checkpoint" {
  name                = "${var.name}-checkpoint"
  schedule_expression = "rate(1 minute)"
}

resource "aws_cloudwatch_event_target" "checkpoint" {
  rule = aws_cloudwatch_event_rule.checkpoint.name
  arn  = aws_lambda_function.checkpoint.arn
  retry_policy {
    maximum_retry_attempts       = 0
    maximum_event_age_in_seconds = 60
  }
}

resource "aws_lambda_permission" "checkpoint_schedule" {
  statement_id  = "AllowEventBridge"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.checkpoint.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.checkpoint.arn
}

# ---------------------------------------------------------------- API

resource "aws_api_gateway_rest_api" "this" {
  name        = var.name
  description = "zt-infra authorization gateway (SigV4 / AWS_IAM)"
  endpoint_configuration {
    types = ["REGIONAL"]
  }
}

# Route by route, as in the CDK stack: within one account API Gateway allows a call that the caller's IAM
# policy OR this policy allows, so this policy allows only what the callers' roles already grant; no
# principal but "*" on GET /health. The Deny turns away every principal outside this account.
resource "aws_api_gateway_rest_api_policy" "this" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid       = "AllowHealth"
          Effect    = "Allow"
          Principal = "*"
          Action    = "execute-api:Invoke"
          Resource  = local.route_arn["GET /health"]
        },
        {
          Sid       = "AllowAdminRoutes"
          Effect    = "Allow"
          Principal = { AWS = local.admin_arns }
          Action    = "execute-api:Invoke"
          Resource  = local.admin_route_arns
        },
        {
          Sid       = "AllowApproverRoutes"
          Effect    = "Allow"
          Principal = { AWS = local.approver_arns }
          Action    = "execute-api:Invoke"
          Resource  = local.approver_route_arns
        },
      ],
      [
        for arns in [local.agent_arns] : {
          Sid       = "AllowAgentRoutes"
          Effect    = "Allow"
          Principal = { AWS = arns }
          Action    = "execute-api:Invoke"
          Resource  = local.agent_route_arns
        } if length(arns) > 0
      ],
      [
        {
          Sid         = "DenyOutsiders"
          Effect      = "Deny"
          Principal   = "*"
          Action      = "execute-api:Invoke"
          NotResource = local.route_arn["GET /health"]
          Condition   = { StringNotEquals = { "aws:PrincipalAccount" = local.account } }
        },
      ],
    )
  })
}

moved {
  from = aws_api_gateway_rest_api_policy.account_only
  to   = aws_api_gateway_rest_api_policy.this
}

resource "aws_api_gateway_resource" "d1" {
  for_each    = toset(local.depth1)
  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_rest_api.this.root_resource_id
  path_part   = basename(each.key)
}

resource "aws_api_gateway_resource" "d2" {
  for_each    = toset(local.depth2)
  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_resource.d1[dirname(each.key)].id
  path_part   = basename(each.key)
}

resource "aws_api_gateway_resource" "d3" {
  for_each    = toset(local.depth3)
  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_resource.d2[dirname(each.key)].id
  path_part   = basename(each.key)
}

resource "aws_api_gateway_request_validator" "body" {
  rest_api_id                 = aws_api_gateway_rest_api.this.id
  name                        = "json-object-body"
  validate_request_body       = true
  validate_request_parameters = true
}

resource "aws_api_gateway_method" "route" {
  for_each      = local.routes
  rest_api_id   = aws_api_gateway_rest_api.this.id
  resource_id   = local.resource_ids[split(" ", each.key)[1]]
  http_method   = split(" ", each.key)[0]
  authorization = each.key == "GET /health" ? "NONE" : "AWS_IAM"
  # POST and PUT bodies must be JSON objects; the handler refuses bodies over 64 KiB (413)
  request_validator_id = contains(["POST", "PUT"], split(" ", each.key)[0]) ? aws_api_gateway_request_validator.body.id : null
}

resource "aws_api_gateway_integration" "route" {
  for_each                = local.routes
  rest_api_id             = aws_api_gateway_rest_api.this.id
  resource_id             = aws_api_gateway_method.route[each.key].resource_id
  http_method             = aws_api_gateway_method.route[each.key].http_method
  type                    = "AWS_PROXY"
  integration_http_method = "POST"
  uri                     = aws_lambda_function.api[each.value].invoke_arn
}

resource "aws_lambda_permission" "api" {
  for_each      = local.groups
  statement_id  = "AllowApiGateway"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.api[each.key].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_api_gateway_rest_api.this.execution_arn}/${local.stage}/*/*"
}

resource "aws_api_gateway_deployment" "this" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  triggers = {
    # a policy change takes effect only when the stage is redeployed
    redeploy = sha1(jsonencode([local.routes, aws_api_gateway_rest_api_policy.this.policy]))
  }
  lifecycle {
    create_before_destroy = true
  }
  depends_on = [aws_api_gateway_integration.route]
}

resource "aws_cloudwatch_log_group" "access" {
  name              = "/aws/apigateway/${var.name}-access"
  retention_in_days = var.log_retention_days
}

resource "aws_api_gateway_stage" "this" {
  rest_api_id   = aws_api_gateway_rest_api.this.id
  deployment_id = aws_api_gateway_deployment.this.id
  stage_name    = local.stage
  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format = jsonencode({
      requestId      = "$context.requestId", ip = "$context.identity.sourceIp", user = "$context.identity.user",
      caller         = "$context.identity.caller", requestTime = "$context.requestTime",
      httpMethod     = "$context.httpMethod", resourcePath = "$context.resourcePath",
      status         = "$context.status", protocol = "$context.protocol",
      responseLength = "$context.responseLength"
    })
  }
}

resource "aws_api_gateway_method_settings" "all" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  stage_name  = aws_api_gateway_stage.this.stage_name
  method_path = "*/*"
  settings {
    throttling_rate_limit  = var.throttle_rate_limit
    throttling_burst_limit = var.throttle_burst_limit
    metrics_enabled        = true
    data_trace_enabled     = false
  }
}

# ---------------------------------------------------------------- callers

data "aws_iam_policy_document" "account_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${local.account}:root"]
    }
  }
}

resource "aws_iam_role" "admin" {
  name                 = "${var.name}-admin"
  assume_role_policy   = data.aws_iam_policy_document.account_assume.json
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "admin" {
  name = "admin-routes"
  role = aws_iam_role.admin.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      { Effect = "Allow", Action = "execute-api:Invoke", Resource = local.admin_route_arns },
      { Effect = "Allow", Action = "kms:GetPublicKey", Resource = aws_kms_key.root.arn },
    ]
  })
}

resource "aws_iam_role" "approver" {
  name                 = "${var.name}-approver"
  assume_role_policy   = data.aws_iam_policy_document.account_assume.json
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "approver" {
  name = "approval-routes"
  role = aws_iam_role.approver.id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = "execute-api:Invoke", Resource = local.approver_route_arns }]
  })
}

# The checkpoint function measures the pending approvals every minute (EMF metric
# OldestPendingApprovalSeconds): an approval that waits longer than this raises the alarm.
resource "aws_cloudwatch_metric_alarm" "approvals_pending_too_long" {
  alarm_name          = "${var.name}-ApprovalsPendingTooLong"
  alarm_description   = "an approval_required request has waited for approvers too long"
  namespace           = "ZtInfra"
  metric_name         = "OldestPendingApprovalSeconds"
  dimensions          = { Service = var.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.approval_pending_alarm_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_topic_arn == null ? [] : [var.alarm_topic_arn]
}

resource "aws_iam_role" "agent" {
  for_each             = var.agent_ids
  name                 = "${var.name}-agent-${each.key}"
  assume_role_policy   = data.aws_iam_policy_document.account_assume.json
  max_session_duration = 3600
  tags                 = { "zt:agentId" = each.key }
}

resource "aws_iam_role_policy" "agent" {
  for_each = var.agent_ids
  name     = "agent-routes"
  role     = aws_iam_role.agent[each.key].id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = "execute-api:Invoke", Resource = local.agent_route_arns }]
  })
}
