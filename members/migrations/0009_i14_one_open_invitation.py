from django.db import migrations, models
from django.utils import timezone


def withdraw_duplicate_open_invitations(apps, schema_editor):
    """Before the constraint: of several open invitations to one address, the newest stays open."""
    Invitation = apps.get_model("members", "Invitation")
    seen = set()
    for invitation in Invitation.objects.filter(accepted_at__isnull=True, revoked_at__isnull=True).order_by(
        "-created_at", "-pk"
    ):
        key = (invitation.organisation_id, invitation.email.lower())
        if key in seen:
            Invitation.objects.filter(pk=invitation.pk).update(revoked_at=timezone.now())
        seen.add(key)


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0008_i12_federated_sessions"),
    ]

    operations = [
        migrations.RunPython(withdraw_duplicate_open_invitations, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="invitation",
            constraint=models.UniqueConstraint(
                condition=models.Q(("accepted_at__isnull", True), ("revoked_at__isnull", True)),
                fields=("organisation", "email"),
                name="invitation_one_open_per_address",
            ),
        ),
    ]
