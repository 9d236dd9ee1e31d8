"""Model families in the catalog: each registers from its checkpoint with its family and
capabilities, the catalog page shows them, a broken one is refused naming the family and the
missing part, schedulers and prompt limits follow the family; and every family generates
through a real worker (load, warm, generate, check, sign, store) on its tiny model."""

import io
import json
import shutil

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from PIL import Image

from generation.engine.families import FAMILIES
from generation.jobs import signing
from generation.jobs.catalog import model_profile_save
from generation.jobs.models import ModelProfile
from generation.provenance import verify
from tests.conftest import submit, wait_until_finished

#: family: (label on the page, modes its tiny model has)
FAMILY_MODES = {
    "stable-diffusion": ["text-to-image", "image-to-image", "inpainting"],
    "stable-diffusion-xl": ["text-to-image", "image-to-image", "inpainting"],
    "stable-diffusion-3": ["text-to-image", "image-to-image", "inpainting"],
    "pixart-alpha": ["text-to-image"],
    "pixart-sigma": ["text-to-image"],
    "flux": ["text-to-image", "image-to-image", "inpainting"],
}


def register(tenant, family, path, **fields):
    return model_profile_save(
        organization=tenant.organization,
        actor=tenant.users["admin"],
        name=f"tiny-{family}",
        fields={
            "display_name": f"Tiny {FAMILIES[family].label}",
            "path": str(path),
            "capabilities": FAMILY_MODES[family],
            "sizes": [64],
            "default_size": 64,
            "default_steps": 2,
            "max_steps": 4,
            "default_guidance": 4.0,
            **fields,
        },
        projects=[tenant.project],
    )


@pytest.mark.django_db
def test_every_family_registers_and_the_catalog_page_shows_it(client, acme, tiny_family_models):
    for family, path in tiny_family_models.items():
        profile = register(acme, family, path)
        assert (profile.family, profile.model_capabilities) == (
            family,
            sorted(FAMILY_MODES[family]),
        )
        assert profile.prompt_tokens == FAMILIES[family].prompt_tokens
    client.force_login(acme.users["admin"])
    page = client.get("/models/").content.decode()
    for family in tiny_family_models:
        assert f'data-family="{family}">{FAMILIES[family].label}' in page.replace("&amp;", "&")
    assert "Text to image, Image to image, Inpainting" in page
    pixart = ModelProfile.objects.get(name="tiny-pixart-sigma")
    assert pixart.capability_labels == ["Text to image"]
    edit = client.get(f"/models/{pixart.pk}/").content.decode()
    assert "PixArt-Sigma model: can do text-to-image; reads up to 300 tokens" in edit


@pytest.mark.django_db
def test_a_family_cannot_be_given_a_mode_it_does_not_have(acme, tiny_family_models):
    with pytest.raises(ValidationError) as refused:
        register(
            acme,
            "pixart-alpha",
            tiny_family_models["pixart-alpha"],
            capabilities=["text-to-image", "inpainting"],
        )
    assert refused.value.message_dict["capabilities"] == [
        "This PixArt-Alpha model (PixArtAlphaPipeline) cannot do inpainting."
    ]


@pytest.mark.django_db
def test_a_broken_model_shows_its_family_s_refusal_on_the_form(
    client, acme, tiny_family_models, tmp_path
):
    broken = shutil.copytree(tiny_family_models["stable-diffusion-xl"], tmp_path / "sdxl")
    index = json.loads((broken / "model_index.json").read_text())
    index["text_encoder_2"] = [None, None]
    (broken / "model_index.json").write_text(json.dumps(index))
    client.force_login(acme.users["admin"])
    response = client.post(
        "/models/new/",
        {"name": "broken-sdxl", "path": str(broken), "capabilities": ["text-to-image"],
         "queue": "gpu", "sizes": "64", "default_size": 64, "default_steps": 10,
         "max_steps": 20, "default_guidance": 5, "max_guidance": 10, "max_images": 2},
    )  # fmt: skip
    assert response.status_code == 400
    (error,) = response.context["form"].errors["path"]
    assert error.startswith(f"SDXL model at {broken}: text_encoder_2 is missing")
    assert error in response.content.decode().replace("&#x27;", "'")
    assert not ModelProfile.objects.filter(name="broken-sdxl").exists()


@pytest.mark.django_db
def test_schedulers_follow_the_family(acme, tiny_family_models):
    with pytest.raises(ValidationError) as refused:
        register(acme, "flux", tiny_family_models["flux"], scheduler="DDIMScheduler")
    assert refused.value.message_dict["scheduler"] == [
        "Flux is a flow-matching model: DDIM does not fit it. Choose its own scheduler or "
        "Flow-matching Euler."
    ]
    with pytest.raises(ValidationError) as refused:
        register(
            acme,
            "stable-diffusion",
            tiny_family_models["stable-diffusion"],
            scheduler="FlowMatchEulerDiscreteScheduler",
        )
    assert "Stable Diffusion 1.x/2.x is a denoising model" in str(refused.value)
    flux = register(
        acme, "flux", tiny_family_models["flux"], scheduler="FlowMatchEulerDiscreteScheduler"
    )
    assert flux.scheduler == "FlowMatchEulerDiscreteScheduler"


@pytest.mark.django_db
def test_the_prompt_limit_is_the_family_s_in_the_api_the_form_and_the_feedback(
    client, acme, tiny_family_models
):
    acme.model.projects.clear()  # only the registered models below
    register(acme, "stable-diffusion", tiny_family_models["stable-diffusion"])
    register(acme, "pixart-alpha", tiny_family_models["pixart-alpha"])
    prompt = " ".join(["star"] * 100)  # 102 CLIP tokens (start, end), 101 T5 tokens (end)
    refused = f"The prompt is 102 tokens long for Tiny {FAMILIES['stable-diffusion'].label}; "
    refused += "Stable Diffusion 1.x/2.x models read at most 77."
    body = {"prompt": prompt, "width": 64, "height": 64, "steps": 2}

    api = acme.client("creator").post(
        f"/api/v1/projects/{acme.project.slug}/requests/",
        body | {"model": "tiny-stable-diffusion"},
        format="json",
    )
    assert api.status_code == 400 and api.json()["errors"] == {"prompt": [refused]}
    assert submit(acme, body | {"model": "tiny-pixart-alpha"})  # T5 reads 120: accepted
    too_long = " ".join(["star"] * 130)
    api = acme.client("creator").post(
        f"/api/v1/projects/{acme.project.slug}/requests/",
        body | {"model": "tiny-pixart-alpha", "negative_prompt": too_long},
        format="json",
    )
    assert api.json()["errors"] == {
        "negative_prompt": [
            "The negative prompt is 131 tokens long for Tiny PixArt-Alpha; PixArt-Alpha models "
            "read at most 120."
        ]
    }

    client.force_login(acme.users["creator"])
    page = client.get(f"/projects/{acme.project.slug}/")
    help_text = page.context["form"].fields["prompt"].help_text
    assert "Tiny PixArt-Alpha (PixArt-Alpha) 120" in help_text
    assert "Tiny Stable Diffusion 1.x/2.x (Stable Diffusion 1.x/2.x) 77" in help_text
    form = client.post(
        f"/projects/{acme.project.slug}/",
        body | {"model": "tiny-stable-diffusion", "mode": "text-to-image", "num_images": 1,
                "guidance_scale": 4},
    )  # fmt: skip
    assert form.status_code == 400 and form.context["form"].errors["prompt"] == [refused]
    feedback = client.post(
        f"/projects/{acme.project.slug}/policy-check/",
        {"prompt": prompt, "model": "tiny-stable-diffusion"},
    )
    assert refused in feedback.context["limit_errors"]
    feedback = client.post(
        f"/projects/{acme.project.slug}/policy-check/",
        {"prompt": prompt, "model": "tiny-pixart-alpha"},
    )
    assert feedback.context["limit_errors"] == []


@pytest.mark.e2e
def test_every_family_generates_through_a_real_worker(acme, tiny_family_models, start_worker):
    acme.model.projects.clear()
    for family, path in tiny_family_models.items():
        register(acme, family, path)
    worker = start_worker()  # one worker for all families: loads and warms them as jobs come
    body = {"prompt": "a red star on a navy background", "width": 64, "height": 64,
            "steps": 2, "seed": 5}  # fmt: skip
    requests = {family: submit(acme, body | {"model": f"tiny-{family}"}) for family in FAMILY_MODES}
    for family, request_id in requests.items():
        request = wait_until_finished(request_id)
        assert request.status == "succeeded", (family, request.error, worker.output())
        asset = request.assets.get()
        with default_storage.open(asset.image.name, "rb") as stored:
            png = stored.read()
        assert Image.open(io.BytesIO(png)).size == (64, 64), family
        report = verify(png, trust_anchors_pem=signing.trust_anchors()).to_dict()
        assert report["status"] == "trusted", (family, report["failures"])
        assert asset.provenance["signed"], family
