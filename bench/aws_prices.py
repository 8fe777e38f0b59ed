"""AWS prices the benchmarks model costs with: us-east-1, on-demand, read 2026-11 (one place for all of them).

Sources (public pricing pages; the Lambda, Step Functions, Fargate, IPv4 and DynamoDB figures are also
the ones ../shared/ARCHITECTURE.md records for late 2026):

* Step Functions Standard: $0.025 per 1,000 state transitions (a Distributed Map's Standard child
  executions are billed the same way) - https://aws.amazon.com/step-functions/pricing/
* Lambda arm64: $0.0000133334 per GB-second, $0.20 per million requests - https://aws.amazon.com/lambda/pricing/
* DynamoDB on-demand: $0.625 per million write request units (1 KB each), $0.125 per million read request
  units (4 KB, strongly consistent) - https://aws.amazon.com/dynamodb/pricing/on-demand/
* S3 Standard: $0.005 per 1,000 PUT/COPY/POST/LIST requests, $0.0004 per 1,000 GET requests, $0.023 per
  GB-month - https://aws.amazon.com/s3/pricing/
* SQS FIFO: $0.50 per million requests (each 64 KB of a request's payload) - https://aws.amazon.com/sqs/pricing/
* Fargate Linux/ARM: $0.03238 per vCPU-hour, $0.00356 per GB-hour (Fargate Spot: a discount, passed in:
  Spot prices move) - https://aws.amazon.com/fargate/pricing/
* Public IPv4 address: $0.005 per hour - https://aws.amazon.com/vpc/pricing/
* CloudWatch: $0.10 per standard-resolution alarm per month - https://aws.amazon.com/cloudwatch/pricing/

Free tiers are left out: the model is what the bot costs at list price.
"""

from __future__ import annotations

PRICES_READ = "2026-11"
REGION = "us-east-1"

STEP_FUNCTIONS_PER_TRANSITION = 0.025 / 1_000
LAMBDA_ARM_PER_GB_SECOND = 0.0000133334
LAMBDA_PER_REQUEST = 0.20 / 1_000_000
DYNAMODB_PER_WRITE_UNIT = 0.625 / 1_000_000
DYNAMODB_PER_READ_UNIT = 0.125 / 1_000_000
S3_PER_PUT = 0.005 / 1_000
S3_PER_GET = 0.0004 / 1_000
S3_PER_GB_MONTH = 0.023
SQS_FIFO_PER_REQUEST = 0.50 / 1_000_000
FARGATE_ARM_PER_VCPU_HOUR = 0.03238
FARGATE_ARM_PER_GB_HOUR = 0.00356
PUBLIC_IPV4_PER_HOUR = 0.005
CLOUDWATCH_ALARM_PER_MONTH = 0.10
HOURS_PER_MONTH = 730
SESSIONS_PER_MONTH = 21
