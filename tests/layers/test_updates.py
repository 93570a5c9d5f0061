import io
import json
from datetime import date

import pandas as pd
import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

import shapely
from shapely.geometry import Point

from geo.errors import StaleVersion, UnknownFeature
from geo.measure import distance_to_geometry_m
from geo.storage.base import HISTORY_COLUMNS
from layers import photos
from layers.audit import AuditQuery, audit, history_records
from layers.errors import InvalidProgressUpdate, NotAuthenticated, PermissionDenied, PhotoTooLarge
from layers.tokens import (
    Principal,
    authenticate,
    create_token,
    hash_token,
    list_tokens,
    private_view,
    require_county,
    require_role,
    revoke_token,
)
from layers.updates import ProgressReport, WaterReading, check_date, parse_report, plan_update, record_report

TODAY = date(2025, 7, 1)


def empty_history():
    return pd.DataFrame(columns=list(HISTORY_COLUMNS))


def project(**values):
    base = {"id": "FL-001", "status": "in_progress", "progress_pct": 40.0, "start_date": date(2025, 3, 1)}
    return {**base, **values}


@pytest.fixture
def farmland(registry):
    return registry.get("farmland")


@pytest.fixture
def water(registry):
    return registry.get("water-sections")


def test_parse_report_accepts_labels_and_form_strings(farmland):
    assert parse_report(farmland, {"status": "已完成"}) == ProgressReport("completed")
    got = parse_report(farmland, {"status": "in_progress", "percent": "62.5", "date": "2025-06-30", "note": " ok "})
    assert got == ProgressReport("in_progress", 62.5, date(2025, 6, 30), "ok")


@pytest.mark.parametrize(
    "body, message",
    [
        ({"percent": 10}, "status is required"),
        ({"status": "done"}, "not a status of 'farmland'"),
        ({"status": "in_progress", "percent": "ten"}, "percent must be a number"),
        ({"status": "in_progress", "percent": "nan"}, "finite"),
        ({"status": "in_progress", "percent": True}, "must be a number"),
        ({"status": "in_progress", "date": "2025-13-01"}, "YYYY-MM-DD"),
        ({"status": "in_progress", "owner": "me"}, "unknown fields ['owner']"),
        ({"status": "in_progress", "note": "x" * 2001}, "at most 2000"),
    ],
)
def test_parse_report_names_the_problem(farmland, body, message):
    with pytest.raises(InvalidProgressUpdate, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_report(farmland, body)


def test_context_layers_take_no_reports(registry):
    with pytest.raises(InvalidProgressUpdate, match="context layer"):
        parse_report(registry.get("counties"), {"status": "planned"})


def test_dates_must_be_plausible_and_in_order():
    assert check_date(None, TODAY, None) == TODAY
    with pytest.raises(InvalidProgressUpdate, match="future"):
        check_date(date(2025, 7, 2), TODAY, None)
    with pytest.raises(InvalidProgressUpdate, match="before 2024-01-01"):
        check_date(date(2023, 12, 31), TODAY, None)
    with pytest.raises(InvalidProgressUpdate, match="latest report"):
        check_date(date(2025, 5, 1), TODAY, date(2025, 6, 1))
    assert check_date(date(2025, 6, 1), TODAY, date(2025, 6, 1)) == date(2025, 6, 1)


def plan(layer, current, report, history=None):
    return plan_update(
        layer, current, history if history is not None else empty_history(), report, author="zhang", today=TODAY
    )


def test_completion_sets_percent_and_completed_date(farmland):
    done = plan(farmland, project(), ProgressReport("completed", date=date(2025, 6, 20)))
    day = date(2025, 6, 20)
    assert done.set_values == {"status": "completed", "progress_pct": 100.0, "updated_at": day, "completed_date": day}
    assert done.entry.author == "zhang" and done.entry.percent == 100.0
    assert done.entry.data == {
        "from": {"status": "in_progress", "percent": 40.0},
        "to": {"status": "completed", "percent": 100.0},
    }
    with pytest.raises(InvalidProgressUpdate, match="at 100 %, not 90 %"):
        plan(farmland, project(), ProgressReport("completed", 90))


def test_first_in_progress_sets_start_date(farmland):
    started = plan(
        farmland, project(status="planned", progress_pct=0.0, start_date=None), ProgressReport("in_progress", 5)
    )
    assert started.set_values["start_date"] == TODAY
    again = plan(farmland, project(), ProgressReport("in_progress", 50))
    assert "start_date" not in again.set_values
    with pytest.raises(InvalidProgressUpdate, match="percent is required"):
        plan(farmland, project(), ProgressReport("in_progress"))
    with pytest.raises(InvalidProgressUpdate, match="between 0 and 100"):
        plan(farmland, project(), ProgressReport("in_progress", 101))


def test_going_backwards_needs_a_note(farmland):
    completed = project(status="completed", progress_pct=100.0, completed_date=date(2025, 6, 1))
    with pytest.raises(InvalidProgressUpdate, match="needs a note"):
        plan(farmland, completed, ProgressReport("in_progress", 90))
    with pytest.raises(InvalidProgressUpdate, match="needs a note"):
        plan(farmland, project(), ProgressReport("in_progress", 30))
    reopened = plan(farmland, completed, ProgressReport("in_progress", 90, note="验收未通过,返工"))
    assert reopened.set_values["completed_date"] is None and reopened.entry.note == "验收未通过,返工"


def test_water_reading_is_classified_against_the_target(water):
    current = {
        "id": "WS-01",
        "name": "马家河",
        "river": "湘江",
        "target_class": "III",
        "status": "compliant",
        "progress_pct": 100.0,
    }
    history = pd.DataFrame(
        [
            [
                1,
                "water-sections",
                "WS-01",
                "2025-05-25",
                "compliant",
                100.0,
                "",
                "demo",
                "x",
                json.dumps({"DO": 8.0, "CODMn": 2.0, "NH3N": 0.2, "TP": 0.05}),
                1,
            ]
        ],
        columns=list(HISTORY_COLUMNS),
    )
    reading = parse_report(water, {"DO": 7.0, "CODMn": "3.0", "NH3N": 1.2, "TP": 0.1, "date": "2025-06-25"})
    assert isinstance(reading, WaterReading)
    planned = plan(water, current, reading, history)
    assert planned.entry.status == "non_compliant" and planned.entry.data["class"] == "IV"
    assert planned.set_values["latest_class"] == "IV" and planned.set_values["latest_month"] == "2025-06"
    assert planned.set_values["months_noncompliant"] == 1 and planned.set_values["progress_pct"] == 50.0
    with pytest.raises(InvalidProgressUpdate, match="missing \\['TP'\\]"):
        parse_report(water, {"DO": 7.0, "CODMn": 3.0, "NH3N": 1.2})
    with pytest.raises(InvalidProgressUpdate, match="negative"):
        parse_report(water, {"DO": -1, "CODMn": 3.0, "NH3N": 1.2, "TP": 0.1})
    with pytest.raises(InvalidProgressUpdate, match="unknown fields \\['status'\\]"):
        parse_report(water, {"status": "compliant", "DO": 7, "CODMn": 3.0, "NH3N": 1.2, "TP": 0.1})


@pytest.fixture
def store(writable_store):
    return writable_store  # a private copy of the demo, on each store kind


def test_record_report_appends_and_moves_the_state_atomically(store, farmland):
    from geo.storage.base import Filter

    fid = store.read("farmland", Filter(equals={"status": "in_progress"}), limit=1)["id"].iloc[0]
    before = store.history("farmland", [fid])
    version = store.feature_version("farmland", fid)
    report = ProgressReport("completed", note="完工")
    recorded = record_report(store, farmland, fid, report, author="zhang", expected_version=version, today=date.today())
    after = store.history("farmland", [fid])
    assert len(after) == len(before) + 1 and int(after["seq"].max()) == recorded.seq
    assert after.iloc[-1]["author"] == "zhang" and after.iloc[-1]["status"] == "completed"
    state = store.get("farmland", fid).iloc[0]
    assert state["status"] == "completed" and state["progress_pct"] == 100.0
    assert str(state["completed_date"]) == str(state["updated_at"]) == date.today().isoformat()
    assert store.feature_version("farmland", fid) != version
    with pytest.raises(StaleVersion):
        record_report(store, farmland, fid, report, author="li", expected_version=version, today=date.today())
    assert len(store.history("farmland", [fid])) == len(after)


def test_tokens_are_stored_hashed_and_checked(store):
    token = create_token(store, "zhang", "field", ["430321", "430381"])
    assert token.startswith("pm_") and len(token) > 40
    raw = repr(store.tokens(include_revoked=True))
    assert token not in raw and hash_token(token) in raw
    assert authenticate(store, token) == Principal("zhang", "field", ("430321", "430381"))
    with pytest.raises(NotAuthenticated):
        authenticate(store, token + "x")
    replaced = create_token(store, "zhang", "viewer")
    with pytest.raises(NotAuthenticated):
        authenticate(store, token)
    assert [r.user for r in list_tokens(store)] == ["zhang"] and authenticate(store, replaced).role == "viewer"
    assert revoke_token(store, "zhang") and not revoke_token(store, "zhang")
    with pytest.raises(NotAuthenticated):
        authenticate(store, replaced)
    for bad in ({"user": "a b", "role": "viewer"}, {"user": "a", "role": "boss"}, {"user": "a", "role": "field"}):
        with pytest.raises(ValueError):
            create_token(store, **bad)


def test_roles_and_counties():
    field = Principal("zhang", "field", ("430321",))
    require_county(field, "430321")
    with pytest.raises(PermissionDenied, match="only in counties 430321"):
        require_county(field, "430302")
    require_county(Principal("li", "planner"), "430302")
    with pytest.raises(PermissionDenied):
        require_county(Principal("v", "viewer"), "430321")
    with pytest.raises(PermissionDenied):
        require_role(field, "planner")
    require_role(Principal("root", "admin"), "planner")


def test_private_view_reveals_non_public_fields(registry):
    assert not registry.get("farmland").field("investment_wan").public
    assert private_view(registry).get("farmland").field("investment_wan").public
    assert private_view(registry).get("farmland").field("name") == registry.get("farmland").field("name")


def jpeg_with_gps(lon, lat, size=(3000, 2000)):
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    r = IFDRational
    exif[0x8825] = {
        1: "N",
        2: (r(int(lat)), r(int(round(lat % 1 * 60))), r(0)),
        3: "E",
        4: (r(int(lon)), r(int(round(lon % 1 * 60))), r(0)),
    }
    out = io.BytesIO()
    Image.new("RGB", size, (120, 160, 80)).save(out, "JPEG", exif=exif)
    return out.getvalue()


def test_photo_is_downscaled_stripped_and_its_gps_measured():
    photo = photos.prepare_photo(jpeg_with_gps(112.9, 27.8), 10**8)
    assert (photo.width, photo.height) == (1600, 1067)
    assert photo.gps == pytest.approx((112.9, 27.8))
    reopened = Image.open(io.BytesIO(photo.jpeg))
    assert reopened.format == "JPEG" and dict(reopened.getexif()) == {}
    site = Point(112.91, 27.8).buffer(0.001)
    details = photos.photo_details(photo, site)
    assert details["photo"]["distance_m"] == pytest.approx(distance_to_geometry_m(112.9, 27.8, site)[0], abs=0.1)
    assert 800 < details["photo"]["distance_m"] < 1000
    inside = photos.photo_details(photo, shapely.box(112.8, 27.7, 113.0, 27.9))
    assert inside["photo"]["distance_m"] == 0


def test_bad_photos_are_refused():
    with pytest.raises(PhotoTooLarge):
        photos.prepare_photo(jpeg_with_gps(112.9, 27.8), 100)
    with pytest.raises(InvalidProgressUpdate, match="not a readable"):
        photos.prepare_photo(b"GIF89a not really", 10**6)
    gif = io.BytesIO()
    Image.new("RGB", (10, 10)).save(gif, "GIF")
    with pytest.raises(InvalidProgressUpdate, match="JPEG or PNG"):
        photos.prepare_photo(gif.getvalue(), 10**6)


def test_photo_paths_never_come_from_ids(tmp_path):
    assert photos.photo_dir(tmp_path, "farmland", "../../etc").parent == tmp_path / "photos" / "farmland"
    assert ".." not in str(photos.photo_dir(tmp_path, "farmland", "../../etc"))
    photo = photos.prepare_photo(jpeg_with_gps(112.9, 27.8, (50, 40)), 10**6)
    key, staged = photos.stage_photo(tmp_path, "farmland", "FL-001", photo)
    assert photos.find_photo(tmp_path, "farmland", "FL-001", 7, key) == tmp_path / "photos/farmland/FL-001/7.jpg"
    assert not staged.exists() and photos.find_photo(tmp_path, "farmland", "FL-001", 8, None) is None


def test_report_photo_is_found_by_its_report(store, farmland, tmp_path):
    fid = str(store.read("farmland", limit=1)["id"].iloc[0])
    photo = photos.prepare_photo(jpeg_with_gps(112.9, 27.8, (50, 40)), 10**6)
    key, staged = photos.stage_photo(tmp_path, "farmland", fid, photo)
    version = store.feature_version("farmland", fid)
    report, today, extra = ProgressReport("completed", note="现场照片"), date.today(), {"photo": {"key": key}}
    with_photo = record_report(
        store, farmland, fid, report, author="zhang", expected_version=version, today=today, extra=extra
    )
    version = store.feature_version("farmland", fid)
    without = record_report(store, farmland, fid, report, author="zhang", expected_version=version, today=today)
    path = photos.report_photo(store, tmp_path, "farmland", fid, with_photo.seq)
    assert path == tmp_path / "photos" / "farmland" / fid / f"{with_photo.seq}.jpg" and not staged.exists()
    assert path.read_bytes()[:2] == b"\xff\xd8"
    for seq in (without.seq, without.seq + 100):
        with pytest.raises(UnknownFeature, match="has no photo"):
            photos.report_photo(store, tmp_path, "farmland", fid, seq)


def test_public_history_hides_author_and_position():
    frame = pd.DataFrame(
        [
            [
                5,
                "farmland",
                "FL-001",
                "2025-06-01",
                "completed",
                100.0,
                "",
                "zhang",
                "t",
                json.dumps({"photo": {"lon": 112.9, "lat": 27.8, "key": "k", "distance_m": 12.0}}),
                0,
            ]
        ],
        columns=list(HISTORY_COLUMNS),
    )
    public = history_records(frame, private=False)[0]
    assert "author" not in public and public["data"]["photo"] == {"distance_m": 12.0}
    private = history_records(frame, private=True)[0]
    assert private["author"] == "zhang" and private["data"]["photo"]["lon"] == 112.9


def test_audit_filters_and_pages(demo_store):
    store = demo_store
    everything = audit(store, AuditQuery(limit=10))
    assert everything.matched == len(store.history()) and len(everything.records) == 10
    seqs = [r["seq"] for r in everything.records]
    assert seqs == sorted(seqs, reverse=True)
    june = audit(store, AuditQuery(layer="reservoirs", start=date(2025, 6, 1), end=date(2025, 6, 30), limit=1000))
    assert june.matched > 0 and all(r["layer"] == "reservoirs" and "2025-06" in r["date"] for r in june.records)
    assert audit(store, AuditQuery(author="nobody")).matched == 0
    fid = june.records[0]["feature_id"]
    assert {r["feature_id"] for r in audit(store, AuditQuery(feature_id=fid, limit=1000)).records} == {fid}
    second = audit(store, AuditQuery(limit=10, offset=10))
    assert second.records[0]["seq"] < everything.records[-1]["seq"]
