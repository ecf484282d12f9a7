from tests.webapp_fixtures import post

def test_smoke(client, login_as, world):
    r = client.get("/login")
    assert r.status_code == 200, r.data
    login_as(client, "facilitator")
    for url in ["/", "/clips", f"/clips/{world.sites['a'].clip}", "/upload", "/account", "/account/totp", f"/api/v1/clips/{world.sites['a'].clip}", f"/clips/{world.sites['a'].clip}/poster"]:
        r = client.get(url)
        print(url, r.status_code, r.headers.get("Location"))
        if r.status_code >= 400: print(r.get_data(as_text=True)[:3000])
    print(r.headers)
