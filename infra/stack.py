"""One stage of the wallet as one CDK stack.

The functions, their event sources, schedules and the REST API come from
app.py through Chalice's CDK construct (``chalice.cdk.Chalice``); around them
this stack adds what Chalice does not: the tables, queues and bucket
generated from the code (infra/resources.py), a customer-managed KMS key,
the secrets, one IAM role per function built from its declaration
(chalicelib/functions.py), the settings of the event sources, and the alarms
and dashboard of infra/observability.py.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from chalice.cdk import Chalice
from chalice.utils import to_cfn_resource_name
from constructs import Construct

from chalicelib import functions
from chalicelib.limits import BANK_CODES
from chalicelib.queues import STATUS_QUEUE, bank_queue, dlq_short_name
from infra import package, resources
from infra.gateway_responses import gateway_responses
from infra.observability import Observability

__all__ = [
    "DLQ_RETENTION",
    "EXTERNAL_VISIBILITY_TIMEOUT_S",
    "LOG_RETENTION",
    "MESSAGE_RETENTION",
    "BANK_READ_ACTIONS",
    "BANK_SEND_ACTIONS",
    "StageConfig",
    "WARM_WRITES_MIN",
    "bank_accounts_from_context",
    "warm_throughput_from_context",
    "VISIBILITY_TIMEOUT_FACTOR",
    "WalletStack",
    "function_name",
]

# AWS's advice for an SQS event source: a visibility timeout of at least six
# times the consuming function's timeout, so that a message still being
# worked on (or retried by Lambda's poller) is not handed to a second worker.
VISIBILITY_TIMEOUT_FACTOR = 6
# A queue a bank reads: the time a bank has to handle a received instruction
# before another of its readers may see it again.
EXTERNAL_VISIBILITY_TIMEOUT_S = 900
# The longest SQS allows: a bank that is down for days loses no instruction.
MESSAGE_RETENTION = cdk.Duration.days(14)
DLQ_RETENTION = cdk.Duration.days(14)
LOG_RETENTION = logs.RetentionDays.THREE_MONTHS

_KEY_TYPES = {"S": dynamodb.AttributeType.STRING, "N": dynamodb.AttributeType.NUMBER,
              "B": dynamodb.AttributeType.BINARY}
_PROJECTIONS = {"ALL": dynamodb.ProjectionType.ALL, "KEYS_ONLY": dynamodb.ProjectionType.KEYS_ONLY,
                "INCLUDE": dynamodb.ProjectionType.INCLUDE}

# IAM actions by kind of access; listed one by one (no wildcards).
TABLE_READ_ACTIONS = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query",
                      "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable")
TABLE_WRITE_ACTIONS = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                       "dynamodb:BatchWriteItem")
INDEX_READ_ACTIONS = ("dynamodb:Query",)
STREAM_READ_ACTIONS = ("dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords")
QUEUE_SEND_ACTIONS = ("sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes")
QUEUE_CONSUME_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
                         "sqs:GetQueueAttributes", "sqs:GetQueueUrl")
KEY_DECRYPT_ACTIONS = ("kms:Decrypt", "kms:DescribeKey")
KEY_ENCRYPT_ACTIONS = ("kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext",
                       "kms:ReEncryptFrom", "kms:ReEncryptTo")
LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")
# What a bank's AWS account may do (BANKS.md): read its own instruction
# queue, and send to the shared status queue. Nothing else of the stage.
BANK_READ_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
                     "sqs:GetQueueAttributes")
BANK_SEND_ACTIONS = ("sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl")
_ACCOUNT_ID = re.compile(r"^[0-9]{12}$")
# X-Ray has no resource-level permissions: these two take Resource "*".
XRAY_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")


# API Gateway throttling (token bucket per stage and per method, before any
# Lambda runs): the stage's rate and burst, and tighter ones for the routes
# that move money or register people. Sized for phase 3's registration day
# (1 million registrations in 5 minutes, ~3,300 a second); the account's
# regional quota (10,000 requests a second by default) is above the sum.
API_RATE_PER_S = 6000
API_BURST = 5000
ROUTE_THROTTLES: dict[tuple[str, str], tuple[int, int]] = {
    # (method, path): (rate a second, burst)
    ("POST", "/v1/registrations"): (4000, 4000),
    ("POST", "/v1/assisted-registrations"): (500, 500),
    ("POST", "/v1/payments"): (3000, 3000),
    ("POST", "/v1/card-payments"): (1000, 1000),
    ("POST", "/v1/merchant-payments"): (1000, 1000),
    ("POST", "/v1/merchants/me/qr"): (2000, 2000),
}
# The access log: what a request was, never what it carried. The path is the
# route's template ($context.resourcePath: /v1/cards/{card_code}/unlock), so
# no card code or ID is logged; no header (no bearer token), no query string.
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTimeEpoch",
    "ip": "$context.identity.sourceIp",
    "method": "$context.httpMethod",
    "route": "$context.resourcePath",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "latencyMs": "$context.responseLatency",
    "integrationLatencyMs": "$context.integration.latency",
    "integrationStatus": "$context.integration.status",
    "error": "$context.error.responseType",
    "xrayTraceId": "$context.xrayTraceId",
}


def _json_context(value: Any, key: str) -> Any:
    """A context value parsed when a JSON string (``--context key='{...}'``),
    else as cdk.json holds it."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise ValueError(f"context {key} is not JSON: {exc}") from exc
    return value


def bank_accounts_from_context(value: Any, stage: str) -> dict[str, str]:
    """The banks' AWS accounts of ``stage`` from the context ``bank_accounts``:
    ``{"<stage>": {"<bank code>": "<12-digit account id>"}}`` (cdk.json, or
    ``--context bank_accounts='{...}'``, a JSON string). Absent: no bank
    account (no external principal on any queue; the synth still works)."""
    if value in (None, ""):
        return {}
    value = _json_context(value, "bank_accounts")
    if not isinstance(value, dict):
        raise ValueError('context bank_accounts must be {"<stage>": {"<bank code>": "<account id>"}}')
    accounts = value.get(stage) or {}
    if not isinstance(accounts, dict):
        raise ValueError(f"context bank_accounts.{stage} must map bank codes to account ids")
    out = {}
    for code, account in accounts.items():
        if code not in BANK_CODES:
            raise ValueError(f"context bank_accounts.{stage}: {code!r} is not a bank code of "
                             f"chalicelib/limits.py BANK_CODES ({', '.join(sorted(BANK_CODES))})")
        if not isinstance(account, str) or not _ACCOUNT_ID.match(account):
            raise ValueError(f"context bank_accounts.{stage}.{code}: {account!r} is not a 12-digit AWS account id "
                             "(give it as a string)")
        out[str(code)] = account
    return out


# DynamoDB's least warm throughput of an on-demand table or index (what a new
# one serves at once): a smaller figure is no warming and is refused.
WARM_WRITES_MIN = 4000


def warm_throughput_from_context(value: Any, stage: str) -> dict[str, int]:
    """Write units a second that ``stage``'s tables (``"<table>"``) and
    global indexes (``"<table>/<index>"``) are pre-warmed to, from the
    context ``warm_throughput``: ``{"<stage>": {"registrations": 20000, ...}}``
    (cdk.json holds the launch's figures, CAPACITY.md "Warm throughput" the
    arithmetic). Absent for a stage: no warm throughput (tables start as new
    on-demand tables do)."""
    if value in (None, ""):
        return {}
    value = _json_context(value, "warm_throughput")
    figures = value.get(stage) if isinstance(value, dict) else None
    if figures is None:
        return {}
    if not isinstance(figures, dict):
        raise ValueError(f'context warm_throughput.{stage} must be {{"<table>[/<index>]": <write units/s>}}')
    out = {}
    for name, writes in figures.items():
        if not isinstance(writes, int) or isinstance(writes, bool) or writes < WARM_WRITES_MIN:
            raise ValueError(f"context warm_throughput.{stage}.{name}: {writes!r} is not a number of write units a "
                             f"second of at least {WARM_WRITES_MIN} (what a new on-demand table serves already)")
        out[str(name)] = writes
    return out


def _method_path(path: str) -> str:
    """A route as API Gateway's method settings name it (/ written ~1)."""
    return "/" + path.replace("/", "~1")


@dataclass(frozen=True)
class StageConfig:
    """What differs between stages, from CDK context (cdk.json or
    ``--context key=value``)."""

    stage: str
    jwt_issuer: str
    jwt_audience: str
    jwks_url: str
    alarm_email: str | None
    statement_bucket_name: str | None
    domain_name: str | None
    certificate_arn: str | None
    api_gateway_account_role: bool
    # bank code -> the bank's AWS account id (context bank_accounts, per stage)
    bank_accounts: dict[str, str] = field(default_factory=dict)
    # "<table>" or "<table>/<index>" -> write units a second (context warm_throughput, per stage)
    warm_throughput: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_context(cls, node: Any) -> StageConfig:
        def get(name: str, default: str | None = None) -> str | None:
            value = node.try_get_context(name)
            return str(value) if value not in (None, "") else default

        stage = get("stage", "dev") or "dev"
        return cls(
            stage=stage,
            jwt_issuer=get("jwt_issuer", "https://id.tangrat.go.th") or "",
            jwt_audience=get("jwt_audience", "wallet-api") or "",
            jwks_url=get("jwks_url", "https://id.tangrat.go.th/.well-known/jwks.json") or "",
            alarm_email=get("alarm_email"),
            statement_bucket_name=get("statement_bucket_name"),
            domain_name=get("domain_name"),
            certificate_arn=get("certificate_arn"),
            api_gateway_account_role=(get("api_gateway_account_role", "true") or "true").lower() != "false",
            bank_accounts=bank_accounts_from_context(node.try_get_context("bank_accounts"), stage),
            warm_throughput=warm_throughput_from_context(node.try_get_context("warm_throughput"), stage),
        )


def function_name(stage: str, name: str) -> str:
    """The deployed name of a declared function (and of its log group)."""
    return f"wallet-{stage}-{name}"


class WalletStack(cdk.Stack):
    def __init__(self, scope: Construct, config: StageConfig, **kwargs: Any) -> None:
        # Chalice's construct takes its stage name from its scope: the stack's
        # id is the stage, the CloudFormation stack is named wallet-<stage>.
        super().__init__(scope, config.stage, stack_name=f"wallet-{config.stage}",
                         description=f"Digital wallet, stage {config.stage}", **kwargs)
        self.config = config
        stage = config.stage
        self.key = kms.Key(self, "DataKey", alias=f"alias/wallet-{stage}", enable_key_rotation=True,
                           description=f"Wallet {stage}: tables, statement bucket and secrets",
                           removal_policy=cdk.RemovalPolicy.RETAIN)
        self.table_defs = {t.short: t for t in resources.tables(stage)}
        known = set(self.table_defs) | {f"{t.short}/{i.name}" for t in self.table_defs.values() for i in t.indexes}
        unknown = sorted(set(config.warm_throughput) - known)
        if unknown:
            raise ValueError(f"context warm_throughput.{stage} names {unknown}: not a table or table/index of the code "
                             f"({', '.join(sorted(known))})")
        self.tables = {short: self._table(t) for short, t in self.table_defs.items()}
        self.app = resources.load_app(stage)
        self.functions = functions.declared()
        self.queue_defs = {q.short: q for q in resources.queues(stage)}
        self.queues: dict[str, sqs.Queue] = {}
        self.dlqs: dict[str, sqs.Queue] = {}
        for queue_def in self.queue_defs.values():
            self._queue(queue_def)
        self._bank_access()
        self.secrets = {name: self._secret(name) for name in functions.SECRETS}
        self.access_logs_bucket, self.statement_bucket = self._buckets()
        self.chalice = Chalice(self, "Functions", source_dir=str(package.build_source(stage, self.functions)),
                               stage_config={"environment_variables": self._environment()})
        self.roles = {name: self._function(name) for name in sorted(self.functions)}
        self.api_access_logs = self._api()
        self.observability = Observability(
            self, "Observability", stage=stage, api_name=self.api_name,
            functions={name: function_name(stage, name) for name in self.functions},
            tables={short: t.name for short, t in self.table_defs.items()},
            queues=self.queues, dlqs=self.dlqs, alarm_email=config.alarm_email)

    # -- stateful resources ---------------------------------------------------------

    def _table(self, table: resources.TableDef) -> dynamodb.Table:
        construct = dynamodb.Table(
            self, to_cfn_resource_name(table.short) + "Table",
            table_name=table.name,
            partition_key=dynamodb.Attribute(name=table.partition.name, type=_KEY_TYPES[table.partition.type]),
            sort_key=(dynamodb.Attribute(name=table.sort.name, type=_KEY_TYPES[table.sort.type])
                      if table.sort else None),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True),
            deletion_protection=True,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            time_to_live_attribute=table.ttl_attribute,
            stream=dynamodb.StreamViewType(table.stream_view_type) if table.stream_view_type else None,
            removal_policy=cdk.RemovalPolicy.RETAIN,
            warm_throughput=self._warm(table.short),
        )
        for index in table.indexes:
            construct.add_global_secondary_index(
                index_name=index.name,
                partition_key=dynamodb.Attribute(name=index.partition.name, type=_KEY_TYPES[index.partition.type]),
                sort_key=(dynamodb.Attribute(name=index.sort.name, type=_KEY_TYPES[index.sort.type])
                          if index.sort else None),
                projection_type=_PROJECTIONS[index.projection],
                non_key_attributes=list(index.non_key_attributes) or None,
                warm_throughput=self._warm(f"{table.short}/{index.name}"),
            )
        return construct

    def _warm(self, name: str) -> dynamodb.WarmThroughput | None:
        """The launch's peak writes (CAPACITY.md) served from the first
        second instead of after on-demand's doubling every ~30 minutes."""
        writes = self.config.warm_throughput.get(name)
        return dynamodb.WarmThroughput(write_units_per_second=writes) if writes else None

    def _visibility_timeout_s(self, short: str) -> int:
        consumers = [spec for spec in self.functions.values() if spec.consumes == short]
        if not consumers:
            # Read by a bank, not by a function here (BANKS.md's instruction queues).
            return EXTERNAL_VISIBILITY_TIMEOUT_S
        return VISIBILITY_TIMEOUT_FACTOR * max(spec.timeout_s for spec in consumers)

    def _queue(self, queue: resources.QueueDef) -> None:
        logical = to_cfn_resource_name(queue.short)
        dlq = sqs.Queue(self, logical + "DeadLetterQueue", queue_name=queue.dlq_name,
                        retention_period=DLQ_RETENTION, encryption=sqs.QueueEncryption.SQS_MANAGED,
                        enforce_ssl=True, removal_policy=cdk.RemovalPolicy.RETAIN)
        work = sqs.Queue(
            self, logical + "Queue", queue_name=queue.name,
            visibility_timeout=cdk.Duration.seconds(self._visibility_timeout_s(queue.short)),
            retention_period=MESSAGE_RETENTION, encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=queue.max_receive_count, queue=dlq),
            removal_policy=cdk.RemovalPolicy.RETAIN)
        self.queues[queue.short] = work
        self.dlqs[queue.short] = dlq

    def _bank_access(self) -> None:
        """Each bank's account may read its own instruction queue and nothing
        else; every bank's account may send to the shared status queue
        (BANKS.md). TLS only on every queue is enforce_ssl's deny."""
        accounts = self.config.bank_accounts
        for code, account in sorted(accounts.items()):
            self.queues[bank_queue(code)].add_to_resource_policy(iam.PolicyStatement(
                sid=f"Bank{code}ReadsItsInstructions", principals=[iam.AccountPrincipal(account)],
                actions=list(BANK_READ_ACTIONS), resources=[self.queues[bank_queue(code)].queue_arn]))
        if accounts:
            self.queues[STATUS_QUEUE].add_to_resource_policy(iam.PolicyStatement(
                sid="BanksSendStatuses", principals=[iam.AccountPrincipal(a) for a in sorted(set(accounts.values()))],
                actions=list(BANK_SEND_ACTIONS), resources=[self.queues[STATUS_QUEUE].queue_arn]))

    def _secret(self, name: str) -> secretsmanager.Secret:
        if name in functions.OPTIONAL_SECRETS:
            # No value until a rotation puts one there: the marker (not a
            # secret) that chalicelib/secrets.py reads as "none".
            return secretsmanager.Secret(
                self, to_cfn_resource_name(name) + "Secret",
                secret_name=f"wallet/{self.config.stage}/{name}",
                description=f"Wallet {self.config.stage}: {name} ('{functions.NO_SECRET}' between rotations; "
                            "see README, rotating the QR key)",
                encryption_key=self.key,
                secret_string_value=cdk.SecretValue.unsafe_plain_text(functions.NO_SECRET),
                removal_policy=cdk.RemovalPolicy.RETAIN)
        return secretsmanager.Secret(
            self, to_cfn_resource_name(name) + "Secret",
            secret_name=f"wallet/{self.config.stage}/{name}",
            description=f"Wallet {self.config.stage}: {name} (generated at creation; rotate by hand, see README)",
            encryption_key=self.key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True, include_space=False),
            removal_policy=cdk.RemovalPolicy.RETAIN)

    def _buckets(self) -> tuple[s3.Bucket, s3.Bucket]:
        access_logs = s3.Bucket(
            self, "AccessLogsBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,  # S3 server access logs cannot go to SSE-KMS
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL, enforce_ssl=True, versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(expiration=cdk.Duration.days(400),
                                              noncurrent_version_expiration=cdk.Duration.days(30))],
            removal_policy=cdk.RemovalPolicy.RETAIN)
        statements = s3.Bucket(
            self, "StatementBucket",
            bucket_name=self.config.statement_bucket_name,
            encryption=s3.BucketEncryption.KMS, encryption_key=self.key, bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL, enforce_ssl=True, versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=access_logs, server_access_logs_prefix="statements/",
            removal_policy=cdk.RemovalPolicy.RETAIN)
        return access_logs, statements

    # -- functions ------------------------------------------------------------------

    def _environment(self) -> dict[str, str]:
        config = self.config
        return {
            "WALLET_STAGE": config.stage,
            "WALLET_JWT_ISSUER": config.jwt_issuer,
            "WALLET_JWT_AUDIENCE": config.jwt_audience,
            "WALLET_JWKS_URL": config.jwks_url,
            "WALLET_STATEMENT_BUCKET": self.statement_bucket.bucket_name,
            "POWERTOOLS_SERVICE_NAME": "wallet",
            "POWERTOOLS_METRICS_NAMESPACE": "Wallet",
        }

    @property
    def api_name(self) -> str:
        return f"wallet-{self.config.stage}"

    def logical_id(self, name: str) -> str:
        """The logical id Chalice gives the function ``name`` in its template."""
        return "APIHandler" if name == functions.API_HANDLER else to_cfn_resource_name(name)

    def _function(self, name: str) -> iam.Role:
        spec = self.functions[name]
        stage = self.config.stage
        deployed = function_name(stage, name)
        log_group = logs.LogGroup(self, to_cfn_resource_name(name) + "Logs", log_group_name=f"/aws/lambda/{deployed}",
                                  retention=LOG_RETENTION, removal_policy=cdk.RemovalPolicy.RETAIN)
        role = iam.Role(self, to_cfn_resource_name(name) + "Role",
                        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                        description=f"{deployed}: {spec.why}")
        statements = [
            iam.PolicyStatement(actions=list(LOG_ACTIONS), resources=[self._log_group_arn(log_group, ":log-stream:*")]),
            iam.PolicyStatement(actions=list(XRAY_ACTIONS), resources=["*"]),
        ]
        statements += self._table_statements(spec)
        statements += self._queue_statements(spec)
        statements += self._secret_statements(spec)
        statements += self._bucket_statements(spec)
        # A policy of its own (not the role's inline policy) so that the
        # function can be created before the policy that names it.
        iam.Policy(self, to_cfn_resource_name(name) + "Policy", roles=[role], statements=statements)
        function = self.chalice.get_resource(self.logical_id(name))
        function.add_property_override("FunctionName", deployed)
        function.add_property_override("Role", role.role_arn)
        function.add_property_override("Architectures", ["x86_64"])
        function.add_property_override("LoggingConfig", {"LogGroup": log_group.log_group_name, "LogFormat": "JSON"})
        for secret in spec.secrets:
            function.add_property_override(f"Environment.Variables.{functions.SECRETS[secret]}_SECRET_ARN",
                                           self.secrets[secret].secret_arn)
        if "data-key" in spec.secrets:
            # Personal data under envelope encryption: data keys from the stage's key (chalicelib/pii.py).
            function.add_property_override("Environment.Variables.WALLET_KMS_KEY_ID", self.key.key_arn)
        if spec.consumes is not None:
            self._event_source(name, spec)
        return role

    def _api(self) -> logs.LogGroup:
        api = self.chalice.get_resource("RestAPI")
        api.add_property_override("Name", self.api_name)
        access_logs = logs.LogGroup(self, "ApiAccessLogs", retention=LOG_RETENTION,
                                    removal_policy=cdk.RemovalPolicy.RETAIN)
        settings: list[dict[str, Any]] = [{
            "ResourcePath": "/*", "HttpMethod": "*", "ThrottlingRateLimit": API_RATE_PER_S,
            "ThrottlingBurstLimit": API_BURST, "MetricsEnabled": True, "DataTraceEnabled": False,
            "LoggingLevel": "OFF"}]
        routes = {(m, p) for p, methods in self.app.routes.items() for m in methods}
        for (method, path), (rate, burst) in sorted(ROUTE_THROTTLES.items()):
            if (method, path) not in routes:
                raise ValueError(f"throttle for {method} {path}, which app.py does not serve")
            settings.append({"ResourcePath": _method_path(path), "HttpMethod": method,
                             "ThrottlingRateLimit": rate, "ThrottlingBurstLimit": burst, "MetricsEnabled": True})
        api.add_property_override("MethodSettings", settings)
        api.add_property_override("TracingEnabled", True)
        api.add_property_override("AccessLogSetting", {
            "DestinationArn": self._log_group_arn(access_logs),
            "Format": json.dumps(ACCESS_LOG_FIELDS, separators=(",", ":"))})
        api.add_property_override("GatewayResponses", gateway_responses())
        api.add_property_override("EndpointConfiguration", {"Type": "REGIONAL"})
        if self.config.domain_name and self.config.certificate_arn:
            api.add_property_override("Domain", {
                "DomainName": self.config.domain_name, "CertificateArn": self.config.certificate_arn,
                "EndpointConfiguration": "REGIONAL", "SecurityPolicy": "TLS_1_2"})
        # A usage plan with the same limits, for partners given API keys
        # (the contract needs none; per-caller limits are the app's own).
        plan = apigateway.CfnUsagePlan(
            self, "UsagePlan", usage_plan_name=f"wallet-{self.config.stage}",
            description="The stage's throttle and the money and registration routes' own",
            api_stages=[apigateway.CfnUsagePlan.ApiStageProperty(
                api_id=api.ref, stage=self.config.stage,
                # keyed "<path>/<METHOD>" (/v1/payments/POST), not the ~1 form of method settings
                throttle={f"{p}/{m}": apigateway.CfnUsagePlan.ThrottleSettingsProperty(
                    rate_limit=rate, burst_limit=burst) for (m, p), (rate, burst) in ROUTE_THROTTLES.items()})],
            throttle=apigateway.CfnUsagePlan.ThrottleSettingsProperty(rate_limit=API_RATE_PER_S,
                                                                      burst_limit=API_BURST))
        # The stage SAM makes of the API (RestAPI<stage>Stage) must exist first.
        plan.add_override("DependsOn", [f"RestAPI{''.join(c for c in self.config.stage if c.isalnum())}Stage"])
        cdk.Validations.of(plan).acknowledge(cdk.Acknowledgment(
            id="CloudFormation-Validate::E3005", reason="RestAPI<stage>Stage is made by the SAM transform"))
        if self.config.api_gateway_account_role:
            self._api_gateway_account(access_logs)
        return access_logs

    def _log_group_arn(self, group: logs.LogGroup, suffix: str = "") -> str:
        # LogGroup.log_group_arn ends in ":*"; API Gateway and IAM get the plain ARN.
        return cdk.Stack.of(self).format_arn(service="logs", resource="log-group",
                                             resource_name=group.log_group_name + suffix,
                                             arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME)

    def _api_gateway_account(self, access_logs: logs.LogGroup) -> None:
        """API Gateway writes logs through one role per account and region
        (AWS::ApiGateway::Account): here, a role that may write the access
        log of this stage only. Turn off with --context api_gateway_account_role=false
        where the account's setting is managed elsewhere."""
        role = iam.Role(self, "ApiGatewayLogsRole", assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
                        description=f"API Gateway writes the access log of wallet-{self.config.stage}")
        iam.Policy(self, "ApiGatewayLogsPolicy", roles=[role], statements=[
            iam.PolicyStatement(actions=["logs:DescribeLogStreams", "logs:CreateLogStream", "logs:PutLogEvents"],
                                resources=[self._log_group_arn(access_logs),
                                           self._log_group_arn(access_logs, ":log-stream:*")])])
        apigateway.CfnAccount(self, "ApiGatewayAccount", cloud_watch_role_arn=role.role_arn)

    def _event_source(self, name: str, spec: Any) -> None:
        function = self.chalice.get_resource(self.logical_id(name))
        events = f"Events.{self.logical_id(name)}SqsEventSource.Properties"
        queue = self.queues[spec.consumes]
        function.add_property_override(f"{events}.Queue", queue.queue_arn)
        function.add_property_override(f"{events}.FunctionResponseTypes", ["ReportBatchItemFailures"])
        function.add_property_override(f"{events}.BatchSize", spec.batch_size)
        if spec.max_concurrency is not None:
            function.add_property_override(f"{events}.ScalingConfig", {"MaximumConcurrency": spec.max_concurrency})

    def _table_statements(self, spec: Any) -> list[iam.PolicyStatement]:
        statements = []
        for short in spec.tables:
            if short not in self.tables:
                raise ValueError(f"{spec.name} declares table {short!r}; the tables are {sorted(self.tables)}")
            table = self.tables[short]
            actions = list(TABLE_READ_ACTIONS) + (list(TABLE_WRITE_ACTIONS) if short in spec.writes else [])
            statements.append(iam.PolicyStatement(actions=actions, resources=[table.table_arn]))
            indexes = [f"{table.table_arn}/index/{index.name}" for index in self.table_defs[short].indexes]
            if indexes:
                statements.append(iam.PolicyStatement(actions=list(INDEX_READ_ACTIONS), resources=indexes))
        for short in spec.streams:
            table = self.tables[short]
            if table.table_stream_arn is None:
                raise ValueError(f"{spec.name} reads the stream of {short!r}, which has none (Meta.stream_view_type)")
            statements.append(iam.PolicyStatement(actions=list(STREAM_READ_ACTIONS),
                                                  resources=[table.table_stream_arn]))
        if spec.tables:
            actions = list(KEY_DECRYPT_ACTIONS) + (list(KEY_ENCRYPT_ACTIONS) if spec.writes else [])
            statements.append(iam.PolicyStatement(actions=actions, resources=[self.key.key_arn], conditions={
                "StringEquals": {"kms:ViaService": f"dynamodb.{cdk.Aws.REGION}.amazonaws.com"}}))
        return statements

    def _sendable(self, short: str) -> sqs.Queue:
        """A work queue, or a work queue's dead-letter queue by its short name
        (the status handler puts an unparseable message there itself)."""
        if short in self.queues:
            return self.queues[short]
        for work, dlq in self.dlqs.items():
            if dlq_short_name(work) == short:
                return dlq
        raise ValueError(f"a function sends to queue {short!r}; the queues are {sorted(self.queues)} and their DLQs")

    def _queue_statements(self, spec: Any) -> list[iam.PolicyStatement]:
        statements = []
        if spec.sends:
            statements.append(iam.PolicyStatement(actions=list(QUEUE_SEND_ACTIONS),
                                                  resources=[self._sendable(s).queue_arn for s in spec.sends]))
        if spec.consumes is not None:
            statements.append(iam.PolicyStatement(actions=list(QUEUE_CONSUME_ACTIONS),
                                                  resources=[self.queues[spec.consumes].queue_arn]))
        return statements

    def _secret_statements(self, spec: Any) -> list[iam.PolicyStatement]:
        if not spec.secrets:
            return []
        envelope = ([iam.PolicyStatement(actions=["kms:GenerateDataKey", "kms:Decrypt"], resources=[self.key.key_arn])]
                    if "data-key" in spec.secrets else [])
        return [
            *envelope,
            iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"],
                                resources=[self.secrets[name].secret_arn for name in spec.secrets]),
            iam.PolicyStatement(actions=["kms:Decrypt"], resources=[self.key.key_arn], conditions={
                "StringEquals": {"kms:ViaService": f"secretsmanager.{cdk.Aws.REGION}.amazonaws.com"}}),
        ]

    def _bucket_statements(self, spec: Any) -> list[iam.PolicyStatement]:
        if spec.statement_bucket is None:
            return []
        actions = ["s3:GetObject"] + (["s3:PutObject"] if spec.statement_bucket == "write" else [])
        return [
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[self.statement_bucket.bucket_arn]),
            # Objects are named by the bank and day (BANKS.md): the keys under statements/.
            iam.PolicyStatement(actions=actions, resources=[self.statement_bucket.arn_for_objects("statements/*")]),
            iam.PolicyStatement(actions=list(KEY_DECRYPT_ACTIONS) + (
                ["kms:GenerateDataKey"] if spec.statement_bucket == "write" else []),
                resources=[self.key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{cdk.Aws.REGION}.amazonaws.com"}}),
        ]
