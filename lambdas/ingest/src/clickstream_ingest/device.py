"""The device of a request, from its User-Agent header: category, browser family and OS family.

The parsing is ua-parser's (uap-python 1.x with the uap-core regexes of ua-parser-builtins, both pinned in
lambdas/ingest/requirements.txt): its browser (user agent) family, OS family and device family/brand. The category
is decided here from those families, not from the raw string:

- ``bot``: uap-core's device family ``Spider`` (crawlers, monitors, preview fetchers);
- ``tablet``: an iPad or Kindle, uap-core's ``Generic_Android_Tablet`` brand, or Android without the ``Mobile``
  token (Google's documented signal: Android tablets leave it out of their User-Agent);
- ``mobile``: any other device on a phone OS (``MOBILE_OS``);
- ``desktop``: a desktop OS (``DESKTOP_OS``);
- ``other``: everything else (no User-Agent, command-line clients, TVs, consoles).

A User-Agent is parsed once per request (every event of a request shares it), and the answers for recent agents are
kept (``functools.lru_cache``): a warm Lambda sees the same few hundred agents again and again.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

CATEGORIES = ("desktop", "mobile", "tablet", "bot", "other")
MOBILE_OS = frozenset(("iOS", "Android", "Windows Phone", "BlackBerry OS", "BlackBerry Tablet OS", "KaiOS",
                       "Firefox OS", "Symbian OS", "Tizen", "HarmonyOS", "Sailfish", "webOS"))
DESKTOP_OS = frozenset(("Windows", "Mac OS X", "Linux", "Ubuntu", "Chrome OS", "Fedora", "Debian", "FreeBSD",
                        "OpenBSD", "NetBSD", "Mint", "Arch Linux", "openSUSE", "Red Hat", "CentOS", "Gentoo",
                        "Slackware", "Kubuntu", "Xubuntu", "Mandriva", "Solaris", "Windows RT"))
TABLET_FAMILIES = frozenset(("iPad", "Kindle", "Kindle Fire"))
TABLET_BRANDS = frozenset(("Generic_Android_Tablet",))
BOT_FAMILY = "Spider"
# what ua-parser answers when it knows nothing of a part
_UNKNOWN = "Other"
# the longest family name kept (uap-core's are short; a made-up agent can make its family anything)
FAMILY_MAX = 64


@dataclass(frozen=True)
class Device:
    category: str
    browser: str | None
    os: str | None


def _family(value: object) -> str | None:
    family = getattr(value, "family", None)
    if not family or family == _UNKNOWN:
        return None
    return str(family)[:FAMILY_MAX]


@functools.lru_cache(maxsize=4096)
def device(user_agent: str | None) -> Device:
    """The device of a User-Agent header (as ``contract.header_text`` keeps it); ``other`` without one."""
    if not user_agent:
        return Device("other", None, None)
    from ua_parser import parse  # first use, not import: the regexes compile on the first parse

    result = parse(user_agent)
    browser, os = _family(result.user_agent), _family(result.os)
    dev = result.device
    family = getattr(dev, "family", None)
    brand = getattr(dev, "brand", None)
    if family == BOT_FAMILY:
        category = "bot"
    elif family in TABLET_FAMILIES or brand in TABLET_BRANDS or (os == "Android" and "Mobile" not in user_agent):
        category = "tablet"
    elif os in MOBILE_OS:
        category = "mobile"
    elif os in DESKTOP_OS:
        category = "desktop"
    else:
        category = "other"
    return Device(category, browser, os)
