"""ISO 639-2 language tags (what containers carry) to BCP 47 (what HLS wants) and names."""

from __future__ import annotations

# 639-2 (B and T forms) -> (639-1, English name). Covers the languages media actually
# carries; anything else passes through when it is already a valid short tag.
_TABLE: dict[str, tuple[str, str]] = {
    "ara": ("ar", "Arabic"),
    "bul": ("bg", "Bulgarian"),
    "cat": ("ca", "Catalan"),
    "ces": ("cs", "Czech"),
    "cze": ("cs", "Czech"),
    "chi": ("zh", "Chinese"),
    "zho": ("zh", "Chinese"),
    "dan": ("da", "Danish"),
    "deu": ("de", "German"),
    "ger": ("de", "German"),
    "ell": ("el", "Greek"),
    "gre": ("el", "Greek"),
    "eng": ("en", "English"),
    "est": ("et", "Estonian"),
    "fin": ("fi", "Finnish"),
    "fra": ("fr", "French"),
    "fre": ("fr", "French"),
    "heb": ("he", "Hebrew"),
    "hin": ("hi", "Hindi"),
    "hrv": ("hr", "Croatian"),
    "hun": ("hu", "Hungarian"),
    "ind": ("id", "Indonesian"),
    "isl": ("is", "Icelandic"),
    "ice": ("is", "Icelandic"),
    "ita": ("it", "Italian"),
    "jpn": ("ja", "Japanese"),
    "kor": ("ko", "Korean"),
    "lav": ("lv", "Latvian"),
    "lit": ("lt", "Lithuanian"),
    "msa": ("ms", "Malay"),
    "may": ("ms", "Malay"),
    "nld": ("nl", "Dutch"),
    "dut": ("nl", "Dutch"),
    "nor": ("no", "Norwegian"),
    "nob": ("nb", "Norwegian Bokmål"),
    "pol": ("pl", "Polish"),
    "por": ("pt", "Portuguese"),
    "ron": ("ro", "Romanian"),
    "rum": ("ro", "Romanian"),
    "rus": ("ru", "Russian"),
    "slk": ("sk", "Slovak"),
    "slo": ("sk", "Slovak"),
    "slv": ("sl", "Slovenian"),
    "spa": ("es", "Spanish"),
    "srp": ("sr", "Serbian"),
    "swe": ("sv", "Swedish"),
    "tha": ("th", "Thai"),
    "tur": ("tr", "Turkish"),
    "ukr": ("uk", "Ukrainian"),
    "vie": ("vi", "Vietnamese"),
    "fas": ("fa", "Persian"),
    "per": ("fa", "Persian"),
    "tam": ("ta", "Tamil"),
    "tel": ("te", "Telugu"),
    "ben": ("bn", "Bengali"),
    "urd": ("ur", "Urdu"),
    "fil": ("fil", "Filipino"),
}
_BY_SHORT = {short: name for short, name in _TABLE.values()}
_UNDETERMINED = {"und", "mis", "mul", "zxx", ""}


def bcp47(tag: str | None) -> str | None:
    """``eng`` -> ``en``; ``pt-BR`` stays; undetermined or unknown long codes -> None."""
    if not tag:
        return None
    tag = tag.strip()
    lowered = tag.lower()
    if lowered in _UNDETERMINED:
        return None
    if lowered in _TABLE:
        return _TABLE[lowered][0]
    primary = lowered.split("-")[0]
    if 2 <= len(primary) <= 3 and primary.isalpha() and (len(primary) == 2 or primary in _BY_SHORT):
        return tag
    return None


def display_name(tag: str | None) -> str | None:
    """A human name for a language tag ("eng" -> "English"), or None."""
    short = bcp47(tag)
    if short is None:
        return None
    return _BY_SHORT.get(short.split("-")[0].lower())
