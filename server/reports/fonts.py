"""The CJK font PDFs are set in, found through fontconfig when a PDF is made."""

from __future__ import annotations

import shutil
import subprocess
from functools import lru_cache

from layers.errors import ReportUnavailable

PREFERRED = ("Noto Sans CJK SC", "Noto Serif CJK SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei")
PACKAGE = "fonts-noto-cjk"


@lru_cache(maxsize=1)
def cjk_family() -> str:
    """Return the family name of an installed font covering Simplified Chinese.

    Raises
    ------
    ReportUnavailable
        When fontconfig finds none (install the Debian package ``fonts-noto-cjk``).
    """
    fc_list = shutil.which("fc-list")
    found = ""
    if fc_list:
        found = subprocess.run(
            [fc_list, ":lang=zh-cn", "family"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    families = {name.strip() for line in found.splitlines() for name in line.split(",")}
    for name in PREFERRED:
        if name in families:
            return name
    if families:
        return sorted(families)[0]
    raise ReportUnavailable(f"no Chinese font found by fontconfig: install the Debian package {PACKAGE}")
