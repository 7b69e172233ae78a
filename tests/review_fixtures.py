"""Reports (our own sentences) and helpers shared by the review page tests."""
from __future__ import annotations

import json
from pathlib import Path

HOSTILE = ('FINDINGS: <script>window.pwned = 1</script> Small "left" pleural effusion. '
           '</textarea><img src=x onerror="window.pwned = 2"> No pneumothorax.')
REPORTS = [
    ("calm-1", "FINDINGS: The lungs are clear. There is no pleural effusion or pneumothorax. Heart size is normal."),
    ("nodule-2", "FINDINGS: A small nodule is seen in the right upper lobe. No pleural effusion.\n"
                 "IMPRESSION: Possible pneumonia in the left lower lobe, atelectasis or scar."),
    ("cyst-3", "FINDINGS: A thin-walled pneumatocele is seen in the right upper lobe. No pneumothorax."),
    ("hostile-4", HOSTILE),
]
UNKNOWN_PHRASE, UNKNOWN_FINDING = "pneumatocele", "cyst"  # not a form yet: the reviewer adds it to cyst


def write_reports(path: Path, reports: list[tuple[str, str]] = REPORTS) -> Path:
    path.write_text("".join(json.dumps({"id": rid, "text": text}) + "\n" for rid, text in reports), encoding="utf-8")
    return path


def items(reports: list[tuple[str, str]] = REPORTS) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(rid, text, ()) for rid, text in reports]
