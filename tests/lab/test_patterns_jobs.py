"""Jobs: 202 and a handle, short polling its progress, long polling its end."""
from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.lab.patterns_fixtures import (  # noqa: F401  (lab_server is a fixture)
    CONCURRENT_MODELS, http, lab_server, raw_request, request_bytes, running_server, wait_until,
)


def start_job(server, seconds: float) -> dict:
    response = http.post(server.url("/jobs"), json={"seconds": seconds})
    assert response.status_code == 202
    job = response.json()
    assert response.headers["location"] == f"/jobs/{job['id']}"
    return job


def test_post_is_202_with_a_handle_at_once(lab_server):
    started = time.monotonic()
    job = start_job(lab_server, 5)
    assert time.monotonic() - started < 0.5  # not after the work
    assert job["state"] == "running" and job["progress"] == 0 and job["result"] is None
    assert set(job) == {"id", "state", "progress", "result"}


def test_short_polling_sees_progress_then_done(lab_server):
    job = start_job(lab_server, 0.6)
    seen = []
    while True:
        view = http.get(lab_server.url(f"/jobs/{job['id']}")).json()
        seen.append(view["progress"])
        if view["state"] == "done":
            break
        assert len(seen) < 100
        time.sleep(0.1)
    assert seen == sorted(seen) and seen[-1] == 1
    assert any(0 < p < 1 for p in seen)
    assert view["result"] == {"slept": 0.6}


def test_long_poll_answers_when_the_job_is_done(lab_server):
    job = start_job(lab_server, 0.4)
    started = time.monotonic()
    view = http.get(lab_server.url(f"/jobs/{job['id']}?wait=10")).json()
    elapsed = time.monotonic() - started
    assert view["state"] == "done"
    assert 0.25 < elapsed < 1.5


def test_long_poll_at_its_deadline_answers_the_current_state(lab_server):
    job = start_job(lab_server, 5)
    started = time.monotonic()
    response = http.get(lab_server.url(f"/jobs/{job['id']}?wait=0.4"))
    elapsed = time.monotonic() - started
    assert response.status_code == 200  # not an error
    assert response.json()["state"] == "running" and 0 < response.json()["progress"] < 1
    assert 0.35 < elapsed < 1.5


def test_curl_drives_a_job(lab_server):
    out = subprocess.run(["curl", "-sS", "-i", lab_server.url("/jobs"), "-d", '{"seconds": 0.2}'],
                         capture_output=True, timeout=10, check=True).stdout
    assert out.startswith(b"HTTP/1.1 202 Accepted")
    job = json.loads(out.rpartition(b"\r\n\r\n")[2])
    out = subprocess.run(["curl", "-sS", lab_server.url(f"/jobs/{job['id']}?wait=5")],
                         capture_output=True, timeout=10, check=True).stdout
    assert json.loads(out)["state"] == "done"


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b'{"seconds": "1"}', b'{"seconds": -1}',
                                  b'{"seconds": 1e9}', b'{"seconds": NaN}', b'{"seconds": true}'])
def test_bad_job_requests_are_400(lab_server, body):
    status, _, _ = raw_request(lab_server, request_bytes("POST", "/jobs", body=body))
    assert status == 400


@pytest.mark.parametrize("target", ["/jobs/0123456789abcdef", "/jobs/nope", "/jobs/..%2F"])
def test_unknown_jobs_are_404(lab_server, target):
    assert http.get(lab_server.url(target)).status_code == 404


@pytest.mark.parametrize("query", ["wait=x", "wait=-1", "wait=inf"])
def test_bad_wait_is_400(lab_server, query):
    job = start_job(lab_server, 0.1)
    assert http.get(lab_server.url(f"/jobs/{job['id']}?{query}")).status_code == 400


def test_jobs_405_with_allow(lab_server):
    response = http.delete(lab_server.url("/jobs"))
    assert response.status_code == 405 and response.headers["allow"] == "POST"


@pytest.mark.parametrize("io", CONCURRENT_MODELS)
def test_the_server_answers_while_jobs_run_and_polls_wait(io, tmp_path):
    with running_server(io, tmp_path) as server:
        job = start_job(server, 1.0)
        with server.connect() as waiting:  # a long poll held meanwhile
            waiting.sendall(request_bytes("GET", f"/jobs/{job['id']}?wait=10"))
            assert wait_until(lambda: http.get(server.url("/stats")).json()["job_waiters"] == 1, 3)
            started = time.monotonic()
            assert http.get(server.url("/")).status_code == 200
            assert time.monotonic() - started < 0.3
        # The client left: its waiter goes with it.
        assert wait_until(lambda: http.get(server.url("/stats")).json()["job_waiters"] == 0, 3)
