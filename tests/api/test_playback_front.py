"""What the nginx front relies on (docs/scale-out.md): content-keyed rendition URLs that
name the same bytes for every viewer, the token check behind ``auth_request``, /readyz and
the X-Ferrite-Node header."""

from __future__ import annotations

import re

from tests.live import Live

KEYED = re.compile(r"^t/([^/]+)/c/([0-9a-f]{12})/([0-9a-f]{8})/([vas])/([^/]+)\.m3u8$")


def rendition_uris(master: str) -> list[str]:
    uris = [line for line in master.splitlines() if line and not line.startswith("#")]
    return uris + re.findall(r'URI="([^"]+)"', master)


def test_master_names_renditions_by_content_key_shared_across_viewers(live: Live) -> None:
    one, two = live.play("Plain", protocol="hls"), live.play("Plain", protocol="hls")
    tails = []
    for pb in (one, two):
        master = live.client.get(pb["url"]).text
        uris = rendition_uris(master)
        assert uris
        assert all(KEYED.match(u) for u in uris), uris
        assert all(u.startswith(f"t/{pb['token']}/") for u in uris)
        tails.append(sorted(u.split("/c/", 1)[1] for u in uris))
    assert tails[0] == tails[1]  # same file version + rendition -> same URL tail
    vid = one["renditions"]["video"][0]["id"]
    assert any(t.endswith(f"/v/{vid}.m3u8") for t in tails[0])  # ids stay readable

    video = next(u for u in rendition_uris(live.client.get(one["url"]).text) if "/v/" in u)
    fv, spec = KEYED.match(video).group(2, 3)  # type: ignore[union-attr]
    bases = [
        f"/api/playback/{pb['session_id']}/t/{pb['token']}/c/{fv}/{spec}/v/{vid}"
        for pb in (one, two)
    ]
    playlists = [live.client.get(b + ".m3u8") for b in bases]
    assert playlists[0].status_code == 200
    assert playlists[0].content == playlists[1].content  # no per-user state
    segs = [live.client.get(b + "/0.m4s") for b in bases]
    assert segs[0].status_code == 200
    assert segs[0].content == segs[1].content
    assert live.client.get(bases[0] + "/init.mp4").status_code == 200
    # the legacy form names the same bytes
    legacy = f"/api/playback/{one['session_id']}/t/{one['token']}/v/{vid}/0.m4s"
    assert live.client.get(legacy).content == segs[0].content
    # a key that is not this session's rendition as it is now: 404, never other bytes
    other = "0" * 12 if fv != "0" * 12 else "1" * 12
    stale = bases[0].replace(f"/c/{fv}/", f"/c/{other}/")
    assert live.client.get(stale + "/0.m4s").status_code == 404
    wrong_spec = bases[0].replace(f"/{spec}/", "/00000000/" if spec != "00000000" else "/11111111/")
    assert live.client.get(wrong_spec + "/0.m4s").status_code == 404


def test_token_check_needs_no_session_and_follows_logout(live: Live) -> None:
    c = live.client
    libs = [lib["id"] for lib in c.get("/api/libraries", headers=live.headers).json()]
    r = c.post(
        "/api/users",
        json={"username": "front-ann", "password": "password-2", "library_ids": libs},
        headers=live.headers,
    )
    assert r.status_code == 201, r.text
    login = c.post("/api/auth/login", json={"username": "front-ann", "password": "password-2"})
    ann = {"Authorization": f"Bearer {login.json()['access_token']}"}
    pb = c.post(
        "/api/playback",
        json={"item_id": live.items["Plain"], "device": "chrome", "protocol": "hls"},
        headers=ann,
    ).json()
    sid, token = pb["session_id"], pb["token"]
    assert token.count(".") == 5  # item.user.exp.version.library.mac
    check = f"/api/playback/{sid}/t/{token}/auth"
    ok = c.get(check)
    assert ok.status_code == 204
    assert ok.content == b""
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert c.get(f"/api/playback/{sid}/t/{forged}/auth").status_code == 401
    assert c.get(f"/api/playback/other-session/t/{token}/auth").status_code == 401
    # No session lookup: the check answers for a session this node does not hold.
    live.playback.sessions.remove(sid)
    assert c.get(check).status_code == 204
    assert c.post("/api/auth/logout", headers=ann).status_code == 204
    assert c.get(check).status_code == 401


def test_readyz_and_node_header(live: Live) -> None:
    r = live.client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ready"
    assert r.headers["x-ferrite-node"] == r.json()["node"]
    assert live.client.get("/api/items", headers=live.headers).headers["x-ferrite-node"]
    assert live.client.get("/nope-no-such-thing").headers["x-ferrite-node"]
    node = live.client.app.state.node
    node.draining = True
    try:
        r = live.client.get("/readyz")
        assert r.status_code == 503
        assert any(reason.startswith("draining") for reason in r.json()["reasons"])
    finally:
        node.draining = False
