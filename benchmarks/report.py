"""Render BENCHMARKS.md from benchmarks/results/*.json (never typed by hand)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _load(results: Path) -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(results.glob("*.json"))}


def _machine(record: dict[str, Any]) -> str:
    m = record["machine"]
    quick = " — **quick run, not representative**" if record.get("quick") else ""
    return (f"_Measured {m['date']} on {m['cpu']} ({m['cores']} cores, {m['memory_mb']} MiB), "
            f"Python {m['python']}, Linux {m['kernel']}; `{record['command']}` took "
            f"{record['elapsed_s']} s{quick}._")


def _verdict(value: float, target: float, higher_is_better: bool = True) -> str:
    ok = value >= target if higher_is_better else value <= target
    return "met" if ok else "**not met**"


def api_section(record: dict[str, Any]) -> str:
    r = record["result"]
    c, ratios = r["configs"], r["ratios"]
    names = {
        "a": "(a) floor: bare FastAPI, same request model and JSON answer",
        "b": "(b) `/predict`, logging and metrics on",
        "c": "(c) `/predict/batch`, 1,000 readings per request",
        "d": "(d) `/predict`, logging off",
    }
    rows = "\n".join(
        f"| {names[k]} | {32 if k != 'c' else 4} | {c[k]['rps']:,.0f} | "
        f"{c[k]['p50_ms']:.1f} | {c[k]['p90_ms']:.1f} | {c[k]['p99_ms']:.1f} | "
        f"{', '.join(f'{x:,.0f}' for x in c[k]['runs_rps'])} |"
        for k in ("a", "b", "c", "d"))
    targets = [
        ("(b)/(a) throughput ≥ 0.7", f"{ratios['b_over_a_throughput']:.2f}",
         _verdict(ratios["b_over_a_throughput"], 0.7)),
        ("(b) p99 ≤ 2 × (a) p99", f"{ratios['b_over_a_p99']:.2f} ×",
         _verdict(ratios["b_over_a_p99"], 2.0, False)),
        ("(c) ≥ 100,000 rows/s", f"{ratios['c_rows_per_s']:,.0f} rows/s",
         _verdict(ratios["c_rows_per_s"], 100_000)),
        ("(b)/(d) ≥ 0.9 (logging nearly free)", f"{ratios['b_over_d_throughput']:.2f}",
         _verdict(ratios["b_over_d_throughput"], 0.9)),
        ("API resident memory ≤ 300 MB under this load", f"{r['api_peak_rss_mb']:.0f} MB peak",
         _verdict(r["api_peak_rss_mb"], 300, False)),
    ]
    target_rows = "\n".join(f"| {a} | {b} | {c} |" for a, b, c in targets)
    check = r.get("log_check")
    logged = ("" if check is None else
              f"\nServer (b) acknowledged {check['acknowledged']:,} predictions over its `/predict` and "
              f"`/predict/batch` runs; after its graceful stop the log held {check['logged']:,} "
              "(every acknowledged one, plus the requests in flight when wrk stopped counting).\n")
    return f"""## API throughput and latency

{_machine(record)}

wrk (1 thread) on loopback against one uvicorn worker each, configurations interleaved,
{r['rounds']} rounds of {r['seconds']:g} s; medians of the rounds. Requests are realistic
readings from the generator (256 different bodies for single readings, 4 different
1,000-reading batches).

| configuration | connections | requests/s | p50 ms | p90 ms | p99 ms | each round (req/s) |
|---|---|---|---|---|---|---|
{rows}

| target | figure | |
|---|---|---|
{target_rows}
{logged}"""


def models_section(record: dict[str, Any]) -> str:
    parts = [f"## Model choice\n\n{_machine(record)}\n\n"
             "Time-ordered split (first 75 % train, last 25 % held out); latency is the median "
             "of one `predict_proba` call, single-threaded. `rf100` is the original demo's "
             "100-tree random forest, `hgb` ours, `logreg` a linear baseline.\n"]
    for dataset, rows in record["result"].items():
        lines = "\n".join(
            f"| {r['estimator']} | {r['accuracy']:.4f} | {r['f1']:.4f} | {r['roc_auc']:.4f} | "
            f"{r['brier']:.4f} | {r['ece']:.4f} | {r['single_row_us']:,.0f} | {r['batch_32_us']:,.0f} | "
            f"{r['batch_1000_us']:,.0f} | {r['fit_s']:.1f} |" for r in rows)
        parts.append(f"""### {dataset} ({rows[0]['rows']:,} held-out rows)

| estimator | accuracy | F1 | ROC AUC | Brier | ECE | 1 row µs | 32 rows µs | 1,000 rows µs | fit s |
|---|---|---|---|---|---|---|---|---|---|
{lines}
""")
    return "\n".join(parts)


def _ui_row(label: str, run: dict[str, Any]) -> str:
    ui = run["ui"]
    return (f"| {label} | {ui['snapshots_listed']} | {run['snapshot_bytes'] / 2**20:.1f} | "
            f"{ui['idle_rss_mb']:.0f} | {ui['rss_after_load_mb']:.0f} | {ui['first_page_s']:.2f} |")


def snapshots_section(record: dict[str, Any]) -> str:
    r = record["result"]
    windows = "\n".join(
        f"| {w['rows']:,} | {min(w['rows'], 100_000):,} | {w['run_s']:.2f} | "
        f"{w['peak_rss_mb']:,.0f} | {w['import_and_setup_s']:.1f} | {w['idle_run_s'] * 1000:.0f} |"
        for w in r["windows"])
    by_rows = {w["rows"]: w for w in r["windows"]}
    h, b = r["history"], r["baseline"]
    hu, bu = h["ui"], b["ui"]
    per_full_mb = (bu["rss_after_load_mb"] - bu["idle_rss_mb"]) / b["windows"]
    per_full_s = bu["first_page_s"] / b["windows"]
    projected_mb = bu["idle_rss_mb"] + per_full_mb * h["windows"]
    targets = []
    if 100_000 in by_rows:
        w = by_rows[100_000]
        targets += [("100k-row window ≤ 5 s", f"{w['run_s']:.2f} s", _verdict(w["run_s"], 5, False)),
                    ("100k-row window ≤ 1 GB peak", f"{w['peak_rss_mb']:,.0f} MB",
                     _verdict(w["peak_rss_mb"], 1024, False))]
    targets += [
        ("incremental run, no new data, ≤ 1 s", f"{h['idle_run_s'] * 1000:.0f} ms in the service, "
         f"{h['idle_run_new_process_s'] * 1000:.0f} ms after a restart",
         _verdict(max(h["idle_run_s"], h["idle_run_new_process_s"]), 1, False)),
        (f"UI with {h['windows']} windows of history < 1 GB", f"{hu['rss_after_load_mb']:,.0f} MB",
         _verdict(hu["rss_after_load_mb"], 1024, False)),
        (f"UI first page load with {h['windows']} windows < 5 s", f"{hu['first_page_s']:.2f} s",
         _verdict(hu["first_page_s"], 5, False)),
    ]
    target_rows = "\n".join(f"| {a} | {b_} | {c} |" for a, b_, c in targets)
    return f"""## Snapshot job and Evidently UI

{_machine(record)}

One window of N rows, half of them labelled, written to the log exactly as the API writes
it; one job pass in a fresh process (`run` = the pass, excluding `import evidently` and set-up).
Above 100,000 rows the job gives Evidently a seeded uniform sample of 100,000 rows (and of
100,000 labelled rows); counts, label coverage and activation rate stay exact.

| rows in window | rows Evidently sees | run s | peak RSS MB | import + set-up s | idle re-run ms |
|---|---|---|---|---|---|
{windows}

History: {h['windows']} hourly windows ({h['windows'] // 24} days, 60 readings each, 80 % labelled)
through the job with the default retention: {h['window_snapshots']} windows kept individually
({h['full_detail']} of them with report pages, the rest lean) and {h['rollups']} daily roll-ups —
{h['snapshots']} snapshot files, {h['snapshot_bytes'] / 2**20:.1f} MB on disk, built in {h['build_s']:.0f} s.
The UI is started cold; "first page" = the first project listing plus the dashboard's data
(every panel's series) and the snapshot list, as the browser loads them.

| workspace | snapshots | on disk MB | UI RSS idle MB | UI RSS after load MB | first page s |
|---|---|---|---|---|---|
{_ui_row(f"{h['windows']} windows, with retention", h)}
{_ui_row(f"{b['windows']} windows, every one in full detail", b)}

Without retention each full-detail window costs the UI about {per_full_mb:.1f} MB and
{per_full_s:.2f} s of first load: {h['windows']} of them would need about
{projected_mb:,.0f} MB and {per_full_s * h['windows']:.0f} s (linear extrapolation).

| target | figure | |
|---|---|---|
{target_rows}
"""


def replay_section(record: dict[str, Any]) -> str:
    r = record["result"]
    target = r["target_readings_per_s"]

    def cell(x: float | None, fmt: str = ",.1f") -> str:
        return "–" if x is None else format(x, fmt)

    rows = "\n".join(
        f"| {run['name']} | {'/predict/batch' if run['endpoint'] == 'batch' else '/predict'} | "
        f"{cell(run.get('batch'), ',')} | {cell(run.get('concurrency'), ',')} | "
        f"{'as fast as answered' if run.get('rate') is None else format(run['rate'], ',.0f') + '/s'} | "
        f"{run['readings']:,} | **{run['readings_per_s']:,.0f}** | "
        f"{run['p50_ms']:.1f} | {run['p99_ms']:.1f} | "
        f"{', '.join(f'{x:,.0f}' for x in run.get('runs_readings_per_s', [run['readings_per_s']]))} |"
        for run in r["runs"])
    targets = [
        (f"replay engine drives ≥ {target:,.0f} readings/s through /predict/batch",
         f"{r['max_batch_readings_per_s']:,.0f} readings/s", _verdict(r["max_batch_readings_per_s"], target)),
        (f"paced at {target:,.0f}/s, the panel's engine keeps the pace (≥ 95 %)",
         f"{r['paced_readings_per_s']:,.0f} readings/s", _verdict(r["paced_readings_per_s"], 0.95 * target)),
        (f"paced at {target:,.0f}/s, `ventwatch simulate` keeps the pace (≥ 95 %)",
         f"{r['cli_readings_per_s']:,.0f} readings/s", _verdict(r["cli_readings_per_s"], 0.95 * target)),
    ]
    target_rows = "\n".join(f"| {a} | {b} | {c} |" for a, b, c in targets)
    return f"""## Replay throughput (control panel and `ventwatch simulate`)

{_machine(record)}

The replay engine the panel and the CLI share (`app.replay.engine`) against one API worker
with logging and metrics on, both on this machine's loopback; readings from the generator
with the `co2-offset` scenario; medians of the rounds shown. Acknowledged readings per
second of wall time (every reading acknowledged, none rejected), from the first request to
the last answer: a paced run sends its last batch (N − batch) / rate seconds after its first,
hence slightly over the rate. Latency is per request.

| run | endpoint | batch | in flight | rate | readings | acknowledged/s | p50 ms | p99 ms | each round |
|---|---|---|---|---|---|---|---|---|---|
{rows}

| target | figure | |
|---|---|---|
{target_rows}
"""


def detection_section(record: dict[str, Any]) -> str:
    r = record["result"]

    def ratio(x: float) -> str:
        return f"**{x:.2f}×**" if x >= 1 else f"{x:.2f}×"

    def spread(x: float | None) -> str:
        return "no floor" if x is None else (f"**{x:.2f}×**" if x < 1 else f"{x:.2f}×")

    rows = []
    for c in r["cells"]:
        scores, spreads = c["score_over_threshold"], c["spread_over_floor"]
        fault = c["faulty_sensor"]
        others = {f: s for f, s in scores.items() if f != fault}
        closest = max(others, key=others.__getitem__)
        accuracy = "–" if c["accuracy"] is None else f"{c['accuracy']:.3f}"
        faulty = f"{fault} {ratio(scores[fault])}, {spread(spreads.get(fault))}" if fault else "–"
        rows.append(f"| {c['scenario']} | {c['hour']:02d}:00 | {', '.join(c['flagged']) or '–'} | "
                    f"{', '.join(c['stuck']) or '–'} | {c['drift_share']:.0%} | {faulty} | "
                    f"{closest} {ratio(others[closest])} | {accuracy} |")
    table = "\n".join(rows)
    days = r["clean_days"]
    clean = "\n".join(
        f"| {d['season']} | {d['day']} ({'weekday' if d['weekday'] else 'weekend'}) | {d['seed']} | "
        f"{d['windows']} | {d['drift_flagged']} | {d['stuck_flagged']} | "
        f"{', '.join(f'{f} ×{n}' for f, n in d['features'].items()) or '–'} | "
        f"{'–' if d['min_spread_over_floor'] is None else format(d['min_spread_over_floor'], '.2f') + '×'} |"
        for d in days)
    total = sum(d["windows"] for d in days)
    flagged = sum(d["flagged"] for d in days)
    stuck = sum(d["stuck_flagged"] for d in days)
    header = ("| scenario | window | drifted | stuck | drift share | faulty sensor: score ÷ threshold, "
              "std ÷ floor | closest other (drift) | accuracy |")
    return f"""## Drift detection by scenario and hour of day

{_machine(record)}

What the snapshot job flags (default settings, {r['window']} windows of {r['readings_per_window']}
readings 15 s apart, every reading labelled by the scenario's ground truth), for each named
scenario of `ventwatch simulate` at night, at morning arrival and in the afternoon of a
Thursday. A feature is flagged as drifting when its drift score reaches its calibrated
threshold (score ÷ threshold ≥ 1, in bold), as stuck when its standard deviation falls below
the floor taken from the same hours of the reference (std ÷ floor < 1, in bold; "no floor"
where clean readings can be flat at those hours); the dataset drifts at a share of
{r['drift_share_threshold']:.0%}. This is a record of sensitivity, not a target: where the
day-to-day spread of the reference is wide (office hours), an offset of the same size stays
under the drift threshold, and then the accuracy of the labelled window is what shows it.

{header}
|---|---|---|---|---|---|---|---|
{table}

### False alarms on clean traffic

Clean readings from the generator for every hour of each day below, each day with a replay
seed of its own (its own weather, attendance and ventilation), unlabelled, through one job
pass: {flagged} of {total} clean windows were flagged, {stuck} of them as stuck. A window
counts once however many of its features were flagged; the features column counts windows
per feature. "Lowest std ÷ floor" is the closest any clean window came to the stuck floor.

| season | day | seed | windows | drifted | stuck | features flagged | lowest std ÷ floor |
|---|---|---|---|---|---|---|---|
{clean}
"""


def hourly_thresholds_section(record: dict[str, Any]) -> str:
    r = record["result"]
    w, refdays = r["windows"], r["reference_days"]
    hours = list(r["schemes"][0]["co2_offset_caught"])
    schemes = "\n".join(
        f"| {s['name']} | {s['clean_flagged']['weekday']} of {w['weekday']} | "
        f"{s['clean_flagged']['weekend']} of {w['weekend']} | "
        + " | ".join(f"{s['co2_offset_caught'][h]:.0%}" for h in hours)
        + f" | {s['co2_offset_caught_weekday']:.0%} |" for s in r["schemes"])
    co2 = "\n".join(f"| {c['hour']:02d}:00 | {c['clean_median']:.2f} | {c['clean_max']:.2f} | "
                     f"{c['offset_min']:.2f} | {c['offset_median']:.2f} |" for c in r["co2_scores"])
    offset = f"+{r['offset_ppm']:.0f} ppm"
    header = ("| thresholds | clean weekday windows flagged | clean weekend windows flagged | "
              + " | ".join(f"{offset} caught at {h.zfill(2)}:00" for h in hours)
              + f" | {offset} caught, any weekday hour |")
    return f"""## Drift thresholds per hour of day, evaluated

{_machine(record)}

Clean generator days after the training period ({', '.join(r['days'])}: a weekday and a
weekend day, each replayed with {r['seeds']} seeds, so {r['seeds']} different days of weather,
attendance and ventilation), scored hour by hour against the default bundle's seasonal
reference with the job's drift score, as they are and with the CO2 sensor reading {offset}.
Thresholds come from the reference's leave-one-day-out scores ({refdays['weekday']} weekdays and
{refdays['weekend']} weekend days per hour), the calibration quantile and margin of the
settings, pooled over all hours (what the job uses) or per kind of day and hour. A clean
window counts as flagged when any feature reaches its threshold.

{header}
|---|---|---|{'---|' * len(hours)}---|
{schemes}

CO2 scores of the weekday windows (normed Wasserstein), clean and with the offset: where the
offset's lowest score is below the clean windows' highest, no threshold on this score catches
every offset without flagging a clean day.

| hour | clean, median | clean, highest | {offset}, lowest | {offset}, median |
|---|---|---|---|---|
{co2}
"""


RENDERERS = {"models": models_section, "api": api_section, "snapshots": snapshots_section,
             "replay": replay_section, "detection": detection_section,
             "hourly-thresholds": hourly_thresholds_section}


def render(results: Path) -> str:
    records = _load(results)
    body = [RENDERERS[name](record) for name, record in records.items() if name in RENDERERS]
    return ("# Benchmarks\n\nGenerated by `make bench` (`python -m benchmarks.run`) from "
            "`benchmarks/results/*.json`; do not edit by hand. Machines here are shared and "
            "noisy, so every comparison runs side by side in one session and reports medians "
            "and ratios.\n\n" + "\n".join(body))
