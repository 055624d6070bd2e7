"""Importers of forms already in circulation, described by other tools' templates.

- `import_quexf`: a queXF banding XML plus a blank scan of the printed form;
- `import_omrchecker`: an OMRChecker ``template.json`` (bubble sheets), optionally with a sample
  sheet as the reference image.

Both write ``<out_dir>/<id>/v<N>.yaml`` with the reference page image(s) beside it and return the
YAML's path; the file passes `intake templates check`.
"""

from intake.forms.importers.omrchecker import import_omrchecker
from intake.forms.importers.quexf import import_quexf

__all__ = ["import_omrchecker", "import_quexf"]
