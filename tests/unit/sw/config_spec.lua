-- sw.config against the Python worker's behaviour where a deployment
-- depends on it: where SCRIPTWORKER_WORKER_ID applies, and where
-- ./secrets.json is looked for.
local config = require("sw.config")
local json = require("sw.json")
local support = require("support")

-- A minimal valid config (JSON is YAML) in a fresh directory, with
-- `overrides` applied (a key set to json.null is removed).
local function write_config(dir, overrides)
  local cfg = {
    worker_id = "from-config",
    credentials = { clientId = "client", accessToken = "token-123456" },
    work_dir = dir .. "/work",
    artifact_dir = dir .. "/artifacts",
    task_log_dir = dir .. "/artifacts/public/logs",
    log_dir = dir .. "/log",
    task_script = json.array({ "/bin/true" }),
    ed25519_private_key_path = dir .. "/key",
    sign_chain_of_trust = false,
  }
  for k, v in pairs(overrides or {}) do
    cfg[k] = v ~= json.null and v or nil
  end
  local path = dir .. "/scriptworker.yaml"
  support.write(path, assert(json.encode(cfg)))
  return path
end

local function env_of(vars)
  return function(k)
    return vars[k]
  end
end

describe("sw.config", function()
  local dir

  before_each(function()
    dir = support.tmpdir()
  end)

  after_each(function()
    os.execute("rm -rf '" .. dir .. "'")
  end)

  describe("SCRIPTWORKER_WORKER_ID", function()
    it("does not replace the config's worker_id (the Python default only)", function()
      local c, err = config.load(write_config(dir), { env = env_of({ SCRIPTWORKER_WORKER_ID = "from-env" }) })
      assert.is_table(c, err and table.concat(err, "\n"))
      assert.are.equal("from-config", c.worker_id)
    end)

    it("is the worker_id when the config has none", function()
      local c, err = config.load(write_config(dir, { worker_id = json.null }),
        { env = env_of({ SCRIPTWORKER_WORKER_ID = "from-env" }) })
      assert.is_table(c, err and table.concat(err, "\n"))
      assert.are.equal("from-env", c.worker_id)
    end)
  end)

  it("refuses a log_fmt Python's logging would fail on", function()
    local path = write_config(dir, { log_fmt = "%(asctime)s %(nosuch)s" })
    local c, err = config.load(path, { env = env_of({}) })
    assert.is_nil(c)
    assert.are.same({ path .. ': log_fmt: unknown field %(nosuch), got "%(asctime)s %(nosuch)s"' }, err)
  end)

  it("words errors for a user: no internal function names", function()
    assert.are.equal("a.yaml: No such file or directory",
      config.user_message("fs.read_file: a.yaml: No such file or directory"))
    assert.are.equal("No such file or directory",
      config.user_message("fs.read_file: a.yaml: No such file or directory", "a.yaml"))
    assert.are.equal("bob: no such user", config.user_message("proc.user: bob: no such user"))
    assert.are.equal("a.b c: kept", config.user_message("a.b c: kept"))
    assert.are.equal("x.json: line 1 column 2 (byte 1): unexpected end of input",
      config.user_message("json: x.json: line 1 column 2 (byte 1): unexpected end of input"))
    assert.are.equal("other: kept", config.user_message("other: kept"))
    local c, err = config.load(dir .. "/none.yaml", { env = env_of({}) })
    assert.is_nil(c)
    assert.are.same({ dir .. "/none.yaml: cannot read the config: No such file or directory" }, err)
  end)

  it("says once, in order and naming the file, that a product is missing from a key", function()
    local path = write_config(dir, {
      cot_product = "firefox",
      valid_tasks_for = { ["by-cot-product"] = { mobile = { "a" } } },
      source_env_prefix = { ["by-cot-product"] = { mobile = "x" } },
      cot_restricted_trees = { ["by-cot-product"] = { mobile = {} } },
    })
    local c, err = config.load(path, { env = env_of({}) })
    assert.is_nil(c)
    assert.are.same({
      path .. ": Product firefox not specified for key cot_restricted_trees",
      path .. ": Product firefox not specified for key source_env_prefix",
      path .. ": Product firefox not specified for key valid_tasks_for",
    }, err)
  end)

  describe("a config shaped like Mozilla's Kubernetes deployments", function()
    -- The keys and values a scriptworker-scripts deployment sets (as facts:
    -- its start-up renders one such file per pool), written here for the
    -- three pools below; credentials and ids are placeholders.
    local function deployment(name, product, sign)
      local path = support.tmpdir() .. "/" .. name .. ".json"
      local text, err = require("sw.json").encode({
        artifact_dir = "/app/artifacts", artifact_upload_timeout = 1200, cot_job_type = "scriptworker",
        cot_product = product, credentials = { clientId = "project/releng/scriptworker/v2/" .. name,
          accessToken = "not-a-real-access-token" },
        ed25519_private_key_path = "/app/configs/ed25519_privkey", github_oauth_token = "",
        log_dir = "/app/logs", provisioner_id = "scriptworker-k8s",
        scriptworker_provisioners = { "scriptworker-k8s", "scriptworker-prov-v1" },
        sign_chain_of_trust = sign, task_log_dir = "/app/artifacts/public/logs", task_max_timeout = 3600,
        task_script = { "/app/bin/script", "/app/configs/script_config.json" },
        taskcluster_root_url = "https://firefox-ci-tc.services.mozilla.com", verbose = true,
        verify_chain_of_trust = true, verify_cot_signature = sign, watch_log_file = true,
        work_dir = "/app/workdir", worker_group = name, worker_id = name .. "-0", worker_type = name,
      })
      assert(text, err)
      local f = assert(io.open(path, "wb"))
      f:write(text)
      assert(f:close())
      return path
    end
    local cases = {
      ["gecko-3-signing"] = { product = "firefox", sign = true, verify_sig = true },
      ["mobile-1-beetmover-dev"] = { product = "mobile", sign = false, verify_sig = false },
      ["comm-3-shipit"] = { product = "thunderbird", sign = true, verify_sig = true },
    }
    for name, want in pairs(cases) do
      it("loads " .. name .. " with its policy set", function()
        local path = deployment(name, want.product, want.sign)
        local c, creds, info = config.load_with_policy(path, { env = env_of({}) })
        assert.is_table(c, type(creds) == "table" and table.concat(creds, "\n") or nil)
        assert.are.same({
          name, "scriptworker-k8s", want.product, "scriptworker", true, true, want.sign, want.verify_sig,
          "/app/logs", "/app/logs/state", true, "%(asctime)s %(levelname)8s - %(message)s",
        }, {
          c.worker_type, c.provisioner_id, c.cot_product, c.cot_job_type, c.verbose, c.verify_chain_of_trust,
          c.sign_chain_of_trust, c.verify_cot_signature, c.log_dir, c.state_dir, c.watch_log_file, c.log_fmt,
        })
        assert.are.equal("project/releng/scriptworker/v2/" .. name, creds.clientId)
        assert.are.equal("scriptworker", info.policy.instance and info.policy.instance.name)
      end)
    end
  end)
end)
