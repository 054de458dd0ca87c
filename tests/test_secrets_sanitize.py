"""Credentials stay off the screen (secrets) and untrusted text cannot drive the terminal (sanitize)."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from console.sanitize import clean
from console.secrets import MASK, redact_text, redact_url, url_password

# --- redact_url ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mongodb://admin:s3cret@db:27017/admin", "mongodb://admin:***@db:27017/admin"),
        ("redis://:hunter2@cache:6379/0", "redis://:***@cache:6379/0"),
        ("amqp://guest:guest@mq:5672/%2f", "amqp://guest:***@mq:5672/%2f"),
        (
            "mongodb+srv://u:p%40ss@cluster.example.net/?retryWrites=true",
            "mongodb+srv://u:***@cluster.example.net/" "?retryWrites=true",
        ),
        ("https://user:pa@ss@host/x", "https://user:***@host/x"),  # unencoded @ in the password
        ("mongodb://u:pw@a:1,b:2/?replicaSet=rs0", "mongodb://u:***@a:1,b:2/?replicaSet=rs0"),
    ],
)
def test_redact_url_masks_password_keeps_user(url: str, expected: str) -> None:
    assert redact_url(url) == expected


@pytest.mark.parametrize(
    "url",
    ["http://host:8080/health", "https://user@host/x", "mongodb://db:27017", "redis://cache/0?db=1", ""],
)
def test_redact_url_without_password_is_unchanged(url: str) -> None:
    assert redact_url(url) == url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api/health?token=abc123", "https://api/health?token=***"),
        ("https://api/health?x=1&access_token=abc&y=2", "https://api/health?x=1&access_token=***&y=2"),
        ("https://api/h?API_KEY=k&password=p&pwd=q", "https://api/h?API_KEY=***&password=***&pwd=***"),
        ("https://api/h?secret=s#frag", "https://api/h?secret=***#frag"),
        ("https://api/h?tokenish=keep&mytoken=keep", "https://api/h?tokenish=keep&mytoken=keep"),
        ("https://u:p@api/h?auth=x", "https://u:***@api/h?auth=***"),
    ],
)
def test_redact_url_masks_sensitive_query_values(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_url_keeps_empty_authority() -> None:
    assert redact_url("unix:///var/run/redis.sock") == "unix:///var/run/redis.sock"


def test_redact_url_invalid_url_falls_back_to_text_redaction() -> None:
    # urlsplit raises on a broken IPv6 literal; the password must still be masked.
    url = "http://admin:s3cret@[::1/health?token=abc"
    redacted = redact_url(url)
    assert "s3cret" not in redacted and "abc" not in redacted
    assert redacted.startswith("http://admin:***@")


def test_url_password() -> None:
    assert url_password("redis://:hunter2@cache") == "hunter2"
    assert url_password("mongodb://u:p%40ss@db") == "p%40ss"
    assert url_password("http://host") is None
    assert url_password("http://[::1") is None


# --- redact_text ---------------------------------------------------------------------------------------


def test_redact_text_masks_urls_inside_messages() -> None:
    text = "connect failed for mongodb://user:s3cret@db1:27017 and redis://:pw@cache (retrying)"
    assert redact_text(text) == "connect failed for mongodb://user:***@db1:27017 and redis://:***@cache (retrying)"


def test_redact_text_masks_query_tokens_inside_messages() -> None:
    assert redact_text("GET https://api/h?token=abc&v=1 -> 401") == "GET https://api/h?token=***&v=1 -> 401"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer eyJhbGciOi.payload.sig", "Authorization: Bearer ***"),
        ("authorization: basic dXNlcjpwYXNz", "authorization: basic ***"),
        ("header token abcdef123456 rejected", "header token *** rejected"),
    ],
)
def test_redact_text_masks_auth_tokens(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_redact_text_leaves_short_bearer_words_alone() -> None:
    assert redact_text("Bearer abc") == "Bearer abc"


def test_redact_text_masks_explicit_secrets() -> None:
    text = "login failed for hunter2-user with hunter2"
    assert redact_text(text, secrets=("hunter2",)) == f"login failed for {MASK}-user with {MASK}"


def test_redact_text_ignores_empty_and_tiny_secrets() -> None:
    # Masking "" or "a" would mangle every message.
    assert redact_text("a plain message", secrets=("", "a", "pl")) == "a plain message"


def test_redact_text_plain_message_is_unchanged() -> None:
    text = "connection refused (localhost:6379)"
    assert redact_text(text) == text


@settings(max_examples=200, deadline=None)
@given(
    user=st.from_regex(r"[a-z]{1,8}", fullmatch=True),
    password=st.from_regex(r"[A-Z][A-Za-z0-9]{5,15}", fullmatch=True),
    scheme=st.sampled_from(["mongodb", "mongodb+srv", "redis", "rediss", "amqp", "http", "https"]),
    prefix=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20),
)
def test_password_never_survives_redaction(user: str, password: str, scheme: str, prefix: str) -> None:
    assume(password not in prefix)
    url = f"{scheme}://{user}:{password}@host.example:1234/db"
    assert password not in redact_url(url)
    assert password not in redact_text(f"{prefix} failed: {url} (x)")


# --- clean ---------------------------------------------------------------------------------------------


def test_clean_leaves_plain_text_alone() -> None:
    assert clean("database: connected (12 ms) — ünïcödé ✓") == "database: connected (12 ms) — ünïcödé ✓"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("\x1b[31mred", "\\x1b[31mred"),
        ("\x1b]52;c;aGk=\x07", "\\x1b]52;c;aGk=\\x07"),
        ("\x00\x01\x08", "\\x00\\x01\\x08"),
        ("a\x0bb\x0cc", "a\\x0bb\\x0cc"),
        ("del\x7f", "del\\x7f"),
        ("\x80\x9b\x9f", "\\x80\\x9b\\x9f"),
        ("\x85next-line", "\\x85next-line"),
    ],
)
def test_clean_makes_control_characters_visible(raw: str, expected: str) -> None:
    assert clean(raw) == expected


@pytest.mark.parametrize(
    "char",
    ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069", "\u200e", "\u200f"],
)
def test_clean_replaces_bidi_controls(char: str) -> None:
    assert clean(f"file{char}txt.exe") == "file?txt.exe"


def test_clean_folds_newlines_and_tabs_to_spaces() -> None:
    assert clean("line one\nline two\tend") == "line one line two end"


def test_clean_carriage_return_never_reaches_the_terminal() -> None:
    # A bare CR would let text overwrite the start of the line.
    for single_line in (True, False):
        assert "\r" not in clean("visible\rhidden", single_line=single_line)


def test_clean_multiline_keeps_newlines_and_tabs() -> None:
    assert clean("a\nb\tc", single_line=False) == "a\nb\tc"
    assert clean("a\n\x1bb", single_line=False) == "a\n\\x1bb"


def test_clean_caps_length_with_ellipsis() -> None:
    assert clean("x" * 10, max_len=5) == "xxxx…"
    assert clean("x" * 5, max_len=5) == "xxxxx"
    result = clean("y" * 100_000, max_len=200)
    assert len(result) == 200 and result.endswith("…")


def test_clean_cap_counts_escaped_form() -> None:
    result = clean("\x1b" * 100, max_len=50)
    assert len(result) == 50
    assert "\x1b" not in result


def test_clean_stringifies_non_strings() -> None:
    assert clean(42) == "42"
    assert clean(None) == "None"
    assert clean(["a", "\x1b"]) == "['a', '\\x1b']"  # repr already escapes the ESC


@settings(max_examples=300, deadline=None)
@given(text=st.text(), max_len=st.integers(min_value=1, max_value=300))
def test_clean_output_is_always_terminal_safe(text: str, max_len: int) -> None:
    result = clean(text, max_len=max_len)
    assert len(result) <= max_len
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in result)
    assert not any(c in result for c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def test_redact_text_masks_password_containing_at_sign() -> None:
    assert redact_text("failed mongodb://user:p@ss@host") == "failed mongodb://user:***@host"
