"""The report as a PDF: HTML from a Jinja template with its maps and charts, set by WeasyPrint (A4)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import date

from markupsafe import Markup

from layers.reports import ReportData, figure
from layers.reports.maps import LIGHT_COLORS, LIGHT_LABELS
from server.charts import line_chart
from server.maps.render import environment
from server.reports.fonts import cjk_family

STATUS_ZH = {
    "planned": "未开工",
    "in_progress": "在建",
    "completed": "已完成",
    "compliant": "达标",
    "non_compliant": "未达标",
    "no_data": "无数据",
}
REASON_ZH = {
    "lag": "进度滞后",
    "not_started": "未按期开工",
    "overdue": "逾期未完成",
    "done_late": "延期完成",
    "on_time": "按期完成",
    "not_due": "正常推进",
    "no_due_date": "无完成时限",
}


def data_uri(data: bytes, media_type: str) -> str:
    """Return ``data`` as a ``data:`` URI (images are embedded, never fetched)."""
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


def _zh_date(day: date | None) -> str:
    return "" if day is None else f"{day.year}年{day.month}月{day.day}日"


def _burnup(section: object) -> str:
    points = section.burnup  # type: ignore[attr-defined]
    svg = line_chart(
        [p[0] for p in points],
        [p[1] for p in points],
        section.target,  # type: ignore[attr-defined]
        section.unit_zh,  # type: ignore[attr-defined]
        width=640,
        height=220,
    )
    return data_uri(svg.encode("utf-8"), "image/svg+xml")


def report_html(data: ReportData, maps: Mapping[str, bytes]) -> str:
    """Return the report's HTML: cover, summary, then one section per target with its map (PNG bytes by layer)."""
    template = environment().get_template("report_pdf.html")
    return template.render(
        data=data,
        font=cjk_family(),
        figure=figure,
        zh_date=_zh_date,
        status_zh=STATUS_ZH,
        reason_zh=REASON_ZH,
        light_colors=LIGHT_COLORS,
        light_labels=LIGHT_LABELS,
        maps={k: data_uri(v, "image/png") for k, v in maps.items()},
        burnups={s.layer: _burnup(s) for s in data.sections},
        generated=data.generated_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        markup=Markup,
    )


def html_to_pdf(html: str) -> bytes:
    """Set HTML as PDF with WeasyPrint; no resource is fetched (images are ``data:`` URIs)."""
    import weasyprint
    from weasyprint.urls import URLFetcher

    fetcher = URLFetcher(allowed_protocols=["data"], fail_on_errors=True)
    document = weasyprint.HTML(string=html, url_fetcher=fetcher, base_url="about:blank")
    pdf: bytes = document.write_pdf(uncompressed_pdf=False)
    return pdf


def report_pdf(data: ReportData, maps: Mapping[str, bytes]) -> bytes:
    """Return the report as PDF bytes."""
    return html_to_pdf(report_html(data, maps))
