"""Every kind of bad input gets a 4xx that names the field and the rule; none reaches the log."""

from __future__ import annotations

import errno
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from app import procs
from app.api.main import create_app
from app.log.ids import new_id
from app.log.reader import read_predictions
from app.settings import Settings

GOOD = {"temperature_c": 22.0, "humidity_pct": 40.0, "co2_ppm": 800.0, "pm25_ugm3": 8.0,
        "pm10_ugm3": 15.0, "tvoc_ppb": 150.0, "co_ppm": 0.3, "occupancy": 10}
BODY_LIMIT = 64 * 1024
BATCH_LIMIT = 100


def raw(text: str) -> dict[str, object]:
    return {"content": text.encode(), "headers": {"Content-Type": "application/json"}}


def good_json(**changes: object) -> dict[str, object]:
    return {"json": {**GOOD, **changes}}


def without(field: str) -> dict[str, object]:
    return {"json": {k: v for k, v in GOOD.items() if k != field}}


# (case, path, request kwargs, status, text the message must contain)
PREDICT_CASES = [
    ("missing field", "/predict", without("co2_ppm"), 422,
     "co2_ppm: required field is missing"),
    ("extra field", "/predict", good_json(radon_bq=12), 422, "radon_bq: unknown field"),
    ("string instead of number", "/predict", good_json(co2_ppm="800"), 422,
     "co2_ppm: must be a number, got str '800'"),
    ("NaN", "/predict", raw(json.dumps(GOOD).replace("800.0", "NaN")), 422,
     "co2_ppm: must be a finite number"),
    ("Infinity", "/predict", raw(json.dumps(GOOD).replace("800.0", "Infinity")), 422,
     "co2_ppm: must be a finite number"),
    ("negative occupancy", "/predict", good_json(occupancy=-1), 422,
     "occupancy: -1 is outside the physical range 0..500 people"),
    ("CO2 above physical max", "/predict", good_json(co2_ppm=20000.0), 422,
     "co2_ppm: 20000.0 is outside the physical range 0..10000 ppm"),
    ("fractional occupancy", "/predict", good_json(occupancy=2.5), 422,
     "occupancy: must be a whole number"),
    ("empty body", "/predict", raw(""), 422, "body: the request body is empty"),
    ("malformed JSON", "/predict", raw('{"co2_ppm": 800,'), 422, "body: malformed JSON"),
    ("not UTF-8", "/predict", {"content": json.dumps(GOOD).replace("{", '{"x": "\xff",').encode("latin-1"),
                               "headers": {"Content-Type": "application/json"}}, 422,
     "body: malformed JSON (not UTF-8 text"),
    ("not JSON content type", "/predict",
     {"content": json.dumps(GOOD).encode(), "headers": {"Content-Type": "text/plain"}}, 422,
     "body: must be a JSON object sent with Content-Type: application/json"),
    ("array instead of object", "/predict", {"json": [GOOD]}, 422, "body: must be a JSON object"),
    ("measured_at in the future", "/predict",
     good_json(measured_at=(datetime.now(UTC) + timedelta(days=3)).isoformat()), 422,
     "measured_at: "),
    ("measured_at not a time", "/predict", good_json(measured_at="yesterday"), 422,
     "measured_at: "),
    ("bad scenario tag", "/predict", good_json(scenario="drop table;"), 422,
     "scenario: a scenario tag is 1-64 letters"),
    ("bad scenario header", "/predict",
     {"json": GOOD, "headers": {"X-Scenario": "two words"}}, 422, "X-Scenario: a scenario tag"),
    ("body over the size limit", "/predict/batch",
     {"json": {"readings": [GOOD] * 2000}}, 413, f"larger than the {BODY_LIMIT}-byte limit"),
    ("batch over its limit", "/predict/batch",
     {"json": {"readings": [GOOD] * (BATCH_LIMIT + 1)}}, 413,
     f"readings: a batch holds at most {BATCH_LIMIT} readings"),
    ("empty batch", "/predict/batch", {"json": {"readings": []}}, 422, "readings: "),
    ("bad row in a batch", "/predict/batch",
     {"json": {"readings": [GOOD, {**GOOD, "tvoc_ppb": -3}]}}, 422,
     "readings[1].tvoc_ppb: -3 is outside the physical range"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, model_dir) -> Iterator[procs.ApiFactory]:  # type: ignore[no-untyped-def]
    factory = procs.ApiFactory(tmp_path_factory.mktemp("bad-input"), model_dir)
    factory.start(VENTWATCH_MAX_BODY_BYTES=str(BODY_LIMIT),
                  VENTWATCH_MAX_BATCH_ROWS=str(BATCH_LIMIT))
    yield factory
    factory.stop_all()


@pytest.mark.parametrize(("case", "path", "kwargs", "status", "message"), PREDICT_CASES,
                         ids=[c[0] for c in PREDICT_CASES])
def test_bad_prediction_input(server: procs.ApiFactory, case: str, path: str,
                              kwargs: dict[str, object], status: int, message: str) -> None:
    response = httpx.post(server.servers[0].url + path, timeout=10, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == status, response.text
    body = response.json()
    assert message in body["message"], body["message"]
    assert body["detail"], body


def test_chunked_body_over_limit(server: procs.ApiFactory) -> None:
    """No Content-Length: the limit is enforced while the body streams in."""
    chunk = json.dumps({"readings": [GOOD] * 1000}).encode()
    assert len(chunk) > BODY_LIMIT

    def stream() -> Iterator[bytes]:
        for i in range(0, len(chunk), 4096):
            yield chunk[i:i + 4096]

    response = httpx.post(server.servers[0].url + "/predict/batch", content=stream(),
                          headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 413, response.text
    assert f"larger than the {BODY_LIMIT}-byte limit" in response.json()["message"]


def test_label_errors_and_nothing_logged(server: procs.ApiFactory) -> None:
    url = server.servers[0].url
    with httpx.Client(base_url=url, timeout=10) as client:
        first = client.post("/predict", json=GOOD).json()["prediction_id"]
        second = client.post("/predict", json=GOOD).json()["prediction_id"]
        cases = [
            ("unknown id", {"labels": [{"prediction_id": new_id(int(time.time() * 1000)),
                                        "label": 1}]}, 404, "not found in the prediction log"),
            ("not an id", {"labels": [{"prediction_id": "x" * 36, "label": 1}]}, 422,
             "labels[0].prediction_id: 'xxxx"),
            # A well-formed UUIDv7 whose embedded time is past what a date can hold.
            ("id from after 9999", {"labels": [{"prediction_id": "ffffffff-ffff-7fff-bfff-ffffffffffff",
                                                "label": 1}]}, 422,
             "labels[0].prediction_id: 'ffffffff"),
            ("invalid class", {"labels": [{"prediction_id": first, "label": 2}]}, 422,
             "labels[0].label: Value error, must be one of the classes [0, 1], got 2"),
            ("boolean class", {"labels": [{"prediction_id": first, "label": True}]}, 422,
             "labels[0].label: must be a whole number"),
            ("repeated in request", {"labels": [{"prediction_id": first, "label": 1},
                                                {"prediction_id": first, "label": 0}]}, 422,
             "prediction_id repeated within the request"),
            ("no labels", {"labels": []}, 422, "labels: "),
        ]
        for case, body, status, message in cases:
            response = client.post("/labels", json=body)
            assert response.status_code == status, (case, response.text)
            assert message in response.json()["message"], (case, response.json())
        # A request mixing a valid and an unknown id stores nothing.
        unknown = new_id(int(time.time() * 1000))
        mixed = client.post("/labels", json={"labels": [{"prediction_id": second, "label": 0},
                                                        {"prediction_id": unknown, "label": 1}]})
        assert mixed.status_code == 404 and mixed.json()["prediction_ids"] == [unknown]
        assert client.post("/labels", json={"labels": [{"prediction_id": first, "label": 1}]}
                           ).status_code == 200
        dup = client.post("/labels", json={"labels": [{"prediction_id": first, "label": 0}]})
        assert dup.status_code == 409, dup.text
        assert "already have a label" in dup.json()["message"]
        assert dup.json()["prediction_ids"] == [first]
        # The second prediction stayed unlabelled by the rejected mixed request.
        assert client.post("/labels", json={"labels": [{"prediction_id": second, "label": 0}]}
                           ).status_code == 200
        metrics = client.get("/metrics").text
    assert 'ventwatch_http_requests_total{method="POST",route="/labels",status="500"}' not in metrics
    assert 'status="5' not in metrics, "a bad input produced a server error"

    # Only the two good predictions and two labels reached the logs.
    time.sleep(1.5)
    frame = read_predictions(server.log_dir)
    assert sorted(frame["prediction_id"]) == sorted([first, second])
    assert frame.set_index("prediction_id").loc[first, "label"] == 1
    assert frame.set_index("prediction_id").loc[second, "label"] == 0


def test_token_protects_labels(api_factory: procs.ApiFactory) -> None:
    token = "s3cret-token-for-tests-0123456789"
    api = api_factory.start(VENTWATCH_API_TOKEN=token)
    with httpx.Client(base_url=api.url, timeout=10) as client:
        pid = client.post("/predict", json=GOOD).json()["prediction_id"]  # not protected by default
        body = {"labels": [{"prediction_id": pid, "label": 1}]}
        missing = client.post("/labels", json=body)
        assert missing.status_code == 401 and "bearer token" in missing.json()["message"]
        assert missing.headers["WWW-Authenticate"] == "Bearer"
        wrong = client.post("/labels", json=body, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        ok = client.post("/labels", json=body, headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200, ok.text


def test_placeholder_token_refused() -> None:
    from pydantic import ValidationError

    from app.settings import Settings

    with pytest.raises(ValidationError, match="placeholder"):
        Settings(api_token="changeme")  # type: ignore[arg-type]


def test_a_full_disk_answers_503_and_acknowledges_nothing(model_dir: Path, tmp_path: Path) -> None:
    """The log cannot take a record (here: the disk is full): nothing is acknowledged, the
    client is told to retry, the failure is counted; the API stays up for the next request."""
    app = create_app(Settings(model_dir=model_dir, log_dir=tmp_path / "logs", run_dir=tmp_path / "run"))
    with TestClient(app) as client:
        pid = client.post("/predict", json=GOOD).json()["prediction_id"]
        writer = app.state.runtime.writer
        healthy = writer.append

        def full(*args: object, **kwargs: object) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        writer.append = full
        predicted = client.post("/predict", json=GOOD)
        batch = client.post("/predict/batch", json={"readings": [GOOD, GOOD]})
        labelled = client.post("/labels", json={"labels": [{"prediction_id": pid, "label": 1}]})
        for response in (predicted, batch, labelled):
            assert response.status_code == 503, response.text
            assert response.headers["Retry-After"] == "1"
            assert "No space left on device" in response.json()["message"]
        assert "nothing was stored" in labelled.json()["message"]
        metrics = client.get("/metrics").text
        assert 'ventwatch_log_write_errors_total{log="predictions"} 2.0' in metrics
        assert 'ventwatch_log_write_errors_total{log="labels"} 1.0' in metrics
        writer.append = healthy  # space again: the same label goes through
        again = client.post("/labels", json={"labels": [{"prediction_id": pid, "label": 1}]})
        assert again.status_code == 200, again.text
    frame = read_predictions(tmp_path / "logs")
    assert frame["prediction_id"].tolist() == [pid] and frame["label"].tolist() == [1]
