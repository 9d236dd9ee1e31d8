"""One index per filter of the audit browser on audit_auditevent, fewer to update on each
append: the organisation's own index goes (auditevent_org_seq starts with it), and so do
the two that Django's db_index gives a CharField on PostgreSQL (plain and pattern-matching)
for action and request_id; action gets one pattern-matching index, request_id one plain.

The old indexes are dropped by name as introspection finds them, not by AlterField: on
SQLite that would rebuild the table, dropping its append-only triggers with it."""

import django.db.models.deletion
from django.db import migrations, models

# Non-unique single-column indexes this migration replaces, by column.
OLD_INDEXED_COLUMNS = ("action", "organization_id", "request_id")
KEEP = ("auditevent_action", "auditevent_request")


def drop_old_indexes(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "audit_auditevent")
    for name, info in sorted(constraints.items()):
        if (
            info["index"]
            and not info["unique"]
            and not info["primary_key"]
            and len(info["columns"]) == 1
            and info["columns"][0] in OLD_INDEXED_COLUMNS
            and name not in KEEP
        ):
            schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


def restore_old_indexes(apps, schema_editor):
    for column in OLD_INDEXED_COLUMNS:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS audit_auditevent_{column}_idx "
            f"ON audit_auditevent ({column})"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0006_event_org_sequence_index"),
        ("tenancy", "0003_provenance_settings"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="auditevent",
                    name="action",
                    field=models.CharField(max_length=100),
                ),
                migrations.AlterField(
                    model_name="auditevent",
                    name="organization",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="audit_events",
                        to="tenancy.organization",
                    ),
                ),
                migrations.AlterField(
                    model_name="auditevent",
                    name="request_id",
                    field=models.CharField(blank=True, max_length=64),
                ),
            ],
            database_operations=[
                migrations.RunPython(drop_old_indexes, restore_old_indexes),
            ],
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(
                fields=["action"], name="auditevent_action", opclasses=["varchar_pattern_ops"]
            ),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["request_id"], name="auditevent_request"),
        ),
    ]
