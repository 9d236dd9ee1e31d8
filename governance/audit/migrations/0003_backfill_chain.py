"""Chain the events recorded before the hash chain existed, in id order."""

from django.db import migrations

from governance.audit.chain import GENESIS_HASH, event_fields, event_hash


def backfill(apps, schema_editor):
    AuditEvent = apps.get_model("audit", "AuditEvent")
    prev_hash, sequence = GENESIS_HASH, 0
    batch = []
    for event in AuditEvent.objects.using(schema_editor.connection.alias).order_by("id").iterator(
        chunk_size=2000
    ):
        sequence += 1
        event.sequence, event.prev_hash = sequence, prev_hash
        event.hash = event_hash(
            event_fields(
                sequence=sequence,
                created_at=event.created_at,
                actor_id=event.actor_id,
                actor_name=event.actor_name,
                organization_id=event.organization_id,
                action=event.action,
                target_type=event.target_type,
                target_id=event.target_id,
                target_repr=event.target_repr,
                data=event.data,
                request_id=event.request_id,
                prev_hash=prev_hash,
            )
        )
        prev_hash = event.hash
        batch.append(event)
        if len(batch) >= 2000:
            AuditEvent.objects.bulk_update(batch, ["sequence", "prev_hash", "hash"])
            batch = []
    if batch:
        AuditEvent.objects.bulk_update(batch, ["sequence", "prev_hash", "hash"])


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_chain_fields_and_checkpoints"),
    ]

    operations = [
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
