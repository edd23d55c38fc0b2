"""DynamoDB Local as devstack/LoopbackDynamoDBLocal.java serves it (its own
request handler reads each body into a buffer of the body's size, where the
stock one zeroes 16 MiB a request) answers byte for byte as the stock handler
does: items, errors with their type, message and cancellation reasons, the
16 MiB limit, malformed and unknown requests, a browser's CORS and its
preflight; 7 MB of batches are read whole and the streams API still answers."""
from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import boto3
import pytest

from devstack import dynamodb_local
from devstack.env import dummy_aws
from devstack.paths import logs_dir
from devstack.procs import free_port

ITEM_BYTES = 350_000  # under DynamoDB's 400 KB item limit
BATCH_ITEMS = 20  # two 3.5 MB BatchWriteItems: each read in many chunks
MAX_REQUEST_BYTES = 16 * 1024 * 1024
AUTHORIZATION = ("AWS4-HMAC-SHA256 Credential=local/20261202/ap-southeast-1/dynamodb/aws4_request, "
                 "SignedHeaders=host, Signature=0")


def _client(service: str, endpoint: str):
    aws = dummy_aws()
    return boto3.client(service, endpoint_url=endpoint, region_name=aws["AWS_REGION"],
                        aws_access_key_id=aws["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=aws["AWS_SECRET_ACCESS_KEY"])


@pytest.fixture
def table(ddb_local_endpoint):
    ddb = _client("dynamodb", ddb_local_endpoint)
    name = f"launcher-{uuid.uuid4().hex[:8]}"
    ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST",
                     StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    try:
        yield ddb, name
    finally:
        ddb.delete_table(TableName=name)


@pytest.fixture(scope="module")
def stock_endpoint() -> Iterator[str]:
    """DynamoDB Local with its stock request handler (still on the loopback)."""
    child = dynamodb_local.start(free_port(), stock_handler=True)
    try:
        yield child.url
    finally:
        child.stop(remove_log=True)


def _raw(endpoint: str, method: str, target: str | None, body: bytes | None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """Status, the headers that carry meaning and the body of one request."""
    url = urlsplit(endpoint)
    sent = {"Content-Type": "application/x-amz-json-1.0", "Authorization": AUTHORIZATION, **(headers or {})}
    if target is not None:
        sent["X-Amz-Target"] = f"DynamoDB_20120810.{target}"
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    try:
        connection.request(method, "/", body=body, headers=sent)
        response = connection.getresponse()
        raw = response.read()
        kept = {k.lower(): v for k, v in response.getheaders() if k.lower() not in ("x-amzn-requestid", "date")}
        assert response.getheader("x-amzn-RequestId"), "every answer carries a request id"
        return response.status, kept, raw
    finally:
        connection.close()


def _same_table(endpoint: str, name: str) -> None:
    ddb = _client("dynamodb", endpoint)
    ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    ddb.put_item(TableName=name, Item={"k": {"S": "once"}, "v": {"N": "1"}})


def _requests(name: str) -> list[tuple[str, str | None, bytes | None, dict[str, str]]]:
    """Requests whose answers depend on ``name``'s table only: the session's
    emulator holds other tests' tables, the stock one does not."""
    def body(value: object) -> bytes:
        return json.dumps(value).encode()

    origin = {"Origin": "http://127.0.0.1:9999", "Access-Control-Request-Method": "POST"}
    return [
        ("POST", "GetItem", body({"TableName": name, "Key": {"k": {"S": "once"}}}), {}),
        ("POST", "GetItem", body({"TableName": f"{name}-absent", "Key": {"k": {"S": "x"}}}), {}),
        ("POST", "PutItem", body({"TableName": name, "Item": {"k": {"S": "once"}},
                                  "ConditionExpression": "attribute_not_exists(k)"}), {}),
        ("POST", "TransactWriteItems", body({"TransactItems": [
            {"Put": {"TableName": name, "Item": {"k": {"S": "once"}},
                     "ConditionExpression": "attribute_not_exists(k)"}},
            {"Put": {"TableName": name, "Item": {"k": {"S": "other"}}}}]}), {}),
        ("POST", "PutItem", body({"TableName": name,
                                  "Item": {"k": {"S": "huge"}, "v": {"S": "x" * MAX_REQUEST_BYTES}}}), {}),
        ("POST", "ListTables", b"not json", {}),
        ("POST", "NoSuchOperation", b"{}", {}),
        ("POST", "GetItem", body({"TableName": name, "Key": {"k": {"S": "once"}}}), {"Origin": "http://127.0.0.1:9999"}),
        ("OPTIONS", None, None, origin),
        ("OPTIONS", None, None, {**origin, "Access-Control-Request-Headers": "content-type,x-amz-target"}),
    ]


def _says(endpoint: str) -> str:
    port = int(urlsplit(endpoint).port or 0)
    return (logs_dir() / f"dynamodb-local-{port}.log").read_text()


def test_every_answer_is_the_stock_handlers(ddb_local_endpoint, stock_endpoint):
    assert "request bodies read at their own size" in _says(ddb_local_endpoint)
    assert "stock request handler" in _says(stock_endpoint)
    name = f"launcher-{uuid.uuid4().hex[:8]}"
    for endpoint in (ddb_local_endpoint, stock_endpoint):
        _same_table(endpoint, name)
    try:
        for method, target, body, headers in _requests(name):
            ours = _raw(ddb_local_endpoint, method, target, body, headers)
            stock = _raw(stock_endpoint, method, target, body, headers)
            assert ours == stock, f"{method} {target} {headers}: {ours[:2]} != {stock[:2]}"
            assert ours[0] != 500 or target == "ListTables", f"{method} {target}: {ours}"
    finally:
        for endpoint in (ddb_local_endpoint, stock_endpoint):
            _client("dynamodb", endpoint).delete_table(TableName=name)


def test_seven_megabytes_of_batches_are_read_whole(table):
    ddb, name = table
    items = {f"big-{i}": chr(ord("a") + i) * ITEM_BYTES for i in range(BATCH_ITEMS)}
    for start in (0, BATCH_ITEMS // 2):
        keys = list(items)[start:start + BATCH_ITEMS // 2]
        ddb.batch_write_item(RequestItems={name: [
            {"PutRequest": {"Item": {"k": {"S": k}, "v": {"S": items[k]}}}} for k in keys]})
    for key, value in items.items():
        assert ddb.get_item(TableName=name, Key={"k": {"S": key}})["Item"]["v"]["S"] == value


def test_the_streams_api_still_answers(ddb_local_endpoint, table):
    ddb, name = table
    ddb.put_item(TableName=name, Item={"k": {"S": "streamed"}})
    streams = _client("dynamodbstreams", ddb_local_endpoint)
    arn = ddb.describe_table(TableName=name)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    records = streams.get_records(ShardIterator=iterator)["Records"]
    assert [r["dynamodb"]["Keys"]["k"]["S"] for r in records] == ["streamed"]


def test_the_benchmarks_find_the_emulators_jit_compiler_threads():
    """The benchmarks count DynamoDB Local's CPU without its JIT compiler
    (bench.cpu): the compiler threads are found by their names, and with the
    benchmarks' JVM options none of them ends while requests come in, so
    their CPU never slips into the process total unseen."""
    from bench.cpu import JVM_OPTIONS, cpu_s, jit_cpu_s

    child = dynamodb_local.start(free_port(), stock_handler=True, jvm_options=JVM_OPTIONS)
    try:
        ddb = _client("dynamodb", child.url)
        name = f"jit-{uuid.uuid4().hex[:8]}"
        ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
        compiled = []
        for batch in range(3):
            for i in range(300):
                ddb.put_item(TableName=name, Item={"k": {"S": f"k{i}"}, "v": {"N": str(batch)}})
            compiled.append(jit_cpu_s(child.pid))
        # The JVM compiled the request path, and that time is seen apart and
        # only ever grows: no compiler thread went away with its time.
        assert 0 < compiled[0] <= compiled[1] <= compiled[2] < cpu_s(child.pid)
    finally:
        child.stop(remove_log=True)
    assert jit_cpu_s(None) == 0.0
