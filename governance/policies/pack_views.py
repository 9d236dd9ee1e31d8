"""The baseline packs page of a policy: which packs its draft adopts (version and action),
what a newer pack version changes (terms added and removed, by language) before it is
adopted, and the forms to adopt, update or drop a pack. Writes go through ``services``."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render

from governance.policies import selectors, services
from governance.policies.display import CATEGORY_LABELS
from governance.policies.forms import PackAdoptForm
from governance.policies.matching import Action
from governance.policies.packs import pack_diff, packs_latest


def _rows(policy) -> list[dict]:
    adopted = {entry["pack"]: entry for entry in policy.draft.get("packs", [])}
    rows = []
    for pack in packs_latest():
        entry = adopted.get(pack["pack"])
        current = entry["version"] if entry else None
        rows.append(
            {
                "pack": pack,
                "category_label": CATEGORY_LABELS.get(pack["category"], pack["category"]),
                "adopted": entry,
                "newer": current != pack["version"],
                "diff": pack_diff(pack["pack"], current, pack["version"])
                if current != pack["version"]
                else None,
                "languages": sorted({*pack.get("terms", {}), *pack.get("exact", {})}),
            }
        )
    return rows


@login_required
def policy_packs(request, pk: int):
    policy = selectors.policy_get(user=request.user, pk=pk)
    can_govern = selectors.policy_can_govern(user=request.user, organization=policy.organization)
    form = PackAdoptForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if not can_govern:
            raise PermissionDenied("Only admins and compliance officers adopt policy packs.")
        if form.is_valid():
            data = form.cleaned_data
            try:
                if data["drop"]:
                    services.policy_pack_drop(policy=policy, user=request.user, pack=data["pack"])
                    done = f"The pack {data['pack']} was removed from the draft."
                else:
                    services.policy_pack_adopt(
                        policy=policy,
                        user=request.user,
                        pack=data["pack"],
                        version=data["version"],
                        action=data["action"],
                    )
                    done = (
                        f"The draft adopts {data['pack']} version {data['version']} "
                        f"({data['action']}). Publish the draft for it to apply."
                    )
            except ValidationError as error:
                for texts in error.message_dict.values():
                    for text in texts:
                        form.add_error(None, text)
            else:
                messages.success(request, done)
                return redirect("policies:packs", pk=policy.pk)
        status = 400
    return render(
        request,
        "policies/packs.html",
        {
            "policy": policy,
            "rows": _rows(policy),
            "form": form,
            "can_govern": can_govern,
            "actions": [action.value for action in Action],
        },
        status=status,
    )
