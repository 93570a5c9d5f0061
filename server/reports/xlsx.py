"""The report as an XLSX workbook: 汇总, 各区县, 逾期, 红黄绿灯, 明细; numbers as numbers, dates as dates.

Each sheet has the report's title in row 1, its period, data version and generation time in row 2, the
Chinese headers in row 3 and the rows from row 4. The workbook's properties and creation date are fixed
from the report (not the clock), so the same report data gives the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import xlsxwriter

from layers.lights_report import LightCounts
from layers.reports import ReportData
from server.reports.pdf import REASON_ZH, STATUS_ZH

LIGHT_ZH = {"green": "绿", "yellow": "黄", "red": "红"}


def _sheet(book: Any, name: str, data: ReportData, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    sheet = book.add_worksheet(name)
    bold = book.add_format({"bold": True, "bg_color": "#E2E8F0", "border": 1})
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write(0, 0, f"{data.title} · {name}", book.add_format({"bold": True, "font_size": 13}))
    sheet.write(1, 0, f"报告期 {data.period_text} · 数据版本 {data.data_version} · 生成时间 {_stamp(data)}")
    sheet.write_row(2, 0, headers, bold)
    for r, row in enumerate(rows, start=3):
        for c, value in enumerate(row):
            if isinstance(value, date):
                sheet.write_datetime(r, c, datetime(value.year, value.month, value.day), day)
            elif value is None:
                sheet.write_blank(r, c, None)
            else:
                sheet.write(r, c, value)
    sheet.freeze_panes(3, 0)
    sheet.set_column(0, len(headers) - 1, 14)


def _stamp(data: ReportData) -> str:
    return data.generated_at.strftime("%Y-%m-%d %H:%M:%S UTC")


def _lights(counts: LightCounts | None) -> list[Any]:
    if counts is None:
        return [None] * 6
    return [counts.green, counts.yellow, counts.red, counts.unscheduled, counts.done_late, counts.projects]


def _summary(data: ReportData) -> list[list[Any]]:
    return [
        [s.title_zh, s.layer, s.unit_zh, s.target, s.done, s.pct, s.period_done, s.features, s.done_features]
        + [s.overdue, *_lights(s.lights)[:3]]
        for s in data.sections
    ]


def _counties(data: ReportData) -> list[list[Any]]:
    return [
        [s.title_zh, s.layer, c.code, c.name, c.quota, c.done, c.pct_quota, c.features, c.done_features, c.overdue]
        for s in data.sections
        for c in s.counties
    ]


def _overdue(data: ReportData) -> list[list[Any]]:
    return [
        [o.layer_title, o.id, o.name, o.milestone or "项目完工", o.county_name, o.owner, o.due, o.days]
        + [STATUS_ZH.get(o.status, o.status), o.progress_pct]
        for s in data.sections
        for o in sorted(s.overdue_items, key=lambda o: (o.owner, -o.days, o.id))
    ]


def _lights_rows(data: ReportData) -> list[list[Any]]:
    money = data.investment
    rows = [["全部", data.scope_name, *_lights(data.lights)]]
    if money is not None:
        rows[0] += [money.plan_wan, money.done_wan, money.rate_pct]
    rows += [["目标任务", s.title_zh, *_lights(s.lights)] for s in data.sections if s.lights is not None]
    return rows


def _projects(data: ReportData) -> list[list[Any]]:
    return [
        [p.layer_title, p.id, p.name, p.county, p.county_name, p.owner, STATUS_ZH.get(p.status, p.status)]
        + [p.progress_pct, p.due, LIGHT_ZH.get(p.light or "", ""), p.lag_pts, REASON_ZH.get(p.reason, p.reason)]
        + [p.plan_year_wan, p.done_year_wan]
        for p in data.projects
    ]


SHEETS: dict[str, tuple[str, ...]] = {
    "汇总": ("目标任务", "图层", "单位", "目标", "完成", "完成率(%)", "本期新增", "项目数", "已完成项目", "逾期")
    + ("绿灯", "黄灯", "红灯"),
    "各区县": ("目标任务", "图层", "区县代码", "区县", "任务", "完成", "完成率(%)", "项目数", "已完成项目", "逾期"),
    "逾期": ("目标任务", "编号", "项目名称", "节点", "区县", "责任单位", "应完成日期", "逾期天数", "状态", "进度(%)"),
    "红黄绿灯": ("范围", "名称", "绿灯", "黄灯", "红灯", "无完成时限", "延期完成", "项目数")
    + ("年度计划投资(万元)", "年度完成投资(万元)", "投资完成率(%)"),
    "明细": ("目标任务", "编号", "项目名称", "区县代码", "区县", "责任单位", "状态", "进度(%)", "应完成日期")
    + ("灯", "滞后(百分点)", "原因", "年度计划投资(万元)", "年度完成投资(万元)"),
}
"""Each sheet's Chinese headers, in order."""


def report_xlsx(data: ReportData) -> bytes:
    """Return the report as XLSX bytes (identical for identical report data)."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    created = data.generated_at.replace(tzinfo=None)
    book.set_properties(
        {
            "title": data.title,
            "subject": data.period_text,
            "author": "planmap",
            "company": data.scope_name,
            "comments": f"数据版本 {data.data_version}",
            "created": created,
        }
    )
    rows = {"汇总": _summary, "各区县": _counties, "逾期": _overdue, "红黄绿灯": _lights_rows, "明细": _projects}
    for name, headers in SHEETS.items():
        _sheet(book, name, data, headers, rows[name](data))
    book.close()
    return out.getvalue()
