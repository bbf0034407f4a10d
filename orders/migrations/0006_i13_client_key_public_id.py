import uuid

from django.db import migrations, models


def fill_public_ids(apps, schema_editor):
    ClientKey = apps.get_model("orders", "ClientKey")
    for key in ClientKey.objects.filter(public_id__isnull=True).only("pk"):
        ClientKey.objects.filter(pk=key.pk).update(public_id=uuid.uuid4())


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0005_provisioning_tasks"),
    ]

    operations = [
        migrations.AddField(
            model_name="clientkey",
            name="public_id",
            field=models.UUIDField(editable=False, null=True),
        ),
        migrations.RunPython(fill_public_ids, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="clientkey",
            name="public_id",
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
    ]
