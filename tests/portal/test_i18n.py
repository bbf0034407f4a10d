import pytest

pytestmark = pytest.mark.django_db


def test_bokmal_is_the_default_whatever_the_browser_says(client):
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    page = response.content.decode()
    assert '<html lang="nb"' in page
    assert "Hopp til hovedinnhold" in page
    assert response["Content-Language"] == "nb"


def test_the_language_switch_chooses_english(client):
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/"}, follow=True)
    page = response.content.decode()
    assert '<html lang="en"' in page
    assert "Skip to main content" in page


def test_an_unknown_language_cookie_falls_back_to_bokmal(client, settings):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "xx"
    assert '<html lang="nb"' in client.get("/").content.decode()
