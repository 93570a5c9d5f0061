"""The field report page: a phone-friendly form posting a project's progress (or a water reading) to the API."""

from __future__ import annotations

import json
import math
from datetime import date
from typing import Any
from urllib.parse import quote

from markupsafe import Markup

from geo.navigation import destination, navigation_links
from geo.storage.base import FeatureStore
from layers.errors import InvalidProgressUpdate
from layers.models import Layer
from layers.progress_model import INVESTMENT_DONE
from layers.review import feature_reviews, review_required
from layers.sessions import Session
from layers.updates import WATER_LAYER
from layers.water import PARAMETERS
from server.maps.i18n import Lang, status_label, text, title
from server.maps.pages import nav_links
from server.maps.render import environment

_TEXT: dict[str, tuple[str, str]] = {
    "heading": ("上报进度", "Report progress"),
    "current": ("当前情况", "Current state"),
    "updated": ("更新日期", "Updated"),
    "percent": ("完成进度(%)", "Progress (%)"),
    "investment": ("累计完成投资(万元,可选)", "Investment completed to date (万元, optional)"),
    "date": ("日期", "Date"),
    "note": ("说明", "Note"),
    "photo": ("现场照片(可选)", "Site photo (optional)"),
    "signed_in": ("上报人", "Reporting as"),
    "sign_in": ("请先登录后上报", "Sign in to report"),
    "sign_out": ("退出", "Sign out"),
    "submit": ("提交", "Submit"),
    "readings": ("水质监测值(mg/L)", "Readings (mg/L)"),
    "class": ("水质类别", "Water class"),
    "record": ("查看完整记录", "Full record"),
    "sending": ("正在提交…", "Sending…"),
    "ok": ("上报成功", "Report recorded"),
    "now": ("当前状态", "Status now"),
    "e401": ("登录已过期,请重新登录。", "Your sign-in has expired: sign in again."),
    "e403": ("无权上报:该项目不在您负责的区县。", "Not allowed: this project is not in your county."),
    "e412": ("该项目刚被他人更新,请刷新页面后重试。", "Someone else updated this project: reload the page and retry."),
    "e413": ("照片太大,请压缩后重试。", "The photo is too large."),
    "e428": ("缺少版本信息,请重试。", "The version check is missing: retry."),
    "e400": ("提交内容有误:", "The report is not valid: "),
    "e404": ("找不到该项目。", "This project was not found."),
    "enet": ("网络错误,请稍后重试。", "Network error: try again later."),
    "eother": ("提交失败:", "The report failed: "),
    "pending": ("待审核", "Pending review"),
    "pending_note": ("已提交,待规划人员审核后计入进度。", "Sent: it counts once a planner approves it."),
    "rejected": ("已退回", "Sent back"),
    "rejected_note": ("请按意见修改后重新上报。", "Change it as asked and report again."),
    "review_needed": ("本类项目的上报需经审核后计入进度。", "Reports on this layer count after a planner's review."),
    "last_report": ("最近一次上报", "Latest report"),
    "queued": (
        "暂时无法发送,已存入待发送,联网后自动发送。",
        "Not sent yet: kept in the outbox, it is sent when the network returns.",
    ),
    "attention": (
        "该项目已有更新的进度,本次上报已移到需处理,请选择重试或删除。",
        "The project has a newer report: this one waits under 需处理 for you to retry or delete it.",
    ),
    "sent_before": ("该上报已发送。", "This report was sent already."),
}


def report_text(key: str, lang: Lang) -> str:
    """Return the report page's UI string ``key`` in ``lang``."""
    zh, en = _TEXT[key]
    return en if lang == "en" else zh


def report_href(layer_id: str, feature_id: str, lang: Lang = "zh") -> str:
    """Return the URL of a feature's report page."""
    return f"/map/report/{layer_id}/{feature_id}" + ("?lang=en" if lang == "en" else "")


def _value(row: dict[str, Any], name: str) -> Any:
    value = row.get(name)
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _current(layer: Layer, row: dict[str, Any], lang: Lang) -> dict[str, Any]:
    labels = {s.value: status_label(s, lang) for s in layer.statuses}
    status = _value(row, "status")
    pct = _value(row, "progress_pct")
    return {
        "status": labels.get(status, status) if status else "—",
        "percent": f"{float(pct):g}" if pct is not None else "—",
        "updated": str(_value(row, "updated_at") or "—")[:10],
        "water_class": _value(row, "latest_class"),
        "value": status,
        "raw_percent": f"{float(pct):g}" if pct is not None else "",
    }


def _messages(layer: Layer, lang: Lang) -> Markup:
    keys: tuple[str, ...] = ("sending", "ok", "now", "e401", "e403", "e412", "e413", "e428", "e400", "e404")
    keys += ("enet", "eother", "pending", "pending_note", "queued", "attention", "sent_before")
    messages: dict[str, Any] = {k: report_text(k, lang) for k in keys}
    messages["statuses"] = {s.value: status_label(s, lang) for s in layer.statuses}
    messages["progress"] = text("progress", lang)
    # "<" escaped so the JSON cannot close the <script> element it sits in
    return Markup(json.dumps(messages, ensure_ascii=False).replace("<", "\\u003c"))


def _latest_review(store: FeatureStore, layer_id: str, feature_id: str) -> dict[str, Any] | None:
    """Return the feature's latest report under review when it is pending or was sent back (else None)."""
    found = feature_reviews(store, layer_id, feature_id)
    latest = found[0].as_json() if found else None
    return latest if latest is not None and latest["status"] in ("pending", "rejected") else None


def report_page(
    store: FeatureStore,
    layer: Layer,
    feature_id: str,
    lang: Lang,
    here: str = "",
    session: Session | None = None,
    etag: str = "",
) -> str:
    """Return the report form of one project (or water section); it posts with the session's CSRF token.

    ``etag`` is the feature's version as shown: a report made on this page (even offline, hours later)
    is sent with it as ``If-Match``.

    Without a session the form is replaced by a link to the sign-in page that comes back here.

    Raises
    ------
    UnknownFeature
        When the layer has no such feature.
    InvalidProgressUpdate
        For a context layer, which takes no reports.
    """
    if layer.kind != "project" or not layer.statuses:
        raise InvalidProgressUpdate(f"{layer.id!r} is a context layer; it takes no progress reports")
    frame = store.get(layer.id, feature_id)
    row = frame.drop(columns=frame.geometry.name).iloc[0].to_dict()
    water = layer.id == WATER_LAYER
    return (
        environment()
        .get_template("map_report.html")
        .render(
            lang=lang,
            html_lang="en" if lang == "en" else "zh-CN",
            r=lambda key: report_text(key, lang),
            t=lambda key: text(key, lang),
            layer=layer,
            layer_title=title(layer, lang),
            feature_id=feature_id,
            name=_value(row, layer.label_field) or feature_id,
            county=_value(row, "county_name") or _value(row, "county") or "—",
            current=_current(layer, row, lang),
            water=water,
            investment=INVESTMENT_DONE in layer.field_names,
            parameters=PARAMETERS if water else (),
            statuses=[(s.value, status_label(s, lang)) for s in layer.statuses],
            today=date.today().isoformat(),
            item_url=f"/collections/{layer.id}/items/{feature_id}",
            links=nav_links(lang, here),
            nav=navigation_links(
                *destination(frame.geometry.iloc[0]), str(_value(row, layer.label_field) or feature_id)
            ),
            messages=_messages(layer, lang),
            review_needed=review_required(store, layer.id),
            latest_review=_latest_review(store, layer.id, feature_id),
            session=session,
            etag=etag,
            login_url="/login?next=" + quote(report_href(layer.id, feature_id, lang), safe=""),
        )
    )
