"""The user banner: the links it is given, no others, every value escaped."""

from __future__ import annotations

import html
import re

from aerofs_pipelines.gateway.app.banner import banner_html
from aerofs_pipelines.gateway.app.mounts import BannerLink
from aerofs_pipelines.gateway.auth.roles import Role
from aerofs_pipelines.gateway.identity.principal import Principal

ANCHOR = re.compile(r"<a\b[^>]*>.*?</a>", re.S)
LAUNCHER = Principal("lars", Role.launcher, "session", session_id="s1")


def anchors(banner: bytes) -> list[str]:
    return ANCHOR.findall(banner.decode())


def test_no_links_given_none_shown() -> None:
    banner = banner_html(LAUNCHER, "token", ())
    assert anchors(banner) == []
    assert b'data-testid="aerofs-username">lars<' in banner
    assert b'data-testid="aerofs-logout"' in banner


def test_the_links_given_are_shown_in_order_and_nothing_else() -> None:
    links = [
        BannerLink("Upload", "/upload", Role.launcher, "aerofs-upload-link"),
        BannerLink("Reports", "/reports", Role.admin, "aerofs-reports-link"),
    ]
    banner = banner_html(LAUNCHER, "token", links)
    found = anchors(banner)
    assert len(found) == 2
    assert 'href="/upload" data-testid="aerofs-upload-link"' in found[0]
    assert found[0].endswith(">Upload</a>")
    # the caller chooses which links a role may follow; the banner shows what it is given
    assert 'href="/reports" data-testid="aerofs-reports-link"' in found[1]
    assert found[1].endswith(">Reports</a>")


def test_every_value_is_escaped() -> None:
    evil = '"><script>alert(1)</script><a x="'
    link = BannerLink(f"Up{evil}load & more", f"/up?a=1&b={evil}", Role.viewer, f"id{evil}")
    who = Principal(f"eve{evil}", Role.viewer, "token")
    banner = banner_html(who, None, [link]).decode()
    assert "<script" not in banner
    assert len(anchors(banner.encode())) == 1
    escaped = html.escape(evil)
    assert f'href="/up?a=1&amp;b={escaped}"' in banner
    assert f'data-testid="id{escaped}"' in banner
    assert f">Up{escaped}load &amp; more</a>" in banner
    assert f">eve{escaped}</span>" in banner
    assert "aerofs-logout" not in banner  # a token caller has no session to end
