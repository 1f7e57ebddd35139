"""A unit file read the way systemd reads it, written from the manual pages rather than from
teamcost's code: systemd.syntax(7) "Quoting" (a quote opens only at the start of a word and
closes before whitespace; C escapes), systemd.unit(5) specifiers (``%%`` is ``%``), and
systemd.service(5) command lines (ExecStart= expands specifiers before unquoting; ``$$`` is
``$`` in the arguments, not in the executable) and systemd.exec(5) Environment= (unquoted,
then specifiers; ``$`` is literal)."""

from __future__ import annotations

_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
            "\\": "\\", '"': '"', "'": "'", "s": " "}


def parse_sections(text: str) -> dict[str, dict[str, list[str]]]:
    """[Section] -> key -> raw values (a key may repeat), comments and blank lines dropped."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if stripped.startswith("[") and stripped.endswith("]"):
            current = stripped[1:-1]
            assert current not in sections, f"section [{current}] twice"
            sections[current] = {}
            continue
        assert current is not None, f"{line!r} outside a section"
        key, eq, value = line.partition("=")
        assert eq, f"not key=value: {line!r}"
        sections[current].setdefault(key.strip(), []).append(value.strip())
    return sections


def unquote_words(value: str) -> list[str]:
    """systemd.syntax(7): words split at unquoted whitespace; a quote opens only at the start
    of a word and must close before whitespace or the end; C escapes inside and outside."""
    words, i, n = [], 0, len(value)
    while i < n:
        if value[i].isspace():
            i += 1
            continue
        word = ""
        quote = value[i] if value[i] in "\"'" else None
        if quote:
            i += 1
        while i < n and (value[i] != quote if quote else not value[i].isspace()):
            if value[i] == "\\":
                word += _ESCAPES[value[i + 1]]   # an unknown escape would be a KeyError here
                i += 2
            else:
                word += value[i]
                i += 1
        if quote:
            assert i < n, f"unterminated quote in {value!r}"
            i += 1
            assert i == n or value[i].isspace(), f"text right after a closing quote: {value!r}"
        words.append(word)
    return words


def expand_specifiers(text: str) -> str:
    """``%%`` -> ``%``; teamcost writes no other specifier, so any other ``%`` fails."""
    out, i = "", 0
    while i < len(text):
        if text[i] == "%":
            assert text[i + 1: i + 2] == "%", f"unexpected specifier in {text!r}"
            out += "%"
            i += 2
        else:
            out += text[i]
            i += 1
    return out


def exec_argv(value: str) -> list[str]:
    words = unquote_words(expand_specifiers(value))
    return [words[0]] + [w.replace("$$", "$") for w in words[1:]]


def environment(values: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for value in values:
        for word in unquote_words(value):
            name, eq, val = word.partition("=")
            assert eq, word
            env[name] = expand_specifiers(val)
    return env
