from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0011_i15_prov_superseded_tasks"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="order",
            index=models.Index(
                condition=models.Q(state__in=["approved", "provisioning", "active"]),
                fields=["state", "environment"],
                include=["organisation"],
                name="order_live_state_env_org",
            ),
        ),
    ]
