"""A throwaway PKI for the mutual-TLS tests, made with the openssl CLI: a
CA, a rogue CA, a server and a client certificate from the CA, a client
certificate from the rogue CA, both good keys again encrypted under a
passphrase, and a file that is not a certificate."""

import os
import subprocess

PASSPHRASE = "correct horse battery staple"


def _openssl(*args, cwd):
    p = subprocess.run(["openssl"] + list(args), cwd=cwd, capture_output=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 0, f"openssl {' '.join(args)}: {p.stderr.decode()}"


def _make_ca(d, name):
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
             f"{name}.pem", "-days", "3", "-subj", f"/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)


def _make_leaf(d, name, ca, cn, ext):
    with open(os.path.join(d, f"{name}.ext"), "w") as f:
        f.write(ext)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
             "-subj", f"/CN={cn}", cwd=d)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-out", f"{name}.pem", "-days", "3", "-extfile", f"{name}.ext", cwd=d)


def make_pki(d):
    """Writes the files into directory `d`; returns {role: path}: ca,
    rogue_ca, server_cert, server_key, client_cert, client_key, rogue_cert,
    rogue_key, server_key_encrypted, client_key_encrypted (under
    PASSPHRASE), passphrase, wrong_passphrase, garbage."""
    _make_ca(d, "ca")
    _make_ca(d, "rogue-ca")
    server_ext = ("basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
                  "extendedKeyUsage=serverAuth,clientAuth\n")
    client_ext = "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth,serverAuth\n"
    _make_leaf(d, "server", "ca", "localhost", server_ext)
    _make_leaf(d, "client", "ca", "balance-client", client_ext)
    _make_leaf(d, "rogue-client", "rogue-ca", "balance-client", client_ext)
    with open(os.path.join(d, "passphrase"), "w") as f:
        f.write(PASSPHRASE + "\n")
    with open(os.path.join(d, "wrong-passphrase"), "w") as f:
        f.write("not the passphrase\n")
    for name in ("server", "client"):
        _openssl("pkey", "-in", f"{name}.key", "-aes256", "-passout", "file:passphrase",
                 "-out", f"{name}-encrypted.key", cwd=d)
    with open(os.path.join(d, "garbage.pem"), "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    return {k: os.path.join(d, f) for k, f in {
        "ca": "ca.pem", "rogue_ca": "rogue-ca.pem",
        "server_cert": "server.pem", "server_key": "server.key",
        "client_cert": "client.pem", "client_key": "client.key",
        "rogue_cert": "rogue-client.pem", "rogue_key": "rogue-client.key",
        "server_key_encrypted": "server-encrypted.key",
        "client_key_encrypted": "client-encrypted.key",
        "passphrase": "passphrase", "wrong_passphrase": "wrong-passphrase",
        "garbage": "garbage.pem"}.items()}
