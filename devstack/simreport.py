"""The report of ``python -m devstack simulate``: one self-contained HTML page.

Plots (matplotlib, Agg, each embedded as a base64 PNG ``<img>``): throughput
per operation over time, p50/p95/p99 latency per operation over time, errors
by code, queue depths, money by bucket over time; then the invariants, the
stages, the latency table and the notes. Nothing is fetched when it is
opened: no script, font or style from elsewhere. A one-line inline script
counts the plots the browser decoded into ``#render-check`` (the test reads
it from headless Chromium).
"""
from __future__ import annotations

import base64
import html
import io
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

if TYPE_CHECKING:
    from devstack.simulate import Call, Outcome

__all__ = ["latency_rows", "percentile", "render", "write"]

BIN_S = 5.0
TOP_OPERATIONS = 8
BUCKETS = ("treasury_satang", "wallets_satang", "merchants_spendable_satang", "merchants_withdrawable_satang",
           "in_flight_satang", "paid_out_satang", "returned_satang")


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile (q in 0..100) of ``values``; 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def latency_rows(calls: Sequence[Call]) -> list[tuple[str, int, str, str, str, int]]:
    by_op: dict[str, list[Call]] = defaultdict(list)
    for call in calls:
        by_op[call.op].append(call)
    rows = []
    for op, items in sorted(by_op.items(), key=lambda kv: -len(kv[1])):
        ms = [c.ms for c in items]
        errors = sum(1 for c in items if c.status == 0 or c.status >= 400)
        rows.append((op, len(items), f"{percentile(ms, 50):.1f}", f"{percentile(ms, 95):.1f}",
                     f"{percentile(ms, 99):.1f}", errors))
    return rows


def _legend(axes: Any, **kwargs: Any) -> None:
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize=7, **kwargs)


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def _top_ops(calls: Sequence[Call]) -> list[str]:
    return [op for op, _ in Counter(c.op for c in calls).most_common(TOP_OPERATIONS)]


def _bins(calls: Sequence[Call]) -> int:
    end = max((c.t for c in calls), default=0.0)
    return int(end // BIN_S) + 1


def plot_throughput(calls: Sequence[Call]) -> str:
    figure, axes = plt.subplots(figsize=(10, 3.6))
    bins = _bins(calls)
    for op in _top_ops(calls):
        counts = [0] * bins
        for c in calls:
            if c.op == op:
                counts[int(c.t // BIN_S)] += 1
        axes.plot([i * BIN_S for i in range(bins)], [n / BIN_S for n in counts], label=op)
    axes.set(title="Throughput per operation", xlabel="seconds into the run", ylabel="requests / s")
    _legend(axes, ncol=2)
    axes.grid(alpha=0.3)
    return _png(figure)


def plot_latency(calls: Sequence[Call]) -> str:
    ops = _top_ops(calls)[:6]
    figure, grid = plt.subplots(len(ops) or 1, 1, figsize=(10, 2.0 * max(1, len(ops))), sharex=True, squeeze=False)
    bins = _bins(calls)
    for axes, op in zip(grid[:, 0], ops, strict=False):
        per_bin: dict[int, list[float]] = defaultdict(list)
        for c in calls:
            if c.op == op:
                per_bin[int(c.t // BIN_S)].append(c.ms)
        xs = [i * BIN_S for i in range(bins) if per_bin.get(i)]
        for q, style in ((50, "-"), (95, "--"), (99, ":")):
            axes.plot(xs, [percentile(per_bin[int(x // BIN_S)], q) for x in xs], style, marker=".", label=f"p{q}")
        axes.set_ylabel("ms")
        axes.set_title(op, fontsize=9)
        _legend(axes, loc="upper right")
        axes.grid(alpha=0.3)
    grid[-1, 0].set_xlabel("seconds into the run")
    figure.suptitle("Latency p50 / p95 / p99 per operation")
    return _png(figure)


def plot_errors(calls: Sequence[Call]) -> str:
    errors = Counter(f"{c.status} {c.code or ''}".strip() for c in calls if c.status == 0 or c.status >= 400)
    figure, axes = plt.subplots(figsize=(10, 3.2))
    if errors:
        labels, counts = zip(*errors.most_common(15), strict=True)
        axes.barh(list(labels), list(counts))
        axes.invert_yaxis()
    else:
        axes.text(0.5, 0.5, "no error answered", ha="center", va="center")
    axes.set(title="Errors by status and code (planned violations included)", xlabel="answers")
    return _png(figure)


def plot_queues(queues: Sequence[tuple[float, dict[str, int]]]) -> str:
    figure, axes = plt.subplots(figsize=(10, 3.2))
    names = sorted({name for _, depths in queues for name in depths})
    for name in names:
        axes.plot([t for t, _ in queues], [d.get(name, 0) for _, d in queues], label=name)
    if not names:
        axes.text(0.5, 0.5, "queue depths not sampled (no local stack state for this URL)", ha="center", va="center")
    else:
        _legend(axes)
    axes.set(title="Queue depths (visible + in flight)", xlabel="seconds into the run", ylabel="messages")
    axes.grid(alpha=0.3)
    return _png(figure)


def plot_money(summaries: Sequence[tuple[float, dict[str, Any]]]) -> str:
    figure, axes = plt.subplots(figsize=(10, 3.6))
    samples = [(t, s) for t, s in summaries if s]
    for bucket in BUCKETS:
        values = [int(s.get(bucket) or 0) / 100 for _, s in samples]
        if any(values):
            axes.plot([t for t, _ in samples], values, marker=".", label=bucket.removesuffix("_satang"))
    axes.set(title="Money by bucket (baht, from the ledger summary)", xlabel="seconds into the run", ylabel="baht")
    _legend(axes, ncol=2)
    axes.grid(alpha=0.3)
    return _png(figure)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], classes: Sequence[str] | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


STYLE = """body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;font-size:13px}.ok{background:#e7f7e7}
.fail{background:#fbe3e3}img{max-width:100%;display:block;margin:1em 0}h1{font-size:22px}"""
CHECK_SCRIPT = """window.addEventListener('load',function(){var i=document.querySelectorAll('img.plot'),n=0;
for(var k=0;k<i.length;k++){if(i[k].complete&&i[k].naturalWidth>0){n++;}}
document.getElementById('render-check').textContent=n+' of '+i.length+' plots rendered';});"""


def render(outcome: Outcome) -> str:
    o = outcome.options
    plots = [("Throughput", plot_throughput(outcome.calls)), ("Latency", plot_latency(outcome.calls)),
             ("Errors", plot_errors(outcome.calls)), ("Queue depths", plot_queues(outcome.queues)),
             ("Money by bucket", plot_money(outcome.summaries))]
    verdict = "every invariant holds" if outcome.ok else "AN INVARIANT FAILED"
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Launch rehearsal {html.escape(str(outcome.counts.get('phase_id', '')))}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Launch rehearsal: {html.escape(verdict)}</h1>",
        f"<p>Stack {html.escape(o.url)}{html.escape(o.stack_note)}; {o.citizens:,} citizens, seed {o.seed}, "
        f"{outcome.counts.get('shops', 0)} shops and {outcome.counts.get('wholesalers', 0)} wholesalers; "
        f"started {html.escape(outcome.started_at)}, {outcome.duration_s:.0f} s, {len(outcome.calls):,} requests. "
        f"Phase {html.escape(str(outcome.counts.get('phase_id', '')))}.</p>",
        "<p id='render-check'>plots not checked (no script ran)</p>",
        "<h2>Invariants</h2>",
        _table(("invariant", "value", "holds"), [(c.name, c.value, "yes" if c.ok else "NO") for c in outcome.checks],
               ["ok" if c.ok else "fail" for c in outcome.checks]),
        "<h2>Stages</h2>",
        _table(("stage", "from s", "to s", "outcome"), [(n, f"{a:.1f}", f"{b:.1f}", note)
                                                        for n, a, b, note in outcome.stages]),
    ]
    for title, data in plots:
        parts.append(f"<h2>{html.escape(title)}</h2><img class='plot' alt='{html.escape(title)}' "
                     f"src='data:image/png;base64,{data}'>")
    parts += ["<h2>Latency per operation (ms)</h2>",
              _table(("operation", "calls", "p50", "p95", "p99", "errors"), latency_rows(outcome.calls)),
              "<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in outcome.notes) + "</ul>",
              f"<script>{CHECK_SCRIPT}</script></body></html>"]
    return "\n".join(parts)


def write(outcome: Outcome, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(outcome), encoding="utf-8")
    return path.resolve()
