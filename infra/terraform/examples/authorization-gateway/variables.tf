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
  description = "Extra admin principals besides the admin role created here."
  type        = list(string)
  default     = []
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
