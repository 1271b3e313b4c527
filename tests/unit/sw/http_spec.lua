local http = require("sw.http")
local sched = require("sw.sched")
local support = require("support")
local async = support.async

-- Cases about sched.run at the top level; under make sanitize they run in
-- a child process (support.top_it).
local function top_it(name, fn)
  support.top_it(it, "tests/unit/sw/http_spec.lua", name, fn)
end

local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return out
end

local function sha256_file(path)
  return sh("sha256sum '" .. path .. "'"):match("^(%x+)")
end

local write_file = support.write

-- A plain coroutine is not a task: returns the error it raised.
local function outside(fn)
  local ok, err = coroutine.resume(coroutine.create(fn))
  assert.is_false(ok)
  return err
end

local function raised(opts)
  local ok, err = pcall(http.request, opts)
  assert.is_false(ok)
  return err
end

describe("sw.http", function()
  local server, base, base2, closed, tls_base, tmp

  setup(function()
    tmp = support.tmpdir()
    local cert, key = tmp .. "/cert.pem", tmp .. "/key.pem"
    local made = os.execute(
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
        .. " -keyout '" .. key .. "' -out '" .. cert .. "' -days 2"
        .. " -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1"
    )
    local args = made and (" '" .. cert .. "' '" .. key .. "'") or ""
    local proc = assert(io.popen("exec node " .. support.root .. "/tests/unit/sw/http_server.js"
      .. args))
    local line = assert(proc:read("l"), "the test server did not start")
    local p1, p2, p3, p4, pid = line:match("^(%d+) (%d+) (%d+) (%d+) (%d+)$")
    base = "http://127.0.0.1:" .. p1
    base2 = "http://127.0.0.1:" .. p2
    closed = "http://127.0.0.1:" .. p3
    tls_base = p4 ~= "0" and ("https://127.0.0.1:" .. p4) or nil
    server = { proc = proc, pid = pid, cert = cert }
  end)

  teardown(function()
    os.execute("kill " .. server.pid)
    server.proc:close()
    os.execute("rm -rf '" .. tmp .. "'")
  end)

  local function get(path)
    return assert(http.request({ url = base .. path }))
  end

  local function stats()
    local body = get("/stats").body
    local t = {}
    for k, v in body:gmatch("(%w+)=(%d+)") do
      t[k] = tonumber(v)
    end
    return t
  end

  describe("arguments", function()
    it("refuses to run outside a task", function()
      assert.matches("http.request: not inside a task", outside(function()
        http.request({ url = base .. "/echo" })
      end))
    end)

    it("raises on options that are programming errors", async(function()
      assert.matches("http.request: unknown option 'follow_redirect'",
        raised({ url = base, follow_redirect = true }))
      assert.matches("http.request: option 'url' is required", raised({}))
      assert.matches("bad argument #1 to '[%w.]*request' %(table expected, got string%)",
        select(2, pcall(http.request, "http://x")))
      assert.matches("http.request: option 'timeout' must be a number of seconds",
        raised({ url = base, timeout = 0 }))
      assert.matches("http.request: option 'timeout' must be a number of seconds",
        raised({ url = base, timeout = "5" }))
      assert.matches("http.request: option 'max_body' must be an integer >= 0",
        raised({ url = base, max_body = 1.5 }))
      assert.matches("http.request: option 'follow_redirects' must be a boolean, got string",
        raised({ url = base, follow_redirects = "yes" }))
      assert.matches("http.request: options 'body' and 'body_file' exclude each other",
        raised({ url = base, body = "x", body_file = "/etc/hostname" }))
      assert.matches("http.request: method 'GET /' is not a valid token",
        raised({ url = base, method = "GET /" }))
      assert.matches("http.request: header name 'Bad Name' is not a valid token",
        raised({ url = base, headers = { ["Bad Name"] = "x" } }))
      assert.matches("http.request: header 'X%-Inject' contains CR, LF or NUL",
        raised({ url = base, headers = { ["X-Inject"] = "a\r\nHost: evil" } }))
      assert.matches("http.request: header 'X%-Num' must be a string or false, got number",
        raised({ url = base, headers = { ["X-Num"] = 1 } }))
    end))

    it("returns invalid URLs as failures", async(function()
      -- curl would guess http:// here; the words after "invalid URL" are curl's
      local res, msg, code = http.request({ url = "127.0.0.1/x" })
      assert.is_nil(res)
      assert.matches("^http%.request: GET 127%.0%.0%.1/x: invalid URL %(.+%)$", msg)
      assert.are.equal("curl", code)
      assert.are.same(
        { nil, "http.request: GET ftp://127.0.0.1/x: unsupported scheme 'ftp'", "curl" },
        { http.request({ url = "ftp://127.0.0.1/x" }) }
      )
    end))
  end)

  describe("requests", function()
    it("sends a GET with the caller's headers", async(function()
      local res = assert(http.request({
        url = base .. "/echo?q=1",
        headers = { ["X-Custom"] = "value 1", Authorization = "Bearer abc" },
      }))
      assert.are.equal(200, res.status)
      assert.are.equal("", res.body)
      assert.are.equal(0, res.bytes)
      assert.are.equal(0, res.redirects)
      assert.are.equal(base .. "/echo?q=1", res.url)
      local h = res.headers
      assert.are.equal("GET", h["x-echo-method"])
      assert.are.equal("/echo?q=1", h["x-echo-url"])
      assert.are.equal("value 1", h["x-echo-h-x-custom"])
      assert.are.equal("Bearer abc", h["x-echo-h-authorization"])
      assert.are.equal("scriptworker/0.1.0", h["x-echo-h-user-agent"])
      assert.are.equal(http.USER_AGENT, h["x-echo-h-user-agent"])
      assert.is_nil(h["x-echo-h-accept-encoding"])
    end))

    for _, method in ipairs({ "POST", "PUT", "PATCH", "DELETE" }) do
      it("sends a " .. method .. " body byte for byte", async(function()
        local body = "a\0b\r\n\255" .. string.rep("z", 100000)
        local res = assert(http.request({
          method = method,
          url = base .. "/echo",
          body = body,
          headers = { ["Content-Type"] = "application/octet-stream" },
        }))
        assert.are.equal(200, res.status)
        assert.are.equal(method, res.headers["x-echo-method"])
        assert.are.equal(tostring(#body), res.headers["x-echo-length"])
        assert.are.equal("application/octet-stream", res.headers["x-echo-h-content-type"])
        assert.are.equal(body, res.body)
        assert.are.equal(#body, res.bytes)
      end))
    end

    it("sends Content-Length: 0 for a POST without a body", async(function()
      local res = assert(http.request({ method = "POST", url = base .. "/echo" }))
      assert.are.equal("POST", res.headers["x-echo-method"])
      assert.are.equal("0", res.headers["x-echo-h-content-length"])
      assert.is_nil(res.headers["x-echo-h-content-type"])
    end))

    it("sends a HEAD and returns the headers only", async(function()
      local res = assert(http.request({ method = "HEAD", url = base .. "/echo" }))
      assert.are.equal(200, res.status)
      assert.are.equal("HEAD", res.headers["x-echo-method"])
      assert.are.equal("", res.body)
    end))

    it("sends empty headers and removes curl's own with false", async(function()
      local res = assert(http.request({
        url = base .. "/echo",
        headers = { ["X-Empty"] = "", Accept = false },
        user_agent = "tester/1",
      }))
      assert.are.equal("", res.headers["x-echo-h-x-empty"])
      assert.is_nil(res.headers["x-echo-h-accept"])
      assert.are.equal("tester/1", res.headers["x-echo-h-user-agent"])
      res = assert(http.request({
        url = base .. "/echo",
        headers = { ["User-Agent"] = "mine/2" },
        user_agent = "tester/1",
      }))
      assert.are.equal("mine/2", res.headers["x-echo-h-user-agent"])
    end))

    it("returns 4xx and 5xx as results", async(function()
      for _, code in ipairs({ 404, 500, 503 }) do
        local res = assert(http.request({ url = base .. "/status/" .. code }))
        assert.are.equal(code, res.status)
        assert.are.equal("status " .. code, res.body)
        assert.are.equal("text/plain", res.headers["content-type"])
      end
    end))

    it("lower-cases names, trims values and joins repeated headers", async(function()
      local h = get("/repeated").headers
      assert.are.equal("one, two", h["x-multi"])
      assert.are.equal("a=1, b=2", h["set-cookie"])
      assert.are.equal("padded value", h["x-spaces"])
      assert.is_nil(h["X-Multi"])
    end))

    it("returns compressed bodies as sent unless decompress is set", async(function()
      local raw = get("/gzip")
      assert.are.equal("gzip", raw.headers["content-encoding"])
      assert.are.equal("\31\139", raw.body:sub(1, 2))
      assert.are.equal(tonumber(raw.headers["content-length"]), #raw.body)
      local res = assert(http.request({ url = base .. "/gzip", decompress = true }))
      assert.are.equal("hello hello hello hello\n", res.body)
    end))
  end)

  describe("files", function()
    local big

    setup(function()
      -- 5 MiB of pseudo-random bytes.
      local bytes, x = {}, 7
      for i = 1, 65536 do
        x = (x * 1103515245 + 12345) % 2147483648
        bytes[i] = string.char(x % 256)
      end
      local chunk = table.concat(bytes)
      big = tmp .. "/big.bin"
      local f = assert(io.open(big, "wb"))
      for i = 1, 80 do
        f:write(chunk:sub(i) .. chunk:sub(1, i - 1))
      end
      f:close()
    end)

    it("streams body_file byte for byte with PUT and POST", async(function()
      local sha = sha256_file(big)
      for _, method in ipairs({ "PUT", "POST" }) do
        local res = assert(http.request({
          method = method,
          url = base .. "/echo",
          body_file = big,
          to_file = tmp .. "/echoed.bin",
        }))
        assert.are.equal(method, res.headers["x-echo-method"])
        assert.are.equal(tostring(5 * 1024 * 1024), res.headers["x-echo-h-content-length"])
        assert.are.equal(sha, res.headers["x-echo-sha256"])
        assert.are.equal("100-continue", res.headers["x-echo-h-expect"])
        assert.are.equal(sha, sha256_file(tmp .. "/echoed.bin"))
        assert.are.equal(5 * 1024 * 1024, res.bytes)
      end
    end))

    it("skips the 100-continue handshake with Expect = false", async(function()
      local res = assert(http.request({
        method = "PUT",
        url = base .. "/echo",
        body_file = big,
        headers = { Expect = false },
        max_body = 8 * 1024 * 1024,
      }))
      assert.is_nil(res.headers["x-echo-h-expect"])
      assert.are.equal(sha256_file(big), res.headers["x-echo-sha256"])
      assert.are.equal(5 * 1024 * 1024, #res.body)
    end))

    it("downloads to_file byte for byte, with or without a length", async(function()
      for _, q in ipairs({ "", "&chunked=1" }) do
        local path = tmp .. "/down.bin"
        local res = assert(http.request({ url = base .. "/bytes?n=3000001" .. q, to_file = path }))
        assert.are.equal(200, res.status)
        assert.is_nil(res.body)
        assert.are.equal(3000001, res.bytes)
        assert.are.equal(res.headers["x-sha256"], sha256_file(path))
      end
    end))

    it("creates an empty to_file for an empty body", async(function()
      local path = tmp .. "/empty.bin"
      local res = assert(http.request({ url = base .. "/bytes?n=0", to_file = path }))
      assert.are.equal(0, res.bytes)
      assert.are.equal("", support.read(path))
    end))

    it("fails with code file when body_file or to_file cannot be opened", async(function()
      assert.are.same({
        nil,
        "http.request: PUT " .. base .. "/echo: body_file /nonexistent/in.bin: "
          .. "No such file or directory",
        "file",
      }, { http.request({ method = "PUT", url = base .. "/echo", body_file = "/nonexistent/in.bin" }) })
      assert.are.same({
        nil,
        "http.request: GET " .. base .. "/echo: to_file /nonexistent/out.bin: "
          .. "No such file or directory",
        "file",
      }, { http.request({ url = base .. "/echo", to_file = "/nonexistent/out.bin" }) })
      assert.are.same({
        nil,
        "http.request: PUT " .. base .. "/echo: body_file " .. tmp .. ": not a regular file",
        "file",
      }, { http.request({ method = "PUT", url = base .. "/echo", body_file = tmp }) })
    end))
  end)

  describe("limits", function()
    it("stops a body larger than max_body announced by Content-Length", async(function()
      local url = base .. "/bytes?n=100000"
      assert.are.same({
        nil,
        "http.request: GET " .. url .. ": response body exceeds max_body (1000 bytes): "
          .. "Content-Length is 100000",
        "limit",
      }, { http.request({ url = url, max_body = 1000 }) })
    end))

    it("stops a chunked body when it passes max_body, in memory or to a file", async(function()
      local url = base .. "/bytes?n=100000&chunked=1"
      local expected = {
        nil,
        "http.request: GET " .. url .. ": response body exceeds max_body (1000 bytes)",
        "limit",
      }
      assert.are.same(expected, { http.request({ url = url, max_body = 1000 }) })
      assert.are.same(expected, {
        http.request({ url = url, max_body = 1000, to_file = tmp .. "/limited.bin" }),
      })
    end))

    it("accepts a body of exactly max_body bytes", async(function()
      local res = assert(http.request({ url = base .. "/bytes?n=1000&chunked=1", max_body = 1000 }))
      assert.are.equal(1000, #res.body)
    end))

    it("refuses response headers above MAX_HEADER_BYTES", async(function()
      assert.are.equal(65536, http.MAX_HEADER_BYTES)
      local url = base .. "/bigheaders?n=100"
      assert.are.same({
        nil,
        "http.request: GET " .. url .. ": response headers exceed 65536 bytes",
        "limit",
      }, { http.request({ url = url }) })
      local res = assert(http.request({ url = base .. "/bigheaders?n=50" }))
      assert.are.equal(string.rep("a", 1000), res.headers["x-big-49"])
    end))
  end)

  describe("failures", function()
    local function check(expected_code, opts)
      local res, msg, code = http.request(opts)
      assert.is_nil(res)
      assert.are.equal(expected_code, code)
      local prefix = "http.request: " .. (opts.method or "GET") .. " " .. opts.url .. ": "
      assert.are.equal(prefix, msg:sub(1, #prefix))
      return msg
    end

    it("times out as a whole", async(function()
      local msg = check("timeout", { url = base .. "/delay?ms=10000", timeout = 0.3 })
      assert.matches("timed out", msg)
    end))

    it("times out a transfer that is too slow", async(function()
      local msg = check("timeout", {
        url = base .. "/trickle?interval=400",
        low_speed_time = 1,
        low_speed_limit = 1000,
      })
      assert.matches("too slow", msg)
    end))

    it("reports a refused connection", async(function()
      check("connect", { url = closed .. "/x" })
    end))

    it("reports a name that does not resolve", async(function()
      check("resolve", { url = "http://nonexistent.invalid/x" })
    end))

    it("reports a connection dropped in the middle of the body", async(function()
      check("closed", { url = base .. "/drop" })
    end))

    it("redacts bewits and other secrets from messages", async(function()
      local res, msg = http.request({
        url = closed .. "/x?bewit=c2VjcmV0&a=1&X-Amz-Signature=abcdef",
        headers = { Authorization = "Bearer hunter2hunter2" },
      })
      assert.is_nil(res)
      local prefix = "http.request: GET " .. closed
        .. "/x?bewit=<redacted>&a=1&X-Amz-Signature=<redacted>: "
      assert.are.equal(prefix, msg:sub(1, #prefix))
      assert.is_nil(msg:find("c2VjcmV0", 1, true))
      assert.is_nil(msg:find("hunter2", 1, true))
    end))

    it("redact_url hides passwords, tokens and signatures", function()
      assert.are.equal("https://h/p?bewit=<redacted>&x=1#f",
        http.redact_url("https://h/p?bewit=abc&x=1#f"))
      assert.are.equal("https://user:<redacted>@h/p",
        http.redact_url("https://user:pw@h/p"))
      assert.are.equal("https://<redacted>@github.com/x",
        http.redact_url("https://ghp_token@github.com/x"))
      assert.are.equal("https://s3/k?X-Amz-Credential=<redacted>&X-Amz-Signature=<redacted>",
        http.redact_url("https://s3/k?X-Amz-Credential=a%2Fb&X-Amz-Signature=ff"))
      assert.are.equal("http://h/p?token=<redacted>&sig=<redacted>&tokens=1",
        http.redact_url("http://h/p?token=a&sig=b&tokens=1"))
      assert.are.equal("http://h/p", http.redact_url("http://h/p"))
      assert.are.equal("h/p?bewit=<redacted>&r=http://u:p@x",
        http.redact_url("h/p?bewit=b&r=http://u:p@x"))
      assert.are.equal("", http.redact_url(""))
    end)

    it("verifies TLS certificates", async(function()
      if not tls_base then
        pending("openssl could not make a test certificate")
        return
      end
      check("tls", { url = tls_base .. "/echo" })
      local res = assert(http.request({ url = tls_base .. "/echo", cainfo = server.cert }))
      assert.are.equal(200, res.status)
      assert.are.equal("GET", res.headers["x-echo-method"])
    end))
  end)

  describe("redirects", function()
    local function encode(s)
      return (s:gsub("[^%w%-%._~]", function(c)
        return string.format("%%%02X", c:byte())
      end))
    end

    local function redirect_url(code, to, origin)
      return (origin or base) .. "/redirect?code=" .. code .. "&to=" .. encode(to)
    end

    it("returns a redirect as a result unless asked to follow", async(function()
      local url = redirect_url(303, "/echo")
      local res = assert(http.request({ method = "POST", url = url, body = "x" }))
      assert.are.equal(303, res.status)
      assert.are.equal("/echo", res.headers.location)
      assert.are.equal("redirecting", res.body)
      assert.are.equal(0, res.redirects)
      assert.are.equal(url, res.url)
    end))

    it("follows a 303 as a GET without the body, keeping credentials", async(function()
      local res = assert(http.request({
        method = "POST",
        url = redirect_url(303, "/echo?after=1"),
        body = "form",
        headers = { Authorization = "Bearer same", ["Content-Type"] = "text/plain" },
        follow_redirects = true,
      }))
      assert.are.equal(200, res.status)
      assert.are.equal(1, res.redirects)
      assert.are.equal(base .. "/echo?after=1", res.url)
      assert.are.equal("GET", res.headers["x-echo-method"])
      assert.are.equal("0", res.headers["x-echo-length"])
      assert.are.equal("Bearer same", res.headers["x-echo-h-authorization"])
      assert.is_nil(res.headers["x-echo-h-content-type"])
      assert.are.equal("", res.body)
    end))

    it("follows a 307 with the same method and body", async(function()
      for _, body in ipairs({ "payload", false }) do
        local opts = {
          method = "PUT",
          url = redirect_url(307, "/echo"),
          follow_redirects = true,
        }
        if body then
          opts.body = body
        else
          opts.body_file = tmp .. "/small.bin"
          write_file(opts.body_file, "from a file")
        end
        local res = assert(http.request(opts))
        assert.are.equal("PUT", res.headers["x-echo-method"])
        assert.are.equal(body or "from a file", res.body)
        assert.are.equal(1, res.redirects)
      end
    end))

    it("drops Authorization and Cookie on another origin", async(function()
      local res = assert(http.request({
        url = redirect_url(302, base2 .. "/echo"),
        headers = { Authorization = "Bearer secret", Cookie = "s=1", ["X-Other"] = "kept" },
        follow_redirects = true,
      }))
      assert.are.equal(200, res.status)
      assert.are.equal(base2 .. "/echo", res.url)
      assert.is_nil(res.headers["x-echo-h-authorization"])
      assert.is_nil(res.headers["x-echo-h-cookie"])
      assert.are.equal("kept", res.headers["x-echo-h-x-other"])
      -- and does not bring them back when the chain returns
      local back = redirect_url(302, base .. "/echo")
      res = assert(http.request({
        url = redirect_url(302, redirect_url(302, back, base2)),
        headers = { Authorization = "Bearer secret" },
        follow_redirects = true,
      }))
      assert.are.equal(3, res.redirects)
      assert.are.equal(base .. "/echo", res.url)
      assert.is_nil(res.headers["x-echo-h-authorization"])
    end))

    it("follows up to max_redirects", async(function()
      local res = assert(http.request({ url = base .. "/chain/3", follow_redirects = true }))
      assert.are.equal("end of chain", res.body)
      assert.are.equal(3, res.redirects)
      assert.are.equal(base .. "/chain/0", res.url)
      assert.are.same({
        nil,
        "http.request: GET " .. base .. "/chain/1: too many redirects (max_redirects is 2)",
        "redirect",
      }, { http.request({ url = base .. "/chain/3", follow_redirects = true, max_redirects = 2 }) })
      assert.are.same({
        nil,
        "http.request: GET " .. base .. "/chain/5: too many redirects (max_redirects is 5)",
        "redirect",
      }, { http.request({ url = base .. "/chain/10", follow_redirects = true }) })
    end))

    it("refuses to follow to another scheme", async(function()
      local url = redirect_url(302, "file:///etc/passwd")
      assert.are.same({
        nil,
        "http.request: GET " .. url .. ": 302 to a file URL, only http and https are followed",
        "redirect",
      }, { http.request({ url = url, follow_redirects = true }) })
    end))

    it("writes only the final body to to_file", async(function()
      local path = tmp .. "/redirected.bin"
      local res = assert(http.request({
        url = base .. "/chain/2",
        follow_redirects = true,
        to_file = path,
      }))
      assert.are.equal(2, res.redirects)
      assert.are.equal("end of chain", support.read(path))
      assert.are.equal(#"end of chain", res.bytes)
    end))
  end)

  describe("concurrency", function()
    it("keeps 150 transfers in flight at once", async(function()
      get("/reset")
      local tasks = {}
      for i = 1, 150 do
        tasks[i] = sched.spawn(function()
          local res = assert(http.request({ url = base .. "/barrier?n=100" }))
          return res.status, res.body
        end)
      end
      local results = sched.wait_all(tasks)
      for i = 1, 150 do
        assert.are.same({ true, 200, "passed", n = 3 }, results[i])
      end
      assert.is_true(stats().peak >= 100)
    end))

    it("cancels a pending request and keeps working", async(function()
      get("/reset")
      local t = sched.spawn(function()
        return http.request({ url = base .. "/delay?ms=10000", to_file = tmp .. "/c.bin" })
      end)
      for _ = 1, 200 do
        if stats().inflight >= 1 then
          break
        end
        sched.sleep(0.01)
      end
      assert.are.equal("pending", t:status())
      assert.is_true(t:cancel())
      assert.are.same({ false, "cancelled", "cancelled" }, { t:wait() })
      -- The server sees the connection go away.
      for _ = 1, 200 do
        if stats().aborted >= 1 then
          break
        end
        sched.sleep(0.01)
      end
      assert.are.same({ inflight = 0, peak = 1, aborted = 1 }, stats())
      local res = assert(http.request({ url = base .. "/delay?ms=1" }))
      assert.are.equal("slept", res.body)
    end))

    it("cancels many requests at once", async(function()
      local tasks = {}
      for i = 1, 20 do
        tasks[i] = sched.spawn(function()
          return http.request({ url = base .. "/delay?ms=10000", body = "x", method = "POST" })
        end)
      end
      sched.sleep(0.05)
      for i = 1, 20 do
        tasks[i]:cancel()
      end
      for i = 1, 20 do
        assert.are.same({ false, "cancelled", "cancelled" }, { tasks[i]:wait() })
      end
      assert.are.equal("slept", get("/delay?ms=1").body)
    end))

    it("tears down with the Lua state, requests in flight", function()
      -- The binary closes its state on exit: curl, sockets and timers must
      -- all be released then (a leak fails the sanitizer build).
      local bin = os.getenv("SW_BIN")
        or (support.root .. "/" .. (os.getenv("SW_BUILD") or "build") .. "/scriptworker")
      local script = tmp .. "/close.lua"
      write_file(script, [[
        local http = require("sw.http")
        local sched = require("sw.sched")
        local base = ...
        assert(http.request({ url = base .. "/echo" }).status == 200)
        sched.spawn(function()
          http.request({ url = base .. "/delay?ms=10000" })
        end)
        sched.spawn(function()
          http.request({ url = base .. "/bytes?n=10000000&chunked=1" })
        end)
        sched.sleep(0.05)
        print("done")
      ]])
      assert.are.equal("done\nrc=0\n", sh(bin .. " lua " .. script .. " " .. base .. " 2>&1; echo rc=$?"))
    end)

    top_it("does not keep the loop alive once requests are done", function()
      sched.run(function()
        get("/echo")
      end)
      local ok, err = pcall(sched.run, function()
        sched.suspend()
      end)
      assert.is_false(ok)
      assert.matches("can never happen", err)
    end)

    top_it("cancels requests still pending when run returns", function()
      local t
      sched.run(function()
        t = sched.spawn(function()
          return http.request({ url = base .. "/delay?ms=10000" })
        end)
        sched.sleep(0.05)
      end)
      assert.are.same({ false, "cancelled", "cancelled" }, { t:wait() })
      sched.run(function()
        assert.are.equal("slept", get("/delay?ms=1").body)
      end)
    end)
  end)
end)
