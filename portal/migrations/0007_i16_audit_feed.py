from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0006_i15_indexes"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["-created_at", "-id"], name="audit_recent"),
        ),
    ]
