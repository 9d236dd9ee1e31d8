"""Provenance cost and re-identification: sign, verify, watermark, find a stripped copy.

Images: 100 procedural 512x512 scenes from the demo dataset
(``generation.demo.dataset.render(scene, size=512)``, training split, seed ``--seed``),
each with mild Gaussian noise (sigma ``--noise``, default 6) so the flat demo shapes have
the fine texture a real generation has; ``--noise 0`` uses the bare renders.

Per image, in the order the GPU worker does it:

1. **watermark**: ``embed_watermark`` with the asset's 48-bit id (``dwtDctSvd``).
2. **sign**: ``sign_generated`` on the PNG bytes with a full generation claim and our own
   256 px JPEG thumbnail (SDK thumbnail off), signer = a development PKI made in a
   temporary directory (ES256). The decoded image is passed in, as the worker has it.
3. **verify**: ``verify`` with the development root as trust anchor; every report must say
   ``trusted`` or the benchmark stops.
4. **re-identify**: decode the signed PNG with PIL (metadata gone), save as JPEG q85,
   decode, and look it up among the 100 assets: by watermark first, then by nearest pHash
   within ``--max-distance`` bits. Counted as found only when it names the right asset.

PNG encoding is not part of ``sign_ms`` (the worker encodes once either way). Times are
wall-clock medians (``time.perf_counter``) after one warm-up image; the machine may be
shared, so the process CPU time of each phase is printed too.

The last line is always ``sign_ms=<median> verify_ms=<median> watermark_ms=<median>
reid_after_jpeg85=<fraction>``.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from PIL import Image

from generation.demo.dataset import render, scenes
from generation.provenance import (
    GenerationClaim,
    create_development_pki,
    sign_generated,
    verify,
)
from generation.provenance.fingerprint import (
    embed_watermark,
    match_perceptual_hash,
    perceptual_hash,
    read_watermark,
    watermark_id_for,
)


def make_images(n: int, seed: int, noise: float) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    out = []
    for scene in islice(scenes("train", seed), n):
        im = render(scene, size=512)
        if noise > 0:
            arr = np.asarray(im).astype(np.float32) + rng.normal(0, noise, (512, 512, 3))
            im = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
        out.append(im)
    return out


def claim_for(i: int) -> GenerationClaim:
    return GenerationClaim(
        request_id=f"req-{i}",
        project="bench",
        model="tiny-sd",
        model_version="1.0",
        checkpoint_sha256="ab" * 32,
        prompt=f"scene number {i}",
        scheduler="DDIMScheduler",
        steps=10,
        guidance_scale=7.5,
        seed=i,
        width=512,
        height=512,
        policy_versions={"prompt_policy": 3},
        checks={"safety": {"passed": True, "score": 0.01}, "brand": {"passed": True}},
        asset_id=f"asset-{i}",
    )


def png_bytes(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--noise", type=float, default=6.0)
    parser.add_argument("--max-distance", type=int, default=10)
    args = parser.parse_args()

    images = make_images(args.images + 1, args.seed, args.noise)
    with tempfile.TemporaryDirectory() as tmp:
        pki = create_development_pki(tmp)
        signer = pki.signer()
        anchors = pki.trust_anchors_pem()

        # Warm-up: loads the c2pa library, imwatermark (imports torch), numpy paths.
        warm, _ = embed_watermark(images[0], watermark_id_for("warm"))
        verify(
            sign_generated(png_bytes(warm), signer=signer, claim=claim_for(0), image=warm),
            trust_anchors_pem=anchors,
        )

        wm_ms, sign_ms, verify_ms = [], [], []
        cpu = {"watermark": 0.0, "sign": 0.0, "verify": 0.0}
        ids, hashes, signed_all = {}, {}, []
        for i, im in enumerate(images[1:]):
            key = f"asset-{i}"
            wid = watermark_id_for(key)
            c0, t0 = time.process_time(), time.perf_counter()
            marked, embedded = embed_watermark(im, wid)
            wm_ms.append((time.perf_counter() - t0) * 1000)
            cpu["watermark"] += time.process_time() - c0
            assert embedded
            ids[wid] = key
            hashes[key] = perceptual_hash(marked)
            data = png_bytes(marked)

            c0, t0 = time.process_time(), time.perf_counter()
            signed = sign_generated(data, signer=signer, claim=claim_for(i), image=marked)
            sign_ms.append((time.perf_counter() - t0) * 1000)
            cpu["sign"] += time.process_time() - c0

            c0, t0 = time.process_time(), time.perf_counter()
            report = verify(signed, trust_anchors_pem=anchors)
            verify_ms.append((time.perf_counter() - t0) * 1000)
            cpu["verify"] += time.process_time() - c0
            if report.status != "trusted" or not report.has_thumbnail:
                sys.exit(f"image {i}: verification says {report.status} {report.failure_codes}")
            signed_all.append((key, signed))

        by_wm = by_hash = found = 0
        for key, signed in signed_all:
            buf = io.BytesIO()
            Image.open(io.BytesIO(signed)).convert("RGB").save(buf, "JPEG", quality=85)
            copy = Image.open(io.BytesIO(buf.getvalue()))
            wm_key = ids.get(read_watermark(copy) or "")
            hash_key = match_perceptual_hash(
                perceptual_hash(copy), hashes, max_distance=args.max_distance
            )
            by_wm += wm_key == key
            by_hash += hash_key == key
            found += (wm_key or hash_key) == key

    n = len(signed_all)
    for name, values in (("watermark", wm_ms), ("sign", sign_ms), ("verify", verify_ms)):
        print(
            f"{name:9s} median {statistics.median(values):6.1f} ms  "
            f"p90 {sorted(values)[int(0.9 * n)]:6.1f} ms  cpu/img {1000 * cpu[name] / n:6.1f} ms"
        )
    print(
        f"re-identified after strip + JPEG q85: by watermark {by_wm}/{n}, "
        f"by pHash (<= {args.max_distance} bits) {by_hash}/{n}, either {found}/{n}"
    )
    print(
        f"sign_ms={statistics.median(sign_ms):.1f} verify_ms={statistics.median(verify_ms):.1f} "
        f"watermark_ms={statistics.median(wm_ms):.1f} reid_after_jpeg85={found / n:.2f}"
    )


if __name__ == "__main__":
    main()
