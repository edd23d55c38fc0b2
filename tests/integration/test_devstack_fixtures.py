"""The shared fixtures give what they promise: fresh DynamoDB Local tables per
test with its 10-item transaction limit, moto with every queue and the
bucket, and the app served threaded over HTTP with local tokens accepted."""
from __future__ import annotations

import http.client
import json
import os
import socket
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
import requests

from chalicelib import db, queues

PARALLEL_REQUESTS = 16


def test_ddb_local_gives_each_test_its_own_tables_and_the_local_item_limit(ddb_local):
    assert ddb_local.transaction_item_limit == 10
    assert ddb_local.dynamodb_endpoint.startswith("http://127.0.0.1:")
    names = [m.Meta.table_name for m in db.registered_models()]
    assert names and all(n.startswith(ddb_local.resource_prefix + "-") for n in names)
    assert all(m.exists() for m in db.registered_models())
    table_names = {m.Meta.short_name for m in db.registered_models()}
    assert {"accounts", "transfers"} <= table_names


def test_moto_aws_has_every_queue_with_its_dead_letter_queue_and_the_bucket(moto_aws):
    sqs = boto3.client("sqs", region_name=moto_aws.region)
    for short in queues.QUEUES:
        url = queues.queue_url(short)
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])
        policy = json.loads(attrs["Attributes"]["RedrivePolicy"])
        assert int(policy["maxReceiveCount"]) == queues.MAX_RECEIVE_COUNT
        assert policy["deadLetterTargetArn"].endswith(moto_aws.queue_name(queues.dlq_short_name(short)))
        queues.send_json(short, {"hello": short})
        body = sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"]
        assert json.loads(body) == {"hello": short}
    s3 = boto3.client("s3", region_name=moto_aws.region)
    assert moto_aws.statement_bucket in {b["Name"] for b in s3.list_buckets()["Buckets"]}


def test_local_api_serves_concurrent_requests_and_accepts_local_tokens(local_api, mint_token):
    with ThreadPoolExecutor(PARALLEL_REQUESTS) as pool:
        statuses = list(pool.map(lambda _: requests.get(f"{local_api}/v1/health", timeout=10).status_code,
                                 range(PARALLEL_REQUESTS)))
    assert statuses == [200] * PARALLEL_REQUESTS
    token = mint_token("citizen", cid="1101700230708", birth_date="1990-01-01", district="1001",
                       nationality="TH")
    assert requests.get(f"{local_api}/v1/me", timeout=10).status_code == 401
    response = requests.get(f"{local_api}/v1/me", headers={"Authorization": f"Bearer {token}"},
                            timeout=10)
    assert response.status_code == 200, response.text


def test_local_api_answers_many_requests_on_one_kept_alive_connection(local_api):
    host, port = local_api.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        for _ in range(5):
            connection.request("POST", "/v1/payments", body=b'{"qr": 1}', headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            body = json.loads(response.read())
            assert response.status == 401 and body["error"]["code"] == "unauthenticated"
            assert response.getheader("Connection", "").lower() != "close"
    finally:
        connection.close()


def test_local_api_sends_responses_without_waiting_for_acknowledgements():
    """Nagle's algorithm is off on accepted connections: chalice writes the
    headers and the body of a response apart, and on a kept-alive connection
    the body would otherwise wait ~40 ms for the client's delayed ACK."""
    from devstack.server import _Handler

    with socket.create_server(("127.0.0.1", 0)) as listener, \
            socket.create_connection(listener.getsockname()) as _client:
        accepted, _ = listener.accept()
        with accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
            handler = object.__new__(_Handler)
            handler.request = accepted
            handler.setup()
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def _listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as /proc/net/tcp* write them) listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as handle:
                lines = handle.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


LOOPBACK_HEX = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}


@pytest.mark.skipif(not os.path.exists("/proc/net/tcp"),
                    reason="reads the listening sockets from Linux's /proc")
def test_dynamodb_local_and_moto_listen_on_the_loopback_only(ddb_local_endpoint, moto_server_endpoint):
    for url in (ddb_local_endpoint, moto_server_endpoint):
        port = int(url.rsplit(":", 1)[1].strip("/"))
        addresses = _listening_addresses(port)
        assert addresses, f"nothing listens on {url}"
        assert addresses <= LOOPBACK_HEX, f"{url} listens on {addresses}, not only the loopback"
