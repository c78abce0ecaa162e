"""A strict reader of the OpenMetrics text the dashboard serves (prometheus_client is not installed).

Only what ``/metrics`` uses is accepted: ``# TYPE <name> gauge``, ``# HELP <name> <text>``, samples
``<name>{<labels>} <number>`` of the family last declared, a final ``# EOF`` and a trailing newline.
"""

from __future__ import annotations

import re

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
VALUE = r'(?:[^"\\\n]|\\[\\"n])*'
LABEL = rf'([a-zA-Z_][a-zA-Z0-9_]*)="({VALUE})"'
PAIR = rf'[a-zA-Z_][a-zA-Z0-9_]*="{VALUE}"'
NUMBER = r"-?[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?"
SAMPLE = re.compile(rf"(?P<name>{NAME})\{{(?P<labels>{PAIR}(?:,{PAIR})*)?\}} (?P<value>{NUMBER})")

Samples = dict[str, list[tuple[dict[str, str], float]]]


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), value)


def read(text: str) -> Samples:
    """``{family: [(labels, value), ...]}``; raises AssertionError on the first line that breaks the rules."""
    assert text.endswith("# EOF\n"), "the exposition must end with '# EOF' and a newline"
    families: Samples = {}
    current: str | None = None
    for number, line in enumerate(text[: -len("# EOF\n")].splitlines(), start=1):
        if match := re.fullmatch(rf"# TYPE ({NAME}) gauge", line):
            current = match.group(1)
            assert current not in families, f"line {number}: family {current} declared twice"
            families[current] = []
        elif match := re.fullmatch(rf"# HELP ({NAME}) .+", line):
            assert match.group(1) == current, f"line {number}: HELP of {match.group(1)} outside its family"
        elif match := SAMPLE.fullmatch(line):
            name = match["name"]
            assert name == current, f"line {number}: sample of {name} in family {current}"
            pairs = re.findall(LABEL, match["labels"] or "")
            labels = {key: _unescape(value) for key, value in pairs}
            assert len(labels) == len(pairs), f"line {number}: a label is repeated"
            families[current].append((labels, float(match["value"])))
        else:
            raise AssertionError(f"line {number} is not OpenMetrics: {line!r}")
    return families
