-- The worker binary against the local Queue: what a script leaves under
-- artifact_dir arrives byte for byte (after gunzip), with the Python
-- worker's content types and Content-Encoding, and the chain-of-trust
-- artifact validates against the v1 schema, verifies with the worker's
-- public key (checked by Ajv and Node's crypto, not by the worker's own
-- code) and hashes exactly what was uploaded.
local fs = require("sw.fs")
local hash = require("sw.hash")
local json = require("sw.json")
local worker_env = require("integration.fixtures.worker_env")
local support_queue = worker_env.support_queue

local TEXT = "line one\nline two\n" .. string.rep("compressible text ", 200) .. "\n"
local JSON_TEXT = '{"answer": 42, "list": [1, 2, 3]}\n'

-- name -> {content type, Content-Encoding as stored (nil: none)}
local EXPECTED = {
  ["public/a.txt"] = { "text/plain", "gzip" },
  ["public/b.json"] = { "application/json", "gzip" },
  ["public/c.html"] = { "text/html", "gzip" },
  ["public/d.xml"] = { "application/xml", "gzip" },
  ["public/e.bin"] = { "application/octet-stream", nil },
  ["public/big.bin"] = { "application/octet-stream", nil },
  ["public/empty.txt"] = { "text/plain", "gzip" },
  -- over 1 MiB: gzipped through a temporary file, not in memory
  ["public/big.log"] = { "text/plain", "gzip" },
  -- The Python worker's own table: tarballs stay un-encoded so that a
  -- download is never gunzipped under the chain of trust's hashes.
  ["public/f.tar.gz"] = { "application/x-tar", nil },
  -- Already compressed: sent as is, with the encoding mimetypes guesses.
  ["public/g.json.gz"] = { "application/json", "gzip" },
  ["public/noext"] = { "application/binary", nil },
  ["public/sub/dir/deep.png"] = { "image/png", nil },
  ["public/with space.txt"] = { "text/plain", "gzip" },
  ["public/a+b%c.txt"] = { "text/plain", "gzip" },
  ["private/secret.log"] = { "text/plain", "gzip" },
  ["public/logs/live_backing.log"] = { "text/plain", "gzip" },
  ["public/chain-of-trust.json"] = { "application/json", "gzip" },
  ["public/chain-of-trust.json.sig"] = { "application/pgp-signature", nil },
}

local function payload()
  return {
    files = {
      ["public/a.txt"] = TEXT,
      ["public/b.json"] = JSON_TEXT,
      ["public/c.html"] = "<html><body>hello</body></html>\n",
      ["public/d.xml"] = "<?xml version=\"1.0\"?>\n<a>b</a>\n",
      ["public/empty.txt"] = "",
      ["public/with space.txt"] = "spaces\n",
      ["public/a+b%c.txt"] = "escaped\n",
      ["private/secret.log"] = "private log\n",
    },
    random = {
      ["public/e.bin"] = { size = 4096, seed = 1 },
      ["public/big.bin"] = { size = 3 * 1024 * 1024 + 17, seed = 2 },
      ["public/f.tar.gz"] = { size = 1000, seed = 3 },
      ["public/noext"] = { size = 10, seed = 4 },
      ["public/sub/dir/deep.png"] = { size = 300, seed = 5 },
    },
    gzip = { ["public/g.json.gz"] = JSON_TEXT },
    rep = { ["public/big.log"] = { "a line of a big log\n", 80000 } },
    symlinks = { ["public/outside.txt"] = "/etc/hostname" },
    print = { "hello from the script" },
  }
end

-- The bytes the script wrote for `name` (nil for the worker's own files
-- and for the gzip files, whose bytes are the gzip stream of p.gzip[name]).
local function expected_bytes(p, name)
  if p.files[name] then
    return p.files[name]
  elseif p.random[name] then
    return worker_env.bytes(p.random[name].size, p.random[name].seed)
  elseif p.rep[name] then
    return string.rep(p.rep[name][1], p.rep[name][2])
  end
  return nil
end

local sorted_keys = require("support").sorted_keys

local function check_run(env, task_id, p, names)
  local list = env:artifact_list(task_id, 0)
  assert.are.same(sorted_keys(names), sorted_keys(list))
  local task = env.fx:task_info(task_id).task
  local got = {}
  for name in pairs(names) do
    local a = assert(env:artifact(task_id, 0, name))
    got[name] = a
    assert.are.equal(task.expires, list[name].expires, name)
    local want = expected_bytes(p, name)
    if want then
      assert.are.equal(#want, #a.body, name)
      assert.is_true(want == a.body, name .. " differs")
    elseif p.gzip[name] then
      -- stored exactly as the script wrote it, a gzip stream
      assert.are.equal(p.gzip[name], fs.gunzip_string(a.raw), name)
    end
  end
  return got, task
end

describe("worker: artifacts", function()
  local fx, env, worker, task_id, p

  setup(function()
    fx = support_queue.start({ poll_seconds = 1 })
    env = worker_env.new(fx, "artifacts")
    worker = env:start_worker()
    p = payload()
    task_id = env:create_task(p)
    env:wait_resolved(task_id)
  end)

  teardown(function()
    worker_env.finish(fx, env)
  end)

  it("completes the task", function()
    local st = fx:task_info(task_id).status
    assert.are.same({ "completed", "completed" }, { st.state, st.runs[1].reasonResolved })
  end)

  it("uploads every file byte for byte with its content type and encoding", function()
    local got = check_run(env, task_id, p, EXPECTED)
    for name, want in pairs(EXPECTED) do
      local a = got[name]
      assert.are.same({ name, want[1], want[2] }, { name, a.content_type, a.content_encoding })
      if want[2] == "gzip" and not p.gzip[name] then
        -- gzipped by the worker: the stored bytes are a gzip stream
        assert.are.equal("\31\139", a.raw:sub(1, 2), name)
      elseif want[2] == nil then
        assert.is_true(a.raw == a.body, name)
      end
    end
    assert.are.equal("s3", env:artifact_list(task_id, 0)["public/a.txt"].storageType)
  end)

  it("never reads a symlink that leads out of artifact_dir, and says why", function()
    assert.is_nil(env:artifact_list(task_id, 0)["public/outside.txt"])
    assert.truthy(worker:log():find("not uploading artifact name=public/outside.txt reason=", 1, true))
  end)

  it("streams the script's output into live_backing.log, ending with the exit code", function()
    local log = assert(env:artifact(task_id, 0, "public/logs/live_backing.log")).body
    assert.are.equal("hello from the script\nexit code: 0\n", log)
  end)

  it("writes a chain-of-trust artifact that validates, verifies and hashes the uploads", function()
    local cot = assert(env:artifact(task_id, 0, "public/chain-of-trust.json")).body
    local sig = assert(env:artifact(task_id, 0, "public/chain-of-trust.json.sig")).body
    assert.are.equal(64, #sig)
    assert.are.same({ schemaErrors = json.array({}), signatureValid = true }, env:check_cot(cot, sig))
    -- A flipped byte fails the independent check: it can fail.
    local bad = cot:sub(1, 10) .. (cot:sub(11, 11) == "a" and "b" or "a") .. cot:sub(12)
    assert.is_false(env:check_cot(bad, sig).signatureValid)

    local body = assert(json.decode(cot))
    -- canonical: sorted keys, 2-space indent, no trailing newline
    assert.are.equal(assert(json.encode(body, { canonical = true })), cot)
    local task = fx:task_info(task_id).task
    assert.are.same({
      chainOfTrustVersion = 1,
      environment = json.object({}),
      runId = 0,
      taskId = task_id,
      workerGroup = "wg-1",
      workerId = "w1",
      workerType = env.worker_type,
    }, {
      chainOfTrustVersion = body.chainOfTrustVersion,
      environment = body.environment,
      runId = body.runId,
      taskId = body.taskId,
      workerGroup = body.workerGroup,
      workerId = body.workerId,
      workerType = body.workerType,
    })
    assert.are.same(task, body.task)
    -- Every uploaded file but the chain-of-trust pair is hashed, over the
    -- file's bytes: before the worker's gzip, and for a file that is
    -- itself gzip (sent with Content-Encoding: gzip), the stream.
    local want = {}
    for name in pairs(EXPECTED) do
      if not name:match("^public/chain%-of%-trust") then
        local a = assert(env:artifact(task_id, 0, name))
        want[name] = { sha256 = hash.string(p.gzip[name] and a.raw or a.body, "sha256") }
      end
    end
    assert.are.same(want, body.artifacts)
  end)

  it("never reports completed with an artifact missing: a name the Queue refuses", function()
    -- Artifact names are printable ASCII (the Queue answers 400 otherwise).
    local id = env:create_task({ files = { ["public/ok.txt"] = "ok\n", ["public/n\195\188.txt"] = "x\n" } },
      { retries = 0 })
    local st = env:wait_resolved(id)
    -- Refused before any request, and not retried: the task would make the
    -- same name again (worker_upload_failures_spec.lua).
    assert.are.same({ "exception", "malformed-payload" }, { st.state, st.runs[1].reasonResolved })
    assert.are.equal("ok\n", assert(env:artifact(id, 0, "public/ok.txt")).body)
    assert.truthy(worker:log():find('artifact upload failed error="the Queue accepts only printable ASCII', 1, true),
      worker:log())
  end)

  it("uploads through the object service with artifact_storage_type: object", function()
    local env2 = worker_env.new(fx, "objects")
    local w2 = env2:start_worker({ config = { artifact_storage_type = "object" } })
    local p2 = payload()
    p2.symlinks = nil
    local id2 = env2:create_task(p2)
    local st = env2:wait_resolved(id2)
    assert.are.equal("completed", st.state)
    local names = {}
    for name, want in pairs(EXPECTED) do
      names[name] = want
    end
    local got = check_run(env2, id2, p2, names)
    for name, want in pairs(EXPECTED) do
      -- uploaded as is: no gzip, whatever the type
      assert.are.same({ name, "object", want[1] },
        { name, env2:artifact_list(id2, 0)[name].storageType, got[name].content_type })
      if not p2.gzip[name] then
        assert.is_nil(got[name].content_encoding, name)
      end
    end
    local cot = got["public/chain-of-trust.json"].body
    assert.is_true(env2:check_cot(cot, got["public/chain-of-trust.json.sig"].body).signatureValid)
    assert.are.same({ code = 0 }, w2:stop())
    env2:cleanup()
  end)

  it("sent nothing the Queue's schemas refuse", function()
    assert.are.same({ code = 0 }, worker:stop())
    assert.are.same(worker_env.NO_SCHEMA_FAILURES, env:schema_failures())
    assert.is_true(fs.exists(env.dir))
  end)
end)
