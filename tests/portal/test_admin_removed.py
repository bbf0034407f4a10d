"""The Django admin is gone: nothing a person does needs it, and it bypassed staff MFA and the login limits."""

import pytest

from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/admin/", "/admin/login/", "/admin/members/user/", "/admin/auth/group/"])
def test_there_is_no_admin_site_even_for_a_superuser(client, path):
    superuser = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(superuser)
    assert client.get(path).status_code == 404
    assert client.post(path, {"username": superuser.email, "password": PASSWORD}).status_code == 404


def test_the_admin_login_form_does_not_take_passwords(client):
    UserFactory(email="staff@nhn.example", is_staff=True, is_superuser=True)
    response = client.post("/admin/login/", {"username": "staff@nhn.example", "password": PASSWORD})
    assert response.status_code == 404
    assert "_auth_user_id" not in client.session
