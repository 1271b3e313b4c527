-- `scriptworker verify-cot` (and `verify_cot`) of the real binary against
-- the local Queue and generated chains (tests/cot_chain.lua): exit 0 and
-- the chain on a valid one, 1 and the reason on a tampered one, 2 on usage
-- and configuration errors; a CONFIG without credentials; the root's own
-- chain-of-trust artifact checked unless --no-check-task.
local cot_chain = require("cot_chain")
local fs = require("sw.fs")
local json = require("sw.json")
local policy = require("sw.policy")
local sign = require("sw.sign")
local support = require("support")
local support_queue = require("support_queue")

local BIN = os.getenv("SW_BIN") or (support.root .. "/build/scriptworker")
-- the symlink the build makes beside the binary (build/ or build-san/)
local VERIFY_COT = (BIN:match("^(.*)/[^/]*$") or ".") .. "/verify_cot"
local TOKEN = "ghp_" .. string.rep("cl1T0k3n", 4)

local function q(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

describe("scriptworker verify-cot", function()
  local fx, tmp, digest
  local counter = 0

  setup(function()
    fx = support_queue.start({
      -- verify-cot without credentials reads anonymously
      anonymous_scopes = { "queue:get-artifact:public/*", "queue:get-task:*", "queue:list-artifacts:*" },
    })
    tmp = support.tmpdir()
    digest = assert(policy.load(support.root .. "/policies")).digest
  end)

  teardown(function()
    if fx then
      assert.are.equal(0, fx:stop().code)
    end
    if tmp then
      fs.rmtree(tmp)
    end
  end)

  -- Runs argv[1] (a binary) with the rest as arguments in a clean
  -- environment (plus `env`); returns code, stdout, stderr.
  local function run(env, argv)
    counter = counter + 1
    local out, err = string.format("%s/out.%d", tmp, counter), string.format("%s/err.%d", tmp, counter)
    -- TMPDIR: verify-cot's work directory goes under the spec's own
    local parts = { "env", "-i", "PATH=" .. q(os.getenv("PATH")), "HOME=" .. q(tmp), "TMPDIR=" .. q(tmp) }
    for k, v in pairs(env or {}) do
      parts[#parts + 1] = k .. "=" .. q(v)
    end
    for _, a in ipairs(argv) do
      parts[#parts + 1] = q(a)
    end
    local _, _, code = os.execute(string.format("cd %s && %s >%s 2>%s", q(tmp), table.concat(parts, " "), q(out),
      q(err)))
    return code, support.read(out), support.read(err)
  end

  local function verify_cot(...)
    return run(nil, { BIN, "verify-cot", ... })
  end

  -- The config verify-cot needs for a chain: taskcluster_root_url,
  -- cot_product and the overrides of chain:config, none of the worker's
  -- keys (no credentials, ids, directories, keys or script).
  local function write_config(chain, extra)
    local over = chain:config(fx)
    local cfg = {
      taskcluster_root_url = over.taskcluster_root_url,
      cot_product = over.cot_product,
      verify_cot_signature = over.verify_cot_signature,
      cot_input_urls = over.cot_input_urls,
      project_configuration_url = over.project_configuration_url,
      ed25519_public_keys = over.ed25519_public_keys,
      valid_artifact_rules = over.valid_artifact_rules,
      scriptworker_provisioners = over.scriptworker_provisioners,
    }
    cfg.cot_input_urls.github = fx:mirror_url() .. "/github"
    for k, v in pairs(extra or {}) do
      cfg[k] = v
    end
    counter = counter + 1
    local path = string.format("%s/config.%d.yaml", tmp, counter)
    assert(fs.write_file_atomic(path, assert(json.encode(cfg))))
    return path
  end

  -- Completes the root and gives it a chain-of-trust artifact signed with
  -- the scriptworker test key, as a scriptworker would have.
  local function complete_root(chain)
    local root = chain.root_rec
    fx:complete_task(root.id, { workerGroup = "proj-releng", workerId = "w-cli" })
    local body = json.object({
      artifacts = json.object({}),
      chainOfTrustVersion = 1,
      environment = json.object({}),
      runId = 0,
      task = root.def,
      taskId = root.id,
      workerGroup = "proj-releng",
      workerId = "w-cli",
      workerType = root.def.workerType,
    })
    local text = assert(json.encode(body, { canonical = true }))
    local seed = assert(support.read(cot_chain.KEY_DIR .. "/scriptworker_private_key")):gsub("%s", "")
    local sig = assert(sign.signer(assert(sign.b64decode(seed)))):sign(text)
    fx:put_artifact(root.id, 0, cot_chain.COT_NAME, text, { content_type = "application/json" })
    fx:put_artifact(root.id, 0, cot_chain.SIG_NAME, sig)
  end

  local valid, valid_config

  local function valid_chain()
    if not valid then
      valid = cot_chain.build({ shape = { generic_build = true } })
      valid:load(fx)
      valid_config = write_config(valid)
    end
    return valid, valid_config
  end

  it("exits 0 on a valid chain, printing the chain and the verdict (--no-check-task)", function()
    local chain, config = valid_chain()
    local code, out, err = verify_cot("--task-type", "signing", "--no-check-task", chain.root_task_id, config)
    assert.are.equal(0, code, out .. err)
    assert.matches("^signing " .. chain.root_task_id:gsub("%p", "%%%0") .. " %(signing on scriptworker%)\n", out)
    for _, rec in ipairs(chain:links()) do
      assert.truthy(out:find("\n  signing:[%w:%-]+ " .. rec.id:gsub("%p", "%%%0") .. " %(%S+ on " ..
        rec.impl:gsub("%p", "%%%0") .. "%)\n"), rec.key .. ": " .. out)
    end
    assert.truthy(out:find(string.format("\nchain of trust verified (%d links; policy digest %s)\n",
      #chain:links(), digest), 1, true), out)
    assert.truthy(err:find("Good.", 1, true))
  end)

  it("is also reachable as verify_cot", function()
    local chain, config = valid_chain()
    local code, out, err = run(nil, { VERIFY_COT, chain.root_task_id, "--task-type", "signing", "--no-check-task",
      config })
    assert.are.equal(0, code, out .. err)
    assert.truthy(out:find("chain of trust verified", 1, true))
  end)

  it("checks the root's own chain-of-trust artifact by default: fails while it has none", function()
    local chain, config = valid_chain()
    local code, out = verify_cot("--task-type", "signing", chain.root_task_id, config)
    assert.are.equal(1, code, out)
    assert.matches("chain of trust verification FAILED %(malformed%-payload%):\n", out)
    assert.truthy(out:find("signing " .. chain.root_task_id .. ": can't download public/chain-of-trust.json", 1,
      true), out)
  end)

  it("checks the root's own chain-of-trust artifact by default: passes once it is there", function()
    local chain = cot_chain.build({})
    chain:load(fx)
    complete_root(chain)
    local config = write_config(chain)
    local code, out, err = verify_cot("--task-type", "signing", chain.root_task_id, config)
    assert.are.equal(0, code, out .. err)
    assert.truthy(out:find("chain of trust verified", 1, true))
    assert.truthy(err:find("signing " .. chain.root_task_id .. ": signature verified with scriptworker key", 1, true),
      err)
  end)

  it("exits 1 on a tampered chain, printing the reason", function()
    local chain = cot_chain.build_tampered("artifact_bytes_changed")
    chain:load(fx)
    local code, out = verify_cot("--task-type", "signing", "--no-check-task", chain.root_task_id,
      write_config(chain))
    assert.are.equal(1, code, out)
    assert.truthy(out:find("chain of trust verification FAILED (malformed-payload):\nsigning:build " ..
      chain:task("build").id .. ": public/build/target.tar.gz: BAD HASH", 1, true), out)
  end)

  it("exits 1 for a task the Queue does not have", function()
    local _, config = valid_chain()
    local code, _, err = verify_cot("--task-type", "signing", "AAAAAAAAQAaAAAAAAAAAAA", config)
    assert.are.equal(1, code)
    assert.matches("verify%-cot: task AAAAAAAAQAaAAAAAAAAAAA: .*404", err)
  end)

  it("never prints the GitHub token of SCRIPTWORKER_GITHUB_OAUTH_TOKEN", function()
    local chain = cot_chain.build({ product = "mobile" })
    chain.root_rec.def.payload.upstreamArtifacts[1].paths[1] = "/" .. TOKEN
    chain:seal()
    chain:load(fx)
    local code, out, err = run({ SCRIPTWORKER_GITHUB_OAUTH_TOKEN = TOKEN }, { BIN, "verify-cot", "--task-type",
      "signing", "--no-check-task", chain.root_task_id, write_config(chain) })
    assert.are.equal(1, code, out .. err)
    assert.truthy(out:find("is an absolute path", 1, true), out)
    assert.is_nil(out:find(TOKEN, 1, true))
    assert.is_nil(err:find(TOKEN, 1, true))
  end)

  it("prints its usage with --help", function()
    local code, out, err = verify_cot("--help")
    assert.are.equal(0, code)
    assert.are.equal("", err)
    assert.matches("^usage: scriptworker verify%-cot %-%-task%-type TYPE TASKID", out)
    assert.truthy(out:find("--no-check-task", 1, true))
    assert.truthy(out:find("Exit status: 0 the chain holds, 1 it does not, 2 usage or configuration error.", 1,
      true))
  end)

  local USAGE = {
    { "no arguments", {}, "verify%-cot: %-%-task%-type is required" },
    { "no TASKID", { "--task-type", "signing" }, "verify%-cot: TASKID is required" },
    { "an unknown option", { "--task-type", "signing", "--frobnicate", "x" }, "unknown option %-%-frobnicate" },
    { "a bad taskId", { "--task-type", "signing", "not/a/task" }, "is not a taskId" },
    { "--task-type without a value", { "x", "--task-type" }, "%-%-task%-type needs a value" },
  }
  for _, c in ipairs(USAGE) do
    it("exits 2 on a usage error: " .. c[1], function()
      local code, out, err = verify_cot(table.unpack(c[2]))
      assert.are.equal(2, code)
      assert.are.equal("", out)
      assert.matches(c[3], err)
      assert.truthy(err:find("usage: scriptworker verify-cot", 1, true))
    end)
  end

  it("exits 2 on an unknown task type", function()
    local chain, config = valid_chain()
    local code, _, err = verify_cot("--task-type", "sining", chain.root_task_id, config)
    assert.are.equal(2, code)
    assert.matches("%-%-task%-type: \"sining\" is not a task type of", err)
  end)

  it("exits 2 on a missing or bad CONFIG", function()
    local chain = valid_chain()
    local code, _, err = verify_cot("--task-type", "signing", chain.root_task_id, tmp .. "/nope.yaml")
    assert.are.equal(2, code)
    assert.matches("nope%.yaml", err)
    code, _, err = verify_cot("--task-type", "signing", chain.root_task_id,
      write_config(chain, { cot_input_urls = { hg = "ftp://mirror" } }))
    assert.are.equal(2, code)
    assert.matches("cot_input_urls%.hg: expected an http%(s%) URL", err)
  end)
end)
