"""Make the chain fields required and unique, then refuse UPDATE and DELETE in the database
(see governance/audit/guard.py for what the triggers allow and why)."""

from django.db import migrations, models


def install(apps, schema_editor):
    from governance.audit.guard import install_guard

    install_guard(schema_editor.connection)


def remove(apps, schema_editor):
    from governance.audit.guard import remove_guard

    remove_guard(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0003_backfill_chain"),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="sequence",
            field=models.BigIntegerField(unique=True),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="prev_hash",
            field=models.CharField(max_length=64),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(max_length=64),
        ),
        migrations.RunPython(install, remove),
    ]
