"""The reviews API: the tasks waiting for me, one task, and deciding it."""

from django.core.exceptions import PermissionDenied
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.reviews import selectors, services
from governance.reviews.models import Notification, ReviewDecision, ReviewTask, Workflow
from governance.reviews.registry import reviewable_type


class DecisionSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.get_username")

    class Meta:
        model = ReviewDecision
        fields = ["id", "user", "decision", "comment", "override_reason", "created_at"]


class TaskSerializer(serializers.ModelSerializer):
    kind = serializers.CharField(source="review.kind")
    review = serializers.IntegerField(source="review.pk")
    review_status = serializers.CharField(source="review.status")
    title = serializers.CharField(source="review.title")
    project = serializers.SlugRelatedField(
        source="review.project", slug_field="slug", read_only=True
    )
    requested_by = serializers.CharField(source="review.requested_by.get_username")
    reasons = serializers.JSONField(source="review.reasons")
    stages = serializers.SerializerMethodField()
    object_url = serializers.SerializerMethodField()
    decided_by = serializers.CharField(
        source="decided_by.get_username", default=None, allow_null=True
    )
    decisions = DecisionSerializer(many=True, read_only=True)

    class Meta:
        model = ReviewTask
        fields = [
            "id",
            "kind",
            "review",
            "review_status",
            "title",
            "project",
            "requested_by",
            "reasons",
            "name",
            "stage_index",
            "stages",
            "role",
            "approvals_needed",
            "due_at",
            "status",
            "decided_by",
            "decided_at",
            "decisions",
            "object_url",
        ]

    def get_stages(self, task) -> int:
        return len(task.review.stages)

    def get_object_url(self, task) -> str:
        return reviewable_type(task.review.kind).url(task.review.target)


class TaskListView(generics.ListAPIView):
    """Open tasks that my roles decide, soonest due first (not those of my own requests)."""

    serializer_class = TaskSerializer
    queryset = ReviewTask.objects.none()  # for the schema; the real one is per user

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ReviewTask.objects.none()
        return (
            selectors.task_list(user=self.request.user)
            .exclude(review__requested_by=self.request.user)
            .prefetch_related("decisions__user")
        )


class TaskDetailView(generics.RetrieveAPIView):
    serializer_class = TaskSerializer
    queryset = ReviewTask.objects.none()  # for the schema; get_object scopes by user

    def get_object(self):
        return selectors.task_get(user=self.request.user, pk=self.kwargs["pk"])


class DecideInputSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=ReviewDecision.Decision.values)
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    override_reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=2000,
        help_text="Admins only: decide outside the rules (own request, another role's stage).",
    )


class TaskDecideView(APIView):
    """Approve or reject a task. 409 when someone decided it first; 403 when the rules do
    not let you decide it (an admin may override with a reason)."""

    @extend_schema(request=DecideInputSerializer, responses={200: TaskSerializer})
    def post(self, request, pk: int):
        task = selectors.task_get(user=request.user, pk=pk)
        serializer = DecideInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.task_decide(task=task, user=request.user, **serializer.validated_data)
        task = selectors.task_get(user=request.user, pk=pk)
        return Response(TaskSerializer(task).data)


# --- Workflows ------------------------------------------------------------------------------


class StageSerializer(serializers.Serializer):
    name = serializers.CharField()
    role = serializers.ChoiceField(choices=["reviewer", "compliance", "admin"])
    approvals = serializers.IntegerField(default=1)
    kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=["prompt", "asset", "style"])
    )
    when = serializers.CharField(default="always")
    due_hours = serializers.IntegerField(allow_null=True, required=False)


class WorkflowSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    stages = StageSerializer(many=True)
    created_by = serializers.CharField(
        source="created_by.get_username", default=None, allow_null=True
    )

    class Meta:
        model = Workflow
        fields = ["project", "version", "stages", "distinct_approvers", "created_by", "created_at"]


class WorkflowInputSerializer(serializers.Serializer):
    stages = serializers.JSONField(help_text="The stages in order (see the Stage schema).")
    distinct_approvers = serializers.BooleanField(default=False)


class WorkflowView(APIView):
    """A project's current review workflow; admins PUT a new version (open reviews keep
    theirs). Stages are checked strictly: every problem is named by its path."""

    @extend_schema(responses={200: WorkflowSerializer})
    def get(self, request, slug: str):
        project, _can_edit = selectors.workflow_project_get(
            user=request.user, slug=slug, organization=request.query_params.get("organization")
        )
        return Response(WorkflowSerializer(services.workflow_current(project=project)).data)

    @extend_schema(request=WorkflowInputSerializer, responses={200: WorkflowSerializer})
    def put(self, request, slug: str):
        project, can_edit = selectors.workflow_project_get(
            user=request.user, slug=slug, organization=request.query_params.get("organization")
        )
        if not can_edit:  # before the input is judged: a non-admin learns nothing from it
            raise PermissionDenied("Only admins change review workflows.")
        serializer = WorkflowInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        workflow = services.workflow_update(
            project=project, user=request.user, **serializer.validated_data
        )
        return Response(WorkflowSerializer(workflow).data)


# --- Bulk decisions and the inbox ----------------------------------------------------------


class BulkDecideInputSerializer(serializers.Serializer):
    tasks = serializers.ListField(child=serializers.IntegerField(), min_length=1, max_length=200)
    decision = serializers.ChoiceField(choices=["approve"], default="approve")
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class BulkDecideView(APIView):
    """Approve several tasks with one comment. Each is decided on its own; the answer lists
    what was approved and, for the others, why not (already decided, not yours, …)."""

    @extend_schema(request=BulkDecideInputSerializer, responses={200: None})
    def post(self, request):
        serializer = BulkDecideInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = services.tasks_bulk_approve(
            user=request.user,
            task_ids=serializer.validated_data["tasks"],
            comment=serializer.validated_data["comment"],
        )
        refused = {str(pk): text for pk, text in result.refused.items()}
        return Response({"approved": result.approved, "refused": refused})


class NotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = ["id", "kind", "message", "url", "review", "task", "created_at", "read_at"]


class InboxView(generics.ListAPIView):
    """My notifications, newest first (`?unread=1` for the unread ones): decisions on my
    requests, and the latest message of each task still open (a decided task leaves)."""

    serializer_class = NotificationSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Notification.objects.none()
        items = selectors.inbox_list(user=self.request.user)
        if self.request.query_params.get("unread"):
            items = items.filter(read_at__isnull=True)
        return items


class InboxReadInputSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        max_length=1000,
        help_text="The notifications to mark read (at most 1000); absent: all of them.",
    )


class InboxReadView(APIView):
    """Mark my notifications read: all of them, or those listed in `ids`."""

    @extend_schema(
        request=InboxReadInputSerializer,
        responses={200: inline_serializer("InboxRead", {"marked": serializers.IntegerField()})},
    )
    def post(self, request):
        from django.utils import timezone

        serializer = InboxReadInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        items = Notification.objects.filter(user=request.user, read_at__isnull=True)
        if "ids" in serializer.validated_data:
            items = items.filter(pk__in=serializer.validated_data["ids"])
        return Response({"marked": items.update(read_at=timezone.now())})
