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

  -- Runs one task whose script is the shell command script (given the
  -- artifact_dir) under a config of a fresh directory, with the worker
  -- fields of w (config added). Returns the summary, the directory and
  -- the task's token.
  local function run_task(script, w)
    local config_mod = require("sw.config")
    local fs = require("sw.fs")
    local sched = require("sw.sched")
    local support = require("support")
    local dir = support.tmpdir()
    local art = dir .. "/artifacts"
    local path = dir .. "/scriptworker.yaml"
    assert(fs.write_file_atomic(path, assert(json.encode({
      credentials = { clientId = "c", accessToken = "not-used-here" },
      work_dir = dir .. "/work", artifact_dir = art, task_log_dir = art .. "/public/logs",
      log_dir = dir .. "/log", ed25519_private_key_path = dir .. "/key", sign_chain_of_trust = false,
      task_script = json.array({ "sh", "-c", script(art) }),
    }))))
    w.config = assert(config_mod.load(path))
    local token = "task-temporary-token-0123456789"
    local ok, summary = pcall(sched.run, task.run, w, {
      task = support.task_definition(), status = json.object({ taskId = "dGFzay1pZC1vZi10aGUtdGVz" }), runId = 0,
      workerGroup = "wg", credentials = { clientId = "task/c", accessToken = token },
    })
    return ok, summary, dir, token
  end

  it("ends a task whose pipeline raised: internal-error, its secrets forgotten", function()
    local log = require("sw.log")
    -- A file where the worker puts its logs in the snapshot makes the
    -- worker's own step raise after the script ended.
    local w = {}
    local ok, summary, dir, token = run_task(function(art)
      return "rm -r '" .. art .. "/public/logs' && echo x >'" .. art .. "/public/logs'"
    end, w)
    assert(ok, summary)
    assert.are.same({ 5, "exception", "internal-error" }, { summary.status, summary.resolution, summary.reason })
    assert.are.equal(token, log.redact(token))
    assert.is_nil(w.current)
    require("sw.fs").rmtree(dir)
  end)

  it("walks the snapshot once and hashes each artifact once; the script's chain of trust is not kept", function()
    local artifacts = require("sw.artifacts")
    local fs = require("sw.fs")
    local hash = require("sw.hash")
    local support = require("support")
    -- A Queue that answers every call; the upload is recorded, not sent.
    local fake = {}
    function fake.with_credentials()
      return fake
    end
    function fake.call()
      return json.object({})
    end
    local walks, hashed, uploaded = 0, {}, nil
    local walk, hash_file, upload_all = fs.walk, hash.file, artifacts.upload_all
    fs.walk = function(...)
      walks = walks + 1
      return walk(...)
    end
    hash.file = function(p, ...)
      hashed[#hashed + 1] = p
      return hash_file(p, ...)
    end
    artifacts.upload_all = function(opts)
      uploaded = {}
      -- What the upload would send: its list, else what it would walk.
      for _, f in ipairs(opts.files or artifacts.collect(opts.artifact_dir)) do
        uploaded[#uploaded + 1] = f.name .. "=" .. f.size .. "=" .. assert(fs.read_file(f.path))
      end
      return { uploaded = {}, failed = {} }
    end
    local ok, summary, dir = run_task(function(art)
      return "mkdir -p '" .. art .. "/public/sub' && echo one >'" .. art .. "/public/a.txt' && echo two >'" .. art
        .. "/public/sub/b.bin' && echo forged >'" .. art .. "/public/chain-of-trust.json' && echo forged >'"
        .. art .. "/public/chain-of-trust.json.sig'"
    end, { queue = fake })
    fs.walk, hash.file, artifacts.upload_all = walk, hash_file, upload_all
    assert(ok, summary)
    assert.are.same({ 0, "completed" }, { summary.status, summary.resolution })
    assert.are.equal(0, walks, "the snapshot was walked again")
    -- Only the worker's own log, copied in after the snapshot, is read
    -- for its digest; every file of the script's was hashed while copied.
    assert.are.same({ dir .. "/log/state/task/artifacts/public/logs/live_backing.log" }, hashed)
    local names = {}
    for i, u in ipairs(uploaded) do
      names[i] = u:match("^[^=]*")
    end
    assert.are.same({ "public/a.txt", "public/chain-of-trust.json", "public/logs/live_backing.log",
      "public/sub/b.bin" }, names)
    assert.are.equal("public/a.txt=4=one\n", uploaded[1])
    assert.are.equal("public/sub/b.bin=4=two\n", uploaded[4])
    local cot = json.decode(uploaded[2]:match("^[^=]*=%d+=(.*)$"))
    assert.are.same({ "public/a.txt", "public/logs/live_backing.log", "public/sub/b.bin" },
      support.sorted_keys(cot.artifacts))
    fs.rmtree(dir)
  end)
end)
