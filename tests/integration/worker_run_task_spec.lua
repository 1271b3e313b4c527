-- `scriptworker run-task TASK_JSON [CONFIG]`: the task pipeline without a
-- Queue (docs/worker.md, "Without a Queue"): task.json, the script, its
-- log, the artifacts left in artifact_dir with a signed chain-of-trust
-- artifact, a summary on stdout, and the exit status (0 when the script's
-- status is 0, else 1; 2 for usage and config errors). No credentials.
local fs = require("sw.fs")
local hash = require("sw.hash")
local json = require("sw.json")
local proc = require("sw.proc")
local sched = require("sw.sched")
local support = require("support")
local worker_env = require("integration.fixtures.worker_env")

local function run_task(dir, args)
  local argv = { worker_env.BIN, "run-task" }
  for _, a in ipairs(args) do
    argv[#argv + 1] = a
  end
  return sched.run(function()
    return assert(proc.run({
      argv = argv,
      env = { PATH = os.getenv("PATH"), HOME = dir, SW_TEST_STATE = dir .. "/state" },
      cwd = dir,
      timeout = 60,
    }))
  end)
end

local function write_json(path, v)
  assert(fs.write_file_atomic(path, assert(json.encode(v))))
end

describe("worker: run-task", function()
  local dir, cfg, config_path, public_key

  setup(function()
    dir = support.tmpdir()
    assert(fs.mkdirp(dir .. "/state"))
    local ed25519 = require("sw.ed25519")
    assert(ed25519.write_key_pair(dir .. "/key", dir .. "/key.pub"))
    public_key = assert(fs.read_file(dir .. "/key.pub")):gsub("%s+$", "")
    cfg = {
      work_dir = dir .. "/work",
      artifact_dir = dir .. "/artifacts",
      task_log_dir = dir .. "/artifacts/public/logs",
      log_dir = dir .. "/log",
      task_script = { worker_env.BIN, "lua", worker_env.TASK_SCRIPT, dir .. "/artifacts" },
      ed25519_private_key_path = dir .. "/key",
      worker_type = "local-type",
      worker_id = "local-1",
      worker_group = "local-group",
    }
    -- no credentials anywhere: run-task needs none
    config_path = dir .. "/scriptworker.yaml"
    write_json(config_path, cfg)
  end)

  teardown(function()
    fs.rmtree(dir)
  end)

  local function task_def(test, payload_extra)
    local payload = { maxRunTime = 60, test = test }
    for k, v in pairs(payload_extra or {}) do
      payload[k] = v
    end
    return {
      provisionerId = "local-prov", workerType = "local-type", schedulerId = "local",
      taskGroupId = "Zf2vB9E_Sn6cGZ3xH8VDTQ", dependencies = json.array({}), scopes = json.array({}),
      routes = json.array({}), payload = payload, extra = json.object({}),
      created = "2026-01-01T00:00:00.000Z", deadline = "2026-01-02T00:00:00.000Z",
      expires = "2027-01-01T00:00:00.000Z",
      metadata = { name = "run-task", description = "d", owner = "o@example.com", source = "https://example.com" },
    }
  end

  it("runs the script, leaves the artifacts with a signed chain of trust, and says so", function()
    local def = task_def({ print = { "local run" }, files = { ["public/out.txt"] = "out\n" },
      random = { ["public/out.bin"] = { size = 100, seed = 9 } } })
    write_json(dir .. "/localTask1.json", def)
    local r = run_task(dir, { "localTask1.json", config_path })
    local a = cfg.artifact_dir
    local log_bytes = #"local run\nexit code: 0\n"
    local cot_text = assert(fs.read_file(a .. "/public/chain-of-trust.json"))
    assert.are.same({ 0, table.concat({
      "task localTask1: status 0 (completed)",
      "artifacts in " .. a .. ":",
      "  public/chain-of-trust.json (" .. #cot_text .. " bytes)",
      "  public/chain-of-trust.json.sig (64 bytes)",
      "  public/logs/live_backing.log (" .. log_bytes .. " bytes)",
      "  public/out.bin (100 bytes)",
      "  public/out.txt (4 bytes)",
      "chain of trust: " .. a .. "/public/chain-of-trust.json (signed)",
    }, "\n") .. "\n" }, { r.code, r.stdout })
    assert.are.equal("local run\nexit code: 0\n", fs.read_file(a .. "/public/logs/live_backing.log"))
    assert.are.equal(worker_env.bytes(100, 9), fs.read_file(a .. "/public/out.bin"))
    -- the chain of trust: independent checks of schema and signature
    local sig = assert(fs.read_file(a .. "/public/chain-of-trust.json.sig"))
    local check = worker_env.check_cot(public_key, cot_text, sig)
    assert.are.same({ schemaErrors = json.array({}), signatureValid = true }, check)
    local cot = json.decode(cot_text)
    assert.are.same({ "localTask1", 0, "local-group", "local-1", "local-type" },
      { cot.taskId, cot.runId, cot.workerGroup, cot.workerId, cot.workerType })
    assert.are.same(def, cot.task)
    assert.are.same({
      ["public/logs/live_backing.log"] = { sha256 = hash.string("local run\nexit code: 0\n", "sha256") },
      ["public/out.bin"] = { sha256 = hash.string(worker_env.bytes(100, 9), "sha256") },
      ["public/out.txt"] = { sha256 = hash.string("out\n", "sha256") },
    }, cot.artifacts)
    -- task.json as the script saw it: canonical JSON of the definition
    assert.are.equal(assert(json.encode(def, { canonical = true })), fs.read_file(cfg.work_dir .. "/task.json"))
  end)

  it("exits 1 with the status of a script that did not succeed", function()
    write_json(dir .. "/t3.json", task_def({ exit = 3 }))
    local r = run_task(dir, { "t3.json", config_path })
    assert.are.same({ 1, "task t3: status 3 (exception malformed-payload)" }, { r.code, r.stdout:match("^[^\n]*") })
    write_json(dir .. "/t1.json", task_def({ exit = 1 }))
    r = run_task(dir, { "t1.json", config_path })
    assert.are.same({ 1, "task t1: status 1 (failed)" }, { r.code, r.stdout:match("^[^\n]*") })
  end)

  it("refuses a task without a payload: malformed-payload, the script never runs", function()
    local def = task_def({})
    def.payload = nil
    write_json(dir .. "/nopayload.json", def)
    local r = run_task(dir, { "nopayload.json", config_path })
    assert.are.same({ 1, "task nopayload: status 3 (exception malformed-payload)" },
      { r.code, r.stdout:match("^[^\n]*") })
    assert.is_nil(fs.read_file(dir .. "/state/nopayload.0.json"))
    assert.are.equal("Automation Error: the task does not match the minimal task schema: "
      .. "(root): required property \"payload\" is missing\n",
      fs.read_file(cfg.artifact_dir .. "/public/logs/live_backing.log"))
    assert.is_nil(r.stdout:find("chain of trust:", 1, true))
  end)

  it("exits 2 on usage and input errors", function()
    assert(fs.write_file_atomic(dir .. "/broken.json", "{"))
    write_json(dir .. "/list.json", { 1, 2 })
    local cases = {
      { {}, "usage: scriptworker run-task TASK_JSON [CONFIG]" },
      { { "a", "b", "c" }, "usage: scriptworker run-task TASK_JSON [CONFIG]" },
      { { "list.json", config_path }, "scriptworker: run-task: list.json: a task definition must be a JSON object" },
      { { "missing.json", config_path }, "scriptworker: run-task: missing.json: No such file or directory" },
      { { "broken.json", config_path }, "scriptworker: run-task: broken.json: line 1 column 2 (byte 1): " },
    }
    for _, c in ipairs(cases) do
      local r = run_task(dir, c[1])
      assert.are.equal(2, r.code)
      assert.are.equal(c[2], r.stderr:sub(1, #c[2]))
    end
    write_json(dir .. "/ok.json", task_def({}))
    write_json(dir .. "/bad.yaml", { work_dir = dir .. "/work", poll_interval = "1" })
    local r = run_task(dir, { "ok.json", dir .. "/bad.yaml" })
    assert.are.equal(2, r.code)
    assert.truthy(r.stderr:find("scriptworker: " .. dir .. "/bad.yaml: poll_interval: expected int, got str \"1\"",
      1, true))
  end)
end)
