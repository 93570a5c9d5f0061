import hashlib
import hmac
import json
import socket
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from geo.storage.base import Filter
from layers.alert_send import Message, Retry, SmtpConfig, body_of
from layers.alerts import AlertConfig, deliver_files, deliveries, run_alerts, save_destination
from layers.registry import load_catalogue
from layers.review import Decision, PendingReport, reject, submit_for_review
from layers.updates import ProgressReport

SECRET = "s3cret-湘潭"
DAY = date(2025, 9, 30)


class Receiver:
    """A webhook receiver on 127.0.0.1 that answers 500 to the first ``fail`` requests."""

    def __init__(self, fail=0):
        self.requests, self.fail, self.lock = [], fail, threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.requests.append((dict(self.headers), raw))
                    failing = receiver.fail > 0
                    receiver.fail -= 1
                self.send_response(500 if failing else 200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # a free port: tests run in parallel
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(request):
    made = []

    def make(fail=0):
        made.append(Receiver(fail))
        return made[-1]

    yield make
    for r in made:
        r.close()


def fast(attempts=4, sleeps=None):
    return AlertConfig(
        retry=Retry(attempts=attempts, first_delay_s=0.01, sleep=(sleeps if sleeps is not None else []).append)
    )


def rejected_report(store):
    layer = load_catalogue().get("farmland")
    fid = store.read("farmland", Filter(equals={"status": "in_progress"}), limit=1).iloc[0]["id"]
    version = store.feature_version("farmland", fid)
    pending = PendingReport(layer, fid, ProgressReport("completed"), version, {})
    review = submit_for_review(store, pending, author="zhang", today=date.today(), clock=lambda: 1.75e9)
    reject(store, layer, review.key, Decision("li", 1, date.today(), lambda: DAY_TS), "照片不清楚")
    return review


DAY_TS = 1759190400.0  # 2025-09-30T00:00:00Z


def test_signed_webhook_is_retried_after_two_500s_and_sent_once(writable_store, receiver):
    hook = receiver(fail=2)
    save_destination(
        writable_store,
        {"name": "ops", "kind": "webhook", "url": hook.url, "secret": SECRET, "rules": ["rejected"]},
        "root",
    )
    review = rejected_report(writable_store)
    sleeps = []
    layers = load_catalogue().projects()
    counts = run_alerts(writable_store, layers, fast(sleeps=sleeps), today=DAY)
    assert counts["sent"] == 1 and counts["failed"] == 0
    assert len(hook.requests) == 3 and sleeps == [0.01, 0.02]
    headers, raw = hook.requests[-1]
    expected = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    assert headers["X-Planmap-Signature"] == expected
    body = json.loads(raw)
    assert body["event"] == f"rejected:farmland:{review.key}" and "照片不清楚" in body["text"]
    assert run_alerts(writable_store, layers, fast(), today=DAY)["skipped"] == 1
    assert len(hook.requests) == 3
    log = deliveries(writable_store)
    assert log[0]["status"] == "sent" and log[0]["attempts"] == 3


def test_a_failed_delivery_is_logged_and_retried_by_the_next_run(writable_store, receiver):
    hook = receiver(fail=2)
    save_destination(writable_store, {"name": "ops", "kind": "webhook", "url": hook.url, "rules": ["rejected"]}, "r")
    rejected_report(writable_store)
    layers = load_catalogue().projects()
    assert run_alerts(writable_store, layers, fast(attempts=2), today=DAY)["failed"] == 1
    assert deliveries(writable_store)[0]["status"] == "failed" and "500" in deliveries(writable_store)[0]["error"]
    again = run_alerts(writable_store, layers, fast(attempts=2), today=DAY)
    assert again["retried"] == 1 and deliveries(writable_store)[0]["status"] == "sent"
    assert len(hook.requests) == 3


def test_two_workers_send_each_event_once(writable_store_url, receiver):
    hook = receiver()
    first, second = writable_store_url.open(), writable_store_url.open()
    try:
        save_destination(first, {"name": "ops", "kind": "webhook", "url": hook.url, "rules": ["overdue"]}, "root")
        layers = load_catalogue().projects()
        barrier, results = threading.Barrier(2), []

        def work(store):
            barrier.wait()
            try:
                results.append(run_alerts(store, layers, fast(), today=DAY))
            except Exception as exc:  # reported below: a worker must not fail
                results.append(exc)

        threads = [threading.Thread(target=work, args=(s,)) for s in (first, second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert all(isinstance(r, dict) for r in results), results
        events = [json.loads(raw)["event"] for _, raw in hook.requests]
        assert len(events) > 5 and len(events) == len(set(events))
        assert all(r["sent"] + r["skipped"] == len(events) for r in results)
        assert all(e.startswith("overdue:") for e in events)
        assert sum(r["sent"] for r in results) == len(events)
        assert sum(r["skipped"] for r in results) == len(events)
    finally:
        first.close()
        second.close()


def test_robot_bodies_have_the_documented_markdown_shape():
    message = Message("overdue:farmland:FL-001:2025-07-01", "项目逾期:FL-001", "已逾期 3 天")
    wecom = body_of("wecom", message, "t")
    assert wecom == {"msgtype": "markdown", "markdown": {"content": "### 项目逾期:FL-001\n已逾期 3 天"}}
    ding = body_of("dingtalk", message, "t")
    assert ding["msgtype"] == "markdown" and ding["markdown"]["title"] == "项目逾期:FL-001"
    assert ding["markdown"]["text"].startswith("### 项目逾期")


def test_email_goes_through_smtp_with_attachments(writable_store, tmp_path):
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message as MessageHandler

    received = []

    class Keep(MessageHandler):
        def handle_message(self, message):
            received.append(message)

    with socket.socket() as probe:  # a free port: the test runs on both stores in parallel
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        save_destination(writable_store, {"name": "office", "kind": "email", "to": "a@xt.gov.cn, b@xt.gov.cn"}, "r")
        report = tmp_path / "月报-2025-06.pdf"
        report.write_bytes(b"%PDF-1.4 test")
        config = AlertConfig(smtp=SmtpConfig("127.0.0.1", port, "planmap@xt.gov.cn"), retry=Retry(1, 0.0))
        out = deliver_files(writable_store, [report], ["office"], config, title="2025年6月月报", key="report:2025-06")
        assert out == {"office": "sent"}
        assert deliver_files(writable_store, [report], ["office"], config, title="x", key="report:2025-06") == {
            "office": "skipped"
        }
    finally:
        controller.stop()
    assert len(received) == 1
    mail = received[0]
    assert mail["To"] == "a@xt.gov.cn, b@xt.gov.cn" and mail["From"] == "planmap@xt.gov.cn"
    names = [part.get_filename() for part in mail.walk() if part.get_filename()]
    assert names == ["月报-2025-06.pdf"]
