"""A trigram index for the staff searches by organisation name (issue 15).

Django's `name__icontains` on PostgreSQL is `UPPER(name::text) LIKE UPPER('%…%')`, which no b-tree index
can serve; a GIN trigram index on exactly that expression can. PostgreSQL only: SQLite (the demo) has no
pg_trgm and searches a few rows anyway. pg_trgm is a trusted extension, so the database owner may create it.
"""

from django.db import migrations

INDEX = "members_organisation_name_trgm"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON members_organisation USING gin ((UPPER(name::text)) gin_trgm_ops)"
    )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("members", "0013_i16_terms_effective")]

    operations = [migrations.RunPython(create_index, drop_index)]
