"""The API's JSON parser: DRF's, with a limit on nesting.

Its own module, not ``imprimatur.api``: DRF imports the parser classes named in its settings
while ``rest_framework.views`` loads, and ``imprimatur.api`` imports that module.
"""

from rest_framework import exceptions
from rest_framework.parsers import JSONParser as DRFJSONParser

# Deeper JSON is refused: no input of the API nests past a handful of levels, and deep data
# would exhaust the recursion of the parser or of whatever walks it afterwards.
MAX_JSON_DEPTH = 64


def _json_depth_exceeds(data, limit: int) -> bool:
    """Whether ``data`` nests lists and objects deeper than ``limit`` (no recursion)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > limit:
                return True
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)
    return False


class JSONParser(DRFJSONParser):
    """DRF's JSON parser, with nesting limited to ``MAX_JSON_DEPTH`` levels (a 400, where
    thousands of levels made the standard parser raise RecursionError: a 500)."""

    def parse(self, stream, media_type=None, parser_context=None):
        too_deep = exceptions.ParseError(
            f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels."
        )
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise too_deep from None
        if _json_depth_exceeds(data, MAX_JSON_DEPTH):
            raise too_deep
        return data
