"""Alarms and the launch dashboard of one stage.

Every alarm notifies the stage's SNS topic (``wallet-<stage>-alarms``; an
e-mail subscription with ``--context alarm_email=...``). What they watch:

| alarm | metric | fires when |
|---|---|---|
| api-5xx-rate | AWS/ApiGateway 5XXError (average = share of requests) | > 1% for 2 of 3 minutes |
| api-latency | AWS/ApiGateway Latency p99 | > 3 s for 5 minutes |
| <function>-errors | AWS/Lambda Errors | any, in 5 minutes |
| <function>-throttles | AWS/Lambda Throttles | any, in 5 minutes |
| account-concurrency | AWS/Lambda ConcurrentExecutions (account) | > 80% of the quota |
| <table>-throttles | AWS/DynamoDB Read/WriteThrottleEvents | any, in 5 minutes |
| <queue>-dlq | AWS/SQS ApproximateNumberOfMessagesVisible of the DLQ | > 0 |
| <queue>-oldest-message | AWS/SQS ApproximateAgeOfOldestMessage | above the queue's limit (a silent bank) |
| activation-stalled | Wallet ActivationRedispatched | any run re-sent after its lease, in 15 minutes |
| reconciliation-breaks | Wallet Alerts{service=wallet, kind=reconciliation_break} | any |
| ledger-imbalance | Wallet LedgerImbalanceSatang | > 0 in 2 hourly checks in a row |
| ledger-summary-lag | Wallet LedgerSummaryLagSeconds | > 600 s in 3 periods of 5 minutes (reader behind) |
| alerts | Wallet Alerts{service=wallet, kind=...} of every other kind | any |
"""
from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

__all__ = [
    "ACCOUNT_CONCURRENCY_QUOTA",
    "ALERT_KINDS",
    "BANK_QUEUE_OLDEST_S",
    "QUEUE_OLDEST_S",
    "Observability",
]

NAMESPACE = "Wallet"
# Lambda's regional quota by default; raise it (and this) before a launch.
ACCOUNT_CONCURRENCY_QUOTA = 1000
CONCURRENCY_ALARM_SHARE = 0.8
# The age past which a queue's oldest message means its reader is not reading.
QUEUE_OLDEST_S = 15 * 60
# A bank's instruction queue: the bank reads it; an hour unread is a silent bank.
BANK_QUEUE_OLDEST_S = 60 * 60
# chalicelib/alerts KINDS that are not watched by an alarm of their own
# (a test checks that every kind is watched by one alarm or the other).
ALERT_KINDS = ("contradicting_status", "exclusions_import_failed", "ledger_imbalance", "payout_timeout",
               "registrar_point_unusual", "tax_id_of_another_owner", "unknown_payout", "unparseable_message")
FIVE_MINUTES = cdk.Duration.minutes(5)


def _wallet_metric(name: str, statistic: str = "Sum", period: cdk.Duration = FIVE_MINUTES,
                   **dimensions: str) -> cloudwatch.Metric:
    return cloudwatch.Metric(namespace=NAMESPACE, metric_name=name, statistic=statistic, period=period,
                             dimensions_map={"service": "wallet", **dimensions})


def _search(expression: str, label: str, period_s: int = 300) -> cloudwatch.MathExpression:
    return cloudwatch.MathExpression(expression=expression, label=label, period=cdk.Duration.seconds(period_s),
                                     using_metrics={})


class Observability(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, stage: str, api_name: str,
                 functions: Mapping[str, str], tables: Mapping[str, str],
                 queues: Mapping[str, sqs.IQueue], dlqs: Mapping[str, sqs.IQueue],
                 alarm_email: str | None) -> None:
        """``functions``: declared name -> deployed name; ``tables``: short -> name."""
        super().__init__(scope, construct_id)
        self.stage = stage
        self.topic = sns.Topic(self, "AlarmTopic", topic_name=f"wallet-{stage}-alarms",
                               display_name=f"Wallet {stage} alarms", enforce_ssl=True)
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        self.alarms: list[cloudwatch.Alarm] = []
        api = {"ApiName": api_name, "Stage": stage}
        five_xx = cloudwatch.Metric(namespace="AWS/ApiGateway", metric_name="5XXError", statistic="Average",
                                    period=cdk.Duration.minutes(1), dimensions_map=api)
        self._alarm("api-5xx-rate", five_xx, threshold=0.01, periods=3, datapoints=2,
                    why="more than 1% of API requests answered 5xx")
        latency = cloudwatch.Metric(namespace="AWS/ApiGateway", metric_name="Latency", statistic="p99",
                                    period=cdk.Duration.minutes(1), dimensions_map=api)
        self._alarm("api-latency", latency, threshold=3000, periods=5, datapoints=5,
                    why="p99 API latency above 3 s for 5 minutes")
        for name, deployed in sorted(functions.items()):
            dims = {"FunctionName": deployed}
            self._alarm(f"{name}-errors", cloudwatch.Metric(
                namespace="AWS/Lambda", metric_name="Errors", statistic="Sum", period=FIVE_MINUTES,
                dimensions_map=dims), threshold=0, why=f"{deployed} raised errors")
            self._alarm(f"{name}-throttles", cloudwatch.Metric(
                namespace="AWS/Lambda", metric_name="Throttles", statistic="Sum", period=FIVE_MINUTES,
                dimensions_map=dims), threshold=0, why=f"{deployed} was throttled (concurrency)")
        self._alarm("account-concurrency", cloudwatch.Metric(
            namespace="AWS/Lambda", metric_name="ConcurrentExecutions", statistic="Maximum",
            period=cdk.Duration.minutes(1)), threshold=ACCOUNT_CONCURRENCY_QUOTA * CONCURRENCY_ALARM_SHARE,
            periods=3, datapoints=2, why="Lambda concurrency near the account's regional quota")
        for short, table in sorted(tables.items()):
            throttled = cloudwatch.MathExpression(
                expression="reads + writes", label=f"{table} throttle events", period=FIVE_MINUTES,
                using_metrics={kind: cloudwatch.Metric(
                    namespace="AWS/DynamoDB", metric_name=f"{metric}ThrottleEvents", statistic="Sum",
                    period=FIVE_MINUTES, dimensions_map={"TableName": table})
                    for kind, metric in (("reads", "Read"), ("writes", "Write"))})
            self._alarm(f"{short}-throttles", throttled, threshold=0, why=f"DynamoDB throttled {table}")
        for short, dlq in sorted(dlqs.items()):
            self._alarm(f"{short}-dlq", dlq.metric_approximate_number_of_messages_visible(
                statistic="Maximum", period=cdk.Duration.minutes(1)), threshold=0,
                why=f"messages in {short}'s dead-letter queue: see the README's runbook")
        for short, queue in sorted(queues.items()):
            limit = BANK_QUEUE_OLDEST_S if short.startswith("bank-") else QUEUE_OLDEST_S
            self._alarm(f"{short}-oldest-message", queue.metric_approximate_age_of_oldest_message(
                statistic="Maximum", period=cdk.Duration.minutes(1)), threshold=limit, periods=5, datapoints=5,
                why=f"{short}'s oldest message is older than {limit // 60} minutes: its reader is not reading")
        self._alarm("activation-stalled", _wallet_metric("ActivationRedispatched", period=cdk.Duration.minutes(15),
                                                         Op="credit"),
                    threshold=0, why="an activation run outlived its lease and was sent again")
        self._alarm("reconciliation-breaks", _wallet_metric("Alerts", kind="reconciliation_break"), threshold=0,
            why="a bank statement and the settled payouts disagree (GET /v1/admin/alerts)")
        self._alarm("ledger-imbalance", _wallet_metric("LedgerImbalanceSatang", statistic="Maximum",
                                                       period=cdk.Duration.hours(1)),
                    threshold=0, periods=2, datapoints=2,
                    why="the ledger check found funded != held in two hourly checks in a row")
        self._alarm("ledger-summary-lag", _wallet_metric("LedgerSummaryLagSeconds", statistic="Maximum"),
                    threshold=600, periods=3, datapoints=3,
                    why="the ledger summary's stream reader is behind (its as_of is old; records expire after 24 h)")
        self._alarm("ledger-negative-accounts", _wallet_metric("LedgerNegativeAccounts", statistic="Maximum",
                                                               period=cdk.Duration.hours(1)),
                    threshold=0, why="an account that may not go below zero did")
        other_alerts = cloudwatch.MathExpression(
            expression=" + ".join(f"a{i}" for i in range(len(ALERT_KINDS))), label="operator alerts",
            period=FIVE_MINUTES, using_metrics={f"a{i}": _wallet_metric("Alerts", kind=kind)
                                                for i, kind in enumerate(ALERT_KINDS)})
        self._alarm("alerts", other_alerts, threshold=0, why="new operator alerts (GET /v1/admin/alerts)")
        self.dashboard = self._dashboard(api, functions, tables, queues, dlqs)

    def _alarm(self, name: str, metric: cloudwatch.IMetric, *, threshold: float, why: str, periods: int = 1,
               datapoints: int = 1) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self, f"{name}-alarm", alarm_name=f"wallet-{self.stage}-{name}", alarm_description=why, metric=metric,
            threshold=threshold, evaluation_periods=periods, datapoints_to_alarm=datapoints,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        alarm.add_ok_action(actions.SnsAction(self.topic))
        self.alarms.append(alarm)
        return alarm

    def _dashboard(self, api: dict[str, str], functions: Mapping[str, str], tables: Mapping[str, str],
                   queues: Mapping[str, sqs.IQueue], dlqs: Mapping[str, sqs.IQueue]) -> cloudwatch.Dashboard:
        def gw(name: str, statistic: str = "Sum") -> cloudwatch.Metric:
            return cloudwatch.Metric(namespace="AWS/ApiGateway", metric_name=name, statistic=statistic,
                                     period=cdk.Duration.minutes(1), dimensions_map=api)

        def lam(name: str, deployed: str, statistic: str = "Sum") -> cloudwatch.Metric:
            return cloudwatch.Metric(namespace="AWS/Lambda", metric_name=name, statistic=statistic,
                                     period=cdk.Duration.minutes(1), dimensions_map={"FunctionName": deployed},
                                     label=deployed)

        wide, half, third = 24, 12, 8
        board = cloudwatch.Dashboard(self, "LaunchDashboard", dashboard_name=f"wallet-{self.stage}-launch",
                                     default_interval=cdk.Duration.hours(3))
        board.add_widgets(cloudwatch.TextWidget(
            markdown=f"# Wallet {self.stage}: launch\nRequests, money, activation, queues, capacity. Alarms "
                     "notify the SNS topic; operator alerts are at GET /v1/admin/alerts.", width=wide, height=2))
        board.add_widgets(cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=wide, height=4))
        board.add_widgets(
            cloudwatch.GraphWidget(title="API requests and errors", width=third, left=[gw("Count")],
                                   right=[gw("4XXError"), gw("5XXError")]),
            cloudwatch.GraphWidget(title="API latency (ms)", width=third,
                                   left=[gw("Latency", "p50"), gw("Latency", "p99"), gw("IntegrationLatency", "p99")]),
            cloudwatch.GraphWidget(title="Latency per use case, p99 (ms)", width=third, left=[_search(
                f"SEARCH('{{{NAMESPACE},service,UseCase}} MetricName=\"LatencyMs\"', 'p99', 300)",
                "latency p99")]))
        board.add_widgets(
            cloudwatch.GraphWidget(title="Payments by kind", width=third, left=[_search(
                f"SEARCH('{{{NAMESPACE},service,Kind}} MetricName=\"Payments\"', 'Sum', 60)", "payments")]),
            cloudwatch.GraphWidget(title="Paid (satang)", width=third, left=[_search(
                f"SEARCH('{{{NAMESPACE},service,Kind}} MetricName=\"PaymentSatang\"', 'Sum', 60)", "satang")]),
            cloudwatch.GraphWidget(title="Rejections by code", width=third, left=[_search(
                f"SEARCH('{{{NAMESPACE},service,UseCase,Code}} MetricName=\"Rejections\"', 'Sum', 300)",
                "rejections")]))
        board.add_widgets(
            cloudwatch.GraphWidget(title="Activation: wallets credited / expired", width=third, left=[
                _wallet_metric("WalletsCredited", period=cdk.Duration.minutes(1), Op="credit"),
                _wallet_metric("WalletsExpired", period=cdk.Duration.minutes(1), Op="expire")]),
            cloudwatch.GraphWidget(title="Activation: buckets done, runs re-sent", width=third, left=[
                _wallet_metric("ActivationBucketsDone", period=cdk.Duration.minutes(1), Op="credit")], right=[
                _wallet_metric("ActivationRedispatched", period=cdk.Duration.minutes(15), Op="credit")]),
            cloudwatch.GraphWidget(title="Payouts by bank and status; alerts", width=third, left=[_search(
                f"SEARCH('{{{NAMESPACE},service,Bank,Status}} MetricName=\"Payouts\"', 'Sum', 300)", "payouts")],
                right=[_search(f"SEARCH('{{{NAMESPACE},service,kind}} MetricName=\"Alerts\"', 'Sum', 300)",
                                      "alerts")]))
        board.add_widgets(
            cloudwatch.GraphWidget(title="Queues: oldest message (s)", width=third, left=[
                q.metric_approximate_age_of_oldest_message(statistic="Maximum", label=short)
                for short, q in sorted(queues.items())]),
            cloudwatch.GraphWidget(title="Queues: visible messages", width=third, left=[
                q.metric_approximate_number_of_messages_visible(statistic="Maximum", label=short)
                for short, q in sorted(queues.items())]),
            cloudwatch.GraphWidget(title="Dead-letter queues", width=third, left=[
                q.metric_approximate_number_of_messages_visible(statistic="Maximum", label=short)
                for short, q in sorted(dlqs.items())]))
        board.add_widgets(
            cloudwatch.GraphWidget(title="Lambda concurrency", width=third, left=[
                lam("ConcurrentExecutions", d, "Maximum") for d in sorted(functions.values())] + [
                cloudwatch.Metric(namespace="AWS/Lambda", metric_name="ConcurrentExecutions", statistic="Maximum",
                                  period=cdk.Duration.minutes(1), label="account")]),
            cloudwatch.GraphWidget(title="Lambda errors and throttles", width=third, left=[
                lam("Errors", d) for d in sorted(functions.values())], right=[
                lam("Throttles", d) for d in sorted(functions.values())]),
            cloudwatch.GraphWidget(title="DynamoDB throttle events", width=third, left=[
                cloudwatch.Metric(namespace="AWS/DynamoDB", metric_name="WriteThrottleEvents", statistic="Sum",
                                  period=cdk.Duration.minutes(1), dimensions_map={"TableName": t}, label=short)
                for short, t in sorted(tables.items())]))
        board.add_widgets(
            cloudwatch.GraphWidget(title="DynamoDB consumed write units", width=half, left=[
                cloudwatch.Metric(namespace="AWS/DynamoDB", metric_name="ConsumedWriteCapacityUnits",
                                  statistic="Sum", period=cdk.Duration.minutes(1), dimensions_map={"TableName": t},
                                  label=short) for short, t in sorted(tables.items())]),
            cloudwatch.GraphWidget(title="Ledger check: imbalance (satang), negative accounts", width=half, left=[
                _wallet_metric("LedgerImbalanceSatang", "Maximum", cdk.Duration.hours(1))], right=[
                _wallet_metric("LedgerNegativeAccounts", "Maximum", cdk.Duration.hours(1))]))
        return board

