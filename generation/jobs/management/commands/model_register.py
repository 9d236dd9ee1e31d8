"""Add (or update) a model of the catalog from the command line."""

from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from generation.jobs.catalog import model_profile_save
from generation.jobs.models import Mode, ModelProfile
from imprimatur.tenancy.models import BrandProject, Organization


class Command(BaseCommand):
    help = (
        "Register a local diffusers checkpoint as a model profile of an organisation and allow "
        "it for projects. The checkpoint's config is read (not its weights) and a broken path "
        "is refused with the reason. Run as the platform (no user): audited as 'system'."
    )

    def add_arguments(self, parser):
        parser.add_argument("--organization", required=True, help="Organisation slug.")
        parser.add_argument("--name", required=True, help="Model name used in requests.")
        parser.add_argument(
            "--path",
            type=Path,
            default=None,
            help="Local diffusers directory (default: the demo pack's pipeline, "
            "generation/demo_models/tiny-sd).",
        )
        parser.add_argument(
            "--single-file-config",
            default="",
            help="For a single .safetensors file: a local diffusers directory with its configs.",
        )
        parser.add_argument("--display-name", default="")
        parser.add_argument(
            "--capabilities",
            default=Mode.TEXT_TO_IMAGE,
            help=f"Comma-separated, from: {', '.join(Mode.values)}.",
        )
        parser.add_argument("--sizes", default="64", help="Comma-separated allowed sizes.")
        parser.add_argument("--default-size", type=int, default=None)
        parser.add_argument("--default-steps", type=int, default=20)
        parser.add_argument("--max-steps", type=int, default=50)
        parser.add_argument("--default-guidance", type=float, default=7.5)
        parser.add_argument("--max-guidance", type=float, default=20.0)
        parser.add_argument("--max-images", type=int, default=4)
        parser.add_argument("--queue", default="gpu")
        parser.add_argument("--licence-note", default="")
        parser.add_argument(
            "--projects", default="", help="Comma-separated project slugs that may use it."
        )
        parser.add_argument(
            "--if-missing", action="store_true", help="Leave an existing model of that name."
        )

    def handle(self, *args, **options):
        organization = Organization.objects.filter(slug=options["organization"]).first()
        if organization is None:
            raise CommandError(f"No organisation {options['organization']!r}.")
        existing = ModelProfile.objects.filter(
            organization=organization, name=options["name"]
        ).first()
        if existing and options["if_missing"]:
            self.stdout.write(f"Model {existing.name} already registered.")
            return
        sizes = [int(size) for size in options["sizes"].split(",") if size.strip()]
        slugs = [slug.strip() for slug in options["projects"].split(",") if slug.strip()]
        projects = list(BrandProject.objects.filter(organization=organization, slug__in=slugs))
        if len(projects) != len(set(slugs)):
            raise CommandError(f"Unknown project among {slugs} in {organization.slug}.")
        fields = {
            "display_name": options["display_name"] or options["name"],
            "single_file_config": options["single_file_config"],
            "path": str((options["path"] or settings.IMPRIMATUR_DEMO_PIPELINE_PATH).resolve()),
            "capabilities": [c.strip() for c in options["capabilities"].split(",") if c.strip()],
            "sizes": sizes,
            "default_size": options["default_size"] or (sizes[0] if sizes else 0),
            "default_steps": options["default_steps"],
            "max_steps": options["max_steps"],
            "default_guidance": options["default_guidance"],
            "max_guidance": options["max_guidance"],
            "max_images": options["max_images"],
            "queue": options["queue"],
            "licence_note": options["licence_note"],
        }
        try:
            profile = model_profile_save(
                organization=organization,
                actor=None,
                name=options["name"],
                fields=fields,
                projects=projects,
                profile=existing,
            )
        except ValidationError as error:
            problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in error.message_dict.items())
            raise CommandError(f"Model not registered: {problems}") from error
        self.stdout.write(
            self.style.SUCCESS(
                f"Model {profile.name} ({profile.family_label}) registered for "
                f"{organization.slug}: {', '.join(slugs) or 'no projects yet'}."
            )
        )
