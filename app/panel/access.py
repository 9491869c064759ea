"""Who may reach the panel (and the Evidently UI): loopback only without a secret; the
panel's password compared in constant time."""

from __future__ import annotations

import hmac
import ipaddress

from pydantic import SecretStr

from app.settings import _PLACEHOLDER_SECRETS

MIN_PASSWORD = 8


def password_of(setting: SecretStr | None) -> str | None:
    """The panel password, or None when unset or empty."""
    value = setting.get_secret_value() if setting is not None else ""
    return value or None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, password: SecretStr | None, *, setting: str = "VENTWATCH_PANEL_PASSWORD",
               what: str = "the control panel") -> None:
    """ValueError if `what` would be reachable from other machines without a (real) secret."""
    secret = password_of(password)
    if secret is None:
        if not is_loopback(host):
            raise ValueError(
                f"{what} has no {setting}, so it only binds to 127.0.0.1 (not {host}); "
                f"set {setting} to serve it on other interfaces")
        return
    if secret.lower() in _PLACEHOLDER_SECRETS or len(secret) < MIN_PASSWORD:
        raise ValueError(
            f"{setting} is a placeholder or shorter than {MIN_PASSWORD} characters; "
            "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(16))'")


def password_ok(given: str, password: SecretStr | None) -> bool:
    """True if no password is set, or `given` is it."""
    secret = password_of(password)
    if secret is None:
        return True
    return hmac.compare_digest(given.encode(), secret.encode())
