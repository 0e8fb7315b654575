# Copyright: clickstream-analytics contributors
# MIT License
"""Tags of the collection's AWS modules, the amazon.aws way: the options of the amazon.aws.tags doc fragment
(O(tags), alias O(resource_tags), and O(purge_tags)) and amazon.aws's compare_aws_tags for the plan, so every
module treats tags as amazon.aws's own modules do (unset O(tags): leave them alone; aws:* keys never removed)."""

from __future__ import annotations

from typing import Any

from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags

# The argument_spec entries documented by `extends_documentation_fragment: amazon.aws.tags`.
TAG_OPTIONS: dict[str, dict[str, Any]] = {
    "tags": {"type": "dict", "aliases": ["resource_tags"]},
    "purge_tags": {"type": "bool", "default": True},
}


def tag_values(tags: dict[str, Any] | None) -> dict[str, str]:
    """Module option O(tags) as AWS takes it: every value a string."""
    return {str(k): str(v) for k, v in (tags or {}).items()}


def tag_changes(current: dict[str, str] | None, desired: dict[str, Any] | None, purge: bool,
                keep: tuple[str, ...] = ()) -> tuple[dict[str, str], list[str]]:
    """(tags to set, tag keys to remove, sorted) from amazon.aws's compare_aws_tags; keys in `keep` (a module's
    own bookkeeping tags) are never removed, like aws:* keys. Nothing to do when O(tags) was not given."""
    if desired is None:
        return {}, []
    to_set, to_remove = compare_aws_tags(current or {}, tag_values(desired), purge_tags=purge)
    return to_set, sorted(k for k in to_remove if k not in keep)


def tags_after(current: dict[str, str] | None, desired: dict[str, Any] | None, purge: bool,
               keep: tuple[str, ...] = ()) -> dict[str, str]:
    """The whole tag set once tag_changes() is applied: for an API that takes all tags at once."""
    to_set, to_remove = tag_changes(current, desired, purge, keep)
    return {**{k: v for k, v in (current or {}).items() if k not in to_remove}, **to_set}
