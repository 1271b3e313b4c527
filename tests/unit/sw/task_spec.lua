local task = require("sw.task")
local json = require("sw.json")

describe("sw.task", function()
  local config = { reversed_statuses = { [241] = "intermittent-task", [245] = "intermittent-task" } }

  it("maps exit codes to resolutions as the Python worker does", function()
    local cases = {
      [0] = { "completed" },
      [1] = { "failed" },
      [2] = { "exception", "worker-shutdown" },
      [3] = { "exception", "malformed-payload" },
      [4] = { "exception", "resource-unavailable" },
      [5] = { "exception", "internal-error" },
      [6] = { "exception", "resource-unavailable" }, -- superseded, see docs/worker.md
      [7] = { "exception", "intermittent-task" },
      [241] = { "exception", "intermittent-task" },
      [245] = { "exception", "intermittent-task" },
      [8] = { "failed" },
      [255] = { "failed" },
    }
    for code, want in pairs(cases) do
      assert.are.same(want, { task.resolution(config, code) }, "exit code " .. code)
    end
  end)

  it("lets reversed_statuses override the defaults", function()
    local c = { reversed_statuses = { [3] = "intermittent-task", [9] = "internal-error" } }
    assert.are.same({ "exception", "intermittent-task" }, { task.resolution(c, 3) })
    assert.are.same({ "exception", "internal-error" }, { task.resolution(c, 9) })
  end)

  it("parses Taskcluster's timestamp forms", function()
    assert.are.equal(1700000000, task.parse_time("2023-11-14T22:13:20.000Z"))
    assert.are.equal(1700001200.123, task.parse_time("2023-11-14T22:33:20.123+00:00"))
    assert.are.equal(1700000000, task.parse_time("2023-11-15T00:13:20+02:00"))
    assert.are.equal(951782400, task.parse_time("2000-02-29T00:00:00Z"))
    assert.is_nil(task.parse_time("yesterday"))
    assert.is_nil(task.parse_time("2023-11-14T22:13:20+2"))
    assert.are.equal("2023-11-14T22:13:20.000Z", task.format_time(1700000000))
  end)

  it("keeps empty arrays and objects of the task definition", function()
    local def = json.decode('{"payload": {}, "dependencies": [], "extra": {"a": []}}')
    assert.are.equal('{\n  "dependencies": [],\n  "extra": {\n    "a": []\n  },\n  "payload": {}\n}',
      json.encode(def, { canonical = true }))
  end)

  it("ends a task whose pipeline raised: internal-error, its secrets forgotten", function()
    local config_mod = require("sw.config")
    local fs = require("sw.fs")
    local log = require("sw.log")
    local sched = require("sw.sched")
    local support = require("support")
    local dir = support.tmpdir()
    local art = dir .. "/artifacts"
    local path = dir .. "/scriptworker.yaml"
    -- A file where the worker puts its logs in the snapshot makes the
    -- worker's own step raise after the script ended.
    assert(fs.write_file_atomic(path, assert(json.encode({
      credentials = { clientId = "c", accessToken = "not-used-here" },
      work_dir = dir .. "/work", artifact_dir = art, task_log_dir = art .. "/public/logs",
      log_dir = dir .. "/log", ed25519_private_key_path = dir .. "/key", sign_chain_of_trust = false,
      task_script = json.array({ "sh", "-c",
        "rm -r '" .. art .. "/public/logs' && echo x >'" .. art .. "/public/logs'" }),
    }))))
    local cfg = assert(config_mod.load(path))
    local def = json.decode([[{
      "provisionerId": "p", "workerType": "w", "schedulerId": "s", "taskGroupId": "cGFyZW50LXRhc2staWQtMQ",
      "dependencies": [], "requires": "all-completed", "routes": [], "priority": "normal", "retries": 0,
      "created": "2026-01-01T00:00:00.000Z", "deadline": "2026-01-02T00:00:00.000Z",
      "expires": "2027-01-01T00:00:00.000Z", "scopes": [], "payload": {},
      "metadata": {"name": "n", "description": "d", "owner": "o@example.com", "source": "https://example.com/"},
      "tags": {}, "extra": {}
    }]])
    local token = "task-temporary-token-0123456789"
    local w = { config = cfg }
    local summary = sched.run(task.run, w, {
      task = def, status = json.object({ taskId = "dGFzay1pZC1vZi10aGUtdGVz" }), runId = 0, workerGroup = "wg",
      credentials = { clientId = "task/c", accessToken = token },
    })
    assert.are.same({ 5, "exception", "internal-error" }, { summary.status, summary.resolution, summary.reason })
    assert.are.equal(token, log.redact(token))
    assert.is_nil(w.current)
    fs.rmtree(dir)
  end)
end)
