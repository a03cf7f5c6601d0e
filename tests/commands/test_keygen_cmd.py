"""``tcup keygen`` and ``tcup sign``."""

from __future__ import annotations

import io
import json
import stat

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from tcup import cli, signing
from tcup.commands.keygen import keygen


def tcup(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_keygen_writes_a_pair_refstack_client_can_use(tmp_path):
    path = tmp_path / "keys" / "tcup_rsa"
    code, out, err = tcup("keygen", "--bits", "2048", "--out", str(path), "--comment", "ci@x")
    assert (code, err) == (0, "")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # refstack-client: load_pem_private_key(data, password=None)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert key.key_size == 2048
    pub_line = (tmp_path / "keys" / "tcup_rsa.pub").read_text().strip()
    assert pub_line == signing.public_key_line(key) + " ci@x"
    assert f"Fingerprint: {signing.fingerprint(pub_line)}" in out
    assert f"tcup sign {path}" in out


def test_keygen_refuses_to_overwrite_and_weak_sizes(tmp_path):
    path = tmp_path / "k"
    assert tcup("keygen", "--bits", "2048", "--out", str(path))[0] == 0
    before = path.read_bytes()
    code, _, err = tcup("keygen", "--bits", "2048", "--out", str(path))
    assert code == 2 and "already exists" in err and "--force" in err
    assert path.read_bytes() == before
    assert tcup("keygen", "--bits", "2048", "--out", str(path), "--force")[0] == 0
    assert path.read_bytes() != before
    code, _, err = tcup("keygen", "--bits", "1024", "--out", str(tmp_path / "weak"))
    assert code == 2 and "at least 2048" in err
    assert not (tmp_path / "weak").exists()


def test_keygen_encrypt_uses_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "enc"
    monkeypatch.delenv("TCUP_KEY_PASSPHRASE", raising=False)
    code, _, err = tcup("keygen", "--bits", "2048", "--out", str(path), "--encrypt")
    assert code == 2 and "TCUP_KEY_PASSPHRASE" in err and not path.exists()

    out = io.StringIO()
    env = {"TCUP_KEY_PASSPHRASE": "correct horse"}
    assert keygen(out, out=path, bits=2048, encrypt=True, environ=env) == 0
    assert "encrypted" in out.getvalue()
    assert signing.load_private_key(path, b"correct horse").key_size == 2048
    monkeypatch.setenv("TCUP_KEY_PASSPHRASE", "correct horse")
    code, stdout, _ = tcup("sign", str(path))
    assert code == 0 and "Self signature:" in stdout


def test_sign_prints_key_and_self_signature(tmp_path):
    path = tmp_path / "k"
    assert tcup("keygen", "--bits", "2048", "--out", str(path), "--comment", "me@host")[0] == 0
    code, out, err = tcup("sign", str(path))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "Public key:" and lines[2] == "Self signature:"
    assert lines[1] == (tmp_path / "k.pub").read_text().strip()  # with the comment
    # Verify the way RefStack's PubkeyValidator does.
    public = serialization.load_ssh_public_key(lines[1].encode())
    public.verify(bytes.fromhex(lines[3]), b"signature", padding.PKCS1v15(), hashes.SHA256())

    code, out, _ = tcup("sign", str(path), "--json")
    body = json.loads(out)
    assert set(body) == {"raw_key", "self_signature"}
    assert body["raw_key"] == lines[1]


def test_sign_derives_the_key_when_pub_file_is_missing_or_other(tmp_path):
    path = tmp_path / "k"
    signing.write_key_pair(signing.generate_key(2048), path)
    other = signing.public_key_line(signing.generate_key(2048))
    (tmp_path / "k.pub").write_text(other + " stale\n")
    code, out, _ = tcup("sign", str(path))
    assert code == 0
    assert out.splitlines()[1] == signing.public_key_line(signing.load_private_key(path))


def test_sign_reports_key_problems(tmp_path):
    code, _, err = tcup("sign", str(tmp_path / "missing"))
    assert code == 2 and "not found" in err and "tcup keygen" in err
