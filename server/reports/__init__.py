"""Rendering reports and printed maps: PDF through WeasyPrint (HTML + CSS), XLSX through xlsxwriter."""
