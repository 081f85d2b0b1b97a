"""A first look: the login page renders, the partner list needs a login."""


def test_login_page_renders(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert b"Sign in" in response.data


def test_partner_list_for_manager(manager_client):
    response = manager_client.get("/partners/")
    assert response.status_code == 200
    assert b"No partners yet" in response.data
