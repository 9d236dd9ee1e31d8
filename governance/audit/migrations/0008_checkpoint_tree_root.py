"""Checkpoints sign the root of a Merkle tree over the events (merkle.py) and keep the
tree's frontier. Both columns are nullable without a default: SQLite then adds them with
ALTER TABLE instead of rebuilding the table, which would drop its append-only triggers.
Checkpoints signed before keep their four-field signed message."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0007_lean_event_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditcheckpoint",
            name="tree_frontier",
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="auditcheckpoint",
            name="tree_root",
            field=models.CharField(blank=True, max_length=64, null=True),
        ),
    ]
