local json = require("sw.json")
local log = require("sw.log")
local secrets = require("sw.secrets")

-- A fresh secret for each use: a pinned one stays registered for the rest
-- of the process, so no two tests may share one.
local n = 0
local function fresh(what)
  n = n + 1
  return string.format("%s-%d-%d-secret", what, n, math.random(1e9))
end

local function shown(s)
  return log.redact("<" .. s .. ">") == "<" .. s .. ">"
end

local function hidden(s)
  return log.redact("<" .. s .. ">") == "<<redacted>>"
end

describe("sw.secrets", function()
  -- Whatever a test pinned is taken out of sw.log behind the registry's
  -- back, so the other specs see the list they expect.
  local used
  before_each(function()
    used = {}
  end)
  after_each(function()
    for _, s in ipairs(used) do
      log.remove_secret(s)
    end
  end)
  local function new(what)
    local s = fresh(what)
    used[#used + 1] = s
    return s
  end

  it("registers a string and returns it", function()
    local s = new("string")
    assert.is_true(shown(s))
    assert.are.equal(s, secrets.add(s))
    assert.is_true(hidden(s))
  end)

  it("registers the access token and certificate of credentials", function()
    local creds = { clientId = "client/not-a-secret", accessToken = new("token"), certificate = new("cert") }
    assert.are.equal(creds, secrets.add(creds))
    assert.is_true(hidden(creds.accessToken))
    assert.is_true(hidden(creds.certificate))
    assert.is_true(shown(creds.clientId))
  end)

  it("registers a table certificate as the JSON text that is sent", function()
    local cert = { version = 1, seed = fresh("seed"), start = 1, expiry = 2 }
    local text = assert(json.encode(cert))
    used[#used + 1] = text
    local seen = {}
    secrets.add({ clientId = "c", accessToken = new("token"), certificate = cert }, seen)
    assert.is_true(hidden(text))
    assert.are.equal(2, #seen)
    assert.are.equal(text, seen[2])
    -- sw.hawk puts the same text in the ext attribute.
    assert.is_truthy(require("sw.sign").b64decode(require("sw.hawk").ext(cert)):find(text, 1, true))
  end)

  it("skips strings shorter than the log's minimum, everywhere alike", function()
    local seen = {}
    secrets.add("abc", seen)
    secrets.add({ accessToken = "12345", certificate = "" }, seen)
    secrets.add("short")
    secrets.add_temporary({ accessToken = "tiny" })
    assert.are.same({}, seen)
    assert.are.equal("abc 12345 short tiny", log.redact("abc 12345 short tiny"))
    -- The boundary is sw.log's own: 6 bytes are enough.
    local six = "Zq7#x!"
    secrets.add(six, seen)
    assert.are.same({ six }, seen)
    assert.is_true(hidden(six))
    secrets.forget(seen)
    assert.is_true(shown(six))
  end)

  it("ignores values that hold no secret", function()
    local seen = {}
    local f = function() end
    assert.are.equal(f, secrets.add(f, seen))
    assert.is_nil(secrets.add(nil, seen))
    secrets.add({ clientId = "client-with-no-token" }, seen)
    assert.are.same({}, seen)
  end)

  it("records in seen every time, even a secret registered before", function()
    local creds = { clientId = "c", accessToken = new("token"), certificate = new("cert") }
    -- The Queue answer that brought them registered them first.
    secrets.add_temporary(creds)
    assert.is_true(hidden(creds.accessToken))
    local seen = {}
    secrets.add(creds, seen)
    secrets.add(creds, seen)
    assert.are.same({ creds.accessToken, creds.certificate, creds.accessToken, creds.certificate }, seen)
    secrets.forget(seen)
    assert.is_true(shown(creds.accessToken))
    assert.is_true(shown(creds.certificate))
  end)

  it("stops redacting after forget, and empties seen", function()
    local seen = {}
    local s = new("task")
    secrets.add(s, seen)
    assert.is_true(hidden(s))
    secrets.forget(seen)
    assert.are.same({}, seen)
    assert.is_true(shown(s))
    assert.are.equal("a " .. s, log.redact("a " .. s))
  end)

  it("never forgets a pinned secret", function()
    local own = new("worker")
    secrets.add({ clientId = "worker", accessToken = own })
    local seen = {}
    -- A task's list holding the same string, pinned before or after.
    secrets.add({ accessToken = own, certificate = new("cert") }, seen)
    secrets.forget(seen)
    assert.is_true(hidden(own))
    local later = new("github")
    local seen2 = {}
    secrets.add(later, seen2)
    secrets.add(later)
    secrets.forget(seen2)
    assert.is_true(hidden(later))
  end)

  it("keeps a secret while another list still holds it", function()
    local s = new("shared")
    local a, b = {}, {}
    secrets.add(s, a)
    secrets.add(s, b)
    secrets.forget(a)
    assert.is_true(hidden(s))
    -- A second forget of the same list takes nothing more.
    secrets.forget(a)
    assert.is_true(hidden(s))
    secrets.forget(b)
    assert.is_true(shown(s))
  end)

  it("registers a temporary secret again after it was forgotten", function()
    local creds = { accessToken = new("token") }
    local seen = {}
    secrets.add_temporary(creds)
    secrets.add(creds, seen)
    secrets.forget(seen)
    assert.is_true(shown(creds.accessToken))
    -- The same table signing one more call is a secret again.
    secrets.add_temporary(creds)
    assert.is_true(hidden(creds.accessToken))
  end)
end)
