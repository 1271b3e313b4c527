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

  it("forgets a task's secrets once it is done, not the worker's", function()
    local log = require("sw.log")
    local worker_token = "worker-permanent-token-0123456789"
    local task_creds = { clientId = "task-client/x", accessToken = "task-temp-token-abcdefghij",
      certificate = '{"version":1,"seed":"s"}' }
    task.register_secrets({ accessToken = worker_token })
    local seen = {}
    task.register_secrets(task_creds, seen)
    assert.are.equal("<redacted> <redacted>", log.redact(task_creds.accessToken .. " " .. worker_token))
    task.forget_secrets(seen)
    assert.are.equal(task_creds.accessToken .. " <redacted>", log.redact(task_creds.accessToken .. " " .. worker_token))
    log.remove_secret(worker_token)
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
end)
