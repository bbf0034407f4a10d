from django.db import migrations

from members.initial_terms import ensure_initial_terms


def create(apps, schema_editor):
    ensure_initial_terms(apps.get_model("members", "TermsDocument"))


class Migration(migrations.Migration):
    dependencies = [("members", "0003_membership_terms_signatures")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
