-- `scriptworker create-test-workdir [--overwrite] TASKID [CONFIG]`: a real
-- task from the (local) Queue into a fresh work_dir, laid out as the
-- worker lays it out before running the script.
local fs = require("sw.fs")
local json = require("sw.json")
local proc = require("sw.proc")
local sched = require("sw.sched")
local support = require("support")
local worker_env = require("integration.fixtures.worker_env")
local support_queue = worker_env.support_queue

describe("create-test-workdir", function()
  local fx, dir, config_path

  local function run(args)
    local argv = { worker_env.BIN, "create-test-workdir" }
    for _, a in ipairs(args) do
      argv[#argv + 1] = a
    end
    return sched.run(function()
      return assert(proc.run({ argv = argv, env = { PATH = os.getenv("PATH"), HOME = dir }, cwd = dir, timeout = 60 }))
    end)
  end

  setup(function()
    fx = support_queue.start({ poll_seconds = 1 })
    dir = support.tmpdir()
    config_path = dir .. "/scriptworker.yaml"
    local tester = support_queue.CLIENTS.tester
    assert(fs.write_file_atomic(config_path, assert(json.encode({
      taskcluster_root_url = fx.root_url,
      credentials = { clientId = tester.clientId, accessToken = tester.accessToken },
      work_dir = dir .. "/work",
      artifact_dir = dir .. "/artifacts",
      task_log_dir = dir .. "/artifacts/public/logs",
      task_script = { "python3", "script.py", "script config.json" },
    }))))
  end)

  teardown(function()
    if fx then
      fx:stop()
    end
    fs.rmtree(dir)
  end)

  it("writes task.json and current_task_info.json of a real task", function()
    local id = fx:create_task({ taskQueueId = "proj-releng/ctw", payload = { upstreamArtifacts = {} } })
    local r = run({ id, "scriptworker.yaml" })
    assert.are.same({ 0, "" }, { r.code, r.stderr })
    local def = fx:task_info(id).task
    assert.are.equal(assert(json.encode(def, { canonical = true })), fs.read_file(dir .. "/work/task.json"))
    local info = json.decode(assert(fs.read_file(dir .. "/work/current_task_info.json")))
    assert.are.same({ taskId = id, runId = 0 }, info)
    assert.is_true(fs.exists(dir .. "/artifacts/public/logs"))
    assert.are.equal(dir .. "/work/task.json: task " .. id .. " (run 0)\nrun the script from " .. fs.realpath(dir)
      .. ":\n  python3 script.py 'script config.json'\n", r.stdout)
  end)

  it("refuses a work_dir that is not empty unless --overwrite", function()
    local id = fx:create_task({ taskQueueId = "proj-releng/ctw" })
    assert(fs.write_file_atomic(dir .. "/work/left.txt", "x"))
    local r = run({ id, config_path })
    assert.are.same({ 2, "scriptworker create-test-workdir: " .. dir
      .. "/work is not empty (--overwrite empties it)\n" }, { r.code, r.stderr })
    r = run({ "--overwrite", id, config_path })
    assert.are.equal(0, r.code, r.stderr)
    assert.is_false(fs.exists(dir .. "/work/left.txt"))
    assert.are.equal(id, json.decode(assert(fs.read_file(dir .. "/work/current_task_info.json"))).taskId)
  end)

  it("a task the Queue does not have: exit 1 naming it; bad usage: exit 2", function()
    local r = run({ "--overwrite", "AAAAAAAAAAAAAAAAAAAAAA", config_path })
    assert.are.equal(1, r.code)
    assert.truthy(r.stderr:find("^scriptworker create%-test%-workdir: AAAAAAAAAAAAAAAAAAAAAA: "), r.stderr)
    assert.are.equal(2, run({}).code)
  end)
end)
