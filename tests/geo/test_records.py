"""Documents edited in planmap (``put_record`` and friends) on both stores: versions, revisions, refusals."""

from __future__ import annotations

import threading

import pytest

from geo.errors import RecordExists, StaleVersion, UnknownRecord
from geo.storage.gpkg import GeoPackageStore


def test_create_change_delete_round_trip(writable_store) -> None:
    store = writable_store
    doc = {"year": 2026, "title": "湘潭市2026年重点目标", "targets": [{"layer": "farmland", "value": 80000}]}
    created = store.put_record("test-doc", "2026", doc, expected_version=None, author="planner1")
    assert (created.version, created.doc, created.updated_by) == (1, doc, "planner1")
    assert store.record("test-doc", "2026").doc == doc
    changed = {**doc, "title": "改"}
    assert store.put_record("test-doc", "2026", changed, expected_version=1, author="planner2").version == 2
    assert [r.key for r in store.records("test-doc")] == ["2026"]
    store.delete_record("test-doc", "2026", expected_version=2, author="planner1")
    assert store.record("test-doc", "2026") is None and store.records("test-doc") == []
    log = store.record_revisions("test-doc", "2026")
    assert [(r.version, r.action, r.author) for r in log] == [
        (1, "create", "planner1"),
        (2, "update", "planner2"),
        (3, "delete", "planner1"),
    ]
    assert log[0].doc == doc and log[1].doc == changed and log[2].doc is None


def test_refusals_leave_the_document_as_it_was(writable_store) -> None:
    store = writable_store
    store.put_record("test-doc", "2027", {"v": 1}, expected_version=None, author="a")
    with pytest.raises(RecordExists):
        store.put_record("test-doc", "2027", {"v": 2}, expected_version=None, author="b")
    with pytest.raises(StaleVersion):
        store.put_record("test-doc", "2027", {"v": 2}, expected_version=5, author="b")
    with pytest.raises(StaleVersion):
        store.delete_record("test-doc", "2027", expected_version=2, author="b")
    with pytest.raises(UnknownRecord):
        store.put_record("test-doc", "1999", {"v": 2}, expected_version=1, author="b")
    with pytest.raises(UnknownRecord):
        store.delete_record("test-doc", "1999", expected_version=1, author="b")
    assert store.record("test-doc", "2027").doc == {"v": 1}
    assert len(store.record_revisions("test-doc", "2027")) == 1


def test_concurrent_changes_from_one_version_keep_exactly_one(writable_store) -> None:
    store = writable_store
    store.put_record("test-doc", "2028", {"n": 0}, expected_version=None, author="a")
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def change(n: int) -> None:
        barrier.wait()
        try:
            store.put_record("test-doc", "2028", {"n": n}, expected_version=1, author=f"u{n}")
            outcomes.append("ok")
        except StaleVersion:
            outcomes.append("stale")

    threads = [threading.Thread(target=change, args=(n,)) for n in range(1, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok"] + ["stale"] * 5
    final = store.record("test-doc", "2028")
    assert final.version == 2 and [r.doc for r in store.record_revisions("test-doc", "2028")][-1] == final.doc


def test_revisions_are_append_only(writable_store) -> None:
    store = writable_store
    store.put_record("test-doc", "2029", {"v": 1}, expected_version=None, author="a")
    with pytest.raises(Exception, match="append-only"):  # no verb changes a revision; try it in SQL
        _change_revision_in_sql(store)
    assert store.record_revisions("test-doc", "2029")[0].author == "a"


def _change_revision_in_sql(store) -> None:
    if isinstance(store, GeoPackageStore):
        with store._db.write() as conn:
            conn.execute("UPDATE planmap_record_revisions SET author = 'x'")
    else:
        with store._db.conn(transaction=True) as conn:
            conn.execute(f"UPDATE {store._db.s}.planmap_record_revisions SET author = 'x'")
