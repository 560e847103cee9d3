"""Reading the HTTP service's answers in tests (FastAPI's TestClient or httpx responses)."""

from __future__ import annotations

from typing import Any


def ok_json(response: Any, status: int = 200) -> Any:
    """Check ``response`` has ``status``; its JSON body (None for 204 No Content)."""
    assert response.status_code == status, (response.status_code, response.text)
    return response.json() if status != 204 else None


def error_detail(response: Any, status: int) -> str:
    """Check a 4xx/5xx with ``status`` whose JSON is {"detail": "one line"} with no traceback; that line."""
    assert response.status_code == status, (response.status_code, response.text)
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail and "\n" not in detail and "Traceback" not in detail
    return detail
