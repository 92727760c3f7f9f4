"""Static HTML reports with frozen, verifiable manifests, and the reproducibility kit.

- ``export_notebook`` / ``export_notebooks``: run marimo notebooks and write ``NAME.html`` (one
  self-contained file, no network) + ``NAME.manifest.json`` (frozen) + ``index.html``.
- ``verify_manifest``: re-hash the report and every input; optionally re-run and compare key numbers.
- ``build_archive``: a tar.gz of reports, manifests, the task files and run metrics they name.
- ``fill_kit``: fill the reproducibility-kit documents from manifests and a run directory.

Module map: ``render`` (outputs → HTML, in the notebook process), ``runner`` (that child process),
``manifest`` (environment, git, inputs, secret masking), ``export``, ``verify``, ``archive``, ``kit``.
"""

from codeself.reports.archive import build_archive
from codeself.reports.export import (
    MAX_REPORT_BYTES,
    ExportResult,
    ReportError,
    discover_notebooks,
    export_notebook,
    export_notebooks,
    external_references,
    write_index_page,
)
from codeself.reports.kit import fill_kit
from codeself.reports.verify import Verification, verify_manifest

__all__ = [
    "MAX_REPORT_BYTES",
    "ExportResult",
    "ReportError",
    "discover_notebooks",
    "export_notebook",
    "export_notebooks",
    "external_references",
    "write_index_page",
    "Verification",
    "verify_manifest",
    "build_archive",
    "fill_kit",
]
