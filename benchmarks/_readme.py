"""The one helper every benchmark uses to (re)write its own section of benchmarks/README.md."""

from __future__ import annotations

__all__ = ["replace_section"]


def replace_section(text: str, start: str, end: str, section: str, *, after: str | None = None) -> str:
    """``text`` with the block from marker ``start`` to marker ``end`` replaced by ``section``.

    Where the markers are not there yet the section is inserted after the marker ``after`` (if given
    and present), else appended at the end.

    >>> replace_section("a\\n<!-- s -->old<!-- e -->\\nb", "<!-- s -->", "<!-- e -->", "<!-- s -->new<!-- e -->")
    'a\\n<!-- s -->new<!-- e -->\\nb'
    >>> replace_section("a", "<!-- s -->", "<!-- e -->", "S")
    'a\\n\\nS\\n'
    """
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        return head + section + tail
    if after is not None and after in text:
        return text.replace(after, after + "\n\n" + section, 1)
    return text.rstrip("\n") + "\n\n" + section + "\n"
