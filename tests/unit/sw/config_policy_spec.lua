-- sw.config over a policy set: product data and keys come from policies/,
-- only keys the file sets override them, the instance policy says what the
-- worker is, and verify-cot's configs need no worker keys.
local fs = require("sw.fs")
local json = require("sw.json")
local support = require("support")
local config_mod = require("sw.config")

local POLICIES = support.root .. "/policies"

local function write(path, text)
  assert(fs.write_file_atomic(path, text, tonumber("600", 8)))
end

-- A worker config (JSON is YAML) with `extra` merged in.
local function worker_config(dir, extra)
  local c = {
    provisioner_id = "p", worker_group = "g", worker_type = "t", worker_id = "w",
    taskcluster_root_url = "https://tc.example.com",
    credentials = { clientId = "c", accessToken = "secret-token-value" },
    work_dir = dir .. "/work", artifact_dir = dir .. "/art", task_log_dir = dir .. "/art/public/logs",
    log_dir = dir .. "/log", ed25519_private_key_path = dir .. "/key",
    task_script = json.array({ "true" }), cot_product = "firefox",
  }
  for k, v in pairs(extra or {}) do
    c[k] = v
  end
  local path = dir .. "/c.yaml"
  write(path, assert(json.encode(c)))
  return path
end

-- A copy of the shipped policies to edit.
local function policy_copy()
  local dir = support.tmpdir()
  assert(os.execute(string.format("cp -R '%s' '%s/policies'", POLICIES, dir)))
  return dir .. "/policies"
end

describe("sw.config with policies", function()
  it("takes product data and keys from the policy set", function()
    local dir = support.tmpdir()
    local config, creds, info = config_mod.load_with_policy(worker_config(dir), {})
    assert.is_table(config, creds and table.concat(creds, "\n"))
    assert.equals("hg", config.cot_product_type)
    assert.equals("GECKO", config.source_env_prefix)
    assert.is_true(#config.trusted_vcs_rules > 0)
    assert.same({}, info.overrides)
    assert.is_false(info.keys_from_config)
    local set = info.policy
    assert.same(set.worker_impls["docker-worker"].keys, config.ed25519_public_keys["docker-worker"])
  end)

  it("lets a product defined only by a policy file load", function()
    local pdir = policy_copy()
    local text = assert(fs.read_file(pdir .. "/products/firefox.lua"))
    text = text:gsub('name = "firefox"', 'name = "newproduct"'):gsub('"GECKO"', '"NEWP"')
    write(pdir .. "/products/newproduct.lua", text)
    local dir = support.tmpdir()
    local config, errs = config_mod.load_with_policy(
      worker_config(dir, { cot_product = "newproduct", policy_dir = pdir }), {})
    assert.is_table(config, errs and table.concat(errs, "\n"))
    assert.equals("NEWP", config.source_env_prefix)
  end)

  it("refuses a product with no policy file, naming the file and the folder", function()
    local dir = support.tmpdir()
    local path = worker_config(dir, { cot_product = "nosuchproduct" })
    local config, errs = config_mod.load_with_policy(path, {})
    assert.is_nil(config)
    local text = table.concat(errs, "\n")
    assert.matches("cot_product: \"nosuchproduct\" has no product policy", text, 1, true)
    assert.matches(path, text, 1, true)
    -- One "Product ... not specified" line per key, sorted.
    local lines = {}
    for _, e in ipairs(errs) do
      if e:find("Product nosuchproduct not specified for key", 1, true) then
        lines[#lines + 1] = e
      end
    end
    assert.equals(10, #lines)
    local sorted = { table.unpack(lines) }
    table.sort(sorted)
    assert.same(sorted, lines)
  end)

  it("lets only keys the file sets override the policy, and says which", function()
    local dir = support.tmpdir()
    local rules = json.array({ json.object({ schemes = json.array({ "https" }),
      netlocs = json.array({ "hg.example.com" }), path_regexes = json.array({ "^(?P<path>/x)$" }) }) })
    local config, errs, info = config_mod.load_with_policy(worker_config(dir, {
      trusted_vcs_rules = rules,
      valid_tasks_for = json.object({ ["by-cot-product"] = json.object({ firefox = json.array({ "cron" }) }) }),
      ed25519_public_keys = json.object({ scriptworker = json.array({}) }),
    }), {})
    assert.is_table(config, errs and table.concat(errs, "\n"))
    assert.equals("hg.example.com", config.trusted_vcs_rules[1].netlocs[1])
    assert.same({ "cron" }, config.valid_tasks_for)
    assert.same({ "ed25519_public_keys", "trusted_vcs_rules", "valid_tasks_for" }, info.overrides)
    assert.is_true(info.keys_from_config)
    -- A key it does not set keeps the policy's value.
    assert.equals("GECKO", config.source_env_prefix)
  end)

  it("lets the instance policy of --policy win over the file's cot_job_type", function()
    local dir = support.tmpdir()
    local config, errs, info = config_mod.load_with_policy(worker_config(dir, { cot_job_type = "beetmover" }),
      { policy_file = POLICIES .. "/signing.lua" })
    assert.is_table(config, errs and table.concat(errs, "\n"))
    assert.equals("signing", config.cot_job_type)
    assert.equals("signing", info.policy.instance.name)
    assert.matches("sets cot_job_type to \"signing\"; the config's \"beetmover\" is not used", info.notes[1], 1, true)
  end)

  it("picks the instance policy the config's cot_job_type names without --policy", function()
    local dir = support.tmpdir()
    local config, errs, info = config_mod.load_with_policy(worker_config(dir, { cot_job_type = "balrog" }), {})
    assert.is_table(config, errs and table.concat(errs, "\n"))
    assert.equals("balrog", info.policy.instance.name)
  end)

  it("refuses a --policy that is not an instance policy of its folder", function()
    local dir = support.tmpdir()
    local config, errs = config_mod.load_with_policy(worker_config(dir),
      { policy_file = POLICIES .. "/nosuch.lua" })
    assert.is_nil(config)
    assert.matches("No such file", errs[1], 1, true)
  end)

  it("reports policy errors through load_with_policy", function()
    local pdir = policy_copy()
    write(pdir .. "/products/firefox.lua", "return { name = 'firefox', cot_product_type = 5 }")
    local dir = support.tmpdir()
    local config, errs = config_mod.load_with_policy(worker_config(dir, { policy_dir = pdir }), {})
    assert.is_nil(config)
    assert.matches("products/firefox.lua", table.concat(errs, "\n"), 1, true)
  end)

  it("loads a verify-only config with nothing but the root URL and the product", function()
    local dir = support.tmpdir()
    local path = dir .. "/v.yaml"
    write(path, "taskcluster_root_url: https://tc.example.com\ncot_product: mobile\n")
    local config, creds, info = config_mod.load_with_policy(path, { verify_only = true, env = function() end })
    assert.is_table(config, type(creds) == "table" and table.concat(creds, "\n") or nil)
    assert.is_nil(creds)
    assert.equals("github", config.cot_product_type)
    assert.is_table(info.policy)
    -- The same file is not enough for the worker.
    local wconfig, errs = config_mod.load_with_policy(path, { env = function() end })
    assert.is_nil(wconfig)
    assert.matches("credentials", table.concat(errs, "\n"), 1, true)
  end)

  it("checks cot_input_urls", function()
    local dir = support.tmpdir()
    local config, errs = config_mod.load_with_policy(worker_config(dir, {
      cot_input_urls = json.object({ hg = "ftp://x", nope = "http://x" }) }), {})
    assert.is_nil(config)
    local text = table.concat(errs, "\n")
    assert.matches("cot_input_urls.hg: expected an http(s) URL", text, 1, true)
    assert.matches("cot_input_urls: unknown key \"nope\"", text, 1, true)
    config, errs = config_mod.load_with_policy(worker_config(dir, {
      cot_input_urls = json.object({ hg = "http://mirror.example/hg" }) }), {})
    assert.is_table(config, errs and table.concat(errs, "\n"))
  end)
end)
