from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0012_i15q_order_queue_by_organisation"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="order",
            index=models.Index(
                condition=models.Q(state__in=["approved", "provisioning", "active"]),
                fields=["state", "environment", "organisation"],
                name="order_live_state_env_org",
            ),
        ),
    ]
