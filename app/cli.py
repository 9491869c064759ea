"""The `ventwatch` command: thin commands over plain functions."""

from __future__ import annotations

import logging
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from app.durations import format_duration, parse_duration
from app.settings import Settings, get_settings

if TYPE_CHECKING:
    from app.replay.context import ReplayContext

cli = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="ventwatch: serve, log and monitor an indoor air-quality ventilation model.")
log_cli = typer.Typer(no_args_is_help=True, help="Read the prediction and label logs.")
cli.add_typer(log_cli, name="log")
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _settings_with(**options: object) -> Settings:
    """Settings with command-line options applied as VENTWATCH_* variables.

    Through the environment, so that worker processes started by uvicorn read the same.
    """
    for name, value in options.items():
        if value is not None:
            os.environ[f"VENTWATCH_{name}"] = str(value)
    get_settings.cache_clear()
    try:
        return get_settings()
    except ValidationError as exc:
        raise _fail(str(exc)) from exc


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code=1)


@cli.command()
def train(
    dataset: Annotated[str, typer.Option(
        help="synthetic, uci-occupancy, or the path of a CSV")] = "synthetic",
    target: Annotated[str | None, typer.Option(help="Label column of a CSV dataset")] = None,
    out: Annotated[Path | None,
                   typer.Option(help="Bundle directory [default: VENTWATCH_MODEL_DIR]")] = None,
    drop: Annotated[str, typer.Option(help="Comma-separated features to leave out")] = "",
    data_dir: Annotated[Path | None, typer.Option(help="Directory of the UCI files")] = None,
    estimator: Annotated[str, typer.Option(help="hgb (default), rf100 or logreg")] = "hgb",
    seed: Annotated[int, typer.Option(help="Seed for the generator and the model")] = 0,
    if_missing: Annotated[bool, typer.Option(help="Do nothing if a bundle already exists")] = False,
) -> None:
    """Train a model and write its bundle (model, schema, model card, reference sample)."""
    from app.model.bundle import CARD_FILE, BundleError
    from app.model.train import load_dataset
    from app.model.train import train as train_bundle

    target_dir = out or get_settings().model_dir
    if if_missing and (target_dir / CARD_FILE).is_file():
        console.print(f"model bundle present at {target_dir}; not retraining")
        return
    try:
        ds = load_dataset(dataset, target=target, data_dir=data_dir,
                          drop=tuple(d.strip() for d in drop.split(",") if d.strip()), seed=seed)
        with console.status(f"training {estimator} on {dataset} ({len(ds.frame)} rows)…"):
            card = train_bundle(ds, target_dir, estimator=estimator, seed=seed)
    except (FileNotFoundError, ValueError, BundleError) as exc:
        raise _fail(str(exc)) from exc
    m = card.held_out
    console.print(f"[green]trained[/green] {card.name} {card.version} → {target_dir}")
    console.print(f"held-out ({m.rows} rows): accuracy {m.accuracy:.4f}  F1 {m.f1:.4f}  "
                  f"ROC AUC {m.roc_auc:.4f}  Brier {m.brier:.4f}  ECE {m.ece:.4f}")
    console.print(f"predict_proba: 1 row {card.latency.single_row_us:.0f} µs, "
                  f"1,000 rows {card.latency.batch_1000_us:.0f} µs")


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address [default: VENTWATCH_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [default: VENTWATCH_PORT]")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes [default: VENTWATCH_WORKERS]")] = None,
    log_level: Annotated[str, typer.Option(help="Server log level")] = "info",
) -> None:
    """Run the prediction API (uvicorn)."""
    import uvicorn

    from app.api.metrics import prepare_multiprocess_dir
    from app.model.bundle import BundleError, ModelBundle

    settings = _settings_with(HOST=host, PORT=port, WORKERS=workers)
    try:
        ModelBundle.load(settings.model_dir, with_model=False)
    except BundleError as exc:
        raise _fail(str(exc)) from exc
    if settings.workers > 1:
        prepare_multiprocess_dir(settings.run_dir / f"prometheus-{settings.port}")
    _setup_logging(log_level)
    uvicorn.run("app.api.main:create_app", factory=True, host=settings.host, port=settings.port,
                workers=settings.workers, access_log=False, log_level=log_level,
                timeout_graceful_shutdown=10)


@cli.command()
def snapshots(
    once: Annotated[bool, typer.Option("--once", help="One run, then exit (non-zero on failure)")] = False,
    every: Annotated[str | None,
                     typer.Option(help="Run interval, e.g. 30s [default: VENTWATCH_SNAPSHOT_EVERY]")] = None,
    port: Annotated[int | None, typer.Option(help="/metrics port [default: VENTWATCH_SNAPSHOT_PORT]")] = None,
) -> None:
    """Turn closed windows of the log into Evidently snapshots; serve their metrics on /metrics."""
    from app.model.bundle import BundleError

    _setup_logging()
    settings = _settings_with(SNAPSHOT_EVERY=every, SNAPSHOT_PORT=port)
    try:
        if once:
            from app.snapshots.service import run_once

            result = run_once(settings)
            console.print(f"{len(result.written)} windows and {len(result.rolled_up)} roll-ups "
                          f"snapshotted, {result.demoted} demoted to lean, {result.pending} "
                          f"windows still open — {result.seconds:.2f} s")
            return
        from app.snapshots.service import serve as serve_snapshots

        serve_snapshots(settings)
    except BundleError as exc:
        raise _fail(str(exc)) from exc


@cli.command()
def ui(
    host: Annotated[str | None, typer.Option(help="Bind address [default: VENTWATCH_UI_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [default: VENTWATCH_UI_PORT]")] = None,
) -> None:
    """Run the Evidently UI on the workspace (telemetry off; VENTWATCH_UI_SECRET guards writes,
    and without it the UI binds to loopback only)."""
    from app.panel.access import check_bind

    settings = get_settings()
    bind = host or settings.ui_host
    try:
        # Without the secret, whoever reaches the UI may edit or delete projects and snapshots.
        check_bind(bind, settings.ui_secret, setting="VENTWATCH_UI_SECRET", what="the Evidently UI")
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    settings.workspace_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DO_NOT_TRACK": "1"}
    if settings.ui_secret is not None:
        env["EVIDENTLY_SECRET"] = settings.ui_secret.get_secret_value()  # not in argv: ps shows argv
    executable = Path(sys.executable).parent / "evidently"
    args = [str(executable), "ui", "--workspace", str(settings.workspace_dir),
            "--host", bind, "--port", str(port or settings.ui_port)]
    os.execve(args[0], args, env)


@cli.command()
def report(
    start: Annotated[str | None, typer.Option(help="Range start (ISO 8601) [default: latest window]")] = None,
    end: Annotated[str | None, typer.Option(help="Range end, exclusive (ISO 8601)")] = None,
) -> None:
    """Write reports/data_drift_report.html and reports/classification_report.html."""
    from app.snapshots.html import write_reports

    _setup_logging("WARNING")
    t_start, t_end = _parse_time(start, None), _parse_time(end, None)
    if (t_start is None) != (t_end is None):
        raise _fail("give both --start and --end, or neither (latest window)")
    try:
        written = write_reports(get_settings(), t_start, t_end)
    except LookupError as exc:
        raise _fail(str(exc)) from exc
    console.print(f"window {written.window.start.isoformat()} → {written.window.end.isoformat()}: "
                  f"{written.rows} rows, {written.labelled} labelled")
    for path in written.files:
        console.print(f"wrote {path}")
    if len(written.files) == 1:
        console.print("no classification report: too few labelled rows in that window "
                      f"(at least {get_settings().snapshot_min_labelled} needed)")


@cli.command("alert-receiver")
def alert_receiver(
    host: Annotated[str | None, typer.Option(help="Bind address [default: VENTWATCH_ALERTS_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [default: VENTWATCH_ALERTS_PORT]")] = None,
    log_level: Annotated[str, typer.Option(help="Server log level")] = "info",
) -> None:
    """Alertmanager's webhook: record alerts to run/alerts.jsonl, serve them at GET /alerts."""
    from app.alerts.receiver import serve as serve_receiver

    settings = _settings_with(ALERTS_HOST=host, ALERTS_PORT=port)
    _setup_logging(log_level)
    serve_receiver(settings, log_level)


@cli.command("render-config", short_help="Write the Prometheus and Alertmanager configuration for 127.0.0.1.",
             help=(
    "Write prometheus.yml, alert_rules.yml and alertmanager.yml for processes on 127.0.0.1, "
    "rendered from the compose files at the top of the repository: only addresses, the rule file "
    "path and the links change (cAdvisor's job is left out: it needs Docker)."))
def render_config(
    out: Annotated[Path | None, typer.Option(
        help="Directory to write to [default: VENTWATCH_RUN_DIR/observability]")] = None,
) -> None:
    """Write the Prometheus and Alertmanager configuration for 127.0.0.1."""
    from app.observability.config import write_local

    settings = get_settings()
    paths = write_local(settings, out or settings.run_dir / "observability")
    for path in (paths.prometheus, paths.rules, paths.alertmanager):
        console.print(f"wrote {path}")


@cli.command(short_help="Start the whole stack as local processes (make run); Ctrl-C stops it.", help=(
    "Start the whole stack as local processes (what `make run` runs); Ctrl-C stops all of it. "
    "Runs `ventwatch train --if-missing`, then the API, snapshot service, Evidently UI, alert "
    "receiver and control panel, plus node-exporter, Alertmanager and Prometheus when their "
    "binaries are installed (make observability-deps). Snapshot windows default to 5m here (set "
    "VENTWATCH_SNAPSHOT_WINDOW to change) so that drift shows within minutes. Logs: "
    "VENTWATCH_RUN_DIR/logs/<service>.log, echoed here."))
def up(
    timeout: Annotated[float, typer.Option(help="Seconds to wait for every service to answer")] = 180.0,
) -> None:
    """Start the whole stack as local processes; Ctrl-C stops all of it."""
    import signal
    import time

    from app.stack.local import LocalStack, UrlTable
    from app.stack.supervisor import StartError

    os.environ.setdefault("VENTWATCH_SNAPSHOT_WINDOW", "5m")
    settings = _settings_with()

    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # SIGINT too: a shell that starts us in the background leaves SIGINT ignored.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)
    stack = LocalStack(settings)
    code = 0
    try:
        console.print(f"starting ventwatch (logs in {stack.supervisor.log_dir}) …")
        plan = stack.start(timeout)
        console.print("[bold]ventwatch is up[/bold] — Ctrl-C stops everything")
        for name, url, state in UrlTable.of(plan, settings).rows:
            console.print(f"  {name:<15} {url:<40} {state}", markup=False, highlight=False)
        console.print(f"snapshot windows of {format_duration(settings.snapshot_window)}, closed "
                      f"{format_duration(settings.snapshot_lateness)} after their end, checked every "
                      f"{format_duration(settings.snapshot_every)}; logs: {stack.supervisor.log_dir}")

        def echo(name: str, line: str) -> None:
            sys.stdout.write(f"{name:>14} | {line}\n")
            sys.stdout.flush()

        stack.supervisor.follow(echo)
        while True:
            time.sleep(0.5)
            gone = stack.supervisor.exited()
            if gone is not None:
                err.print(f"[red]{gone.spec.name} exited with code {gone.process.returncode}; "
                          f"stopping everything[/red]\n{gone.tail()}")
                code = 1
                break
    except StartError as exc:
        err.print(f"[red]error:[/red] {exc}")
        code = 1
    except KeyboardInterrupt:
        console.print("\nstopping …")
    finally:
        # A second Ctrl-C (or a SIGTERM/SIGHUP) must not cut the stopping short and orphan anything.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        stack.stop()
    console.print("stopped")
    raise typer.Exit(code)


def _cell(value: object) -> str:
    import pandas as pd

    return "" if value is None or pd.isna(value) else str(value)


def _parse_time(value: str | None, default: datetime | None) -> datetime | None:
    if value is None:
        return default
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _fail(f"{value!r} is not an ISO 8601 time (e.g. 2026-11-26T09:00)") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _parse_since(value: str) -> timedelta:
    parsed = parse_duration(value)
    if not isinstance(parsed, timedelta):
        raise _fail(f"--since {value!r}: use a number and a unit, e.g. 30m, 6h, 7d")
    return parsed


@log_cli.command("show")
def log_show(
    since: Annotated[str, typer.Option(help="Window ending now, e.g. 30m, 6h, 7d")] = "1d",
    start: Annotated[str | None,
                     typer.Option(help="Start (ISO 8601, UTC if no offset); overrides --since")] = None,
    end: Annotated[str | None, typer.Option(help="End, exclusive (ISO 8601)")] = None,
    scenario: Annotated[str | None, typer.Option(help="Only this scenario tag")] = None,
    limit: Annotated[int, typer.Option(help="Rows to print (the latest ones)")] = 20,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json")] = "table",
) -> None:
    """Predictions of a time range, joined with their labels."""
    from app.log.reader import read_predictions

    settings = get_settings()
    now = datetime.now(UTC)
    t_end = _parse_time(end, None)
    t_start = _parse_time(start, (t_end or now) - _parse_since(since))
    frame = read_predictions(settings.log_dir, t_start, t_end, scenario=scenario)
    labelled = int(frame["label"].notna().sum()) if len(frame) else 0
    err.print(f"{len(frame)} predictions in [{t_start:%Y-%m-%d %H:%M}, "
              f"{'now' if t_end is None else f'{t_end:%Y-%m-%d %H:%M}'}), {labelled} labelled"
              f"{f' ({labelled / len(frame):.0%})' if len(frame) else ''} — {settings.log_dir}")
    shown = frame.tail(limit)
    if fmt == "csv":
        shown.to_csv(sys.stdout, index=False)
    elif fmt == "json":
        sys.stdout.write(shown.to_json(orient="records", date_format="iso", lines=True))
    elif fmt == "table":
        if shown.empty:
            return
        cols = ["measured_at", "prediction_id", "scenario", "predicted_class", "probability", "label"]
        table = Table(*cols)
        for row in shown[cols].itertuples(index=False):
            table.add_row(*(_cell(v) for v in row))
        console.print(table)
    else:
        raise _fail(f"--format {fmt!r}: choose table, csv or json")


@log_cli.command("stats")
def log_stats(
    since: Annotated[str, typer.Option(help="Window ending now, e.g. 6h, 7d")] = "1d",
) -> None:
    """Predictions, labels and activation rate per hour."""
    from app.log.reader import connect, read_predictions

    settings = get_settings()
    frame = read_predictions(settings.log_dir, datetime.now(UTC) - _parse_since(since), None)
    if frame.empty:
        err.print("no predictions in that range")
        return
    con = connect()
    per_hour = con.execute("""
        SELECT date_trunc('hour', measured_at) AS hour, count(*) AS predictions,
               count(label) AS labelled, round(avg(predicted_class), 3) AS activation_rate,
               round(avg(CASE WHEN label IS NOT NULL THEN (label = predicted_class)::INT END), 3)
                   AS accuracy
        FROM frame GROUP BY 1 ORDER BY 1""").df()
    table = Table(*per_hour.columns)
    for row in per_hour.itertuples(index=False):
        table.add_row(*(_cell(v) for v in row))
    console.print(table)


def _replay_context(settings: Settings) -> ReplayContext:
    from app.model.bundle import BundleError
    from app.replay.context import ReplayContext

    try:
        return ReplayContext.load(settings)
    except BundleError as exc:
        raise _fail(str(exc)) from exc


def _print_progress_summary(progress: object) -> None:
    from app.replay.stats import Progress

    assert isinstance(progress, Progress)
    lat = progress.latency_ms
    console.print(f"sent {progress.sent:,} of {progress.total:,} readings in {progress.requests:,} requests "
                  f"({progress.elapsed_s:.1f} s, {progress.readings_per_s:,.0f} acknowledged/s): "
                  f"[green]{progress.acknowledged:,} acknowledged[/green], "
                  f"{progress.rejected_total:,} rejected, {progress.errors_total:,} errors")
    if lat:
        console.print(f"request latency: p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms, "
                      f"p99 {lat['p99']:.1f} ms")
    for title, counts in (("rejected", progress.rejected), ("errors", progress.errors)):
        for reason, n in sorted(counts.items(), key=lambda kv: -kv[1]):
            example = progress.examples.get(reason, "")
            console.print(f"  {title}: {n:,} × {reason}" + (f" — e.g. {example}" if example else ""))


def _label_summary(report: object) -> None:
    from app.replay.labels import LabelReport

    assert isinstance(report, LabelReport)
    console.print(
        f"labels: {report.accepted:,} accepted of {report.submitted:,} submitted "
        f"({report.flipped:,} flipped as noise); {report.predictions:,} predictions in range, "
        f"{report.already_labelled:,} already labelled, {report.too_recent:,} too recent for the delay, "
        f"{report.no_truth:,} without known truth; label coverage now {report.coverage:.1%}")
    if report.truth_from:
        console.print("truth from: " + ", ".join(f"{k} ({v:,})" for k, v in report.truth_from.items()))
    for reason, n in report.rejected.items():
        console.print(f"  refused: {n:,} × {reason}")


@cli.command()
def simulate(
    scenario: Annotated[str, typer.Option(help="Drift scenario (see --list)")] = "clean",
    source: Annotated[str, typer.Option(
        help="generator, reference (the model's reference sample) or the path of a CSV")] = "generator",
    minutes: Annotated[float | None, typer.Option(
        help="Minutes of sensor time to replay [default: 60 unless --count]")] = None,
    count: Annotated[int | None, typer.Option(help="Number of readings (instead of --minutes)")] = None,
    rate: Annotated[float, typer.Option(help="Readings per second of wall time")] = 50.0,
    compression: Annotated[float, typer.Option(
        help="Sensor seconds per wall second (60: an hour of readings in a minute)")] = 60.0,
    start: Annotated[str, typer.Option(
        help="measured_at of the first reading: auto (recent past, so windows close), now, or ISO 8601")]
        = "auto",
    endpoint: Annotated[str, typer.Option(help="batch (/predict/batch) or single (/predict)")] = "batch",
    batch_size: Annotated[int | None, typer.Option(help="Readings per batch [default: ~0.2 s of traffic]")]
        = None,
    concurrency: Annotated[int, typer.Option(help="Requests in flight at once")] = 2,
    seed: Annotated[int, typer.Option(help="Seed of the generator, noise and label choice")] = 0,
    labels: Annotated[float, typer.Option(
        help="Then label this share of the replayed predictions (0 to 1; 0: no labels)")] = 0.0,
    label_delay: Annotated[str, typer.Option(
        help="Sensor time before a label exists, e.g. 10m: the newest readings stay unlabelled")] = "0s",
    label_noise: Annotated[float, typer.Option(help="Share of labels flipped (0 to 1)")] = 0.0,
    api_url: Annotated[str | None, typer.Option(help="API address [default: VENTWATCH_API_URL]")] = None,
    list_scenarios: Annotated[bool, typer.Option("--list", help="List the scenarios and exit")] = False,
) -> None:
    """Replay readings through the API with a drift scenario, then optionally submit labels."""
    import httpx
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from app.replay.engine import ApiUnavailable, ReplayConfig, check_api
    from app.replay.job import ReplayJob
    from app.replay.labels import LabelError, LabelRequest
    from app.replay.scenarios import SCENARIOS, named

    if list_scenarios:
        table = Table("scenario", "what it does")
        for s in SCENARIOS.values():
            table.add_row(s.name, f"{s.title}: {s.description}")
        console.print(table)
        return
    settings = _settings_with(API_URL=api_url)
    context = _replay_context(settings)
    if not 0 <= labels <= 1 or not 0 <= label_noise <= 1:
        raise _fail("--labels and --label-noise are shares between 0 and 1 (e.g. 0.8)")
    delay = parse_duration(label_delay)
    if not isinstance(delay, timedelta):
        raise _fail(f"--label-delay {label_delay!r}: use a number and a unit, e.g. 10m")
    kind, csv_path = (source, None) if source in ("generator", "reference") else ("csv", Path(source))
    try:
        config = ReplayConfig.model_validate({
            "scenario": named(scenario), "source": kind, "csv_path": csv_path, "seed": seed, "rate": rate,
            "compression": compression, "count": count, "minutes": minutes, "start": start,
            "endpoint": endpoint, "batch_size": batch_size, "concurrency": concurrency})
        prepared = context.prepare(config)
    except (ValidationError, ValueError) as exc:  # ScenarioError and SourceError are ValueErrors
        detail = "; ".join(e["msg"] for e in exc.errors()) if isinstance(exc, ValidationError) else str(exc)
        raise _fail(detail) from exc
    tl = prepared.timeline
    console.print(f"[bold]{config.scenario.name}[/bold]: {prepared.count:,} readings from "
                  f"{kind if kind != 'csv' else csv_path}, measured {tl.start:%Y-%m-%d %H:%M:%S} → "
                  f"{tl.end:%H:%M:%S} UTC ({tl.interval.total_seconds():g} s apart), sent at {rate:g}/s "
                  f"to {settings.api_url} ({'/predict/batch' if endpoint == 'batch' else '/predict'}, "
                  f"{prepared.batch_size} per request, {concurrency} at once)")
    for line in config.scenario.summary(context.schema):
        console.print(f"  drift: {line}")
    console.print(f"  ground truth: {prepared.truth_rule}")
    for warning in prepared.warnings:
        err.print(f"[yellow]warning:[/yellow] {warning}")
    try:
        with context.client(timeout=10) as client:
            check_api(client, context.schema)
    except ApiUnavailable as exc:
        raise _fail(str(exc)) from exc
    job = ReplayJob(context, prepared)
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[detail]}"), TimeElapsedColumn(), console=err,
                      transient=False) as bar:
            task = bar.add_task("replay", total=prepared.count, detail="")
            job.start()
            try:
                while not job.wait(0.2):
                    p = job.progress
                    if p is not None:
                        bar.update(task, completed=p.sent - p.in_flight,
                                   detail=f"{p.acknowledged:,} ok · {p.rejected_total:,} rejected · "
                                          f"{p.errors_total:,} errors")
            except KeyboardInterrupt:
                err.print("stopping after the requests in flight…")
                job.stop()
                job.wait()
            p = job.progress
            if p is not None:
                bar.update(task, completed=p.sent - p.in_flight,
                           detail=f"{p.acknowledged:,} ok · {p.rejected_total:,} rejected · "
                                  f"{p.errors_total:,} errors")
    finally:
        job.stop()
    if job.error is not None:
        raise _fail(job.error)
    result = job.result
    assert result is not None
    _print_progress_summary(result.progress)
    if result.progress.aborted:
        raise _fail(f"replay aborted: {result.progress.aborted}")
    if result.progress.stopped:
        console.print("[yellow]stopped before the end[/yellow]")
    if labels > 0 and result.prediction_ids:
        with console.status("waiting for the API to publish the predictions to the log…"):
            missing = context.wait_until_logged(result)
        if missing:
            err.print(f"[yellow]warning:[/yellow] {missing:,} acknowledged predictions are not in "
                      f"{settings.log_dir} yet; labelling those that are (is VENTWATCH_LOG_DIR the "
                      "API's log directory?)")
        request = LabelRequest(start=result.start, end=result.end, scenario=result.scenario,
                               prediction_ids=tuple(result.prediction_ids), coverage=labels,
                               delay=delay, noise=label_noise, seed=seed)
        try:
            _label_summary(context.label(request))
        except (LabelError, httpx.HTTPError) as exc:
            raise _fail(f"labels: {exc}") from exc
    if result.progress.errors_total:
        raise _fail(f"{result.progress.errors_total:,} readings got no answer from the API")


@cli.command()
def label(
    since: Annotated[str, typer.Option(help="Range ending now, e.g. 30m, 6h, 7d")] = "1d",
    start: Annotated[str | None, typer.Option(help="Range start (ISO 8601); overrides --since")] = None,
    end: Annotated[str | None, typer.Option(help="Range end, exclusive (ISO 8601)")] = None,
    scenario: Annotated[str | None, typer.Option(help="Only predictions with this scenario tag")] = None,
    coverage: Annotated[float, typer.Option(help="Share of the eligible predictions to label")] = 1.0,
    delay: Annotated[str, typer.Option(
        help="Sensor time before a label exists: readings newer than newest - delay stay unlabelled")] = "0s",
    noise: Annotated[float, typer.Option(help="Share of labels flipped (0 to 1)")] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of the choice and the flips")] = 0,
    api_url: Annotated[str | None, typer.Option(help="API address [default: VENTWATCH_API_URL]")] = None,
) -> None:
    """Submit ground truth for logged predictions of a time range (and scenario)."""
    import httpx

    from app.replay.labels import LabelError, LabelRequest

    settings = _settings_with(API_URL=api_url)
    context = _replay_context(settings)
    wait = parse_duration(delay)
    if not isinstance(wait, timedelta):
        raise _fail(f"--delay {delay!r}: use a number and a unit, e.g. 10m")
    t_end = _parse_time(end, None)
    t_start = _parse_time(start, (t_end or datetime.now(UTC)) - _parse_since(since))
    try:
        request = LabelRequest(start=t_start, end=t_end, scenario=scenario, coverage=coverage, delay=wait,
                               noise=noise, seed=seed)
    except ValidationError as exc:
        raise _fail("; ".join(e["msg"] for e in exc.errors())) from exc
    try:
        report = context.label(request)
    except httpx.HTTPError as exc:
        raise _fail(f"the API at {settings.api_url} does not answer ({exc}); start it with "
                    "`ventwatch serve` or set VENTWATCH_API_URL") from exc
    except LabelError as exc:
        raise _fail(str(exc)) from exc
    _label_summary(report)
    if report.predictions == 0:
        err.print(f"no predictions in that range in {settings.log_dir}")


@cli.command()
def panel(
    host: Annotated[str | None, typer.Option(help="Bind address [default: VENTWATCH_PANEL_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [default: VENTWATCH_PANEL_PORT]")] = None,
) -> None:
    """Run the Streamlit control panel (headless, telemetry off; loopback only without a password)."""
    from app.panel.access import check_bind, password_of

    settings = _settings_with(PANEL_HOST=host, PANEL_PORT=port)
    try:
        check_bind(settings.panel_host, settings.panel_password)
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    import control_panel  # installed next to app (a checkout, or the image's site-packages)

    script = Path(control_panel.__file__).resolve().parent / "streamlit_app.py"
    executable = Path(sys.executable).parent / "streamlit"
    args = [str(executable), "run", str(script),
            "--server.address", settings.panel_host, "--server.port", str(settings.panel_port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none", "--server.runOnSave", "false",
            "--client.toolbarMode", "minimal", "--theme.base", "light"]
    guard = "password required" if password_of(settings.panel_password) else "no password: loopback only"
    console.print(f"control panel on http://{settings.panel_host}:{settings.panel_port} ({guard})")
    os.execve(args[0], args, {**os.environ, "DO_NOT_TRACK": "1"})


def main() -> None:
    cli()

