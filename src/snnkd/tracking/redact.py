"""No password in a message: the one helper that scrubs tracking and storage URLs out of any text.

MLflow tracking URIs (``http://user:pw@host``, ``postgresql://user:pw@host/db``),
SQLAlchemy URLs and Optuna storage URLs carry credentials; every message, tag and
file that may show one passes through :func:`redact`, which replaces

- the password of every ``scheme://user:password@host`` in the text by ``***``
  (user and host stay, so the message still says which store);
- the value of every ``password=``, ``passwd=`` or ``pwd=`` parameter (URL queries,
  libpq keyword strings) by ``***``;
- the password of each URL given, wherever else it appears (a driver may echo it).
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

MASK = "***"
#: ``scheme://user:`` then the password, up to the last ``@`` of the same word
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@]*):(?P<password>[^\s]*)@")
_PARAMETER = re.compile(
    r"(?P<head>\b(?:password|passwd|pwd)\s*=\s*)(?P<password>[^&\s'\";,]+)", re.IGNORECASE
)
#: shorter passwords are masked inside URLs only (replacing them everywhere would mangle the text)
MIN_ECHOED = 4


def passwords(url: str) -> list[str]:
    """The password of ``url`` as written and decoded (none when it has none)."""
    try:
        pw = urlsplit(url).password
    except ValueError:
        pw = None
    if not pw:
        match = _USERINFO.search(url)
        pw = match["password"] if match else None
    return [p for p in dict.fromkeys([pw, unquote(pw)]) if p] if pw else []


def redact(text: str, *urls: str) -> str:
    """``text`` with every URL password and ``password=`` value masked, and those of ``urls`` anywhere."""
    echoed = {p for url in urls if url for p in passwords(url) if len(p) >= MIN_ECHOED}
    for pw in sorted(echoed, key=len, reverse=True):
        text = text.replace(pw, MASK)
    text = _USERINFO.sub(lambda m: f"{m['head']}:{MASK}@", text)
    return _PARAMETER.sub(lambda m: f"{m['head']}{MASK}", text)
