-- sw.cot.generate's failures say whose fault they are: "schema" when the
-- body fails the chain-of-trust schema (the task's definition or ids),
-- "io" for the worker's own (listing, hashing, writing, signing); sw.task
-- reports the first malformed-payload, the second internal-error.
local generate = require("sw.cot.generate")
local config = require("sw.config")
local fs = require("sw.fs")
local json = require("sw.json")
local sched = require("sw.sched")
local support = require("support")
local task = require("sw.task")

local TASK = support.task_definition()

local FAILING_SIGNER = {
  sign = function()
    return nil, "sign: the key went away"
  end,
}

local function opts(dir, o)
  local base = {
    artifact_dir = dir, task = TASK, task_id = "dGFzay1pZC1vZi10aGUtdGVz", run_id = 0,
    worker_group = "wg", worker_id = "wid", worker_type = "wt",
  }
  for k, v in pairs(o or {}) do
    base[k] = v
  end
  return base
end

describe("sw.cot.generate", function()
  local dir

  before_each(function()
    dir = support.tmpdir()
    assert(fs.write_file_atomic(dir .. "/a.txt", "a\n"))
  end)

  after_each(function()
    fs.rmtree(dir)
  end)

  it("writes the artifact of a valid run", support.async(function()
    local cot = assert(generate.generate(opts(dir)))
    assert.are.same({ sha256 = "87428fc522803d31065e7bce3cf03fe475096631e5e07bbd7a0fde60c4cf25c7" },
      cot.body.artifacts["a.txt"])
  end))

  it("a body that fails the schema: code schema", support.async(function()
    local dup = json.decode(assert(json.encode(TASK)))
    dup.scopes = json.array({ "a", "a" })
    local cot, err, code = generate.generate(opts(dir, { task = dup }))
    assert.is_nil(cot)
    assert.are.equal("schema", code, err)
  end))

  it("the worker's own failures: code io", support.async(function()
    local cot, err, code = generate.generate(opts(dir, { signer = FAILING_SIGNER }))
    assert.is_nil(cot)
    assert.are.same({ "cot: cannot sign: sign: the key went away", "io" }, { err, code })
    -- a file where the artifact's folder goes
    fs.rmtree(dir .. "/public")
    assert(fs.write_file_atomic(dir .. "/public", "x"))
    cot, err, code = generate.generate(opts(dir))
    assert.is_nil(cot)
    assert.are.equal("io", code, err)
  end))

  it("sw.task reports the worker's own failure internal-error, not malformed-payload", support.async(function()
    local path = dir .. "/scriptworker.yaml"
    assert(fs.write_file_atomic(path, assert(json.encode({
      credentials = { clientId = "c", accessToken = "not-used-here" },
      work_dir = dir .. "/work", artifact_dir = dir .. "/artifacts", task_log_dir = dir .. "/artifacts/public/logs",
      log_dir = dir .. "/log", task_script = json.array({ "/bin/true" }), ed25519_private_key_path = dir .. "/key",
    }))))
    local cfg = assert(config.load(path))
    local summary = task.run({ config = cfg, signer = FAILING_SIGNER }, {
      task = TASK, status = json.object({ taskId = "dGFzay1pZC1vZi10aGUtdGVz" }), runId = 0, workerGroup = "wg",
    })
    assert.are.same({ 5, "exception", "internal-error" }, { summary.status, summary.resolution, summary.reason })
    sched.label(nil)
  end))
end)
