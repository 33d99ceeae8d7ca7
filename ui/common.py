"""Page plumbing shared by every UI page: page config, the API status in the sidebar, errors as messages.

``fetch`` is how pages call the API: it returns the result, or ``None`` after showing the
failure as a message (never a traceback), so a page can ``st.stop()`` or carry on with the
sections that did work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st

from ui.client import ApiClient, ApiError, ApiTimeoutError, ApiUnreachableError, EndpointMissingError, session_client

T = TypeVar("T")


def page_setup(title: str, icon: str) -> ApiClient:
    """Config, the session's API client, and the API's state in the sidebar; the first call on every page.

    An API that does not answer at all (down, wrong URL, too slow) stops the page here with one
    message, rather than one error per section.
    """
    st.set_page_config(page_title=f"genaiops · {title}", page_icon=icon, layout="wide")
    client = session_client()
    st.sidebar.caption(f"API: {client.base_url}")
    try:
        ready: dict[str, Any] | None = client.ready()
    except (ApiUnreachableError, ApiTimeoutError) as exc:
        st.sidebar.caption(":red-badge[API unreachable]")
        st.error(exc.message)
        st.stop()
    except ApiError:
        ready = None  # an API without /ready can still serve the page
    _sidebar_status(ready)
    return client


def _sidebar_status(ready: dict[str, Any] | None) -> None:
    if ready is None:
        return
    if ready.get("ready"):
        st.sidebar.caption(":green-badge[API ready]")
        return
    st.sidebar.caption(":orange-badge[API not fully ready]")
    for side, reason in (ready.get("checks") or {}).items():
        if reason != "ready":
            st.sidebar.caption(f"{side}: {reason}")


def show_error(exc: ApiError) -> None:
    """An endpoint this API does not have is a warning; anything else (down, slow, refused) an error."""
    if isinstance(exc, EndpointMissingError):
        st.warning(exc.message)
    else:
        st.error(exc.message)


def fetch(call: Callable[[], T]) -> T | None:
    """``call()``'s result, or None once its failure has been shown on the page."""
    try:
        return call()
    except ApiError as exc:
        show_error(exc)
        return None
