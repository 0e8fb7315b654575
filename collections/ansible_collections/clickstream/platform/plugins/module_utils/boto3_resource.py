# Copyright: clickstream-analytics contributors
# MIT License
"""The skeleton the collection's boto3 modules share: a manager around one boto3 client whose calls report
failures through ``fail_json_aws``, a check-mode-aware change log (every change is recorded as an action; AWS is
called only outside check mode), a paginated listing and the "exactly one resource of this name" rule.

A module subclasses :class:`Boto3Resource` (or uses it as it is) and keeps the API-specific logic; calls name the
boto3 method as a string (``self.call("list_apps", ...)``), so a module's source still shows every operation it
can send."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

try:  # noqa: SIM105 - the usual AWS module pattern: AnsibleAWSModule reports a missing botocore
    import botocore
except ImportError:
    pass


def error_code(exception: Exception) -> str | None:
    """The AWS error code of a botocore ClientError (None for any other exception)."""
    response = getattr(exception, "response", None)
    return (response.get("Error") or {}).get("Code") if isinstance(response, dict) else None


def paginate(call: Callable[..., dict[str, Any]], items_key: str,
             cursor_key: str = "NextToken") -> list[dict[str, Any]]:
    """Every item of a token-paginated listing: ``call(**{cursor_key: token})`` until no token comes back.

    ``call`` takes the page token as a keyword (bind the other arguments in a lambda); ``items_key`` names the list
    in each page (``Items``, ``UserPools``, ``apps`` ...) and ``cursor_key`` the token (``NextToken``/``nextToken``)."""
    items: list[dict[str, Any]] = []
    token = None
    while True:
        page = call(**({cursor_key: token} if token else {}))
        items += page.get(items_key, [])
        token = page.get(cursor_key)
        if not token:
            return items


class Boto3Resource:
    """A module's manager of one kind of AWS resource.

    ``actions`` lists what was changed (in check mode: what would be); ``before``/``after`` are the views a module
    returns as its diff. ``failure_msg`` is the message of a failed call, ``{method}`` standing for the boto3 method
    name (a subclass sets the class attribute; the constructor argument overrides it)."""

    failure_msg = "{method} failed"

    def __init__(self, module: Any, client: Any, failure_msg: str | None = None) -> None:
        self.module = module
        self.client = client
        self.check: bool = module.check_mode
        self.actions: list[str] = []
        self.before: dict[str, Any] = {}
        self.after: dict[str, Any] = {}
        if failure_msg is not None:
            self.failure_msg = failure_msg

    def result(self, values: dict[str, Any]) -> dict[str, Any]:
        """A module's result: ``values`` with ``changed`` (whether anything was done, or in check mode would be),
        ``actions`` and, in diff mode when something changed, ``diff`` (``before``/``after``)."""
        values.update(changed=bool(self.actions), actions=self.actions)
        if getattr(self.module, "_diff", False) and self.actions:
            values["diff"] = {"before": self.before, "after": self.after}
        return values

    def call(self, method: str, client: Any = None, none_on: Collection[str] = (), **kwargs: Any) -> Any:
        """``client.<method>(**kwargs)`` with retries (the client is ``self.client`` unless given).

        A ClientError whose code is in ``none_on`` (``NotFoundException`` ...) returns None; any other AWS error
        ends the module with ``fail_json_aws``."""
        try:
            return getattr(client or self.client, method)(aws_retry=True, **kwargs)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            if none_on and error_code(e) in none_on:
                return None
            self.module.fail_json_aws(e, msg=self.failure_msg.replace("{method}", method))

    def change(self, action: str, method: str, **kwargs: Any) -> Any:
        """Record the action; call AWS unless in check mode (then None)."""
        self.actions.append(action)
        return None if self.check else self.call(method, **kwargs)

    def single_named(self, items: list[dict[str, Any]], name: str, *, what: str, id_key: str, ids_key: str,
                     name_key: str = "Name") -> dict[str, Any] | None:
        """The one item whose ``name_key`` is ``name`` (None when there is none). Several with the name end the
        module: it cannot tell which one it manages. ``what`` names them in the message (``user pools``) and
        ``ids_key`` is the result key listing their ``id_key`` values."""
        found = [i for i in items if i.get(name_key) == name]
        if len(found) > 1:
            self.module.fail_json(msg=f"{len(found)} {what} are named {name!r}; remove the extra ones first",
                                  **{ids_key: [i[id_key] for i in found]})
        return found[0] if found else None

    def exit_json(self, with_diff: bool = True, **result: Any) -> None:
        """End the module (AnsibleModule.exit_json does not return): changed when any action was recorded, the
        actions, the before/after diff unless ``with_diff`` is false, and ``result``."""
        if with_diff:
            result["diff"] = {"before": self.before, "after": self.after}
        self.module.exit_json(changed=bool(self.actions), actions=self.actions, **result)
