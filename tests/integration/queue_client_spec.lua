-- sw.queue against the local Queue emulator (tests/queue, schema validation
-- of every request and response): every call the worker makes, the error
-- values, retries, temporary credentials, uploads and downloads, and the
-- redaction of secrets.
local fs = require("sw.fs")
local json = require("sw.json")
local log = require("sw.log")
local queue = require("sw.queue")
local sched = require("sw.sched")
local sign = require("sw.sign")
local slugid = require("sw.slugid")
local support = require("support")
local support_queue = require("support_queue")
local async = support.async

local EXPIRES = support_queue.from_now(7 * 86400)

local function write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then
    f:close()
  end
  return f ~= nil
end

-- Asserts a failed call: nil, err with exactly these fields.
local function assert_error(want, res, err)
  assert.is_nil(res)
  assert.is_true(queue.is_error(err), "not an error value: " .. tostring(err))
  for k, v in pairs(want) do
    assert.are.same(v, err[k], "err." .. k .. " of " .. tostring(err))
  end
  return err
end

describe("sw.queue against the local Queue", function()
  local fx, dir
  local tester

  setup(function()
    fx = support_queue.start({
      clients = {
        { clientId = "private-reader", accessToken = "private-reader-token",
          scopes = { "queue:get-artifact:private/*" } },
      },
    })
    dir = support.tmpdir()
    tester = fx:client("tester")
  end)

  teardown(function()
    if fx then
      local st = fx:stop()
      assert.are.same({ code = 0 }, st)
    end
    if dir then
      fs.rmtree(dir)
    end
  end)

  -- The number of requests the emulator counted for an API method.
  local function requests(name)
    return fx:stats().requests[name] or 0
  end

  describe("tasks", function()
    it("createTask, task and status", async(function()
      local task_id = slugid.nice()
      local task_queue = fx:unique_queue()
      local def = fx:task_def({ taskQueueId = task_queue, payload = { script = "sign" } })
      local res = assert(tester:call("createTask", task_id, def))
      assert.are.equal(task_id, res.status.taskId)
      assert.are.equal("pending", res.status.state)
      -- Idempotent for the same definition.
      local again = assert(tester:call("createTask", task_id, def))
      assert.are.same(res.status, again.status)
      local task = assert(tester:call("task", task_id))
      assert.are.equal(task_queue, task.taskQueueId)
      assert.are.equal("sign", task.payload.script)
      assert.are.equal("support_queue task", task.metadata.name)
      local status = assert(tester:call("status", task_id))
      assert.are.equal("pending", status.status.state)
      assert.are.equal(1, #status.status.runs)
      assert.are.equal("scheduled", status.status.runs[1].reasonCreated)
    end))

    it("createTask with a conflicting definition is a 409 error", async(function()
      local task_id = slugid.nice()
      assert(tester:call("createTask", task_id, fx:task_def({ taskQueueId = fx:unique_queue() })))
      local err = assert_error({ call = "createTask", status = 409, code = "RequestConflict", conflict = true },
        tester:call("createTask", task_id, fx:task_def({ taskQueueId = fx:unique_queue() })))
      assert.is_nil(err.message:find("---", 1, true))
    end))

    it("cancelTask resolves the run as exception/canceled", async(function()
      local task_id = fx:create_task({ taskQueueId = fx:unique_queue() })
      local res = assert(tester:call("cancelTask", task_id))
      assert.are.equal("exception", res.status.state)
      assert.are.equal("canceled", res.status.runs[1].reasonResolved)
    end))

    it("an unknown task is a 404, not retried", async(function()
      local before = requests("status")
      local task_id = slugid.nice()
      assert_error({ call = "status", status = 404, code = "ResourceNotFound", conflict = false },
        tester:call("status", task_id))
      assert.are.equal(before + 1, requests("status"))
    end))
  end)

  describe("the worker's calls", function()
    it("claimWork, then reclaim, createArtifact and report with the task credentials", async(function()
      local task_queue = fx:unique_queue("signing")
      local task_id = fx:create_task({ taskQueueId = task_queue, scopes = { "project:releng:signing:cert:dep" } })
      local worker = fx:client("worker")
      local res = assert(worker:call("claimWork", task_queue, { workerGroup = "wg-1", workerId = "wid-1", tasks = 1 }))
      assert.are.equal(1, #res.tasks)
      local claim = res.tasks[1]
      assert.are.equal(task_id, claim.status.taskId)
      assert.are.equal(0, claim.runId)
      assert.are.equal("running", claim.status.runs[1].state)
      assert.are.equal("project:releng:signing:cert:dep", claim.task.scopes[1])
      local creds = claim.credentials
      assert.matches("^task%-client/" .. task_id:gsub("%-", "%%-") .. "/0/on/wg%-1/wid%-1/until/", creds.clientId)
      -- The function form: every call signs with the current credentials.
      local current = creds
      local task_client = fx:client(function()
        return current
      end)
      assert.are.equal(creds, task_client:current_credentials())
      -- The worker's own credentials cannot reclaim: the temporary ones can.
      assert_error({ call = "reclaimTask", status = 403, code = "InsufficientScopes" },
        worker:call("reclaimTask", task_id, 0))
      local reclaim = assert(task_client:call("reclaimTask", task_id, 0))
      assert.are.equal(0, reclaim.runId)
      assert.are_not.equal(creds.accessToken, reclaim.credentials.accessToken)
      current = reclaim.credentials
      assert.are.equal(reclaim.credentials, task_client:current_credentials())
      assert(task_client:call("createArtifact", task_id, 0, "public/logs/error.log", {
        storageType = "error", expires = EXPIRES, reason = "file-missing-on-worker", message = "no log",
      }))
      local done = assert(task_client:call("reportCompleted", task_id, 0))
      assert.are.equal("completed", done.status.state)
      -- Idempotent.
      assert(task_client:call("reportCompleted", task_id, 0))
    end))

    it("reportFailed and reportException", async(function()
      local a = fx:create_and_claim()
      local res = assert(a.worker:call("reportFailed", a.task_id, 0))
      assert.are.equal("failed", res.status.state)
      local b = fx:create_and_claim()
      res = assert(b.worker:call("reportException", b.task_id, 0, { reason = "malformed-payload" }))
      assert.are.equal("exception", res.status.state)
      assert.are.equal("malformed-payload", res.status.runs[1].reasonResolved)
      local c = fx:create_and_claim()
      res = assert(c.worker:call("reportException", c.task_id, 0, { reason = "worker-shutdown" }))
      assert.are.equal("pending", res.status.state)
      assert.are.equal("retry", res.status.runs[2].reasonCreated)
    end))

    it("reclaim after cancel is the 409 error (err.conflict)", async(function()
      local t = fx:create_and_claim()
      fx:cancel(t.task_id)
      local err = assert_error({
        call = "reclaimTask", status = 409, code = "RequestConflict", conflict = true, attempts = 1,
      }, t.worker:call("reclaimTask", t.task_id, 0))
      assert.is_nil(err.message:find("---", 1, true))
      assert.is_nil(err.message:find("errorCode", 1, true))
      local line = tostring(err)
      assert.is_nil(line:find("\n", 1, true))
      assert.are.equal("reclaimTask: HTTP 409 RequestConflict: ", line:sub(1, 39))
      assert_error({ call = "reportCompleted", status = 409, conflict = true },
        t.worker:call("reportCompleted", t.task_id, 0))
    end))

    it("claimWork on an empty queue returns no task after the long poll", async(function()
      local res = assert(fx:client("worker"):call("claimWork", fx:unique_queue(), {
        workerGroup = "wg-1", workerId = "wid-1", tasks = 4,
      }))
      assert.are.equal(0, #res.tasks)
    end))
  end)

  describe("authentication", function()
    local task_id
    setup(function()
      task_id = fx:create_task({ taskQueueId = "proj-releng/auth-tests" })
    end)

    it("a wrong accessToken is a 401 with the server's message", async(function()
      local bad = fx:client({ clientId = "tester", accessToken = "not-the-right-token" })
      local err = assert_error({
        call = "task", status = 401, code = "AuthenticationFailed", message = "Unauthorized: Bad mac",
        conflict = false,
      }, bad:call("task", task_id))
      assert.are.equal("task: HTTP 401 AuthenticationFailed: Unauthorized: Bad mac", tostring(err))
    end))

    it("a missing scope is a 403 naming it", async(function()
      local err = assert_error({ call = "task", status = 403, code = "InsufficientScopes" },
        fx:client("nobody"):call("task", task_id))
      assert.truthy(err.message:find("missing the following scopes:\n\n```\nqueue:get-task:" .. task_id
        .. "\n```", 1, true), err.message)
    end))

    it("authorizedScopes narrow the request", async(function()
      local narrow = fx:client("tester", { authorized_scopes = { "queue:status:*" } })
      assert(narrow:call("status", task_id))
      local err = assert_error({ call = "task", status = 403, code = "InsufficientScopes" },
        narrow:call("task", task_id))
      assert.truthy(err.message:find("queue:get-task:" .. task_id, 1, true))
    end))

    it("temporary credentials work, and expired ones are a 401", async(function()
      local now = math.floor(sched.now() * 1000)
      local fresh = fx:temporary_credentials("tester", {
        scopes = { "queue:status:*" }, start = now - 60000, expiry = now + 3600000,
      })
      assert.are.equal("tester", fresh.clientId)
      assert(fx:client(fresh):call("status", task_id))
      local named = fx:temporary_credentials("tester", {
        scopes = { "queue:status:*" }, start = now - 60000, expiry = now + 3600000, client_id = "tester/named",
      })
      assert(fx:client(named):call("status", task_id))
      local expired = fx:temporary_credentials("tester", {
        scopes = { "queue:status:*" }, start = now - 7200000, expiry = now - 3600000,
      })
      assert_error({ call = "status", status = 401, code = "AuthenticationFailed",
        message = "ext.certificate.expiry < now" }, fx:client(expired):call("status", task_id))
    end))

    it("an expired client is a 401", async(function()
      assert_error({ call = "status", status = 401, code = "AuthenticationFailed",
        message = "Client with clientId 'retired' has expired" }, fx:client("retired"):call("status", task_id))
    end))
  end)

  describe("retries", function()
    local task_id
    setup(function()
      task_id = fx:create_task({ taskQueueId = "proj-releng/retry-tests" })
    end)
    after_each(function()
      fx:set_faults(nil)
    end)

    it("two 500s then a 200 succeed", async(function()
      fx:set_faults({ seed = 1, rules = { status = { errorRate = 1, errorStatus = 500, maxFaults = 2 } } })
      local before = requests("status")
      local res = assert(fx:client("tester", { retries = 2 }):call("status", task_id))
      assert.are.equal(task_id, res.status.taskId)
      assert.are.equal(before + 3, requests("status"))
      assert.are.equal(2, fx:stats().faults.status.error)
    end))

    it("503s beyond the retry count are an error with status 503", async(function()
      fx:set_faults({ seed = 1, rules = { status = { errorRate = 1, errorStatus = 503 } } })
      local before = requests("status")
      assert_error({ call = "status", status = 503, attempts = 3, conflict = false },
        fx:client("tester", { retries = 2 }):call("status", task_id))
      assert.are.equal(before + 3, requests("status"))
    end))

    it("a connection cut before the answer is retried", async(function()
      fx:set_faults({ seed = 1, rules = { status = { dropRate = 1, dropAfter = "nothing", maxFaults = 1 } } })
      assert(fx:client("tester", { retries = 1 }):call("status", task_id))
      assert.are.equal(1, fx:stats().faults.status.drop)
    end))

    it("an answer cut after its headers is retried (code closed)", async(function()
      fx:set_faults({ seed = 1, rules = { status = { dropRate = 1, dropAfter = "body" } } })
      local err = assert_error({ call = "status", status = nil, code = "closed", attempts = 2 },
        fx:client("tester", { retries = 1 }):call("status", task_id))
      assert.is_nil(err.status)
      fx:set_faults({ seed = 1, rules = { status = { dropRate = 1, dropAfter = "headers", maxFaults = 1 } } })
      assert(fx:client("tester", { retries = 1 }):call("status", task_id))
    end))

    it("a timeout is retried, then reported", async(function()
      fx:set_faults({ seed = 1, rules = { status = { latencyMs = 2000 } } })
      assert_error({ call = "status", code = "timeout", attempts = 2 },
        fx:client("tester", { retries = 1, timeout = 0.2 }):call("status", task_id))
    end))

    it("a refused connection is retried, then reported", async(function()
      local q = queue.new({ root_url = "http://127.0.0.1:1", retries = 1, backoff_base = 0.001 })
      assert_error({ call = "status", code = "connect", status = nil, attempts = 2 }, q:call("status", task_id))
    end))
  end)

  describe("artifacts", function()
    local t

    setup(function()
      t = fx:create_and_claim()
    end)

    local function random_file(name, n)
      local path = dir .. "/" .. name
      write(path, sign.random_bytes(n))
      return path
    end

    local function download_equals(path, task_id, run_id, name, client)
      local out = dir .. "/download-" .. slugid.nice()
      local r = assert((client or tester):download_artifact(task_id, run_id, name, out))
      assert.are.equal(out, r.path)
      assert.are.equal(support.read(path), support.read(out))
      return r
    end

    it("s3: upload and byte-identical download, by run and latest", async(function()
      local src = random_file("s3.bin", 300000)
      local up = assert(t.worker:upload_artifact(t.task_id, 0, "public/build/target.bin", {
        path = src, content_type = "application/octet-stream", expires = EXPIRES,
      }))
      assert.are.same({ storage_type = "s3", name = "public/build/target.bin", bytes = 300000 }, up)
      local r = download_equals(src, t.task_id, 0, "public/build/target.bin")
      assert.are.equal(300000, r.bytes)
      assert.are.equal("s3", r.storage_type)
      assert.are.equal("application/octet-stream", r.content_type)
      download_equals(src, t.task_id, nil, "public/build/target.bin")
      -- Anonymous callers read public/ artifacts.
      download_equals(src, t.task_id, 0, "public/build/target.bin", fx:client(nil))
    end))

    it("s3 with Content-Encoding gzip: stored gzipped, downloaded decoded", async(function()
      local text = string.rep("line of a log file\n", 5000)
      local src = dir .. "/live.log"
      write(src, text)
      assert(fs.gzip_file(src, src .. ".gz"))
      assert(t.worker:upload_artifact(t.task_id, 0, "public/logs/live.log", {
        path = src .. ".gz", content_type = "text/plain", content_encoding = "gzip",
        content_length = #text, expires = EXPIRES,
      }))
      local stored, res = fx:artifact_bytes(t.task_id, 0, "public/logs/live.log")
      assert.are.equal("gzip", res.headers["content-encoding"])
      assert.are.equal(support.read(src .. ".gz"), stored)
      download_equals(src, t.task_id, 0, "public/logs/live.log")
      -- The same from bytes in memory.
      assert(t.worker:upload_artifact(t.task_id, 0, "public/logs/memory.log", {
        body = fs.gzip_string(text), content_type = "text/plain", content_encoding = "gzip",
        content_length = #text, expires = EXPIRES,
      }))
      download_equals(src, t.task_id, 0, "public/logs/memory.log")
    end))

    it("object: small (inline) and large (putUrl) uploads download byte-identical", async(function()
      local small = random_file("small.bin", 1000)
      local large = random_file("large.bin", 200000)
      for name, src in pairs({ ["public/small.bin"] = small, ["public/large.bin"] = large }) do
        local up = assert(t.worker:upload_artifact(t.task_id, 0, name, {
          path = src, storage_type = "object", content_type = "application/octet-stream", expires = EXPIRES,
        }))
        assert.are.equal("object", up.storage_type)
        local r = download_equals(src, t.task_id, 0, name)
        assert.are.equal("object", r.storage_type)
      end
      -- From bytes in memory, inline and by putUrl.
      for name, src in pairs({ ["public/small-mem.bin"] = small, ["public/large-mem.bin"] = large }) do
        assert(t.worker:upload_artifact(t.task_id, 0, name, {
          body = support.read(src), storage_type = "object", content_type = "application/octet-stream",
          expires = EXPIRES,
        }))
        download_equals(src, t.task_id, 0, name)
      end
      local present = {}
      for _, a in ipairs(fx:task_info(t.task_id).artifacts[1]) do
        present[a.name] = a.present
      end
      local names = { "public/small.bin", "public/large.bin", "public/small-mem.bin", "public/large-mem.bin" }
      for _, name in ipairs(names) do
        assert.is_true(present[name], name)
      end
    end))

    it("a missing file is an error before anything is created", async(function()
      local before = requests("createArtifact")
      local err = assert_error({ call = "createArtifact", status = nil, code = "ENOENT" },
        t.worker:upload_artifact(t.task_id, 0, "public/nothing.txt", {
          path = dir .. "/no-such-file", content_type = "text/plain", expires = EXPIRES,
        }))
      assert.truthy(err.message:find(dir .. "/no-such-file", 1, true), err.message)
      assert.are.equal(before, requests("createArtifact"))
    end))

    it("object: the calls one by one, and finishArtifact's 204", async(function()
      local src = random_file("steps.bin", 5000)
      local name = "public/steps.bin"
      local answer = assert(t.worker:call("createArtifact", t.task_id, 0, name, {
        storageType = "object", expires = EXPIRES, contentType = "application/octet-stream", contentLength = 5000,
      }))
      assert.are.equal("t/" .. t.task_id .. "/0/" .. name, answer.name)
      -- Not present before finishArtifact.
      assert_error({ call = "getArtifact", status = 404 }, tester:call("getArtifact", t.task_id, 0, name))
      local upload = assert(t.worker:with_credentials(answer.credentials):call("createUpload", answer.name, {
        projectId = answer.projectId, uploadId = answer.uploadId, expires = answer.expires,
        proposedUploadMethods = { putUrl = { contentType = "application/octet-stream", contentLength = 5000 } },
      }))
      assert.are.equal("table", type(upload.uploadMethod.putUrl))
      assert(t.worker:put_file("upload", upload.uploadMethod.putUrl.url, src, upload.uploadMethod.putUrl.headers))
      local hash = require("sw.hash")
      assert(t.worker:with_credentials(answer.credentials):call("finishUpload", answer.name, {
        projectId = answer.projectId, uploadId = answer.uploadId,
        hashes = { sha256 = hash.file(src, "sha256"), sha512 = hash.file(src, "sha512") },
      }))
      local fin = assert(t.worker:call("finishArtifact", t.task_id, 0, name, { uploadId = answer.uploadId }))
      assert.are.same({}, fin)
      local got = assert(tester:call("getArtifact", t.task_id, 0, name))
      assert.are.equal("object", got.storageType)
      assert.are.equal(got.url, got.location)
      download_equals(src, t.task_id, 0, name)
    end))

    it("link and error artifacts", async(function()
      local src = random_file("target.txt", 2000)
      assert(t.worker:upload_artifact(t.task_id, 0, "public/link-target.txt", {
        path = src, content_type = "text/plain", expires = EXPIRES,
      }))
      assert(t.worker:call("createArtifact", t.task_id, 0, "public/link.txt", {
        storageType = "link", expires = EXPIRES, artifact = "public/link-target.txt", contentType = "text/plain",
      }))
      download_equals(src, t.task_id, 0, "public/link.txt")
      assert(t.worker:call("createArtifact", t.task_id, 0, "public/missing.txt", {
        storageType = "error", expires = EXPIRES, reason = "file-missing-on-worker", message = "no such file",
      }))
      local out = dir .. "/missing.txt"
      assert_error({
        call = "getArtifact", status = 424, code = "ErrorArtifact", reason = "file-missing-on-worker",
        message = "file-missing-on-worker: no such file",
      }, tester:download_artifact(t.task_id, 0, "public/missing.txt", out))
      assert.is_false(exists(out))
    end))

    it("a private artifact needs queue:get-artifact:<name>", async(function()
      local src = random_file("secret.bin", 4000)
      local name = "private/build/secret.bin"
      assert(t.worker:upload_artifact(t.task_id, 0, name, {
        path = src, content_type = "application/octet-stream", expires = EXPIRES,
      }))
      local out = dir .. "/secret-anon.bin"
      local err = assert_error({ call = "getArtifact", status = 403, code = "InsufficientScopes" },
        fx:client(nil):download_artifact(t.task_id, 0, name, out))
      assert.truthy(err.message:find("queue:get-artifact:" .. name, 1, true), err.message)
      assert.is_false(exists(out))
      assert_error({ call = "getLatestArtifact", status = 403 },
        fx:client("nobody"):download_artifact(t.task_id, nil, name, out))
      local reader = fx:client("private-reader")
      download_equals(src, t.task_id, 0, name, reader)
      -- By URL with a bewit, as a browser or curl would fetch it.
      local http = require("sw.http")
      local url = reader:build_url("getArtifact", t.task_id, 0, name)
      local plain = assert(http.request({ url = url }))
      assert.are.equal(403, plain.status)
      local signed = assert(http.request({ url = reader:signed_url(url, 60), follow_redirects = true }))
      assert.are.equal(200, signed.status)
      assert.are.equal(support.read(src), signed.body)
    end))

    it("names with / are encoded as %2F and work in every call", async(function()
      local name = "public/a dir/with spaces/and%percent.txt"
      assert.are.equal(fx.root_url .. "/api/queue/v1/task/" .. t.task_id
        .. "/runs/0/artifacts/public%2Fa%20dir%2Fwith%20spaces%2Fand%25percent.txt",
        tester:build_url("getArtifact", t.task_id, 0, name))
      local src = random_file("slashes.txt", 100)
      assert(t.worker:upload_artifact(t.task_id, 0, name, {
        path = src, content_type = "text/plain", expires = EXPIRES,
      }))
      download_equals(src, t.task_id, 0, name)
      local found = false
      for _, a in ipairs(assert(tester:list_all_artifacts(t.task_id, 0))) do
        found = found or a.name == name
      end
      assert.is_true(found)
    end))

    it("a download that fails leaves no file behind", async(function()
      local out = dir .. "/absent.bin"
      assert_error({ call = "getArtifact", status = 404, code = "ResourceNotFound" },
        tester:download_artifact(t.task_id, 0, "public/absent.bin", out))
      assert.is_false(exists(out))
    end))
  end)

  describe("listing", function()
    it("lists 2,500 artifacts completely, by run and latest", async(function()
      local t = fx:create_and_claim()
      local n = 2500
      local sem = sched.semaphore(32)
      local tasks = {}
      for i = 1, n do
        tasks[i] = sched.spawn(function()
          return sem:with(function()
            return t.worker:call("createArtifact", t.task_id, 0, string.format("public/many/%04d.txt", i), {
              storageType = "error", expires = EXPIRES, reason = "file-missing-on-worker", message = "none",
            })
          end)
        end)
      end
      for i, r in ipairs(sched.wait_all(tasks)) do
        assert(r[1] == true and r[2], "artifact " .. i .. ": " .. tostring(r[3] or r[2]))
      end
      local before = requests("listArtifacts")
      local all = assert(tester:list_all_artifacts(t.task_id, 0))
      assert.are.equal(n, #all)
      assert.are.equal(before + 3, requests("listArtifacts"))
      local seen = {}
      for _, a in ipairs(all) do
        seen[a.name] = (seen[a.name] or 0) + 1
        assert.are.equal("error", a.storageType)
      end
      for i = 1, n do
        assert.are.equal(1, seen[string.format("public/many/%04d.txt", i)])
      end
      local latest = assert(tester:list_all_artifacts(t.task_id, nil, { limit = 700 }))
      assert.are.equal(n, #latest)
      -- One page by hand: the continuationToken is there.
      local page = assert(tester:call("listArtifacts", t.task_id, 0, { limit = 10 }))
      assert.are.equal(10, #page.artifacts)
      assert.are.equal("string", type(page.continuationToken))
    end))
  end)

  describe("secrets", function()
    local log_path
    before_each(function()
      log_path = dir .. "/log-" .. slugid.nice()
      assert(log.set_output(log_path))
    end)
    after_each(function()
      log.set_output(nil)
      log.set_level("info")
      fx:set_faults(nil)
    end)

    it("never shows an access token or certificate in errors or log lines", async(function()
      log.set_level("debug")
      local t = fx:create_and_claim()
      local creds = t.claim.credentials
      -- A retried failure (logged) with the task credentials.
      fx:set_faults({ seed = 1, rules = { reclaimTask = { errorRate = 1, errorStatus = 500, maxFaults = 1 } } })
      local reclaim = assert(t.worker:call("reclaimTask", t.task_id, 0))
      -- A failure with a wrong token, retried on a 500 first.
      local token = "wrong-token-" .. slugid.nice()
      fx:set_faults({ seed = 1, rules = { status = { errorRate = 1, errorStatus = 500, maxFaults = 1 } } })
      local err = assert_error({ call = "status", status = 401 },
        fx:client({ clientId = "tester", accessToken = token }):call("status", t.task_id))
      -- Even a message that names a secret has it redacted.
      log.info("the token is " .. token .. " and the certificate " .. creds.certificate)
      local e2 = queue.new_error("status", 401, "AuthenticationFailed", "echo " .. creds.accessToken)
      assert.are.equal("echo <redacted>", e2.message)
      log.set_output(nil)
      local text = support.read(log_path)
      assert.truthy(text:find("queue call failed, retrying", 1, true), text)
      assert.truthy(text:find("the token is <redacted> and the certificate <redacted>", 1, true))
      for _, secret in ipairs({ token, creds.accessToken, creds.certificate, reclaim.credentials.accessToken,
        reclaim.credentials.certificate, fx.clients.tester.accessToken }) do
        assert.is_nil(text:find(secret, 1, true))
        assert.is_nil(tostring(err):find(secret, 1, true))
        assert.are.equal("<redacted>", log.redact(secret))
      end
    end))
  end)

  it("left no schema failures or internal errors in the emulator", function()
    local stats = fx:stats()
    assert.are.equal(0, stats.responseSchemaFailures, json.encode(stats.responseSchemaFailureDetails))
    assert.are.equal(0, stats.requestSchemaFailures)
    assert.are.equal(0, stats.internalErrors, fx:server_log())
  end)
end)
