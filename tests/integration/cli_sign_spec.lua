-- The verify-ed25519-signature and keygen commands of the real binary,
-- against the Python scriptworker's conformance keys and signature.
local sign = require("sw.sign")
local support = require("support")

local BIN = os.getenv("SW_BIN") or (support.root .. "/build/scriptworker")
local ED = support.shared .. "/conformance/scriptworker/ed25519/"
local FOO = ED .. "foo.json"
local SIG = ED .. "foo.json.scriptworker.sig"
local SW_PUB = ED .. "scriptworker_public_key"

local function q(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- Runs the command line (already quoted) and returns exit code, stdout,
-- stderr.
local function run(dir, cmdline)
  local out, err = dir .. "/.stdout", dir .. "/.stderr"
  local _, _, code = os.execute(string.format("cd %s && %s >%s 2>%s", q(dir), cmdline, q(out),
    q(err)))
  return code, support.read(out), support.read(err)
end

local function sw(...)
  local parts = { q(BIN) }
  for _, a in ipairs({ ... }) do
    parts[#parts + 1] = q(a)
  end
  return table.concat(parts, " ")
end

local write = support.write

local function mode_of(path)
  local p = io.popen("stat -c %a " .. q(path))
  local m = p:read("l")
  p:close()
  return m
end

describe("scriptworker verify-ed25519-signature", function()
  local dir, pub_text
  setup(function()
    dir = support.tmpdir()
    pub_text = support.read(SW_PUB)
  end)
  teardown(function()
    os.execute("rm -rf " .. q(dir))
  end)

  it("accepts foo.json's signature with the key file", function()
    local code, out, err = run(dir, sw("verify-ed25519-signature", FOO, SIG, "--pubkey", SW_PUB))
    assert.are.equal("", err)
    assert.are.equal("valid signature: " .. FOO .. " (key " .. pub_text .. ")\n", out)
    assert.are.equal(0, code)
  end)

  it("accepts it with the key as base64 text, options anywhere", function()
    local code, out = run(dir, sw("verify-ed25519-signature", "--pubkey", pub_text, FOO, SIG))
    assert.are.equal(0, code)
    assert.are.equal("valid signature: " .. FOO .. " (key " .. pub_text .. ")\n", out)
    code = run(dir, sw("verify-ed25519-signature", FOO, "--pubkey=" .. pub_text, SIG))
    assert.are.equal(0, code)
  end)

  it("works under the name verify_ed25519_signature", function()
    local link = dir .. "/verify_ed25519_signature"
    assert(os.execute("ln -sf " .. q(BIN) .. " " .. q(link)))
    local code, out = run(dir, table.concat({ q(link), q(FOO), q(SIG), "--pubkey", q(SW_PUB) },
      " "))
    assert.are.equal(0, code)
    assert.are.equal("valid signature: " .. FOO .. " (key " .. pub_text .. ")\n", out)
    local changed = dir .. "/foo-link.json"
    write(changed, support.read(FOO) .. "\n")
    code, out = run(dir, table.concat({ q(link), q(changed), q(SIG), "--pubkey", q(SW_PUB) },
      " "))
    assert.are.equal(1, code)
    assert.are.equal("", out)
  end)

  it("rejects a changed copy of foo.json with exit 1", function()
    local changed = dir .. "/foo.json"
    write(changed, (support.read(FOO):gsub('"b"', '"c"')))
    local code, out, err = run(dir, sw("verify-ed25519-signature", changed, SIG, "--pubkey",
      SW_PUB))
    assert.are.equal(1, code)
    assert.are.equal("", out)
    assert.are.equal("invalid signature: " .. changed .. "\n", err)
  end)

  it("rejects the docker-worker key with exit 1", function()
    local code, out, err = run(dir, sw("verify-ed25519-signature", FOO, SIG, "--pubkey",
      ED .. "docker-worker_public_key"))
    assert.are.equal(1, code)
    assert.are.equal("", out)
    assert.are.equal("invalid signature: " .. FOO .. "\n", err)
  end)

  it("rejects a signature file of the wrong length with exit 1", function()
    local short = dir .. "/short.sig"
    write(short, support.read(SIG):sub(1, 63))
    local code, _, err = run(dir, sw("verify-ed25519-signature", FOO, short, "--pubkey", SW_PUB))
    assert.are.equal(1, code)
    assert.are.equal("invalid signature: " .. FOO .. " (" .. short
      .. " has 63 bytes, a signature has 64)\n", err)
  end)

  it("tries only the default trusted keys without a config", function()
    -- the conformance key is a test key, not one of the production keys
    local code, out, err = run(dir, sw("verify-ed25519-signature", FOO, SIG))
    assert.are.equal(1, code)
    assert.are.equal("", out)
    assert.are.equal("invalid signature: " .. FOO .. "\n", err)
  end)

  it("uses ed25519_public_keys from --config", function()
    local config = dir .. "/sw.yaml"
    write(config, "ed25519_public_keys:\n  docker-worker:\n    - "
      .. support.read(ED .. "docker-worker_public_key") .. "\n  scriptworker:\n    - "
      .. pub_text .. "\n")
    local code, out, err = run(dir, sw("verify-ed25519-signature", FOO, SIG, "--config", config))
    local ok, yaml = pcall(require, "sw.yaml")
    if ok and type(yaml) == "table" and type(yaml.load_file) == "function" then
      assert.are.equal("", err)
      assert.are.equal("valid signature: " .. FOO .. " (scriptworker key " .. pub_text .. ")\n",
        out)
      assert.are.equal(0, code)
    else
      -- sw.yaml not built yet: the command says so and uses the defaults
      assert.are.equal("verify-ed25519-signature: warning: sw.yaml is not available to read "
        .. config .. "; using the default keys\ninvalid signature: " .. FOO .. "\n", err)
      assert.are.equal(1, code)
    end
  end)

  it("exits 2 naming the file when FILE or SIGFILE is missing", function()
    local missing = dir .. "/missing.json"
    local code, out, err = run(dir, sw("verify-ed25519-signature", missing, SIG, "--pubkey",
      SW_PUB))
    assert.are.equal(2, code)
    assert.are.equal("", out)
    assert.are.equal("verify-ed25519-signature: " .. missing .. ": No such file or directory\n",
      err)
    code, out, err = run(dir, sw("verify-ed25519-signature", FOO, missing .. ".sig", "--pubkey",
      SW_PUB))
    assert.are.equal(2, code)
    assert.are.equal("verify-ed25519-signature: " .. missing
      .. ".sig: No such file or directory\n", err)
  end)

  it("exits 2 for a config file that does not exist", function()
    local code, _, err = run(dir, sw("verify-ed25519-signature", FOO, SIG, "--config",
      dir .. "/none.yaml"))
    assert.are.equal(2, code)
    assert.are.equal("verify-ed25519-signature: " .. dir
      .. "/none.yaml: No such file or directory\n", err)
  end)

  it("exits 2 for a --pubkey that is neither a key file nor a key", function()
    local code, _, err = run(dir, sw("verify-ed25519-signature", FOO, SIG, "--pubkey",
      dir .. "/nokey"))
    assert.are.equal(2, code)
    assert.are.equal("verify-ed25519-signature: --pubkey " .. dir .. "/nokey: neither a "
      .. "readable key file (No such file or directory) nor a base64 ed25519 public key\n", err)
    code, _, err = run(dir, sw("verify-ed25519-signature", FOO, SIG, "--pubkey", FOO))
    assert.are.equal(2, code)
    assert.are.equal("verify-ed25519-signature: public key " .. FOO
      .. ": not a key file (invalid base64)\n", err)
  end)

  it("exits 2 with the usage for bad command lines", function()
    local code, out, err = run(dir, sw("verify-ed25519-signature", FOO))
    assert.are.equal(2, code)
    assert.are.equal("", out)
    assert.truthy(err:find("^verify%-ed25519%-signature: expected FILE and SIGFILE\nusage: "))
    code, out, err = run(dir, sw("verify-ed25519-signature", FOO, SIG, "--pubkey"))
    assert.are.equal(2, code)
    assert.truthy(err:find("^verify%-ed25519%-signature: %-%-pubkey needs a value\n"))
    code, out, err = run(dir, sw("verify-ed25519-signature", FOO, SIG, "--key=x"))
    assert.are.equal(2, code)
    assert.truthy(err:find("^verify%-ed25519%-signature: unknown option %-%-key\n"))
    code, out = run(dir, sw("verify-ed25519-signature", "--help"))
    assert.are.equal(0, code)
    assert.truthy(out:find("^usage: scriptworker verify%-ed25519%-signature FILE SIGFILE"))
  end)
end)

describe("scriptworker keygen", function()
  local dir
  setup(function()
    dir = support.tmpdir()
  end)
  teardown(function()
    os.execute("rm -rf " .. q(dir))
  end)

  it("writes a pair that signs and verifies, never printing the private key", function()
    local priv, pub = dir .. "/priv", dir .. "/pub"
    local code, out, err = run(dir, sw("keygen", priv, pub))
    assert.are.equal("", err)
    assert.are.equal(0, code)
    assert.are.equal("600", mode_of(priv))
    assert.are.equal("644", mode_of(pub))
    local priv_text, pub_text = support.read(priv), support.read(pub)
    assert.are.equal(44, #priv_text)
    assert.are.equal(44, #pub_text)
    assert.are.equal("wrote private key " .. priv .. " (mode 0600)\nwrote public key " .. pub
      .. ": " .. pub_text .. "\n", out)

    -- the Python peer's format: base64 of the seed and of its public key
    local seed = sign.b64decode(priv_text)
    assert.are.equal(sign.b64decode(pub_text), sign.public_from_seed(seed))
    local msg = dir .. "/msg.json"
    write(msg, '{"a": "b"}\n')
    write(msg .. ".sig", sign.sign(seed, support.read(msg)))
    local vcode, vout, verr = run(dir, sw("verify-ed25519-signature", msg, msg .. ".sig",
      "--pubkey", pub))
    assert.are.equal(0, vcode)
    assert.are.equal("valid signature: " .. msg .. " (key " .. pub_text .. ")\n", vout)
    vcode = run(dir, sw("verify-ed25519-signature", msg, msg .. ".sig", "--pubkey", pub_text))
    assert.are.equal(0, vcode)

    for _, s in ipairs({ out, err, vout, verr }) do
      assert.is_nil(s:find(priv_text, 1, true))
    end
  end)

  it("refuses to replace existing files unless --force", function()
    local priv, pub = dir .. "/p2", dir .. "/p2.pub"
    assert.are.equal(0, (run(dir, sw("keygen", priv, pub))))
    local old_priv, old_pub = support.read(priv), support.read(pub)
    local code, out, err = run(dir, sw("keygen", priv, dir .. "/other.pub"))
    assert.are.equal(1, code)
    assert.are.equal("", out)
    assert.are.equal("keygen: private key " .. priv .. ": File exists\n", err)
    assert.is_nil(io.open(dir .. "/other.pub"))
    code, out, err = run(dir, sw("keygen", dir .. "/other", pub))
    assert.are.equal(1, code)
    assert.are.equal("keygen: public key " .. pub .. ": File exists\n", err)
    assert.is_nil(io.open(dir .. "/other"))
    assert.are.equal(old_priv, support.read(priv))
    assert.are.equal(old_pub, support.read(pub))

    code, out, err = run(dir, sw("keygen", "--force", priv, pub))
    assert.are.equal(0, code)
    assert.are_not.equal(old_priv, support.read(priv))
    assert.are.equal("600", mode_of(priv))
    assert.is_nil((out .. err):find(support.read(priv), 1, true))
  end)

  it("keeps mode 0600 under a permissive umask", function()
    local priv, pub = dir .. "/u", dir .. "/u.pub"
    local code = run(dir, "umask 000 && " .. sw("keygen", priv, pub))
    assert.are.equal(0, code)
    assert.are.equal("600", mode_of(priv))
    assert.are.equal("644", mode_of(pub))
  end)

  it("exits 2 for bad command lines and 1 for an unwritable place", function()
    local code, _, err = run(dir, sw("keygen", dir .. "/only"))
    assert.are.equal(2, code)
    assert.truthy(err:find("^keygen: expected two different paths\nusage: "))
    code = run(dir, sw("keygen", dir .. "/same", dir .. "/same"))
    assert.are.equal(2, code)
    code, _, err = run(dir, sw("keygen", "--bits", dir .. "/a", dir .. "/b"))
    assert.are.equal(2, code)
    assert.truthy(err:find("^keygen: unknown option %-%-bits\n"))
    code, _, err = run(dir, sw("keygen", dir .. "/no/dir/k", dir .. "/k.pub"))
    assert.are.equal(1, code)
    assert.are.equal("keygen: private key " .. dir .. "/no/dir/k: No such file or directory\n",
      err)
    assert.is_nil(io.open(dir .. "/k.pub"))
  end)
end)
