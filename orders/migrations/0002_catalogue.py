from django.db import migrations

from orders.catalogue import load_catalogue


def load(apps, schema_editor):
    load_catalogue(apps.get_model("orders", "Service"), apps.get_model("members", "TermsDocument"))


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0001_initial"),
        ("members", "0004_initial_terms"),
    ]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
