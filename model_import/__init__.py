"""Models from the ecosystem (scikit-learn, ONNX, XGBoost, LightGBM) as fixed-point weights
for a program's declared model: `import_model` here, `rmtc model import` on the command
line (docs/models.md).  Needs the optional extras: pip install 'rmt[ml]'."""
from rmt.model_import.api import DEFAULT_MIN_AGREEMENT, Imported, Report, import_model
from rmt.model_import.ir import ModelImportError

__all__ = ["DEFAULT_MIN_AGREEMENT", "Imported", "ModelImportError", "Report", "import_model"]
