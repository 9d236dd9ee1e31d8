"""Prompt policies in the API: list and edit drafts, publish versions, test prompts."""

from django.core.exceptions import PermissionDenied
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.policies import selectors, services
from governance.policies.inflection import LANGUAGES
from governance.policies.matching import MAX_PROMPT_CHARS, Action, Category, Outcome
from governance.policies.models import Policy, PolicyVersion
from governance.policies.packs import pack_names
from imprimatur.tenancy.models import BrandProject, Organization
from imprimatur.tenancy.permissions import Action as TenancyAction

OUTCOME_CHOICES = [outcome.value for outcome in Outcome]  # one enum in the schema: settings

# --- The policy document, described for the schema ------------------------------------------
# Input is taken as raw JSON and validated strictly by `documents.document_clean` (unknown
# keys are errors, not silently dropped); these serializers only describe its shape.


class PolicyRuleSchemaSerializer(serializers.Serializer):
    id = serializers.CharField()
    category = serializers.ChoiceField(choices=[c.value for c in Category])
    action = serializers.ChoiceField(choices=[a.value for a in Action])
    explanation = serializers.CharField()
    terms = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Words or phrases."
    )
    pattern = serializers.CharField(required=False, help_text="An RE2 regular expression.")
    inflect = serializers.BooleanField(
        required=False,
        default=True,
        help_text="Term rules: also match plurals and other simple inflections.",
    )
    language = serializers.ChoiceField(
        choices=list(LANGUAGES),
        required=False,
        default="en",
        help_text="Term rules: whose inflection rules apply.",
    )


class AdoptedPackSchemaSerializer(serializers.Serializer):
    pack = serializers.CharField(help_text="A baseline pack: " + ", ".join(pack_names()) + ".")
    version = serializers.IntegerField(min_value=1)
    # A text, not a choice: a second "action" enum makes the schema's enum names collide.
    action = serializers.CharField(help_text="block, review or warn: what a match does.")


class PolicyExampleSchemaSerializer(serializers.Serializer):
    prompt = serializers.CharField()
    expected = serializers.ChoiceField(choices=OUTCOME_CHOICES)


class OutputConceptSchemaSerializer(serializers.Serializer):
    concept = serializers.CharField(help_text="What the image checks look for, e.g. weapons.")
    action = serializers.ChoiceField(choices=["flag", "fail"], default="flag")
    threshold = serializers.FloatField(
        required=False,
        help_text="Score (0 to 1) from which the image is flagged or failed.",
    )


class QuotasSchemaSerializer(serializers.Serializer):
    user_day = serializers.IntegerField(required=False, help_text="Images per user per day.")
    user_month = serializers.IntegerField(required=False)
    project_day = serializers.IntegerField(required=False, help_text="Images per project per day.")
    project_month = serializers.IntegerField(required=False)


class LimitsSchemaSerializer(serializers.Serializer):
    models = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Allowed model names."
    )
    max_steps = serializers.IntegerField(required=False)
    max_guidance = serializers.FloatField(required=False)
    max_images = serializers.IntegerField(required=False, help_text="Images per request.")
    max_side = serializers.IntegerField(required=False, help_text="Largest width or height.")
    quotas = QuotasSchemaSerializer(required=False)


class PolicyDocumentSchemaSerializer(serializers.Serializer):
    rules = PolicyRuleSchemaSerializer(many=True, required=False)
    negative_additions = serializers.ListField(child=serializers.CharField(), required=False)
    output_concepts = OutputConceptSchemaSerializer(
        many=True, required=False, help_text="A plain text is short for {concept: text}."
    )
    limits = LimitsSchemaSerializer(required=False)
    examples = PolicyExampleSchemaSerializer(many=True, required=False)
    packs = AdoptedPackSchemaSerializer(
        many=True, required=False, help_text="Baseline packs adopted, each with its action."
    )


@extend_schema_field(PolicyDocumentSchemaSerializer)
class PolicyDocumentField(serializers.JSONField):
    pass


# --- Policies --------------------------------------------------------------------------------


class PolicySerializer(serializers.ModelSerializer):
    organization = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    project = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True, help_text="null: the organisation's."
    )
    draft = PolicyDocumentField()
    latest_version = serializers.SerializerMethodField()
    unpublished_changes = serializers.SerializerMethodField()

    class Meta:
        model = Policy
        fields = [
            "id",
            "name",
            "organization",
            "project",
            "draft",
            "latest_version",
            "unpublished_changes",
            "created_at",
            "updated_at",
        ]

    def _latest(self, policy) -> PolicyVersion | None:
        return selectors.policy_version_latest(policy=policy)

    def get_latest_version(self, policy) -> int | None:
        latest = self._latest(policy)
        return latest.number if latest else None

    def get_unpublished_changes(self, policy) -> bool:
        latest = self._latest(policy)
        return latest is None or latest.content != policy.draft


class PolicyCreateSerializer(serializers.Serializer):
    organization = serializers.SlugField(
        required=False, help_text="Needed only if you govern several organisations."
    )
    project = serializers.SlugField(
        required=False, help_text="A project's slug for its policy; absent: the organisation's."
    )
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    draft = PolicyDocumentField(required=False)


class PolicyUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    draft = PolicyDocumentField(required=False)


def _governed_policy(request, pk: int) -> Policy:
    """The policy for a write: 404 unless the user may see it, 403 unless they govern it."""
    policy = selectors.policy_get(user=request.user, pk=pk)
    if not selectors.policy_can_govern(user=request.user, organization=policy.organization):
        raise PermissionDenied(
            "Only admins and compliance officers of the organisation edit its policies."
        )
    return policy


def _create_target(user, data: dict) -> tuple[Organization, BrandProject | None]:
    organizations = Organization.objects.restrict(user, TenancyAction.GOVERN)
    if "organization" in data:
        organizations = organizations.filter(slug=data["organization"])
    if "project" in data:
        projects = list(
            BrandProject.objects.filter(
                organization__in=organizations, slug=data["project"]
            ).select_related("organization")[:2]
        )
        if not projects:
            if not organizations.exists():
                raise PermissionDenied("Only admins and compliance officers create policies.")
            raise serializers.ValidationError({"project": f"Unknown project {data['project']!r}."})
        if len(projects) > 1:
            raise serializers.ValidationError(
                {"organization": "Projects of several of your organisations have this slug."}
            )
        return projects[0].organization, projects[0]
    choices = list(organizations[:2])
    if not choices:
        raise PermissionDenied("Only admins and compliance officers create policies.")
    if len(choices) > 1:
        raise serializers.ValidationError(
            {"organization": "You govern several organisations: name one."}
        )
    return choices[0], None


class PolicyListView(generics.ListCreateAPIView):
    """Policies of your organisations; admins and compliance officers create them."""

    filterset_fields = ["organization__slug", "project__slug"]

    def get_serializer_class(self):
        if self.request.method == "POST":
            return PolicyCreateSerializer
        return PolicySerializer

    def get_queryset(self):
        return selectors.policy_list(user=self.request.user)

    @extend_schema(responses={201: PolicySerializer})
    def post(self, request):
        serializer = PolicyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        organization, project = _create_target(request.user, data)
        policy = services.policy_create(
            organization=organization,
            project=project,
            user=request.user,
            name=data.get("name", ""),
            draft=data.get("draft"),
        )
        return Response(PolicySerializer(policy).data, status=status.HTTP_201_CREATED)


class PolicyDetailView(generics.RetrieveAPIView):
    """One policy with its draft; PATCH replaces the draft (validated) or the name."""

    serializer_class = PolicySerializer

    def get_object(self):
        return selectors.policy_get(user=self.request.user, pk=self.kwargs["pk"])

    @extend_schema(request=PolicyUpdateSerializer, responses={200: PolicySerializer})
    def patch(self, request, pk: int):
        policy = _governed_policy(request, pk)
        serializer = PolicyUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        policy = services.policy_draft_update(
            policy=policy, user=request.user, draft=data.get("draft"), name=data.get("name")
        )
        return Response(PolicySerializer(policy).data)


# --- Versions --------------------------------------------------------------------------------


class PolicyVersionSerializer(serializers.ModelSerializer):
    published_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    summary = serializers.SerializerMethodField()

    class Meta:
        model = PolicyVersion
        fields = ["id", "number", "content_sha256", "published_by", "published_at", "summary"]

    def get_summary(self, version) -> str:
        return version.diff.get("summary", "")


class PolicyVersionDetailSerializer(PolicyVersionSerializer):
    content = PolicyDocumentField()
    diff = serializers.JSONField()

    class Meta(PolicyVersionSerializer.Meta):
        fields = [*PolicyVersionSerializer.Meta.fields, "content", "diff"]


class PolicyPublishView(APIView):
    """Publish the draft as the next version; 400 lists every example that fails."""

    @extend_schema(request=None, responses={201: PolicyVersionDetailSerializer})
    def post(self, request, pk: int):
        policy = _governed_policy(request, pk)
        version = services.policy_publish(policy=policy, user=request.user)
        return Response(PolicyVersionDetailSerializer(version).data, status=status.HTTP_201_CREATED)


class PolicyVersionListView(generics.ListAPIView):
    serializer_class = PolicyVersionSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no URL kwargs
            return PolicyVersion.objects.none()
        policy = selectors.policy_get(user=self.request.user, pk=self.kwargs["pk"])
        return selectors.policy_version_list(policy=policy)


class PolicyVersionDetailView(generics.RetrieveAPIView):
    """One published version with its content and its diff against the one before."""

    serializer_class = PolicyVersionDetailSerializer

    def get_object(self):
        policy = selectors.policy_get(user=self.request.user, pk=self.kwargs["pk"])
        return selectors.policy_version_get(policy=policy, number=self.kwargs["number"])


# --- Testing prompts -------------------------------------------------------------------------


class PolicyEvaluateInputSerializer(serializers.Serializer):
    prompt = serializers.CharField(max_length=MAX_PROMPT_CHARS, trim_whitespace=False)
    negative_prompt = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=MAX_PROMPT_CHARS
    )
    params = serializers.DictField(
        required=False,
        default=dict,
        help_text="Request parameters to judge by the limits: model, steps, guidance_scale, "
        "num_images, width, height.",
    )


class PolicyMatchSerializer(serializers.Serializer):
    rule_id = serializers.CharField()
    category = serializers.CharField()
    action = serializers.CharField()
    explanation = serializers.CharField()
    term = serializers.CharField(help_text="The rule's term as written, or its pattern.")
    matched_text = serializers.CharField()
    start = serializers.IntegerField(help_text="Offset into the prompt, in characters.")
    end = serializers.IntegerField()


class EffectiveQuotaSerializer(serializers.Serializer):
    quota = serializers.ChoiceField(
        choices=["user_day", "user_month", "project_day", "project_month"]
    )
    limit = serializers.IntegerField()
    counted_in = serializers.ChoiceField(choices=["organization", "project"])


class EffectiveLimitsSerializer(serializers.Serializer):
    """The limits of the organisation and project policies together (the tighter wins)."""

    models = serializers.ListField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Every allowlist that is set; a model must be on each.",
    )
    max_steps = serializers.IntegerField(allow_null=True)
    max_guidance = serializers.FloatField(allow_null=True)
    max_images = serializers.IntegerField(allow_null=True)
    max_side = serializers.IntegerField(allow_null=True)
    quotas = EffectiveQuotaSerializer(many=True)


class PolicyDecisionSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=OUTCOME_CHOICES)
    matches = PolicyMatchSerializer(many=True)
    warnings = PolicyMatchSerializer(many=True)
    negative_prompt = serializers.CharField(help_text="With the required additions appended.")
    negative_additions = serializers.ListField(child=serializers.CharField())
    organization_version_id = serializers.IntegerField(allow_null=True)
    project_version_id = serializers.IntegerField(allow_null=True)
    limits = serializers.SerializerMethodField()
    limit_errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Parameters over the limits, each with the reasons.",
    )
    output_concepts = OutputConceptSchemaSerializer(many=True)

    @extend_schema_field(EffectiveLimitsSerializer)
    def get_limits(self, decision) -> dict:
        return decision.limits.as_dict()


class PolicyEvaluateView(APIView):
    """Judge a prompt by the policy's draft (the test console); writes nothing."""

    @extend_schema(request=PolicyEvaluateInputSerializer, responses={200: PolicyDecisionSerializer})
    def post(self, request, pk: int):
        policy = selectors.policy_get(user=request.user, pk=pk)
        serializer = PolicyEvaluateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        decision = services.policy_dry_run(
            policy=policy,
            prompt=serializer.validated_data["prompt"],
            negative_prompt=serializer.validated_data["negative_prompt"],
            params=serializer.validated_data["params"],
        )
        return Response(PolicyDecisionSerializer(decision).data)


class PolicyRecheckInputSerializer(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=365, default=30)


class RecheckItemSerializer(serializers.Serializer):
    request_id = serializers.IntegerField()
    project_id = serializers.IntegerField()
    prompt = serializers.CharField()
    before = serializers.CharField()
    after = serializers.CharField()


class RecheckReportSerializer(serializers.Serializer):
    days = serializers.IntegerField()
    checked = serializers.IntegerField()
    truncated = serializers.BooleanField()
    newly_blocked = RecheckItemSerializer(many=True)
    newly_allowed = RecheckItemSerializer(many=True)
    changed = RecheckItemSerializer(many=True, help_text="Other changes: to or from review.")


class PolicyRecheckView(APIView):
    """Judge the last days' requests by the draft and compare with the published policy."""

    @extend_schema(request=PolicyRecheckInputSerializer, responses={200: RecheckReportSerializer})
    def post(self, request, pk: int):
        policy = _governed_policy(request, pk)
        serializer = PolicyRecheckInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        report = services.policy_recheck(policy=policy, days=serializer.validated_data["days"])
        return Response(RecheckReportSerializer(report).data)
