"""The import report in Chinese for the import page, and the skipped rows as a CSV file for Excel.

The importer names problems in English (the API's and the command line's language); the page shows each
in Chinese, with the English text kept beside it, so a reason this table does not know is still shown.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from typing import Any

from layers.import_report import ImportReport, RowIssue

_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^outside Xiangtan \(more than (.+) km beyond"), "位于湘潭市范围外（超出区县边界 {0} 公里以上）"),
    (re.compile(r"^wholly outside the Xiangtan city boundary"), "完全位于湘潭市边界之外（裁剪模式下跳过）"),
    (re.compile(r"^no geometry$"), "缺少几何（坐标为空）"),
    (re.compile(r"^coordinates are not finite numbers$"), "坐标不是有效数值"),
    (re.compile(r"^not a number: (.*)$"), "坐标不是数字：{0}"),
    (re.compile(r"^not valid WKT: (.*)$"), "不是有效的 WKT 几何：{0}"),
    (re.compile(r"^invalid geometry: (.*)$"), "几何无效：{0}"),
    (re.compile(r"^a (\w+) does not fit a (\w+) layer$"), "{0} 几何与本图层的 {1} 类型不符"),
    (re.compile(r"^(\d+) points where one is expected$"), "应为一个点，实际有 {0} 个"),
    (re.compile(r"^expected a whole number, got (.*)$"), "应为整数，实际为 {0}"),
    (re.compile(r"^expected a (?:finite )?number, got (.*)$"), "应为数字，实际为 {0}"),
    (re.compile(r"^expected a date in the format (.+), got (.*)$"), "应为格式 {0} 的日期，实际为 {1}"),
    (re.compile(r"^expected a date like .*, got (.*)$"), "应为日期（如 2025-06-30、2025年6月30日），实际为 {0}"),
    (re.compile(r"^expected a date and time, got (.*)$"), "应为日期时间，实际为 {0}"),
    (re.compile(r"^expected true/false \(是/否\), got (.*)$"), "应为 是/否，实际为 {0}"),
    (re.compile(r"^expected JSON, got (.*)$"), "应为 JSON，实际为 {0}"),
    (re.compile(r"^(.+) is not one of (.+)$"), "{0} 不是可选值（{1}）之一，请在值映射中对应"),
    (re.compile(r"^missing id$"), "缺少编号"),
    (re.compile(r"^duplicate id (.+) \(first on row (\d+)\)$"), "编号 {0} 重复（首次出现在第 {1} 行）"),
    (re.compile(r"^the text (.*)$"), "文本无法保存：{0}"),
    (re.compile(r"^every row has a problem"), "每一行都有问题，没有可导入的数据"),
    (re.compile(r"^the mapping names column (.+?), which the file"), "映射中的列 {0} 在文件中不存在"),
    (re.compile(r"^the mapping reads field (.+) from column (.+?), which"), "字段 {0} 映射的列 {1} 在文件中不存在"),
    (re.compile(r"^an upsert needs an id column"), "按编号更新（upsert）需要编号列"),
    (
        re.compile(r"^the import would remove (\d+) of the (\d+) stored"),
        "导入将删除已有 {1} 条中的 {0} 条，超过允许的数量",
    ),
    (re.compile(r"^latitude and longitude were swapped"), "经纬度顺序颠倒，已自动纠正"),
    (re.compile(r"^repaired invalid geometry"), "几何无效，已自动修复"),
    (re.compile(r"^(.+) holds no features"), "{0} 中没有要素"),
    (re.compile(r"^the file declares no CRS; (.+) was inferred"), "文件未声明坐标系，根据坐标范围推断为 {0}"),
    (re.compile(r"^the file has no id column; ids (.+) were generated"), "文件没有编号列，已生成编号 {0}"),
    (re.compile(r"^column (.+) taken as field (.+) \(a shortened name\)$"), "列 {0} 按简写对应到字段 {1}"),
    (re.compile(r"^(\d+) feature\(s\) lie in another county than given: (.*)$"), "{0} 个要素位于所填区县之外：{1}"),
    (
        re.compile(r"^the import removes (\d+) feature\(s\) absent from the file: (.*)$"),
        "导入将删除文件中没有的 {0} 个要素：{1}",
    ),
    (
        re.compile(r"^(\w+) differs from the geodesic value by more than 5% for: (.*)$"),
        "{0} 与按几何计算的值相差 5% 以上：{1}",
    ),
]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_COLUMNS = ["行号", "位置", "编号", "列", "原因", "reason"]


def problem_zh(text: str) -> str:
    """Return a problem of the import report in Chinese (the English text when it is not a known one).

    Examples
    --------
    >>> problem_zh("duplicate id 'ST-01' (first on row 2)")
    "编号 'ST-01' 重复（首次出现在第 2 行）"
    """
    refused = "applying would be refused: "
    if text.startswith(refused):
        return "确认导入将被拒绝：" + problem_zh(text[len(refused) :])
    for pattern, template in _RULES:
        match = pattern.match(text)
        if match:
            return template.format(*match.groups())
    return text


def _issue(issue: RowIssue) -> dict[str, Any]:
    return {**issue.model_dump(mode="json"), "problem_zh": problem_zh(issue.problem)}


def summary_zh(report: ImportReport) -> str:
    """Return the counts in one Chinese sentence: what the import would do (dry run) or did."""
    counts = (
        f"新增 {report.added} 条，更新 {report.updated} 条，{report.unchanged} 条不变，"
        f"删除 {report.removed} 条，跳过 {report.skipped_rows} 行"
    )
    if report.status == "dry_run":
        return f"试导入：共 {report.rows} 行，将{counts}。"
    if report.status == "applied":
        return f"导入完成：共 {report.rows} 行，已{counts}。"
    return f"文件被拒绝，未做任何修改：{report.problems_total} 个问题。"


def report_zh(report: ImportReport) -> dict[str, Any]:
    """Return the report for the page: the counts, a Chinese summary, and each issue with ``problem_zh``."""
    doc = report.model_dump(mode="json")
    doc["summary_zh"] = summary_zh(report)
    for key in ("skipped", "problems", "repairs"):
        doc[key] = [_issue(i) for i in getattr(report, key)]
    doc["warnings_zh"] = [problem_zh(w) for w in report.warnings]
    return doc


def _cell(value: Any) -> str:
    """Return a cell's text; text Excel would take for a formula gets a leading apostrophe (OWASP CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def every_skipped_csv(report: ImportReport) -> bytes:
    """Return every row the import skipped (not only the listed ones) as ``skipped_csv`` writes them."""
    return skipped_csv(_issue(i) for i in report.every_skipped())


def skipped_csv(issues: Iterable[dict[str, Any]]) -> bytes:
    """Return the skipped rows (row number, place, id, column, reason) as CSV in UTF-8 with a BOM (for Excel)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(_COLUMNS)
    keys = ("row", "location", "id", "column", "problem_zh", "problem")
    for issue in issues:
        writer.writerow([_cell(issue.get(k)) for k in keys])
    return ("\ufeff" + out.getvalue()).encode("utf-8")
