"""``wsgate token``: local keys and test tokens for trying the jwt authorizer."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import jwt
import orjson
import pytest

from wsgate.auth.jwks import parse_jwks
from wsgate.cli import main
from wsgate.exceptions import TokenError
from wsgate.tokens import (
    generate_key,
    jwk_thumbprint,
    load_private_key,
    mint_token,
    public_jwk,
    write_key_files,
)


def test_thumbprint_matches_rfc_7638_example() -> None:
    """The kid is the RFC 7638 thumbprint (the RFC's own example key)."""
    jwk = {
        "kty": "RSA",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6"
            "tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v"
            "-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08q"
            "NLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awa"
            "pJzKnqDKgw"
        ),
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.mark.parametrize(("key_type", "alg"), [("rsa", "RS256"), ("ec", "ES256")])
def test_minted_token_verifies_with_the_written_jwks(
    tmp_path: Path, key_type: str, alg: str
) -> None:
    """keygen's JWKS verifies mint's token: same kid, declared alg, the claims asked for."""
    files = write_key_files(tmp_path, key_type="rsa" if key_type == "rsa" else "ec")
    assert stat.S_IMODE(files.key.stat().st_mode) == 0o600
    token = mint_token(
        load_private_key(files.key),
        issuer="https://issuer.local",
        audience="app",
        subject="ann",
        scopes=["chat/read", "chat/write"],
        ttl=60,
        claims={"groups": ["admins"]},
        now=1_700_000_000,
    )
    assert jwt.get_unverified_header(token) == {"alg": alg, "kid": files.kid, "typ": "JWT"}
    key = parse_jwks(files.jwks.read_bytes()).key_for(files.kid, alg)
    assert key is not None
    payload = jwt.decode(
        token, key, algorithms=[alg], options={"verify_exp": False}, audience="app"
    )
    assert payload == {
        "iss": "https://issuer.local",
        "sub": "ann",
        "aud": "app",
        "scope": "chat/read chat/write",
        "iat": 1_700_000_000,
        "exp": 1_700_000_060,
        "groups": ["admins"],
    }


def test_cognito_access_token_carries_client_id() -> None:
    """With token_use access the audience is client_id and there is no aud."""
    token = mint_token(
        generate_key("ec"), issuer="i", audience="app", subject="s", token_use="access"
    )
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload["client_id"] == "app"
    assert payload["token_use"] == "access"
    assert "aud" not in payload


def test_a_second_key_joins_the_jwks(tmp_path: Path) -> None:
    """Running keygen again with another name adds a key (how to try rotation)."""
    first = write_key_files(tmp_path)
    second = write_key_files(tmp_path, name="next", key_type="ec")
    keys = json.loads(first.jwks.read_text())["keys"]
    assert [key["kid"] for key in keys] == [first.kid, second.kid]
    assert all("d" not in key for key in keys)  # public halves only
    with pytest.raises(TokenError, match="exists already"):
        write_key_files(tmp_path)


def test_public_jwk_has_no_private_members() -> None:
    """The published JWK never carries the private exponent or scalar."""
    for key_type in ("rsa", "ec"):
        jwk = public_jwk(generate_key("rsa" if key_type == "rsa" else "ec"))
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(jwk)
        assert jwk["use"] == "sig"


def test_unusable_key_files(tmp_path: Path) -> None:
    """A missing or non-PEM key file is a TokenError naming it."""
    with pytest.raises(TokenError, match="cannot read"):
        load_private_key(tmp_path / "missing.pem")
    (tmp_path / "bad.pem").write_text("not a key")
    with pytest.raises(TokenError, match="bad.pem"):
        load_private_key(tmp_path / "bad.pem")


def test_cli_keygen_and_mint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`wsgate token keygen` then `wsgate token mint` print a token for the written JWKS."""
    keys = tmp_path / "keys"
    assert main(["token", "keygen", "--out", str(keys)]) == 0
    assert "added kid" in capsys.readouterr().out
    argv = ["token", "mint", "--key", str(keys / "signing-key.pem"), "--issuer", "https://i"]
    argv += ["--audience", "app", "--sub", "bob", "--scope", "a", "--claim", "level=3"]
    argv += ["--claim", "team=blue", "--token-use", "id"]
    assert main(argv) == 0
    token = capsys.readouterr().out.strip()
    payload = jwt.decode(token, options={"verify_signature": False})
    assert (payload["sub"], payload["level"], payload["team"]) == ("bob", 3, "blue")
    assert (payload["aud"], payload["token_use"], payload["scope"]) == ("app", "id", "a")
    assert parse_jwks(orjson.dumps(json.loads((keys / "jwks.json").read_text())))


def test_cli_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A bad --claim or key file is reported on stderr with exit status 2."""
    argv = ["token", "mint", "--key", str(tmp_path / "k.pem"), "--issuer", "i", "--audience", "a"]
    assert main(argv) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["token", "keygen", "--out", str(tmp_path)]) == 0
    argv[3] = str(tmp_path / "signing-key.pem")
    assert main([*argv, "--claim", "novalue"]) == 2
    assert "expected NAME=VALUE" in capsys.readouterr().err
