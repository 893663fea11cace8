variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "Name prefix for every resource (the CDK stack uses the stack name)."
  type        = string
  default     = "zt-infra"
}

variable "api_bundle_dir" {
  description = "Directory of the built API bundle (index.mjs, index.mjs.map, cedar_wasm_bg.wasm): the DecisionsFunction asset of `npx cdk synth`, see README."
  type        = string
}

variable "checkpoint_bundle_dir" {
  description = "Directory of the built checkpoint bundle: the CheckpointFunction asset of `npx cdk synth`."
  type        = string
}

variable "admin_principal_arns" {
  description = "Extra admin principals (IAM role or user ARNs) besides the admin role created here: named in the API's resource policy on the admin routes."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for a in var.admin_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/[\\w+=,.@/-]+$", a))])
    error_message = "admin_principal_arns must be IAM role or user ARNs (arn:aws:iam::<account>:role/<name>)."
  }
}

variable "agent_principal_arns" {
  description = "Agent principals made elsewhere (IAM role or user ARNs): named in the API's resource policy on the agent routes only. Register each one as an agent."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for a in var.agent_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/[\\w+=,.@/-]+$", a))])
    error_message = "agent_principal_arns must be IAM role or user ARNs (arn:aws:iam::<account>:role/<name>)."
  }
}

variable "agent_ids" {
  description = "Agents to create a role for (allowed POST /actions, outcomes and GET /keys only)."
  type        = set(string)
  default     = []
}

variable "checkpoint_retention_days" {
  description = "Object Lock COMPLIANCE retention of each checkpoint object, in days."
  type        = number
  default     = 365
}

variable "log_retention_days" {
  description = "Retention of access and function logs."
  type        = number
  default     = 365
}

variable "throttle_rate_limit" {
  type    = number
  default = 100
}

variable "throttle_burst_limit" {
  type    = number
  default = 200
}

variable "approver_principal_arns" {
  description = "Extra approver principals (IAM role or user ARNs) besides the approver role created here: they may list, approve and reject approvals (the approval routes only)."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for a in var.approver_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/[\\w+=,.@/-]+$", a))])
    error_message = "approver_principal_arns must be IAM role or user ARNs (arn:aws:iam::<account>:role/<name>)."
  }
}

variable "approval_pending_alarm_seconds" {
  description = "How long an approval may wait for approvers before the approvals-pending alarm fires."
  type        = number
  default     = 1800
}

variable "alarm_topic_arn" {
  description = "SNS topic the approvals-pending alarm notifies (none when null)."
  type        = string
  default     = null
}
