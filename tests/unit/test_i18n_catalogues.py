"""Every string of the browser client comes from one catalogue per language
(web/static/js/i18n.js): both catalogues have the same keys, and every key the templates
and scripts name literally is in them."""

from __future__ import annotations

import re
from pathlib import Path

WEB = Path(__file__).resolve().parents[2] / "web"
I18N = WEB / "static" / "js" / "i18n.js"
KEY = re.compile(r'^\s+"([A-Za-z0-9_.]+)":', re.MULTILINE)
#: data-i18n="k", data-i18n-aria-label="k", ... in templates (not data-i18n-param-*).
TEMPLATE_KEY = re.compile(r'data-i18n(?:-aria-label|-title|-alt)?="([A-Za-z0-9_.]+)"')
#: t("k") / tn("k", n) in scripts; keys built at run time (template strings) are not seen.
SCRIPT_KEY = re.compile(r'\bt\("([A-Za-z0-9_.]+)"|\btn\("([A-Za-z0-9_.]+)"')


def catalogue(name: str) -> set[str]:
    text = I18N.read_text(encoding="utf-8")
    start = text.index(f"const {name} = {{")
    end = text.index("\n};", start)
    return set(KEY.findall(text[start:end]))


def test_both_languages_have_the_same_keys() -> None:
    en, nb = catalogue("en"), catalogue("nb")
    assert len(en) > 100
    assert sorted(en - nb) == [], "missing in bokmål"
    assert sorted(nb - en) == [], "missing in English"


def test_every_key_used_is_in_the_catalogue() -> None:
    known = catalogue("en")
    used: dict[str, str] = {}
    for path in (WEB / "templates").glob("*.html"):
        for key in TEMPLATE_KEY.findall(path.read_text(encoding="utf-8")):
            if "{{" not in key:
                used.setdefault(key, path.name)
    for path in (WEB / "static" / "js").rglob("*.js"):
        for single, plural in SCRIPT_KEY.findall(path.read_text(encoding="utf-8")):
            if single:
                used.setdefault(single, path.name)
            if plural:  # tn("base", n) looks up base.one / base.other
                used.setdefault(plural + ".one", path.name)
                used.setdefault(plural + ".other", path.name)
    missing = {key: where for key, where in used.items() if key not in known}
    assert missing == {}
