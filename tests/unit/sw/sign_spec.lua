-- sw.sign (core/sign.c) and the key helpers of sw.ed25519.
local sign = require("sw.sign")
local ed25519 = require("sw.ed25519")
local support = require("support")

local ED = support.shared .. "/conformance/scriptworker/ed25519/"

local function unhex(s)
  return (s:gsub("%x%x", function(h)
    return string.char(tonumber(h, 16))
  end))
end

local write = support.write

local function mode_of(path)
  local p = io.popen("stat -c %a '" .. path .. "'")
  local m = p:read("l")
  p:close()
  return m
end

-- RFC 8032 section 7.1, tests 1 and 2.
local RFC1 = {
  seed = unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"),
  public = unhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"),
  message = "",
  signature = unhex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555f"
    .. "b8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
}
local RFC2 = {
  seed = unhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"),
  public = unhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"),
  message = "\x72",
  signature = unhex("92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da08"
    .. "5ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
}

local function flip_bit(s, byte, bit)
  local b = s:byte(byte) ~ (1 << bit)
  return s:sub(1, byte - 1) .. string.char(b) .. s:sub(byte + 1)
end

describe("sw.sign", function()
  local dir
  setup(function()
    dir = support.tmpdir()
  end)
  teardown(function()
    os.execute("rm -rf '" .. dir .. "'")
  end)

  describe("ed25519", function()
    it("derives the RFC 8032 public keys from their seeds", function()
      assert.are.equal(RFC1.public, sign.public_from_seed(RFC1.seed))
      assert.are.equal(RFC2.public, sign.public_from_seed(RFC2.seed))
    end)

    it("makes the RFC 8032 signatures", function()
      assert.are.equal(RFC1.signature, sign.sign(RFC1.seed, RFC1.message))
      assert.are.equal(RFC2.signature, sign.sign(RFC2.seed, RFC2.message))
    end)

    it("accepts the RFC 8032 signatures", function()
      assert.is_true(sign.verify(RFC1.public, RFC1.message, RFC1.signature))
      assert.is_true(sign.verify(RFC2.public, RFC2.message, RFC2.signature))
    end)

    it("returns false for a one-bit change in message, signature or key", function()
      assert.is_false(sign.verify(RFC2.public, "\x73", RFC2.signature))
      assert.is_false(sign.verify(RFC2.public, RFC2.message, flip_bit(RFC2.signature, 1, 0)))
      assert.is_false(sign.verify(RFC2.public, RFC2.message, flip_bit(RFC2.signature, 64, 3)))
      assert.is_false(sign.verify(flip_bit(RFC2.public, 5, 7), RFC2.message, RFC2.signature))
      assert.is_false(sign.verify(RFC1.public, RFC2.message, RFC2.signature))
    end)

    it("returns nil, msg, badkey/badsig for wrong lengths", function()
      local ok, err, code = sign.verify(RFC1.public:sub(2), "", RFC1.signature)
      assert.is_nil(ok)
      assert.are.equal("sign: public key must be 32 bytes, got 31", err)
      assert.are.equal("badkey", code)
      ok, err, code = sign.verify(RFC1.public, "", RFC1.signature .. "x")
      assert.is_nil(ok)
      assert.are.equal("sign: signature must be 64 bytes, got 65", err)
      assert.are.equal("badsig", code)
      ok, err, code = sign.verify(RFC1.public, "", "")
      assert.are.same({ nil, "sign: signature must be 64 bytes, got 0", "badsig" },
        { ok, err, code })
      assert.are.same({ nil, "sign: private key must be 32 or 64 bytes, got 31", "badkey" },
        { sign.sign(RFC1.seed:sub(2), "m") })
      assert.are.same({ nil, "sign: private key must be 32 or 64 bytes, got 0", "badkey" },
        { sign.public_from_seed("") })
    end)

    it("raises for arguments of the wrong type", function()
      assert.has_error(function()
        sign.verify(RFC1.public, nil, RFC1.signature)
      end, "bad argument #2 to 'verify' (string expected, got nil)")
      assert.has_error(function()
        sign.sign({}, "m")
      end, "bad argument #1 to 'sign' (string expected, got table)")
    end)

    it("signs with a 64-byte libsodium secret key whose halves agree", function()
      assert.are.equal(RFC1.signature, sign.sign(RFC1.seed .. RFC1.public, ""))
      assert.are.same({ nil, "sign: private key: public half does not match", "badkey" },
        { sign.sign(RFC1.seed .. RFC2.public, "") })
    end)

    it("makes fresh key pairs that sign and verify", function()
      local seed, public = sign.keygen()
      assert.are.equal(32, #seed)
      assert.are.equal(32, #public)
      assert.are.equal(public, sign.public_from_seed(seed))
      local seed2 = sign.keygen()
      assert.are_not.equal(seed, seed2)
      local sig = sign.sign(seed, "hello")
      assert.are.equal(64, #sig)
      assert.is_true(sign.verify(public, "hello", sig))
      assert.is_false(sign.verify(public, "hellO", sig))
    end)

    it("exposes the sizes", function()
      assert.are.equal(32, sign.SEED_BYTES)
      assert.are.equal(32, sign.PUBLIC_KEY_BYTES)
      assert.are.equal(64, sign.SIGNATURE_BYTES)
    end)
  end)

  describe("conformance data of the Python scriptworker", function()
    local foo, sig
    setup(function()
      foo = support.read(ED .. "foo.json")
      sig = support.read(ED .. "foo.json.scriptworker.sig")
    end)

    it("reads key files (no trailing newline) to raw keys that match", function()
      local seed = assert(sign.read_key_file(ED .. "scriptworker_private_key"))
      local public = assert(sign.read_key_file(ED .. "scriptworker_public_key"))
      assert.are.equal(32, #seed)
      assert.are.equal(public, sign.public_from_seed(seed))
      assert.are.equal(support.read(ED .. "scriptworker_public_key"), sign.b64encode(public))
      for _, impl in ipairs({ "docker-worker", "generic-worker" }) do
        local s = assert(sign.read_key_file(ED .. impl .. "_private_key"))
        assert.are.equal(sign.read_key_file(ED .. impl .. "_public_key"),
          sign.public_from_seed(s))
      end
    end)

    it("verifies foo.json's signature with the scriptworker key", function()
      local public = sign.read_key_file(ED .. "scriptworker_public_key")
      assert.are.equal(64, #sig)
      assert.is_true(sign.verify(public, foo, sig))
      assert.is_true(sign.verify_file(public, ED .. "foo.json", sig))
    end)

    it("makes the same signature from the private key file", function()
      local seed = sign.read_key_file(ED .. "scriptworker_private_key")
      assert.are.equal(sig, sign.sign(seed, foo))
    end)

    it("rejects it with another key or a changed file", function()
      local docker = sign.read_key_file(ED .. "docker-worker_public_key")
      local public = sign.read_key_file(ED .. "scriptworker_public_key")
      assert.is_false(sign.verify(docker, foo, sig))
      assert.is_false(sign.verify(public, foo .. "\n", sig))
      assert.is_false(sign.verify(public, foo:gsub('"b"', '"c"'), sig))
      assert.is_false(sign.verify(public, foo, flip_bit(sig, 33, 0)))
      local changed = dir .. "/foo.json"
      write(changed, foo:gsub('"b"', '"c"'))
      assert.is_false(sign.verify_file(public, changed, sig))
    end)

    it("verify_file returns nil, msg, code for a missing file", function()
      local public = sign.read_key_file(ED .. "scriptworker_public_key")
      assert.are.same({ nil, "sign: " .. dir .. "/nope: No such file or directory", "ENOENT" },
        { sign.verify_file(public, dir .. "/nope", sig) })
      assert.are.same({ nil, "sign: signature must be 64 bytes, got 63", "badsig" },
        { sign.verify_file(public, ED .. "foo.json", sig:sub(2)) })
    end)
  end)

  describe("sw.Signer", function()
    it("signs like sign.sign, from a seed or a 64-byte secret key", function()
      local signer = assert(sign.signer(RFC1.seed))
      assert.are.equal("sw.Signer", tostring(signer))
      assert.are.equal(RFC1.public, signer:public())
      assert.are.equal(RFC1.signature, signer:sign(RFC1.message))
      local s2 = assert(sign.signer(RFC2.seed .. RFC2.public))
      assert.are.equal(RFC2.signature, s2:sign(RFC2.message))
    end)

    it("loads a private key file", function()
      local signer = assert(sign.load_signer(ED .. "scriptworker_private_key"))
      assert.are.equal(sign.read_key_file(ED .. "scriptworker_public_key"), signer:public())
      assert.are.equal(support.read(ED .. "foo.json.scriptworker.sig"),
        signer:sign(support.read(ED .. "foo.json")))
    end)

    it("returns nil, msg, code for bad keys and key files", function()
      assert.are.same({ nil, "sign: private key must be 32 or 64 bytes, got 3", "badkey" },
        { sign.signer("abc") })
      assert.are.same({ nil, "sign: private key: public half does not match", "badkey" },
        { sign.signer(RFC1.seed .. RFC2.public) })
      assert.are.same({ nil, "sign: " .. dir .. "/none: No such file or directory", "ENOENT" },
        { sign.load_signer(dir .. "/none") })
      assert.are.same({ nil, "sign: " .. ED .. "foo.json: not a key file (invalid base64)",
        "badkey" }, { sign.load_signer(ED .. "foo.json") })
    end)

    it("closes with <close> and refuses use after that", function()
      local kept
      do
        local signer <close> = assert(sign.signer(RFC1.seed))
        kept = signer
      end
      assert.are.equal("sw.Signer (closed)", tostring(kept))
      assert.has_error(function()
        kept:sign("x")
      end, "attempt to use a closed sw.Signer")
      assert.has_error(function()
        kept:public()
      end, "attempt to use a closed sw.Signer")
      getmetatable(kept).__gc(kept)
    end)
  end)

  describe("read_key_file", function()
    local text = "KxYrV3XAJ3uOyAUX0Wcl1Oeu6GSMrI/5hOn39q8Lf0I="

    it("accepts surrounding whitespace and a trailing newline", function()
      local key = sign.b64decode(text)
      write(dir .. "/nl", text .. "\n")
      write(dir .. "/crlf", "  " .. text .. "\r\n")
      assert.are.equal(key, sign.read_key_file(dir .. "/nl"))
      assert.are.equal(key, sign.read_key_file(dir .. "/crlf"))
    end)

    it("refuses what is not the base64 of 32 bytes", function()
      write(dir .. "/short", "YWJj")
      assert.are.same({ nil, "sign: " .. dir .. "/short: key must be 32 bytes, got 3", "badkey" },
        { sign.read_key_file(dir .. "/short") })
      write(dir .. "/bad", text:sub(1, 20) .. "!" .. text:sub(22))
      assert.are.same({ nil, "sign: " .. dir .. "/bad: not a key file (invalid base64)",
        "badkey" }, { sign.read_key_file(dir .. "/bad") })
      write(dir .. "/big", string.rep("A", 5000))
      assert.are.same({ nil, "sign: " .. dir .. "/big: not a key file (over 4096 bytes)",
        "badkey" }, { sign.read_key_file(dir .. "/big") })
      write(dir .. "/empty", "")
      assert.are.same({ nil, "sign: " .. dir .. "/empty: key must be 32 bytes, got 0",
        "badkey" }, { sign.read_key_file(dir .. "/empty") })
    end)

    it("returns the errno name for a missing file", function()
      assert.are.same({ nil, "sign: " .. dir .. "/none: No such file or directory", "ENOENT" },
        { sign.read_key_file(dir .. "/none") })
    end)
  end)

  describe("write_key_file", function()
    it("writes with the exact mode and refuses to replace a file", function()
      local p = dir .. "/k1"
      assert.is_true(sign.write_key_file(p, "secret", "0600"))
      assert.are.equal("secret", support.read(p))
      assert.are.equal("600", mode_of(p))
      assert.are.same({ nil, "sign: " .. p .. ": File exists", "EEXIST" },
        { sign.write_key_file(p, "other", "0600") })
      assert.are.equal("secret", support.read(p))
    end)

    it("replaces a file with overwrite, taking the new mode", function()
      local p = dir .. "/k2"
      assert.is_true(sign.write_key_file(p, "one", 420))
      assert.are.equal("644", mode_of(p))
      assert.is_true(sign.write_key_file(p, "two", "600", true))
      assert.are.equal("two", support.read(p))
      assert.are.equal("600", mode_of(p))
    end)

    it("leaves no temporary file behind", function()
      local sub = dir .. "/clean"
      os.execute("mkdir '" .. sub .. "'")
      assert.is_true(sign.write_key_file(sub .. "/a", "x"))
      assert.is_nil(sign.write_key_file(sub .. "/a", "y"))
      assert.is_true(sign.write_key_file(sub .. "/a", "z", nil, true))
      local p = io.popen("ls -A '" .. sub .. "'")
      assert.are.equal("a\n", p:read("a"))
      p:close()
      assert.are.equal("600", mode_of(sub .. "/a"))
    end)

    it("names the file when the directory is missing", function()
      local p = dir .. "/no/such/dir/key"
      assert.are.same({ nil, "sign: " .. p .. ": No such file or directory", "ENOENT" },
        { sign.write_key_file(p, "x", "0600") })
    end)

    it("raises for a bad mode", function()
      assert.has_error(function()
        sign.write_key_file(dir .. "/m", "x", "0689")
      end, "bad argument #3 to 'write_key_file' (octal mode expected)")
      assert.has_error(function()
        sign.write_key_file(dir .. "/m", "x", 4096)
      end, "bad argument #3 to 'write_key_file' (mode out of range)")
    end)
  end)

  describe("hmac_sha256", function()
    it("matches RFC 4231 test cases 1, 2 and 6", function()
      assert.are.equal(
        unhex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        sign.hmac_sha256(string.rep("\x0b", 20), "Hi There"))
      assert.are.equal(
        unhex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        sign.hmac_sha256("Jefe", "what do ya want for nothing?"))
      assert.are.equal(
        unhex("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
        sign.hmac_sha256(string.rep("\xaa", 131),
          "Test Using Larger Than Block-Size Key - Hash Key First"))
    end)

    it("takes an empty key and message", function()
      assert.are.equal("b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad",
        sign.hex(sign.hmac_sha256("", "")))
    end)
  end)

  describe("base64", function()
    it("round-trips every byte value and every length mod 3", function()
      local all = {}
      for i = 0, 255 do
        all[#all + 1] = string.char(i)
      end
      local bytes = table.concat(all)
      for n = 0, 5 do
        local s = bytes:sub(1, 250 + n)
        assert.are.equal(s, sign.b64decode(sign.b64encode(s)))
        assert.are.equal(s, sign.b64url_decode(sign.b64url_encode(s)))
        assert.are.equal(s, sign.b64url_decode(sign.b64url_encode(s, true)))
      end
    end)

    it("encodes the RFC 4648 vectors", function()
      local vectors = { [""] = "", f = "Zg==", fo = "Zm8=", foo = "Zm9v", foob = "Zm9vYg==",
        fooba = "Zm9vYmE=", foobar = "Zm9vYmFy" }
      for plain, encoded in pairs(vectors) do
        assert.are.equal(encoded, sign.b64encode(plain))
        assert.are.equal(plain, sign.b64decode(encoded))
      end
    end)

    it("uses - and _ in the URL-safe alphabet, padding on request", function()
      assert.are.equal("+//+", sign.b64encode("\xfb\xff\xfe"))
      assert.are.equal("-__-", sign.b64url_encode("\xfb\xff\xfe"))
      assert.are.equal("-w", sign.b64url_encode("\xfb"))
      assert.are.equal("-w==", sign.b64url_encode("\xfb", true))
      assert.are.equal("\xfb", sign.b64url_decode("-w"))
      assert.are.equal("\xfb", sign.b64url_decode("-w=="))
    end)

    it("ignores whitespace in b64decode", function()
      assert.are.equal("foobar", sign.b64decode("Zm9v\nYmFy\n"))
      assert.are.equal("fo", sign.b64decode(" Zm8=\r\n"))
    end)

    it("returns nil, msg, parse for bad input", function()
      assert.are.same({ nil, "b64decode: invalid base64 at byte 3", "parse" },
        { sign.b64decode("Zm!v") })
      assert.are.same({ nil, "b64decode: invalid base64: truncated or bad padding", "parse" },
        { sign.b64decode("Zm8") })
      assert.are.same({ nil, "b64decode: invalid base64 at byte 2", "parse" },
        { sign.b64decode("Z=m8") })
      assert.are.same({ nil, "b64decode: invalid base64 at byte 1", "parse" },
        { sign.b64decode("-w==") })
      -- non-zero bits after the last byte: not a canonical encoding
      assert.are.same({ nil, "b64decode: invalid base64 at byte 4", "parse" },
        { sign.b64decode("Zm9=") })
      assert.are.same({ nil, "b64url_decode: invalid base64 at byte 1", "parse" },
        { sign.b64url_decode("+w") })
      assert.are.same({ nil, "b64url_decode: invalid base64: truncated or bad padding", "parse" },
        { sign.b64url_decode("-w=") })
      assert.are.same({ nil, "b64url_decode: invalid base64: truncated or bad padding", "parse" },
        { sign.b64url_decode("Z") })
    end)
  end)

  describe("hex, equal, random_bytes", function()
    it("converts to and from hex", function()
      assert.are.equal("00ff10", sign.hex("\0\255\16"))
      assert.are.equal("", sign.hex(""))
      assert.are.equal("\0\255\16", sign.unhex("00FF10"))
      assert.are.same({ nil, "unhex: odd number of digits", "parse" }, { sign.unhex("abc") })
      assert.are.same({ nil, "unhex: invalid hex at byte 3", "parse" }, { sign.unhex("abzz") })
    end)

    it("compares in constant time", function()
      assert.is_true(sign.equal("abc", "abc"))
      assert.is_false(sign.equal("abc", "abd"))
      assert.is_false(sign.equal("abc", "ab"))
      assert.is_true(sign.equal("", ""))
    end)

    it("gives n random bytes", function()
      assert.are.equal("", sign.random_bytes(0))
      local a, b = sign.random_bytes(32), sign.random_bytes(32)
      assert.are.equal(32, #a)
      assert.are_not.equal(a, b)
      assert.has_error(function()
        sign.random_bytes(-1)
      end, "bad argument #1 to 'random_bytes' (out of range)")
    end)
  end)
end)

describe("sw.ed25519", function()
  local dir
  setup(function()
    dir = support.tmpdir()
  end)
  teardown(function()
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("converts keys to and from the Python peer's strings", function()
    local text = support.read(ED .. "scriptworker_public_key")
    local key = assert(ed25519.public_key_from_string(text))
    assert.are.equal(text, ed25519.public_key_to_string(key))
    local seed_text = support.read(ED .. "scriptworker_private_key")
    local seed = assert(ed25519.private_key_from_string(seed_text))
    assert.are.equal(key, sign.public_from_seed(seed))
    assert.are.equal(seed_text, ed25519.private_key_to_string(seed))
  end)

  it("loads a signer from a private key file", function()
    local signer = assert(ed25519.load_signer(ED .. "scriptworker_private_key"))
    assert.are.equal(ed25519.load_public_key(ED .. "scriptworker_public_key"), signer:public())
    assert.are.same({ nil, "private key " .. dir .. "/x: No such file or directory", "ENOENT" },
      { ed25519.load_signer(dir .. "/x") })
  end)

  it("refuses bad key strings without echoing them", function()
    assert.are.same({ nil, "ed25519: public key: invalid base64", "badkey" },
      { ed25519.public_key_from_string("not base64!") })
    assert.are.same({ nil, "ed25519: private key: must be 32 bytes, got 6", "badkey" },
      { ed25519.private_key_from_string("c2VjcmV0") })
  end)

  it("loads key files and names the file on failure", function()
    assert.are.equal(sign.read_key_file(ED .. "scriptworker_public_key"),
      ed25519.load_public_key(ED .. "scriptworker_public_key"))
    assert.are.equal(32, #ed25519.load_private_key(ED .. "scriptworker_private_key"))
    assert.are.same({ nil, "public key " .. dir .. "/x: No such file or directory", "ENOENT" },
      { ed25519.load_public_key(dir .. "/x") })
    assert.are.same({ nil, "private key " .. ED .. "foo.json: not a key file (invalid base64)",
      "badkey" }, { ed25519.load_private_key(ED .. "foo.json") })
  end)

  it("lists the default trusted keys by implementation", function()
    local keys = assert(ed25519.trusted_keys())
    assert.are.equal(5, #keys)
    assert.are.equal("docker-worker", keys[1].impl)
    assert.are.equal("kni6ts7z/MRkvs7i6+SF/T6UWj0hAJoHEcrgHB8BBR0=", keys[1].text)
    assert.are.equal(32, #keys[1].key)
    assert.are.equal("generic-worker", keys[3].impl)
    assert.are.equal("scriptworker", keys[5].impl)
    assert.are.equal("jFmyvf3lQiiX0qIFxal5KgIIq6VpUBTQfAtD6hEi8Ms=", keys[5].text)
  end)

  it("matches the default keys of the shared default-config.json", function()
    local text = support.read(support.shared .. "/conformance/scriptworker/default-config.json")
    local block = text:match('"ed25519_public_keys": (%b{})')
    local count = 0
    for impl, list in block:gmatch('"([%w-]+)": (%b[])') do
      local i = 0
      for key in list:gmatch('"([^"]+)"') do
        i = i + 1
        count = count + 1
        assert.are.equal(key, ed25519.DEFAULT_PUBLIC_KEYS[impl][i])
      end
      assert.are.equal(i, #ed25519.DEFAULT_PUBLIC_KEYS[impl])
    end
    assert.are.equal(5, count)
  end)

  it("finds which trusted key signed a file", function()
    local text = support.read(ED .. "scriptworker_public_key")
    local keys = assert(ed25519.trusted_keys({
      ["docker-worker"] = { support.read(ED .. "docker-worker_public_key") },
      scriptworker = { support.read(ED .. "generic-worker_public_key"), text },
    }))
    local foo = support.read(ED .. "foo.json")
    local sig = support.read(ED .. "foo.json.scriptworker.sig")
    local signer = ed25519.find_signer(keys, foo, sig)
    assert.are.equal("scriptworker", signer.impl)
    assert.are.equal(text, signer.text)
    assert.is_nil(ed25519.find_signer(keys, foo .. " ", sig))
    assert.is_nil(ed25519.find_signer(keys, foo, "short"))
  end)

  it("refuses a malformed key set, naming the entry", function()
    assert.are.same({ nil, "ed25519_public_keys.scriptworker[2]: not a base64 ed25519 public key",
      "badkey" }, { ed25519.trusted_keys({
        scriptworker = { "KO3FX9JnNga/XViTRBiUMHYnji9Fu3s332sU2lXjSwE=", "abc=" },
      }) })
    assert.are.same({ nil, "ed25519_public_keys.scriptworker: expected a list, got string",
      "badkey" }, { ed25519.trusted_keys({ scriptworker = "x" }) })
  end)

  it("writes a key pair with modes 0600 and 0644, refusing to replace", function()
    local priv, pub = dir .. "/priv", dir .. "/pub"
    local key = assert(ed25519.write_key_pair(priv, pub))
    assert.are.equal("600", mode_of(priv))
    assert.are.equal("644", mode_of(pub))
    assert.are.equal(44, #support.read(priv))
    assert.are.equal(ed25519.public_key_to_string(key), support.read(pub))
    assert.are.equal(key, sign.public_from_seed(ed25519.load_private_key(priv)))
    local old = support.read(priv)
    assert.are.same({ nil, "public key " .. pub .. ": File exists", "EEXIST" },
      { ed25519.write_key_pair(dir .. "/priv2", pub) })
    assert.is_nil(io.open(dir .. "/priv2"))
    assert.are.same({ nil, "private key " .. priv .. ": File exists", "EEXIST" },
      { ed25519.write_key_pair(priv, dir .. "/pub2") })
    assert.are.equal(old, support.read(priv))
    assert.truthy(ed25519.write_key_pair(priv, pub, true))
    assert.are_not.equal(old, support.read(priv))
    assert.are.equal("600", mode_of(priv))
  end)
end)
