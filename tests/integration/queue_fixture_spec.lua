-- The support_queue fixture calls that build test worlds without workers:
-- tasks resolved through the admin API, seeded artifacts read back through
-- sw.queue, the static mirror read through sw.http, the request log and
-- refused connections.
local fs = require("sw.fs")
local http = require("sw.http")
local json = require("sw.json")
local sched = require("sw.sched")
local support = require("support")
local support_queue = require("support_queue")
local async = support.async

describe("support_queue fixture", function()
  local fx, dir, tester

  setup(function()
    fx = support_queue.start()
    dir = support.tmpdir()
    tester = fx:client("tester")
  end)

  teardown(function()
    if fx then
      assert.are.same({ code = 0 }, fx:stop())
    end
    if dir then
      fs.rmtree(dir)
    end
  end)

  it("complete_task resolves chains of tasks, outside a task too", function()
    local decision = fx:create_task({ taskQueueId = fx:unique_queue() })
    local build = fx:create_task({ taskQueueId = fx:unique_queue(), dependencies = { decision } })
    assert.are.equal("unscheduled", fx:task_info(build).status.state)
    local status = fx:complete_task(decision)
    assert.are.equal("completed", status.state)
    assert.are.equal("emulator", status.runs[1].workerGroup)
    assert.are.equal("pending", fx:task_info(build).status.state)
    status = fx:complete_task(build, { state = "failed", workerGroup = "wg-2", workerId = "w-2" })
    assert.are.same({ "failed", "wg-2", "w-2" }, { status.state, status.runs[1].workerGroup,
      status.runs[1].workerId })
    local ok, err = pcall(fx.complete_task, fx, build, { state = "completed" })
    assert.is_false(ok)
    assert.matches("HTTP 409", err)
  end)

  it("put_artifact: sw.queue lists and downloads it like an uploaded one", async(function()
    local task_id = fx:create_task({ taskQueueId = fx:unique_queue() })
    local cot = assert(json.encode({ taskId = task_id, artifacts = json.object({}) }))
    local r = fx:put_artifact(task_id, 0, "public/chain-of-trust.json", fs.gzip_string(cot),
      { content_type = "application/json", content_encoding = "gzip" })
    assert.are.same({ storageType = "s3", name = "public/chain-of-trust.json" }, r)
    local expires = support_queue.from_now(3600)
    fx:put_artifact(task_id, 0, "public/build/target.bin", "\0\1\2\255", { expires = expires })
    fx:complete_task(task_id)

    local listed = assert(tester:list_all_artifacts(task_id))
    assert.are.equal(2, #listed)
    assert.are.same({ "public/build/target.bin", "application/octet-stream", "s3" },
      { listed[1].name, listed[1].contentType, listed[1].storageType })
    assert.are.equal(expires, listed[1].expires)
    assert.are.equal("application/json", listed[2].contentType)

    local got = assert(tester:download_artifact(task_id, nil, "public/chain-of-trust.json", dir .. "/cot.json"))
    assert.are.equal("s3", got.storage_type)
    assert.are.equal(cot, support.read(dir .. "/cot.json"))
    -- The stored bytes are still the gzip ones.
    local raw = assert(fx:artifact_bytes(task_id, 0, "public/chain-of-trust.json"))
    assert.are.equal(cot, assert(fs.gunzip_string(raw)))
    assert(tester:download_artifact(task_id, 0, "public/build/target.bin", dir .. "/target.bin"))
    assert.are.equal("\0\1\2\255", support.read(dir .. "/target.bin"))
  end))

  it("put_mirror: sw.http reads entries by exact path and query", async(function()
    local path = "/hg/mozilla-central/json-pushes?changeset=abc&version=2&full=1"
    local pushes = '{"pushes": {"1": {"changesets": ["abc"]}}}'
    fx:put_mirror(path, pushes, { content_type = "application/json" })
    fx:put_mirror("/gh/repos/o/r/commits/nope", '{"message": "Not Found"}',
      { content_type = "application/json", status = 404 })
    local before = fx:requests().last

    local res = assert(http.request({ url = fx:mirror_url() .. path }))
    assert.are.equal(200, res.status)
    assert.are.equal("application/json", res.headers["content-type"])
    assert.are.equal(pushes, res.body)
    res = assert(http.request({ url = fx:mirror_url() .. "/gh/repos/o/r/commits/nope" }))
    assert.are.equal(404, res.status)
    assert.are.equal("Not Found", json.decode(res.body).message)
    res = assert(http.request({ url = fx:mirror_url() .. "/hg/mozilla-central/json-pushes?changeset=abc" }))
    assert.are.equal(404, res.status)
    assert.are.equal("not found", res.body)

    local seen = fx:requests(before).requests
    assert.are.equal(3, #seen)
    assert.are.same({ "GET", "/__mirror" .. path, "mirror", 200 },
      { seen[1].method, seen[1].url, seen[1].key, seen[1].status })
    assert.are.equal(2, fx:clear_mirror())
    res = assert(http.request({ url = fx:mirror_url() .. path }))
    assert.are.equal(404, res.status)
  end))

  it("refuse: connections fail for a while, then work again", async(function()
    local t0 = sched.monotonic()
    fx:refuse(500)
    local res, _, code = http.request({ url = fx.root_url .. "/api/queue/v1/ping", timeout = 5 })
    assert.is_nil(res)
    assert.are.equal("connect", code)
    repeat
      sched.sleep(0.05)
      res = http.request({ url = fx.root_url .. "/api/queue/v1/ping", timeout = 5 })
    until res
    assert.are.equal(200, res.status)
    assert.is_true(sched.monotonic() - t0 >= 0.5)
  end))
end)
