#!/bin/sh
# Scenario: the VPN key tools of the real binary (`switchyard keygen | pubkey |
# prekey-bundle`, rvpn-protocol.md §4).
# Covers: keygen writes the 3-line identity file with mode 0600 and prints the X25519
# identity as hex, base64 and ik:<hex> and the pin ik:1:...; every printed form is checked
# against the file by an independent implementation (python `cryptography`: X25519 of the
# raw seed, Ed25519 of the seed, the pin's base32 SHA-256); pubkey prints the same forms;
# keygen and prekey-bundle refuse an existing file without --force (exit 1, a message
# naming --force, the file unchanged) and replace it with --force (still 0600);
# prekey-bundle writes BUNDLE.json (0644) and BUNDLE.private.json (0600) with
# one_time_prekey null, version 1, a signature that verifies and an SPK that matches the
# sidecar's private key; a second bundle has a new SPK; errors: a missing or a bad identity
# file (exit 1), missing options, a stray argument, an unknown option (exit 2); --help
# documents the three commands.
. "$(dirname "$0")/lib.sh"
sy_setup
SY=$SWITCHYARD

# run CODE CMD...: runs CMD with output in $T/out, $T/err; checks the exit status.
run() {
	want=$1
	shift
	"$@" >"$T/out" 2>"$T/err"
	got=$?
	if [ "$got" = "$want" ]; then sy_ok; else sy_bad "$* exited $got, want $want: $(head -2 "$T/err")"; fi
}

# mode FILE: the permission bits in octal.
mode() { stat -c %a "$1"; }

# forms_ok IDFILE OUTFILE: the printed forms are those of the identity file (python).
forms_ok() {
	python3 - "$1" "$2" <<'EOF'
import base64, hashlib, sys
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives import serialization as s
lines = open(sys.argv[1]).read().split("\n")
assert lines[0] == "R-VPN-IDENTITY-v1" and lines[3:] == [""], lines
seed = base64.b64decode(lines[2], validate=True)
assert len(seed) == 32
raw = lambda k: k.public_bytes(s.Encoding.Raw, s.PublicFormat.Raw)
ed = raw(ed25519.Ed25519PrivateKey.from_private_bytes(seed).public_key())
x = raw(x25519.X25519PrivateKey.from_private_bytes(seed).public_key())
assert base64.b64decode(lines[1]) == ed, "line 2 is not the Ed25519 public key"
got = dict(l.split(": ", 1) for l in open(sys.argv[2]).read().splitlines())
pin = "ik:1:" + base64.b32encode(hashlib.sha256(ed).digest()).decode().lower().rstrip("=")
want = {"x25519_hex": x.hex(), "x25519_base64": base64.b64encode(x).decode(),
        "x25519_ik": "ik:" + x.hex(), "ed25519_base64": base64.b64encode(ed).decode(),
        "pin": pin}
for k, v in want.items():
    assert got.get(k) == v, (k, got.get(k), v)
assert len(pin) == 57
EOF
}

# bundle_ok IDFILE BUNDLE SIDECAR: the bundle is the identity's, signed, SPK matches.
bundle_ok() {
	python3 - "$1" "$2" "$3" <<'EOF'
import base64, json, sys
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives import serialization as s
raw = lambda k: k.public_bytes(s.Encoding.Raw, s.PublicFormat.Raw)
seed = base64.b64decode(open(sys.argv[1]).read().split("\n")[2])
b = json.load(open(sys.argv[2]))
p = json.load(open(sys.argv[3]))
assert list(b) == ["identity_key", "identity_x25519_key", "signed_prekey", "prekey_signature",
                   "one_time_prekey", "identity_key_version", "rotation_signature"], list(b)
assert b["one_time_prekey"] is None and b["rotation_signature"] is None
assert b["identity_key_version"] == 1
d = lambda k: base64.b64decode(b[k], validate=True)
edk = ed25519.Ed25519PrivateKey.from_private_bytes(seed).public_key()
assert d("identity_key") == raw(edk)
assert d("identity_x25519_key") == raw(x25519.X25519PrivateKey.from_private_bytes(seed).public_key())
edk.verify(d("prekey_signature"), d("signed_prekey"))
assert list(p) == ["signed_prekey_private"]
spk = base64.b64decode(p["signed_prekey_private"], validate=True)
assert raw(x25519.X25519PrivateKey.from_private_bytes(spk).public_key()) == d("signed_prekey")
EOF
}

python3 -c 'import cryptography' 2>/dev/null || { sy_skip "python3 cryptography missing"; sy_done; exit $?; }

# keygen: the file, its mode, the printed forms.
run 0 "$SY" keygen -o "$T/id.key"
sy_check "keygen file mode $(mode "$T/id.key")" [ "$(mode "$T/id.key")" = 600 ]
grep -v '^identity: ' "$T/out" >"$T/forms"
sy_check "keygen prints the file" grep -qx "identity: $T/id.key" "$T/out"
sy_check "keygen forms match the file" forms_ok "$T/id.key" "$T/forms"
cp "$T/id.key" "$T/id.orig"

# pubkey: the same forms.
run 0 "$SY" pubkey --identity "$T/id.key"
sy_check "pubkey prints the keygen forms" cmp -s "$T/out" "$T/forms"
sy_check "pubkey forms match the file" forms_ok "$T/id.key" "$T/out"
sy_check "pubkey quiet on a 0600 file" [ ! -s "$T/err" ]
chmod 644 "$T/id.key"
run 0 "$SY" pubkey --identity "$T/id.key"
sy_check "pubkey warns on a readable identity" grep -q 'readable by others' "$T/err"
chmod 600 "$T/id.key"

# keygen refuses to overwrite; --force replaces (a new key, still 0600).
run 1 "$SY" keygen -o "$T/id.key"
sy_check "refusal names --force" grep -q 'exists; use --force' "$T/err"
sy_check "refused keygen left the file" cmp -s "$T/id.key" "$T/id.orig"
sy_check "refused keygen left no temporary" [ "$(ls "$T" | grep -c tmp)" = 0 ]
cp "$T/id.key" "$T/id.other"
chmod 644 "$T/id.other"
run 0 "$SY" keygen -o "$T/id.other" --force
sy_check "--force: mode 600 again" [ "$(mode "$T/id.other")" = 600 ]
sy_check "--force: a new key" sh -c "! cmp -s '$T/id.other' '$T/id.orig'"
grep -v '^identity: ' "$T/out" >"$T/forms2"
sy_check "--force forms match" forms_ok "$T/id.other" "$T/forms2"

# prekey-bundle: both files, modes, contents.
run 0 "$SY" prekey-bundle --identity "$T/id.key" -o "$T/b.json"
sy_check "bundle mode" [ "$(mode "$T/b.json")" = 644 ]
sy_check "sidecar mode" [ "$(mode "$T/b.private.json")" = 600 ]
sy_check "prekey-bundle prints both paths" sh -c "grep -qx 'bundle: $T/b.json' '$T/out' &&
	grep -qx 'private: $T/b.private.json' '$T/out'"
grep -v '^bundle: \|^private: ' "$T/out" >"$T/forms3"
sy_check "prekey-bundle prints the identity forms" cmp -s "$T/forms3" "$T/forms"
sy_check "bundle verifies" bundle_ok "$T/id.key" "$T/b.json" "$T/b.private.json"
cp "$T/b.json" "$T/b.orig"
cp "$T/b.private.json" "$T/p.orig"
run 1 "$SY" prekey-bundle --identity "$T/id.key" -o "$T/b.json"
sy_check "bundle refusal names --force" grep -q 'exists; use --force' "$T/err"
sy_check "refused bundle unchanged" sh -c "cmp -s '$T/b.json' '$T/b.orig' &&
	cmp -s '$T/b.private.json' '$T/p.orig'"
rm "$T/b.json"
run 1 "$SY" prekey-bundle --identity "$T/id.key" -o "$T/b.json"
sy_check "existing sidecar: no bundle written" [ ! -e "$T/b.json" ]
sy_check "existing sidecar unchanged" cmp -s "$T/b.private.json" "$T/p.orig"
run 0 "$SY" prekey-bundle --identity "$T/id.key" -o "$T/b.json" --force
sy_check "forced bundle verifies" bundle_ok "$T/id.key" "$T/b.json" "$T/b.private.json"
sy_check "forced bundle has a new SPK" sh -c "! cmp -s '$T/b.private.json' '$T/p.orig'"
run 0 "$SY" prekey-bundle --identity "$T/id.key" -o "$T/noext"
sy_check "sidecar of a name without extension" [ -e "$T/noext.private.json" ]

# Errors.
run 1 "$SY" pubkey --identity "$T/missing.key"
sy_check "missing identity named" grep -q 'missing.key' "$T/err"
printf 'R-VPN-IDENTITY-v1\nnot base64\n!!!\n' >"$T/bad.key"
chmod 600 "$T/bad.key"
run 1 "$SY" pubkey --identity "$T/bad.key"
sy_check "bad identity: says so" grep -q 'not an identity file' "$T/err"
run 1 "$SY" prekey-bundle --identity "$T/bad.key" -o "$T/c.json"
sy_check "bad identity: no bundle" sh -c "[ ! -e '$T/c.json' ] && [ ! -e '$T/c.private.json' ]"
run 1 "$SY" keygen -o "$T/no/such/dir/id.key"
run 2 "$SY" keygen
run 2 "$SY" keygen -o "$T/x.key" stray
run 2 "$SY" keygen --bogus -o "$T/x.key"
run 2 "$SY" pubkey
run 2 "$SY" prekey-bundle --identity "$T/id.key"
run 2 "$SY" prekey-bundle -o "$T/y.json"
sy_check "no file after usage errors" sh -c "[ ! -e '$T/x.key' ] && [ ! -e '$T/y.json' ]"

# --help documents them.
run 0 "$SY" --help
for c in 'keygen -o FILE' 'pubkey --identity FILE' 'prekey-bundle --identity FILE -o BUNDLE.json'; do
	sy_check "--help: $c" grep -q "switchyard $c" "$T/out"
done
run 0 "$SY" keygen --help
sy_check "keygen --help" grep -q 'x25519_ik' "$T/out"

sy_done
