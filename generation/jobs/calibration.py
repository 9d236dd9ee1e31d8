"""Calibration: how each check score is spread over a project's recent images, and how
reviewers decided on them, so admins set thresholds from data rather than by guess.

Reads the latest check of each of the newest ``limit`` assets (one query) and bins every score
into ten bins per decision (approved, rejected, not decided yet).
"""

from dataclasses import dataclass, field

from generation.jobs.evidence import BRAND_PART_LABELS
from generation.jobs.models import Asset, AssetCheck
from imprimatur.tenancy.models import BRAND_THRESHOLD_DEFAULTS

BINS = 10
DECISIONS = ("approved", "rejected", "undecided")

#: The distributions whose threshold is the brand kit's, and its name there: an admin sets
#: these from the chart. The others' thresholds belong to the prompt policy (concepts, NudeNet).
BRAND_KIT_THRESHOLDS = {
    "brand": "score",
    "brand.reference": "reference",
    "brand.descriptors": "descriptors",
    "brand.palette": "palette",
    "brand.alignment": "alignment",
}


@dataclass
class Distribution:
    """One score over the images: counts per bin and decision, and the threshold in force."""

    key: str
    label: str
    low: float
    high: float
    thresholds: set = field(default_factory=set)
    values: list[tuple[float, str]] = field(default_factory=list)
    #: The threshold of the newest image's check (images are read newest first).
    latest_threshold: float | None = None

    def add(self, value, decision: str, threshold=None) -> None:
        if value is None:
            return
        self.values.append((float(value), decision))
        if threshold is not None:
            self.thresholds.add(round(float(threshold), 4))
            if self.latest_threshold is None:
                self.latest_threshold = round(float(threshold), 4)

    @property
    def count(self) -> int:
        return len(self.values)

    def bins(self, threshold: float | None = None) -> list[dict]:
        """Ten bins from ``low`` to ``high``, each with its count per decision and its share
        of the tallest bin (for drawing); with a ``threshold``, the bin it falls in is marked
        (and where in it, in percent) and the bins wholly under it (images flagged)."""
        width = (self.high - self.low) / BINS
        rows = [
            {"start": self.low + i * width, "end": self.low + (i + 1) * width}
            | dict.fromkeys(DECISIONS, 0)
            for i in range(BINS)
        ]
        for value, decision in self.values:
            index = min(BINS - 1, max(0, int((value - self.low) / width)))
            rows[index][decision] += 1
        tallest = max((sum(row[d] for d in DECISIONS) for row in rows), default=0) or 1
        for row in rows:
            for decision in DECISIONS:
                row[f"{decision}_percent"] = round(100 * row[decision] / tallest, 1)
            row["below"] = threshold is not None and row["end"] <= threshold + 1e-9
            row["marked"] = False
        if threshold is not None:
            index = min(BINS - 1, max(0, int((threshold - self.low) / width)))
            rows[index]["marked"] = True
            offset = (threshold - rows[index]["start"]) / width
            rows[index]["marker_percent"] = round(100 * min(1.0, max(0.0, offset)), 1)
        return rows

    def effect(self, threshold: float | None) -> dict | None:
        """What a threshold does to these images: how many of each decision score under it
        (and so are flagged) — approved ones under it are images the check would have sent
        to a reviewer needlessly, rejected ones over it images it let through."""
        if threshold is None:
            return None
        under = dict.fromkeys(DECISIONS, 0)
        over = dict.fromkeys(DECISIONS, 0)
        for value, decision in self.values:
            (under if value < threshold else over)[decision] += 1
        return {"threshold": threshold, "under": under, "over": over}

    def summary(self) -> dict:
        approved = sorted(v for v, d in self.values if d == "approved")
        rejected = sorted(v for v, d in self.values if d == "rejected")
        return {
            "approved_median": _median(approved),
            "rejected_median": _median(rejected),
            "thresholds": sorted(self.thresholds),
        }


def current_threshold(distribution: Distribution, project) -> float | None:
    """The threshold in force now: the brand kit's (its own or the default) for brand
    scores; for the others, the one the latest checks ran with (their policy's)."""
    name = BRAND_KIT_THRESHOLDS.get(distribution.key)
    if name is not None:
        return float(project.brand_thresholds.get(name, BRAND_THRESHOLD_DEFAULTS[name]))
    return distribution.latest_threshold


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def _decision(asset_status: str) -> str:
    if asset_status == Asset.Status.APPROVED:
        return "approved"
    if asset_status == Asset.Status.REJECTED:
        return "rejected"
    return "undecided"


def score_distributions(*, project, limit: int = 500) -> tuple[list[Distribution], int]:
    """The distributions of every score over the project's newest ``limit`` checked assets,
    and how many assets they cover."""
    # Newest assets first and, within one, its newest run first: the first run seen of an
    # asset is its current one.
    checks = (
        AssetCheck.objects.filter(asset__request__project=project)
        .select_related("asset")
        .order_by("-asset_id", "-pk")
    )
    distributions: dict[str, Distribution] = {}

    def get(key: str, label: str, low: float = 0.0, high: float = 1.0) -> Distribution:
        if key not in distributions:
            distributions[key] = Distribution(key, label, low, high)
        return distributions[key]

    seen: set[int] = set()
    for check in checks.iterator():
        if check.asset_id in seen:
            continue  # an older run of an asset already counted
        seen.add(check.asset_id)
        if len(seen) > limit:
            break
        decision = _decision(check.asset.status)
        result = check.result
        brand = result.get("brand")
        if brand:
            get("brand", "Brand score").add(brand.get("score"), decision, brand.get("threshold"))
            for name, part in (brand.get("parts") or {}).items():
                low = -1.0 if name in ("alignment", "reference") else 0.0
                label = BRAND_PART_LABELS.get(name, name.replace("_", " "))
                get(f"brand.{name}", f"Brand: {label[:1].lower()}{label[1:]}", low).add(
                    part.get("value"), decision, part.get("threshold")
                )
        for concept in result["safety"].get("concepts", []):
            get(f"concept.{concept['name']}", f"Concept: {concept['name']}").add(
                concept["score"], decision, concept["threshold"]
            )
        strongest: dict[str, tuple[float, float]] = {}
        for detection in result["safety"]["nudenet"]["detections"]:
            name = detection["class"]
            if detection["score"] > strongest.get(name, (0.0, 0.0))[0]:
                strongest[name] = (detection["score"], detection["threshold"])
        for name, (score, threshold) in strongest.items():
            get(f"nudenet.{name}", f"NudeNet: {name}").add(score, decision, threshold)
    ordered = sorted(distributions.values(), key=lambda d: (d.key.split(".")[0] != "brand", d.key))
    return ordered, min(len(seen), limit)
