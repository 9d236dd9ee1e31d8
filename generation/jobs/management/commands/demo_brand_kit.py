"""Give a demo project a brand kit that the demo model pack understands.

The demo CLIP knows only coloured shapes on coloured backgrounds, so the kit says "red shapes
on navy": red, navy and white as the palette, descriptors in the words the model was trained
on, and reference images drawn by the demo dataset (training split). Run by ``make run``.
"""

import io

from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from imprimatur.tenancy.events import project_updated
from imprimatur.tenancy.models import BrandProject, BrandReferenceImage

DEMO_KIT = {
    "palette": ["#D72323", "#192364", "#FFFFFF"],
    "on_brand_descriptors": ["a red shape on a navy background", "a red star", "a red circle"],
    "off_brand_descriptors": [
        "a green shape on a yellow background",
        "a blue shape on an orange background",
        "a yellow shape",
    ],
}
REFERENCES = 6


class Command(BaseCommand):
    help = (
        "Set the brand kit of a demo project to 'red shapes on navy' (palette, descriptors and "
        f"{REFERENCES} reference images drawn by the demo dataset), which the demo CLIP model "
        "can judge. Leaves a project alone if it already has reference images, unless --force."
    )

    def add_arguments(self, parser):
        parser.add_argument("--organization", default="acme", help="Organisation slug.")
        parser.add_argument("--project", default="spring-campaign", help="Project slug.")
        parser.add_argument("--force", action="store_true", help="Replace an existing kit.")

    def handle(self, *args, organization, project, force, **options):
        from generation.demo.dataset import Scene, render

        found = BrandProject.objects.filter(organization__slug=organization, slug=project).first()
        if found is None:
            raise CommandError(f"No project {project!r} in organisation {organization!r}.")
        if found.reference_images.exists() and not force:
            self.stdout.write(f"{found} already has a brand kit with reference images; kept.")
            return
        with transaction.atomic():
            for key, value in DEMO_KIT.items():
                setattr(found, key, value)
            found.full_clean()
            found.save()
            found.reference_images.all().delete()
            shapes = ("circle", "square", "star", "triangle", "ring", "star")
            for index, shape in enumerate(shapes[:REFERENCES]):
                scene = Scene(shape=shape, colour="red", background="navy",
                              cx=0.5, cy=0.5, size=0.5 + 0.05 * (index % 3))  # fmt: skip
                buffer = io.BytesIO()
                render(scene, size=64).save(buffer, format="PNG")
                reference = BrandReferenceImage(project=found, caption=f"a red {shape} on navy")
                reference.image.save(f"demo-{shape}-{index}.png", ContentFile(buffer.getvalue()))
            project_updated(
                project=found,
                actor=None,
                fields=["brand_kit"],
                changes={
                    "brand_kit": "demo",
                    "references": REFERENCES,
                    "command": "demo_brand_kit",
                },
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"{found}: brand kit 'red shapes on navy' with {REFERENCES} reference images; "
                "a worker embeds them."
            )
        )
