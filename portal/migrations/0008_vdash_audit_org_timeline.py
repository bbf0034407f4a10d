from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0007_i16_audit_feed"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(
                fields=["organisation", "-created_at", "-id", "action", "object_type", "object_id"],
                name="audit_org_timeline",
            ),
        ),
        migrations.RemoveIndex(model_name="auditevent", name="audit_org_recent"),
    ]
