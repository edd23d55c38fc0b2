"""The CloudFormation that `cdk deploy` would create, checked on the
synthesized template: tables and queues generated from the code, event
sources, schedules, per-function IAM without wildcards, alarms.

`make test` runs `make synth` first (cdk.out/prod.template.json); when that
file is missing or older than the code, the fixture synthesizes the app
itself (a subprocess: the CDK app binds the models to its own stage).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chalicelib.errors import CODE_OF_STATUS
from infra.gateway_responses import gateway_responses

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
STAGE = "prod"
SOURCES = [ROOT / "app.py", ROOT / "requirements.txt", *ROOT.glob("chalicelib/**/*.py"), *ROOT.glob("infra/*.py")]

# The only wildcards the roles may hold, each for a reason AWS gives no way
# around: X-Ray takes no resource-level permission, a function's log streams
# are named by Lambda, and statement objects are named per bank and day.
ALLOWED_WILDCARD_ACTIONS_ON_STAR = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def _fresh(template: Path) -> bool:
    return template.exists() and template.stat().st_mtime >= max(p.stat().st_mtime for p in SOURCES)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = ROOT / "cdk.out" / f"{STAGE}.template.json"
    if not _fresh(path):
        out = tmp_path_factory.mktemp("cdk.out")
        env = dict(os.environ, CDK_OUTDIR=str(out), CDK_CONTEXT_JSON=json.dumps({"stage": STAGE}),
                   AWS_DEFAULT_REGION="ap-southeast-1", AWS_EC2_METADATA_DISABLED="true")
        for name in ("WALLET_DYNAMODB_ENDPOINT", "WALLET_SQS_ENDPOINT", "WALLET_S3_ENDPOINT"):
            env.pop(name, None)
        subprocess.run([sys.executable, "-m", "infra.app"], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL, timeout=280)
        path = out / f"{STAGE}.template.json"
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


@pytest.fixture(scope="module")
def code() -> dict[str, Any]:
    """What the code declares, read the way infra/ reads it (in a subprocess
    for the same reason as the template)."""
    script = (
        "import json; from infra import resources; from chalicelib import functions\n"
        "from chalicelib.alerts import KINDS\n"
        f"tables = resources.tables({STAGE!r}); queues = resources.queues({STAGE!r})\n"
        f"app = resources.load_app({STAGE!r})\n"
        "print(json.dumps({'tables': [dict(short=t.short, name=t.name, partition=t.partition.name,"
        " sort=t.sort.name if t.sort else None, indexes=[i.name for i in t.indexes], ttl=t.ttl_attribute)"
        " for t in tables], 'queues': [dict(short=q.short, name=q.name, dlq=q.dlq_name) for q in queues],"
        " 'sqs': {e.name: e.queue for e in app.event_sources if type(e).__name__ == 'SQSEventConfig'},"
        " 'schedules': [e.name for e in app.event_sources if type(e).__name__ == 'ScheduledEventConfig'],"
        " 'other_events': [e.name for e in app.event_sources if type(e).__name__ not in"
        " ('SQSEventConfig', 'ScheduledEventConfig')],"
        " 'functions': {n: dict(memory_mb=s.memory_mb, timeout_s=s.timeout_s, reserved=s.reserved_concurrency,"
        " tables=list(s.tables), writes=list(s.writes), sends=list(s.sends), consumes=s.consumes,"
        " batch_size=s.batch_size, max_concurrency=s.max_concurrency, secrets=list(s.secrets))"
        " for n, s in functions.declared().items()}, 'alert_kinds': list(KINDS)}))\n"
    )
    env = dict(os.environ)
    for name in ("WALLET_DYNAMODB_ENDPOINT", "WALLET_SQS_ENDPOINT", "WALLET_S3_ENDPOINT"):
        env.pop(name, None)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, capture_output=True,
                            text=True, timeout=120)
    loaded: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def _logical_of(template: dict[str, Any], kind: str, name_property: str) -> dict[str, str]:
    return {v["Properties"][name_property]: k for k, v in _of_type(template, kind).items()}


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Deployed functions by the declared name (wallet-prod-<name>)."""
    prefix = f"wallet-{STAGE}-"
    return {v["Properties"]["FunctionName"][len(prefix):]: v
            for v in _of_type(template, "AWS::Serverless::Function").values()}


def test_every_model_has_an_encrypted_protected_on_demand_table(template, code):
    tables = {v["Properties"]["TableName"]: v for v in _of_type(template, "AWS::DynamoDB::Table").values()}
    keys = _of_type(template, "AWS::KMS::Key")
    assert len(keys) == 1
    (key_id,) = keys
    assert keys[key_id]["Properties"]["EnableKeyRotation"] is True
    assert {t["name"] for t in code["tables"]} == set(tables)
    for table_def in code["tables"]:
        table = tables[table_def["name"]]
        props = table["Properties"]
        assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert props["DeletionProtectionEnabled"] is True
        assert props["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS",
                                             "KMSMasterKeyId": {"Fn::GetAtt": [key_id, "Arn"]}}
        schema = {k["KeyType"]: k["AttributeName"] for k in props["KeySchema"]}
        assert schema.get("HASH") == table_def["partition"] and schema.get("RANGE") == table_def["sort"]
        assert sorted(i["IndexName"] for i in props.get("GlobalSecondaryIndexes", [])) == table_def["indexes"]
        ttl = props.get("TimeToLiveSpecification")
        if table_def["ttl"]:
            assert ttl == {"AttributeName": table_def["ttl"], "Enabled": True}
        else:
            assert ttl is None


def test_history_and_wave_indexes_are_deployed(template):
    tables = {v["Properties"]["TableName"]: v["Properties"]
              for v in _of_type(template, "AWS::DynamoDB::Table").values()}
    transfers = tables[f"wallet-{STAGE}-transfers"]
    assert {"debit-history", "credit-history"} <= {i["IndexName"] for i in transfers["GlobalSecondaryIndexes"]}
    assert {"transfer_id", "debit_history", "credit_history", "history_sort"} <= {
        d["AttributeName"] for d in transfers["AttributeDefinitions"]}
    assert {"by-citizen", "by-wave"} <= {
        i["IndexName"] for i in tables[f"wallet-{STAGE}-registrations"]["GlobalSecondaryIndexes"]}
    # Every index a model declares is deployed, and no other (generated from the models: no drift).
    from chalicelib import db
    from chalicelib.models_index import import_all_models

    import_all_models()
    for model in db.registered_models():
        declared = {index.Meta.index_name for index in model._indexes.values()}
        deployed = {i["IndexName"] for i in tables[f"wallet-{STAGE}-{model.Meta.short_name}"].get(
            "GlobalSecondaryIndexes", [])}
        assert deployed == declared, model.Meta.short_name


def test_every_queue_has_a_dead_letter_queue_and_outlasts_its_consumer(template, code):
    queues = _of_type(template, "AWS::SQS::Queue")
    by_name = {v["Properties"]["QueueName"]: (k, v["Properties"]) for k, v in queues.items()}
    assert len(by_name) == 2 * len(code["queues"])
    timeouts = {f["consumes"]: f["timeout_s"] for f in code["functions"].values() if f["consumes"]}
    for queue in code["queues"]:
        _, props = by_name[queue["name"]]
        dlq_logical, dlq = by_name[queue["dlq"]]
        assert props["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": [dlq_logical, "Arn"]},
                                          "maxReceiveCount": 5}
        if queue["short"] in timeouts:
            assert props["VisibilityTimeout"] >= 6 * timeouts[queue["short"]]
        else:  # a bank reads it
            assert props["VisibilityTimeout"] >= 300
        assert props["SqsManagedSseEnabled"] is True and dlq["SqsManagedSseEnabled"] is True
        assert props["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_queues_refuse_plain_http(template):
    policies = _of_type(template, "AWS::SQS::QueuePolicy")
    covered = set()
    for policy in policies.values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}:
                covered |= {q["Ref"] for q in policy["Properties"]["Queues"]}
    assert covered == set(_of_type(template, "AWS::SQS::Queue"))


def test_every_handler_is_declared_and_deployed_with_its_settings(template, code):
    deployed = _functions(template)
    assert set(deployed) == set(code["functions"]) == {"api_handler", *code["sqs"], *code["schedules"]}
    assert code["other_events"] == []  # a new kind of handler needs its event source checked here
    for name, spec in code["functions"].items():
        props = deployed[name]["Properties"]
        assert props["MemorySize"] == spec["memory_mb"] and props["Timeout"] == spec["timeout_s"]
        assert props.get("ReservedConcurrentExecutions") == spec["reserved"]
        assert props["Tracing"] == "Active" and props["Runtime"] == "python3.11"
        assert props["LoggingConfig"]["LogFormat"] == "JSON"


def test_every_sqs_handler_reports_partial_batch_failures(template, code):
    deployed = _functions(template)
    queues = _logical_of(template, "AWS::SQS::Queue", "QueueName")
    assert code["sqs"], "the app has SQS handlers"
    for name, queue_name in code["sqs"].items():
        spec = code["functions"][name]
        (event,) = deployed[name]["Properties"]["Events"].values()
        assert event["Type"] == "SQS"
        props = event["Properties"]
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert props["Queue"] == {"Fn::GetAtt": [queues[queue_name.replace("wallet-local-", f"wallet-{STAGE}-")],
                                                 "Arn"]}
        assert props["BatchSize"] == spec["batch_size"]
        assert props["ScalingConfig"] == {"MaximumConcurrency": spec["max_concurrency"]}
        # one consumer cannot take every execution of the account
        assert spec["reserved"] is not None and spec["max_concurrency"] <= spec["reserved"]


def test_every_schedule_is_an_eventbridge_rule(template, code):
    deployed = _functions(template)
    for name in code["schedules"]:
        (event,) = deployed[name]["Properties"]["Events"].values()
        assert event["Type"] == "Schedule" and event["Properties"]["Schedule"].startswith(("rate(", "cron("))


def _statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for logical, policy in _of_type(template, "AWS::IAM::Policy").items():
        found += [(logical, s) for s in policy["Properties"]["PolicyDocument"]["Statement"]]
    for logical, role in _of_type(template, "AWS::IAM::Role").items():
        for inline in role["Properties"].get("Policies", []):
            found += [(logical, s) for s in inline["PolicyDocument"]["Statement"]]
        assert not role["Properties"].get("ManagedPolicyArns"), f"{logical}: managed policies grant more than it needs"
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_no_wildcard_action_and_only_the_unavoidable_wildcard_resources(template):
    statements = _statements(template)
    assert statements
    for logical, statement in statements:
        assert statement["Effect"] == "Allow", logical
        for action in _as_list(statement["Action"]):
            assert "*" not in action, f"{logical}: wildcard action {action}"
        for resource in _as_list(statement["Resource"]):
            text = json.dumps(resource)
            if resource == "*":
                assert set(_as_list(statement["Action"])) <= ALLOWED_WILDCARD_ACTIONS_ON_STAR, (logical, statement)
            elif "*" in text:
                # a function's own log streams, or the statement objects under statements/
                assert text.endswith(':log-stream:*"]]}') or text.endswith('/statements/*"]]}'), (logical, text)


def test_each_function_touches_only_its_declared_tables_queues_and_secrets(template, code):
    tables = _logical_of(template, "AWS::DynamoDB::Table", "TableName")
    queues = _logical_of(template, "AWS::SQS::Queue", "QueueName")
    secrets = _logical_of(template, "AWS::SecretsManager::Secret", "Name")
    deployed = _functions(template)
    roles = {props["Properties"]["Role"]["Fn::GetAtt"][0]: name for name, props in deployed.items()}
    policies = {k: p for k, p in _of_type(template, "AWS::IAM::Policy").items()
                if p["Properties"]["Roles"][0]["Ref"] in roles}
    assert {p["Properties"]["Roles"][0]["Ref"] for p in policies.values()} == set(roles)
    others = [p for p in _of_type(template, "AWS::IAM::Policy").values()
              if p["Properties"]["Roles"][0]["Ref"] not in roles]
    for other in others:  # API Gateway's logging role: its access log and nothing else
        text = json.dumps(other["Properties"]["PolicyDocument"])
        assert not any(f'"{logical}"' in text for logical in [*tables.values(), *queues.values(), *secrets.values()])
    for policy in policies.values():
        name = roles[policy["Properties"]["Roles"][0]["Ref"]]
        spec = code["functions"][name]
        text = json.dumps(policy["Properties"]["PolicyDocument"])
        for table, logical in tables.items():
            short = table[len(f"wallet-{STAGE}-"):]
            assert (f'"{logical}"' in text) == (short in spec["tables"]), (name, short)
        for queue, logical in queues.items():
            short = queue[len(f"wallet-{STAGE}-"):]
            assert (f'"{logical}"' in text) == (short in spec["sends"] or short == spec["consumes"]), (name, short)
        for secret, logical in secrets.items():
            short = secret.rsplit("/", 1)[-1]
            assert (f'"{logical}"' in text) == (short in spec["secrets"]), (name, short)
        writes = [s for s in policy["Properties"]["PolicyDocument"]["Statement"]
                  if "dynamodb:PutItem" in _as_list(s["Action"])]
        assert {tables_by_logical for s in writes for tables_by_logical in [s["Resource"]["Fn::GetAtt"][0]]} == {
            tables[f"wallet-{STAGE}-{short}"] for short in spec["writes"]}


def test_statement_bucket_is_private_encrypted_versioned_logged_and_tls_only(template):
    buckets = _of_type(template, "AWS::S3::Bucket")
    (logical,) = [k for k, v in buckets.items() if "LoggingConfiguration" in v["Properties"]]
    props = buckets[logical]["Properties"]
    assert buckets[logical]["DeletionPolicy"] == "Retain"
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert props["LoggingConfiguration"]["DestinationBucketName"]["Ref"] in buckets
    for bucket in buckets:
        policy = [p for p in _of_type(template, "AWS::S3::BucketPolicy").values()
                  if p["Properties"]["Bucket"] == {"Ref": bucket}]
        denies = [s for p in policy for s in p["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
        assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies), bucket


def test_secrets_are_generated_and_encrypted_with_the_stage_key(template):
    (key_id,) = _of_type(template, "AWS::KMS::Key")
    secrets = _of_type(template, "AWS::SecretsManager::Secret")
    by_name = {v["Properties"]["Name"]: v for v in secrets.values()}
    assert set(by_name) == {
        f"wallet/{STAGE}/id-pepper", f"wallet/{STAGE}/data-key", f"wallet/{STAGE}/qr-signing-key",
        f"wallet/{STAGE}/qr-previous-signing-key"}
    for name, secret in by_name.items():
        assert secret["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
        assert secret["DeletionPolicy"] == "Retain"
        if name.endswith("/qr-previous-signing-key"):
            # optional: no value ("none", which chalicelib/secrets.py reads as none) until a rotation
            assert secret["Properties"]["SecretString"] == "none" and "GenerateSecretString" not in secret["Properties"]
        else:
            assert secret["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32


def _rest_api(template: dict[str, Any]) -> dict[str, Any]:
    (api,) = _of_type(template, "AWS::Serverless::Api").values()
    props: dict[str, Any] = api["Properties"]
    return props


def test_api_is_throttled_per_stage_and_on_the_money_and_registration_routes(template):
    settings = _rest_api(template)["MethodSettings"]
    stage = [s for s in settings if s["ResourcePath"] == "/*"]
    assert stage and stage[0]["ThrottlingRateLimit"] > 0 and stage[0]["ThrottlingBurstLimit"] > 0
    assert stage[0]["DataTraceEnabled"] is False  # would log bodies: PINs, card codes
    routes = {(s["HttpMethod"], s["ResourcePath"]) for s in settings}
    for method, path in [("POST", "/v1/payments"), ("POST", "/v1/card-payments"),
                         ("POST", "/v1/merchant-payments"), ("POST", "/v1/registrations")]:
        assert (method, "/" + path.replace("/", "~1")) in routes
    for route in settings:
        assert route["ThrottlingRateLimit"] <= stage[0]["ThrottlingRateLimit"]
    (plan,) = _of_type(template, "AWS::ApiGateway::UsagePlan").values()
    assert plan["Properties"]["Throttle"]["RateLimit"] == stage[0]["ThrottlingRateLimit"]
    (api_stage,) = plan["Properties"]["ApiStages"]
    assert "/v1/payments/POST" in api_stage["Throttle"] and api_stage["Stage"] == STAGE


def test_gateway_responses_speak_the_contract(template):
    responses = _rest_api(template)["GatewayResponses"]
    # the deployed table is infra/gateway_responses.py's, with the app's codes (one table: errors.CODE_OF_STATUS)
    assert responses == gateway_responses()
    codes = set(CODE_OF_STATUS.values())
    for kind, response in responses.items():
        body = json.loads(response["ResponseTemplates"]["application/json"].replace("$context.requestId", "r1"))
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, kind
        assert body["error"]["code"] in codes and body["error"]["message"], kind
    assert responses["THROTTLED"]["StatusCode"] == "429"
    assert responses["THROTTLED"]["ResponseParameters"]["Headers"]["Retry-After"] == "'1'"
    assert "rate_limited" in responses["THROTTLED"]["ResponseTemplates"]["application/json"]
    # an unknown route is API Gateway's "Missing Authentication Token" 403 unless told otherwise
    assert responses["MISSING_AUTHENTICATION_TOKEN"]["StatusCode"] == "404"
    assert {"DEFAULT_4XX", "DEFAULT_5XX"} <= set(responses)


def test_access_log_has_the_route_template_and_no_token_card_code_or_query(template):
    setting = _rest_api(template)["AccessLogSetting"]
    fields = json.loads(setting["Format"])
    values = " ".join(fields.values())
    assert "$context.resourcePath" in values and "$context.status" in values
    for leaking in ("$context.path", "$input", "$method.request", "authorizer", "querystring", "header"):
        assert leaking.lower() not in values.lower(), leaking
    assert _rest_api(template)["TracingEnabled"] is True


def test_functions_read_only_their_declared_secrets(template, code):
    secrets = _logical_of(template, "AWS::SecretsManager::Secret", "Name")
    deployed = _functions(template)
    variables = {"id-pepper": "WALLET_ID_PEPPER", "data-key": "WALLET_DATA_KEY",
                 "qr-signing-key": "WALLET_QR_SIGNING_KEY",
                 "qr-previous-signing-key": "WALLET_QR_PREVIOUS_SIGNING_KEY"}
    for name, spec in code["functions"].items():
        env = deployed[name]["Properties"]["Environment"]["Variables"]
        named = {k for k in env if k.endswith("_SECRET_ARN")}
        assert named == {variables[s] + "_SECRET_ARN" for s in spec["secrets"]}, name
        for secret in spec["secrets"]:
            assert env[variables[secret] + "_SECRET_ARN"] == {"Ref": secrets[f"wallet/{STAGE}/{secret}"]}
        assert not set(variables.values()) & set(env)
    # the API verifies QRs: it reads the previous key too (during a rotation)
    assert "qr-previous-signing-key" in code["functions"]["api_handler"]["secrets"]


def _alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["Properties"]["AlarmName"][len(f"wallet-{STAGE}-"):]: v["Properties"]
            for v in _of_type(template, "AWS::CloudWatch::Alarm").values()}


def _metric_of(alarm: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(namespace, metric, dimensions) of an alarm, plain or math."""
    if "MetricName" in alarm:
        return [(alarm["Namespace"], alarm["MetricName"], {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])})]
    found = []
    for query in alarm["Metrics"]:
        stat = query.get("MetricStat")
        if stat:
            metric = stat["Metric"]
            found.append((metric["Namespace"], metric["MetricName"],
                          {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}))
    return found


def test_launch_day_alarms_watch_what_the_issue_names(template, code):
    alarms = _alarms(template)
    (topic,) = _of_type(template, "AWS::SNS::Topic")
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == [{"Ref": topic}] and alarm["AlarmDescription"], name
        assert alarm["TreatMissingData"] == "notBreaching", name
    queues = _logical_of(template, "AWS::SQS::Queue", "QueueName")
    for queue in code["queues"]:
        dlq = alarms[f"{queue['short']}-dlq"]
        assert dlq["Threshold"] == 0 and dlq["MetricName"] == "ApproximateNumberOfMessagesVisible"
        assert dlq["Dimensions"][0]["Value"] == {"Fn::GetAtt": [queues[queue["dlq"]], "QueueName"]}
        oldest = alarms[f"{queue['short']}-oldest-message"]
        assert oldest["MetricName"] == "ApproximateAgeOfOldestMessage" and oldest["Threshold"] > 0
    for name in code["functions"]:
        for kind in ("errors", "throttles"):
            ((namespace, _metric, dims),) = _metric_of(alarms[f"{name}-{kind}"])
            assert namespace == "AWS/Lambda" and dims == {"FunctionName": f"wallet-{STAGE}-{name}"}
    for table in code["tables"]:
        watched = _metric_of(alarms[f"{table['short']}-throttles"])
        assert {m for _, m, _ in watched} == {"ReadThrottleEvents", "WriteThrottleEvents"}
        assert all(d == {"TableName": table["name"]} for _, _, d in watched)
    assert _metric_of(alarms["api-5xx-rate"]) == [("AWS/ApiGateway", "5XXError",
                                                   {"ApiName": f"wallet-{STAGE}", "Stage": STAGE})]
    assert alarms["api-5xx-rate"]["Statistic"] == "Average"  # a rate, not a count
    (api,) = _of_type(template, "AWS::Serverless::Api").values()
    assert api["Properties"]["Name"] == f"wallet-{STAGE}"  # the dimension the alarm watches
    concurrency = alarms["account-concurrency"]
    assert concurrency["MetricName"] == "ConcurrentExecutions" and "Dimensions" not in concurrency
    assert _metric_of(alarms["activation-stalled"])[0][:2] == ("Wallet", "ActivationRedispatched")
    # The dimensions chalicelib/alerts emits (service and kind, tests/functional/test_alerts_api.py):
    # an alarm on another set would watch a metric that never has a value.
    assert _metric_of(alarms["reconciliation-breaks"]) == [
        ("Wallet", "Alerts", {"service": "wallet", "kind": "reconciliation_break"})]
    watched_kinds = {d["kind"] for _, name, d in _metric_of(alarms["alerts"]) if name == "Alerts"}
    assert all(d.keys() == {"service", "kind"} for _, _, d in _metric_of(alarms["alerts"]))
    assert watched_kinds | {"reconciliation_break"} == set(code["alert_kinds"])
    imbalance = alarms["ledger-imbalance"]
    assert (imbalance["MetricName"], imbalance["Threshold"], imbalance["Period"]) == ("LedgerImbalanceSatang", 0, 3600)
    # the ledger check that feeds it is a deployed schedule
    assert "ledger_check" in code["schedules"]


def test_one_launch_dashboard_shows_money_activation_queues_and_capacity(template, code):
    (board,) = _of_type(template, "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(board["Properties"]["DashboardBody"])
    assert board["Properties"]["DashboardName"] == f"wallet-{STAGE}-launch"
    for shown in ("Payments", "PaymentSatang", "Rejections", "LatencyMs", "WalletsCredited", "ActivationRedispatched",
                  "ApproximateAgeOfOldestMessage", "ConcurrentExecutions", "WriteThrottleEvents",
                  "LedgerImbalanceSatang", "Alerts", "5XXError"):
        assert shown in body, shown
    # the alerts graph searches the dimension set the alerts are emitted with
    assert "{Wallet,service,kind}" in body and "{Wallet,kind}" not in body


# -- the banks' accounts on their queues (BANKS.md), warm throughput (CAPACITY.md) ------------

BANK_ACCOUNTS = {"004": "111111111111", "006": "222222222222"}


@pytest.fixture(scope="module")
def banked_template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The prod stack with two banks' AWS accounts in the context."""
    out = tmp_path_factory.mktemp("cdk.banked")
    env = dict(os.environ, CDK_OUTDIR=str(out), AWS_DEFAULT_REGION="ap-southeast-1", AWS_EC2_METADATA_DISABLED="true",
               CDK_CONTEXT_JSON=json.dumps({"stage": STAGE, "bank_accounts": {STAGE: BANK_ACCOUNTS}}))
    for name in ("WALLET_DYNAMODB_ENDPOINT", "WALLET_SQS_ENDPOINT", "WALLET_S3_ENDPOINT"):
        env.pop(name, None)
    subprocess.run([sys.executable, "-m", "infra.app"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL,
                   timeout=280)
    loaded: dict[str, Any] = json.loads((out / f"{STAGE}.template.json").read_text())
    return loaded


def _queue_statements(template: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Queue name -> the statements of its resource policy."""
    names = {k: v["Properties"]["QueueName"] for k, v in _of_type(template, "AWS::SQS::Queue").items()}
    found: dict[str, list[dict[str, Any]]] = {name: [] for name in names.values()}
    for policy in _of_type(template, "AWS::SQS::QueuePolicy").values():
        for queue in policy["Properties"]["Queues"]:
            found[names[queue["Ref"]]] += policy["Properties"]["PolicyDocument"]["Statement"]
    return found


def _external(statements: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Account id -> the actions it is allowed (Allow statements with an AWS principal)."""
    allowed: dict[str, set[str]] = {}
    for statement in statements:
        if statement["Effect"] != "Allow":
            continue
        principals = statement.get("Principal", {}).get("AWS", [])
        for principal in principals if isinstance(principals, list) else [principals]:
            account = json.dumps(principal).split(":iam::")[1].split(":")[0]
            actions = statement["Action"]
            allowed.setdefault(account, set()).update(actions if isinstance(actions, list) else [actions])
    return allowed


def _tls_only(statements: list[dict[str, Any]]) -> bool:
    return any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
               and s["Principal"] == {"AWS": "*"} for s in statements)


def test_every_queue_is_tls_only_and_without_banks_in_the_context_no_account_is_let_in(template, code):
    statements = _queue_statements(template)
    assert set(statements) == {q["name"] for q in code["queues"]} | {q["dlq"] for q in code["queues"]}
    for name, queue in statements.items():
        assert _tls_only(queue), name
        assert _external(queue) == {}, name


def test_each_bank_reads_only_its_own_queue_and_sends_only_statuses(banked_template, code):
    statements = _queue_statements(banked_template)
    by_short = {q["short"]: q["name"] for q in code["queues"]}
    for name, queue in statements.items():
        assert _tls_only(queue), name
    read = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"}
    for bank, account in BANK_ACCOUNTS.items():
        assert _external(statements[by_short[f"bank-{bank}-instructions"]]) == {account: read}
    # a bank of the code without an account in the context: nobody outside
    assert _external(statements[by_short["bank-002-instructions"]]) == {}
    status = _external(statements[by_short["bank-status"]])
    assert set(status) == set(BANK_ACCOUNTS.values())
    assert all("sqs:SendMessage" in actions and not actions & {"sqs:ReceiveMessage", "sqs:DeleteMessage"}
               for actions in status.values())
    # and nothing else of the stage names a bank's account
    outside = {n for n, q in statements.items() if _external(q)}
    assert outside == {by_short["bank-status"]} | {by_short[f"bank-{b}-instructions"] for b in BANK_ACCOUNTS}


def test_a_bank_account_that_is_not_an_account_id_stops_the_synth():
    from infra.stack import bank_accounts_from_context, warm_throughput_from_context

    with pytest.raises(ValueError, match="12-digit"):
        bank_accounts_from_context({"prod": {"004": "1234"}}, "prod")
    with pytest.raises(ValueError, match="not a bank code"):
        bank_accounts_from_context({"prod": {"999": "111111111111"}}, "prod")
    assert bank_accounts_from_context(None, "prod") == {} == bank_accounts_from_context({"dev": {}}, "prod")
    assert bank_accounts_from_context('{"prod": {"004": "111111111111"}}', "prod") == {"004": "111111111111"}
    with pytest.raises(ValueError, match="at least 4000"):
        warm_throughput_from_context({"prod": {"accounts": 100}}, "prod")


def test_the_launch_tables_are_warmed_to_capacity_md_figures(template):
    planned = json.loads((ROOT / "cdk.json").read_text())["context"]["warm_throughput"][STAGE]
    warmed: dict[str, int] = {}
    prefix = f"wallet-{STAGE}-"
    for table in _of_type(template, "AWS::DynamoDB::Table").values():
        props = table["Properties"]
        short = props["TableName"][len(prefix):] if props["TableName"].startswith(prefix) else props["TableName"]
        if "WarmThroughput" in props:
            warmed[short] = props["WarmThroughput"]["WriteUnitsPerSecond"]
        for index in props.get("GlobalSecondaryIndexes", []):
            if "WarmThroughput" in index:
                warmed[f"{short}/{index['IndexName']}"] = index["WarmThroughput"]["WriteUnitsPerSecond"]
    assert warmed == planned
    # CAPACITY.md's peaks: registration day 6,700/s x 2 WCU on registrations and on benefits,
    # issuance 9,800 wallets/s x 2 WCU on accounts and on transfers: each warmed above its peak
    for name, peak in {"registrations": 13_400, "benefits": 13_400, "accounts": 20_000, "transfers": 19_600,
                       "phase-counters": 6_700, "registrations/by-wave": 6_700, "registrations/by-citizen": 6_700,
                       "transfers/credit-history": 9_800}.items():
        assert warmed[name] >= peak, name


def test_the_ledger_summary_reads_the_balances_stream_and_only_its_readers_may(template, code):
    """The accounts table streams NEW_AND_OLD_IMAGES; the reader and the
    ledger check (and no other function) may read that stream; an alarm
    watches how far behind the reader is."""
    tables = {t["Properties"]["TableName"]: t["Properties"]
              for t in _of_type(template, "AWS::DynamoDB::Table").values()}
    accounts = next(p for name, p in tables.items() if name.endswith("-accounts"))
    assert accounts["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert {"ledger_summary_reader", "ledger_check"} <= set(code["schedules"])
    readers = set()
    for logical, statement in _statements(template):
        if "dynamodb:GetRecords" in _as_list(statement["Action"]):
            readers.add(logical)
            assert set(_as_list(statement["Action"])) == {
                "dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords"}
            assert "StreamArn" in json.dumps(statement["Resource"])
    assert {logical.rstrip("0123456789ABCDEF") for logical in readers} == {
        "LedgerSummaryReaderPolicy", "LedgerCheckPolicy"}
    lag = _alarms(template)["ledger-summary-lag"]
    assert (lag["MetricName"], lag["Threshold"]) == ("LedgerSummaryLagSeconds", 600)
