"""``make run``: the whole local stack in the foreground until Ctrl-C or SIGTERM."""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from devstack import banksim, dynamodb_local, env, moto_server, resources, state
from devstack.clock import clock_path, clock_state
from devstack.metrics import AppLogTee, app_log_path
from devstack.procs import LOOPBACK, ChildProcess, StartupError, free_port, stop_with_parent
from devstack.pump import Pump
from devstack.server import ApiServer, load_app

__all__ = ["StackOptions", "run"]

DEFAULT_API_PORT = 8000
CHILD_CHECK_S = 1.0

log = logging.getLogger("devstack")


@dataclass(frozen=True)
class StackOptions:
    api_port: int = DEFAULT_API_PORT
    dynamodb_port: int = 0  # 0: any free port
    aws_port: int = 0
    db_path: Path | None = None
    schedule_rate_s: int = env.DEFAULT_SCHEDULE_RATE_S
    stage: str = "local"
    app_module: str = "app"


class _StopRequested(Exception):
    """Raised in the main thread by the first Ctrl-C / SIGTERM."""


def _install_signal_handlers(stop: threading.Event) -> None:
    def handler(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            log.info("already stopping")
            return
        stop.set()
        log.info("%s received: stopping", signal.Signals(signum).name)
        raise _StopRequested

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def _banner(opts: StackOptions, api: ApiServer, children: list[ChildProcess], pump: Pump) -> None:
    data = f"data folder {opts.db_path}" if opts.db_path else "in memory (lost on stop)"
    lines = [
        "",
        f"  Wallet API        {api.url}   (health: {api.url}/v1/health)",
        f"  Stage             {opts.stage}",
    ]
    for child in children:
        lines.append(f"  {child.name:<17} {child.url.removesuffix('/moto-api/')}   "
                     f"(pid {child.pid}, log {child.log_path})")
    lines += [
        f"  DynamoDB data     {data}",
        f"  Clock             {clock_state(opts.stage)} "
        f"(move it: .venv/bin/python -m devstack clock advance 30d)",
        f"  SQS handlers      {', '.join(s.name for s in pump.sqs_sources) or 'none'}",
        f"  Schedules         {', '.join(s.name for s in pump.schedules) or 'none'}"
        f" (every {opts.schedule_rate_s}s)",
        f"  Bank simulator    banks {', '.join(banksim.SIMULATED_BANKS)} "
        f"(steer it: .venv/bin/python -m devstack bank show | set 004 --outage-s 60)",
        "",
        "  Mint a token:     TOKEN=$(.venv/bin/python -m devstack token --role citizen "
        "--claim cid=1101700230708 --claim birth_date=2006-05-01 --claim district=1001 "
        "--claim nationality=TH | tail -1)",
        "  An operator:      .venv/bin/python -m devstack token --role operator --claim mfa=true",
        f"  Call the API:     curl -H \"Authorization: Bearer $TOKEN\" {api.url}/v1/me",
        "  Phase 3 end to end (another terminal): .venv/bin/python -m devstack scenario --citizens 5000",
        "  Stop:             Ctrl-C",
        "",
    ]
    print("\n".join(lines), flush=True)


def _configure_process(opts: StackOptions, ddb: ChildProcess, aws: ChildProcess) -> None:
    os.environ.pop("WALLET_JWKS_URL", None)
    os.environ.update(env.local_environment(ddb.url, aws.url.removesuffix("/moto-api/"),
                                            stage=opts.stage,
                                            schedule_rate_s=opts.schedule_rate_s,
                                            clock_file=str(clock_path(opts.stage))))
    from chalicelib.config import rebuild

    rebuild()


def run(opts: StackOptions) -> int:
    """Start everything, serve until a signal, stop everything; exit status."""
    stop_with_parent()
    stop = threading.Event()
    _install_signal_handlers(stop)
    children: list[ChildProcess] = []
    api: ApiServer | None = None
    pump: Pump | None = None
    banks: banksim.BankSimulator | None = None
    tee: AppLogTee | None = None
    status = 0
    try:
        started = time.monotonic()
        ddb = dynamodb_local.start(opts.dynamodb_port or free_port(), opts.db_path, wait=False)
        children.append(ddb)
        aws = moto_server.start(opts.aws_port or free_port(), wait=False)
        children.append(aws)
        for child in children:
            child.wait_ready()
            log.info("%s ready on %s (pid %d)", child.name, child.url, child.pid)
        if opts.db_path is None:
            # Fresh data, fresh clock: a move left by an earlier in-memory
            # run would date everything of this one.
            clock_path(opts.stage).unlink(missing_ok=True)
        _configure_process(opts, ddb, aws)
        created = resources.create_all()
        log.info("tables created: %s; queues: %s; bucket: %s",
                 ", ".join(created["tables"]) or "none new",
                 ", ".join(created["queues"]) or "none", created["bucket"])
        tee = _tee_app_output(opts.stage)
        app = load_app(opts.app_module)
        from chalicelib.config import get_settings

        settings = get_settings()
        try:
            api = ApiServer(app, LOOPBACK, opts.api_port).start()
        except OSError as exc:
            raise StartupError(f"cannot listen on {LOOPBACK}:{opts.api_port} ({exc.strerror}); "
                               f"is another stack running? Try: make run PORT=8010") from exc
        pump = Pump(app, settings.sqs_endpoint, settings.region, opts.schedule_rate_s).start()
        banks = banksim.BankSimulator(opts.stage, settings.sqs_endpoint, settings.s3_endpoint, settings.region,
                                      settings.queue_name, settings.statement_bucket).start()
        log.info("stack up in %.1f s", time.monotonic() - started)
        written = state.write(state.StackState(
            api_url=api.url, stage=opts.stage, dynamodb_endpoint=ddb.url,
            aws_endpoint=aws.url.removesuffix("/moto-api/"), pid=os.getpid(),
            schedule_rate_s=opts.schedule_rate_s, clock_file=str(clock_path(opts.stage)), app_log=str(tee.path)))
        log.info("stack state in %s (devstack commands find the stack there)", written)
        _banner(opts, api, children, pump)
        while not stop.wait(CHILD_CHECK_S):
            dead = [c for c in children if not c.running()]
            if dead:
                log.error("%s exited (code %s); stopping. Its log:\n%s", dead[0].name,
                          dead[0].popen.returncode, dead[0].log_tail())
                status = 1
                break
    except _StopRequested:
        pass
    except StartupError as exc:
        log.error("could not start the stack: %s", exc)
        status = 1
    except Exception:
        log.exception("could not start the stack")
        status = 1
    finally:
        # A second signal now only logs; the cleanup below must finish.
        stop.set()
        state.remove(os.getpid())
        if banks is not None:
            banks.stop()
        if pump is not None:
            pump.stop()
        if api is not None:
            api.stop()
        for child in reversed(children):
            child.stop()
            log.info("%s stopped (pid %d)", child.name, child.pid)
        log.info("stack stopped")
        if tee is not None and sys.stdout is tee:
            sys.stdout = sys.__stdout__
            tee.close()
    return status


def _tee_app_output(stage: str) -> AppLogTee:
    """The app's JSON lines (logs, EMF metrics) to .devstack/logs/app-<stage>.jsonl,
    as Lambda's would go to CloudWatch; other output stays on the terminal."""
    from chalicelib import observability

    path = app_log_path(stage)
    path.write_text("")  # this run's stream only
    tee = AppLogTee(sys.__stdout__ or sys.stdout, path)
    sys.stdout = tee
    observability.logger.registered_handler.setStream(tee)  # type: ignore[attr-defined]
    log.info("app logs and metrics in %s (python -m devstack metrics)", path)
    return tee


def configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    for noisy in ("botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
