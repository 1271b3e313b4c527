-- sw.queue without a server: URLs (rootUrl with a path prefix, route
-- parameters encoded one by one), the Hawk header it sends, error values
-- and the retry policy, over a scripted stand-in for sw.http. The
-- integration spec (tests/integration/queue_client_spec.lua) runs the same
-- client against the local Queue.
local hawk = require("sw.hawk")
local json = require("sw.json")
local sign = require("sw.sign")
local support = require("support")
local async = support.async

-- Loads a fresh sw.queue whose sw.http is `fake`.
local function queue_with_http(fake)
  local saved_http, saved_queue = package.loaded["sw.http"], package.loaded["sw.queue"]
  package.loaded["sw.http"] = fake
  package.loaded["sw.queue"] = nil
  local q = require("sw.queue")
  package.loaded["sw.http"], package.loaded["sw.queue"] = saved_http, saved_queue
  return q
end

-- A stand-in for sw.http answering from a script: each entry is a
-- response table or {nil, msg, code}; every request is recorded.
local function scripted(answers)
  local real = require("sw.http")
  local fake = { requests = {}, redact_url = real.redact_url }
  function fake.request(opts)
    fake.requests[#fake.requests + 1] = opts
    local a = table.remove(answers, 1)
    assert(a, "unexpected request " .. opts.method .. " " .. opts.url)
    if a.status then
      a.headers = a.headers or {}
      return a
    end
    return nil, a[2], a[3]
  end
  return fake
end

local function ok_json(v)
  return { status = 200, headers = { ["content-type"] = "application/json" }, body = json.encode(v) }
end

local function tc_error(status, code, message)
  return {
    status = status,
    body = json.encode({
      code = code,
      message = message .. "\n\n---\n\n* method:     status\n* errorCode:  " .. code
        .. "\n* statusCode: " .. status .. "\n* time:       2026-01-01T00:00:00.000Z",
      requestInfo = { method = "status", params = {}, payload = {}, time = "2026-01-01T00:00:00.000Z" },
    }),
  }
end

local queue = require("sw.queue")

describe("sw.queue", function()
  describe("URLs", function()
    it("builds <rootUrl>/api/<service>/v1/<path>, without trailing slashes", function()
      local q = queue.new({ root_url = "https://tc.example.com///" })
      assert.are.equal("https://tc.example.com", q.root_url)
      assert.are.equal("https://tc.example.com/api/queue/v1/task/fN1SbArXTPSVFNUvaOlinQ/status",
        q:build_url("status", "fN1SbArXTPSVFNUvaOlinQ"))
      assert.are.equal("https://tc.example.com/api/object/v1/upload/t%2FfN1SbArXTPSVFNUvaOlinQ%2F0%2Fpublic%2Fx",
        q:build_url("createUpload", "t/fN1SbArXTPSVFNUvaOlinQ/0/public/x", {}))
    end)

    it("keeps a rootUrl's path prefix", function()
      local q = queue.new({ root_url = "http://127.0.0.1:8080/tc/" })
      local url = q:build_url("claimWork", "proj-releng/linux-signing", {})
      assert.are.equal("http://127.0.0.1:8080/tc/api/queue/v1/claim-work/proj-releng%2Flinux-signing", url)
      assert.are.equal("/tc/api/queue/v1/claim-work/proj-releng%2Flinux-signing", hawk.parse_url(url).resource)
    end)

    it("percent-encodes each route parameter on its own, as encodeURIComponent", function()
      local q = queue.new({ root_url = "https://tc.example.com" })
      assert.are.equal("https://tc.example.com/api/queue/v1/task/abc/runs/0/artifacts/"
        .. "public%2Flogs%2Flive.log",
        q:build_url("getArtifact", "abc", 0, "public/logs/live.log"))
      assert.are.equal("a%20b%3Fc%23d%25e%2Bf%26g%3Dh%C3%A9-_.!~*'()",
        queue.encode_component("a b?c#d%e+f&g=h\xc3\xa9-_.!~*'()"))
      -- A runId that arrived as a float still prints as an integer.
      assert.are.equal("https://tc.example.com/api/queue/v1/task/abc/runs/2/reclaim",
        q:build_url("reclaimTask", "abc", 2.0))
    end)

    it("appends the query in a fixed order, encoded", function()
      local q = queue.new({ root_url = "https://tc.example.com" })
      assert.are.equal("https://tc.example.com/api/queue/v1/task/abc/runs/0/artifacts"
        .. "?continuationToken=a%2Bb%2F%3D&limit=5",
        q:build_url("listArtifacts", "abc", 0, { limit = 5, continuationToken = "a+b/=" }))
      assert.are.equal("https://tc.example.com/api/queue/v1/task/abc/artifacts",
        q:build_url("listLatestArtifacts", "abc", {}))
    end)

    it("raises on programming errors", function()
      local q = queue.new({ root_url = "https://tc.example.com" })
      assert.has_error(function()
        q:build_url("noSuchCall", "x")
      end, "queue: unknown API method noSuchCall")
      assert.has_error(function()
        q:build_url("reclaimTask", "abc")
      end, "queue:reclaimTask: parameter runId must be a string or number, got nil")
      assert.has_error(function()
        q:build_url("listArtifacts", "abc", 0, { page = 2 })
      end, "queue:listArtifacts: unknown query parameter page")
      assert.has_error(function()
        q:build_url("status", "abc", { extra = true })
      end, "queue:status: 2 arguments given, at most 1 expected")
      assert.has_error(function()
        queue.new({ root_url = "tc.example.com" })
      end, "queue.new: root_url must be an http(s) URL")
      assert.has_error(function()
        queue.new({ root_url = "https://tc.example.com", retries = -1 })
      end, "queue.new: retries must be a number >= 0")
    end)
  end)

  describe("requests", function()
    it("signs with Hawk: the prefixed resource, ext with the certificate object and authorizedScopes",
      async(function()
        local fake = scripted({ ok_json({ status = { taskId = "abc" } }) })
        local q = queue_with_http(fake)
        local cert = '{"version":1,"scopes":["queue:status:*"],"start":1,"expiry":2,'
          .. '"seed":"AAAAAAAAQAaAAAAAAAAAAABBBBBBBBQBaBBBBBBBBBBA","signature":"c2lnbmF0dXJl"}'
        local creds = { clientId = "tester", accessToken = "unit-secret-token", certificate = cert }
        local c = q.new({ root_url = "http://127.0.0.1:8080/tc", credentials = creds,
          authorized_scopes = { "queue:status:abc" } })
        local res = assert(c:call("status", "abc"))
        assert.are.equal("abc", res.status.taskId)
        local req = fake.requests[1]
        assert.are.equal("GET", req.method)
        assert.are.equal("http://127.0.0.1:8080/tc/api/queue/v1/task/abc/status", req.url)
        assert.is_nil(req.body)
        local auth = req.headers.Authorization
        local id, ts, nonce, ext, mac = auth:match('^Hawk id="([^"]*)", ts="(%d+)", nonce="([^"]*)", '
          .. 'ext="([^"]*)", mac="([^"]*)"$')
        assert.are.equal("tester", id)
        local decoded = json.decode(sign.b64decode(ext))
        assert.are.equal("table", type(decoded.certificate))
        assert.are.equal("c2lnbmF0dXJl", decoded.certificate.signature)
        assert.are.same({ "queue:status:abc" }, decoded.authorizedScopes)
        assert.are.equal(hawk.mac("unit-secret-token", hawk.normalized("header", {
          ts = ts, nonce = nonce, method = "GET", resource = "/tc/api/queue/v1/task/abc/status",
          host = "127.0.0.1", port = 8080, ext = ext,
        })), mac)
      end))

    it("sends payloads as JSON and no Authorization without credentials", async(function()
      local fake = scripted({ ok_json({ tasks = {} }) })
      local q = queue_with_http(fake)
      local c = q.new({ root_url = "https://tc.example.com" })
      assert(c:call("claimWork", "p/w", { workerGroup = "g", workerId = "w", tasks = 1 }))
      local req = fake.requests[1]
      assert.are.equal("POST", req.method)
      assert.are.equal("application/json", req.headers["Content-Type"])
      assert.is_nil(req.headers.Authorization)
      assert.are.same({ workerGroup = "g", workerId = "w", tasks = 1 }, json.decode(req.body))
      -- claimWork long-polls: its timeout is above the 20 s poll.
      assert.are.equal(45, req.timeout)
    end))

    it("calls a credentials function before every attempt", async(function()
      local fake = scripted({ { status = 500, body = "" }, ok_json({}) })
      local q = queue_with_http(fake)
      local n = 0
      local c = q.new({ root_url = "https://tc.example.com", backoff_base = 0, credentials = function()
        n = n + 1
        return { clientId = "client-" .. n, accessToken = "token-number-" .. n }
      end })
      assert(c:call("status", "abc"))
      assert.are.equal(2, n)
      assert.truthy(fake.requests[1].headers.Authorization:find('id="client-1"', 1, true))
      assert.truthy(fake.requests[2].headers.Authorization:find('id="client-2"', 1, true))
    end))
  end)

  describe("errors and retries", function()
    it("retries 5xx and drops, never 4xx", async(function()
      local fake = scripted({
        tc_error(500, "InternalServerError", "boom"),
        { nil, "http.request: GET x: transfer closed", "closed" },
        ok_json({ status = { taskId = "abc" } }),
        tc_error(404, "ResourceNotFound", "Task `abc` not found"),
      })
      local q = queue_with_http(fake)
      local c = q.new({ root_url = "https://tc.example.com", retries = 2, backoff_base = 0 })
      assert(c:call("status", "abc"))
      assert.are.equal(3, #fake.requests)
      local res, err = c:call("status", "abc")
      assert.is_nil(res)
      assert.are.equal(4, #fake.requests)
      assert.are.same({
        call = "status", status = 404, code = "ResourceNotFound", message = "Task `abc` not found",
        conflict = false, attempts = 1,
      }, setmetatable(err, nil))
    end))

    it("gives up after the retries with the last error", async(function()
      local fake = scripted({
        tc_error(503, "InternalServerError", "one"), tc_error(503, "InternalServerError", "two"),
      })
      local q = queue_with_http(fake)
      local c = q.new({ root_url = "https://tc.example.com", retries = 1, backoff_base = 0 })
      local res, err = c:call("status", "abc")
      assert.is_nil(res)
      assert.are.equal("status: HTTP 503 InternalServerError: two", tostring(err))
      assert.are.equal(2, err.attempts)
    end))

    it("does not retry failures that would fail again", async(function()
      local fake = scripted({ { nil, "http.request: GET x: certificate verify failed", "tls" } })
      local q = queue_with_http(fake)
      local c = q.new({ root_url = "https://tc.example.com", backoff_base = 0 })
      local res, err = c:call("status", "abc")
      assert.is_nil(res)
      assert.are.equal("status: transport tls: http.request: GET x: certificate verify failed", tostring(err))
      assert.is_nil(err.status)
      assert.are.equal(1, #fake.requests)
    end))

    it("marks 409 as a conflict and prints one line", async(function()
      local fake = scripted({ tc_error(409, "RequestConflict", "Run 0 is not running\n\n(state: exception)") })
      local q = queue_with_http(fake)
      local c = q.new({ root_url = "https://tc.example.com" })
      local _, err = c:call("reclaimTask", "abc", 0)
      assert.is_true(err.conflict)
      assert.are.equal("Run 0 is not running\n\n(state: exception)", err.message)
      assert.are.equal("reclaimTask: HTTP 409 RequestConflict: Run 0 is not running (state: exception)",
        tostring(err))
      assert.is_true(q.is_error(err))
    end))

    it("reads an error artifact's 424", async(function()
      local fake = scripted({
        { status = 424, body = json.encode({ reason = "file-missing-on-worker", message = "gone" }) },
      })
      local q = queue_with_http(fake)
      local c = q.new({ root_url = "https://tc.example.com" })
      local _, err = c:call("getArtifact", "abc", 0, "public/x")
      assert.are.equal("ErrorArtifact", err.code)
      assert.are.equal("file-missing-on-worker", err.reason)
      assert.are.equal("file-missing-on-worker: gone", err.message)
    end))

    it("returns getArtifact's 303 body with the location", async(function()
      local fake = scripted({
        { status = 303, headers = { location = "https://storage/x" },
          body = json.encode({ storageType = "s3", url = "https://storage/x" }) },
      })
      local q = queue_with_http(fake)
      local c = q.new({ root_url = "https://tc.example.com" })
      assert.are.same({ storageType = "s3", url = "https://storage/x", location = "https://storage/x" },
        assert(c:call("getArtifact", "abc", 0, "public/x")))
    end))

    it("strips only lib-api's trailer", function()
      assert.are.equal("a\n---\nb", queue.strip_trailer("a\n---\nb"))
      assert.are.equal("msg", queue.strip_trailer("msg\n\n---\n\n* method:     task\n* errorCode:  X"))
    end)

    it("backs off as taskcluster-client: 2^n * base * [0.75, 1.25], capped", function()
      local c = queue.new({ root_url = "https://tc.example.com", backoff_base = 0.1, max_backoff = 1 })
      for _ = 1, 50 do
        local d1, d3, d9 = c:backoff(1), c:backoff(3), c:backoff(9)
        assert.is_true(d1 >= 0.15 and d1 <= 0.25, tostring(d1))
        assert.is_true(d3 >= 0.6 and d3 <= 1, tostring(d3))
        assert.are.equal(1, d9)
      end
    end)
  end)

  it("registers access tokens and certificates as log secrets", function()
    local log = require("sw.log")
    local token = "unit-registered-token-" .. tostring(math.random(1e9))
    local cert = '{"version":1,"seed":"' .. tostring(math.random(1e9)) .. '"}'
    queue.new({ root_url = "https://tc.example.com", credentials = { clientId = "c", accessToken = token,
      certificate = cert } })
    assert.are.equal("x <redacted> y <redacted>", log.redact("x " .. token .. " y " .. cert))
  end)

  it("hands claimed credentials to sw.secrets, where the task's end forgets them", async(function()
    local log = require("sw.log")
    local secrets = require("sw.secrets")
    local r = tostring(math.random(1e9))
    local own = { clientId = "worker", accessToken = "worker-own-token-" .. r }
    local temp = { clientId = "task-client", accessToken = "claimed-temp-token-" .. r,
      certificate = '{"version":1,"seed":"claimed-seed-' .. r .. '"}' }
    local fake = scripted({
      ok_json({ tasks = { { status = { taskId = "abc" }, runId = 0, credentials = temp } } }),
      ok_json({}),
    })
    local q = queue_with_http(fake)
    secrets.add(own)
    local c = q.new({ root_url = "https://tc.example.com", credentials = own })
    local claim = assert(c:call("claimWork", "p/w", { workerGroup = "g", workerId = "w", tasks = 1 })).tasks[1]
    local line = table.concat({ own.accessToken, claim.credentials.accessToken, claim.credentials.certificate }, " ")
    assert.are.equal("<redacted> <redacted> <redacted>", log.redact(line))
    -- The task records what the answer already registered, and forgets it
    -- at its end; the worker's own token stays, even in the task's list.
    local seen = {}
    secrets.add(claim.credentials, seen)
    secrets.add(own, seen)
    assert.are.equal(3, #seen)
    secrets.forget(seen)
    assert.are.equal("<redacted> " .. temp.accessToken .. " " .. temp.certificate, log.redact(line))
    -- A last call signed with those credentials makes them secrets again.
    assert(c:with_credentials(claim.credentials):call("reportException", "abc", 0, { reason = "internal-error" }))
    assert.are.equal("<redacted> <redacted> <redacted>", log.redact(line))
    for _, s in ipairs({ own.accessToken, temp.accessToken, temp.certificate }) do
      log.remove_secret(s)
    end
  end))

  it("records what a task's client is handed in the task's list", async(function()
    local log = require("sw.log")
    local secrets = require("sw.secrets")
    local r = tostring(math.random(1e9))
    local task_creds = { clientId = "task-client", accessToken = "task-token-" .. r }
    local reclaimed = { clientId = "task-client", accessToken = "reclaimed-token-" .. r }
    local object = { clientId = "object-client", accessToken = "object-token-" .. r }
    local fake = scripted({
      ok_json({ credentials = reclaimed, takenUntil = "2026-01-01T00:00:00.000Z" }),
      ok_json({ storageType = "object", credentials = object }),
      ok_json({ credentials = { clientId = "x", accessToken = "elsewhere-token-" .. r } }),
    })
    local q = queue_with_http(fake)
    local c = q.new({ root_url = "https://tc.example.com" })
    local seen = {}
    local tq = c:with_credentials(function()
      return task_creds
    end, seen)
    assert(tq:call("reclaimTask", "abc", 0))
    -- A client made from the task's (object uploads) keeps its list.
    assert(tq:with_credentials(task_creds):call("createArtifact", "abc", 0, "public/x", { storageType = "object" }))
    assert.are.same({ reclaimed.accessToken, object.accessToken }, seen)
    -- A client without a list registers and records nothing of a task.
    assert(c:call("reclaimTask", "abc", 0))
    assert.are.equal(2, #seen)
    local line = reclaimed.accessToken .. " " .. object.accessToken .. " elsewhere-token-" .. r
    assert.are.equal("<redacted> <redacted> <redacted>", log.redact(line))
    secrets.forget(seen)
    assert.are.equal(reclaimed.accessToken .. " " .. object.accessToken .. " <redacted>", log.redact(line))
    for _, s in ipairs({ task_creds.accessToken, "elsewhere-token-" .. r }) do
      log.remove_secret(s)
    end
  end))
end)
