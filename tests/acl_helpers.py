"""The ACLs documented in docs/security.md, read from the document for the tests that apply them."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECURITY_DOC = ROOT / "docs" / "security.md"


def documented_acl(role: str) -> list[str]:
    """The rules of ``ACL SETUSER worqr-<role> ...`` as written in docs/security.md."""
    for line in SECURITY_DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith(f"ACL SETUSER worqr-{role} "):
            return line.split()[3:]
    msg = f"docs/security.md has no 'ACL SETUSER worqr-{role}' line"
    raise AssertionError(msg)


def acl_for(role: str, prefix: str, password: str) -> list[str]:
    return [rule.replace("PREFIX", prefix).replace("PASSWORD", password) for rule in documented_acl(role)]
