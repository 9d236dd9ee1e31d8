"""Output checks: images in, JSON-ready results out (plain Python, no Django).

Safety: NudeNet detections with per-class rules (``safety``) and CLIP zero-shot concepts
(``concepts``). Brand fit: CLIP similarity to the kit's reference images and descriptors,
palette distance in CIELAB, prompt alignment (``brand``). ``run_checks`` runs them all on a
job's images in one batch per model and gives one ``ImageChecks`` per image.
"""

from generation.checks.brand import (
    BrandKit,
    BrandResult,
    BrandThresholds,
    BrandWeights,
    PaletteResult,
    check_brand,
    palette_compliance,
    reference_embeddings,
)
from generation.checks.common import FAIL, FLAG, PASS
from generation.checks.concepts import ConceptResult, ConceptSpec, score_concepts
from generation.checks.runner import CHECKS_VERSION, ChecksConfig, ImageChecks, run_checks
from generation.checks.safety import (
    DEFAULT_NUDENET_RULES,
    NudeNetResult,
    NudeNetRule,
    detect_nudity,
    faces,
    nudenet_rules,
)

__all__ = [
    "CHECKS_VERSION",
    "DEFAULT_NUDENET_RULES",
    "FAIL",
    "FLAG",
    "PASS",
    "BrandKit",
    "BrandResult",
    "BrandThresholds",
    "BrandWeights",
    "ChecksConfig",
    "ConceptResult",
    "ConceptSpec",
    "ImageChecks",
    "NudeNetResult",
    "NudeNetRule",
    "PaletteResult",
    "check_brand",
    "detect_nudity",
    "faces",
    "nudenet_rules",
    "palette_compliance",
    "reference_embeddings",
    "run_checks",
    "score_concepts",
]
