-- lua/sw/reload.lua on a worker table (no Queue): a reload swaps set and
-- config only when everything loads, never changes the tables a running
-- task holds, debounces bursts of file events, and keeps a signing key
-- that does not load from replacing the old one.
local support = require("support")
local config_mod = require("sw.config")
local ed25519 = require("sw.ed25519")
local fs = require("sw.fs")
local json = require("sw.json")
local log = require("sw.log")
local reload = require("sw.reload")
local sched = require("sw.sched")

local BETA = "        [[^(?P<path>/releases/mozilla-(beta|release|esr\\d+))(/|$)]],\n"

local function replace(path, old, new)
  local text = support.read(path)
  local i, j = text:find(old, 1, true)
  assert(i, path .. ": no " .. old)
  support.write(path, text:sub(1, i - 1) .. new .. text:sub(j + 1))
end

-- Whether any trusted rule of the config has `path` among its regexes.
local function trusts(config, regex)
  for _, rule in ipairs(config.trusted_vcs_rules) do
    for _, r in ipairs(rule.path_regexes) do
      if r == regex then
        return true
      end
    end
  end
  return false
end

describe("sw.reload", function()
  local dir, policies, opts, w, old_level

  before_each(function()
    -- The reloads log their failures; the spec checks what they return.
    old_level = log.set_level("error")
    assert(log.set_output("/dev/null"))
    dir = support.tmpdir()
    policies = dir .. "/policies"
    assert(os.execute(string.format("cp -r '%s/policies' '%s'", support.root, policies)))
    assert(ed25519.write_key_pair(dir .. "/key", dir .. "/key.pub"))
    local cfg = {
      provisioner_id = "p", worker_type = "t", worker_group = "g", worker_id = "w",
      taskcluster_root_url = "http://127.0.0.1:9",
      credentials = { clientId = "c", accessToken = "reload-spec-token" },
      work_dir = dir .. "/work", artifact_dir = dir .. "/artifacts", task_log_dir = dir .. "/artifacts/public/logs",
      log_dir = dir .. "/log", task_script = { "/bin/true" }, cot_product = "firefox",
      sign_chain_of_trust = true, ed25519_private_key_path = dir .. "/key",
    }
    local path = dir .. "/config.json"
    support.write(path, assert(json.encode(cfg)))
    opts = { config_path = path, policy_file = policies .. "/signing.lua" }
    local config, _, info = config_mod.load_with_policy(path, { policy_file = opts.policy_file })
    assert(config, type(_) == "table" and table.concat(_, "\n"))
    w = { config = config, policy = info.policy, keys_from_config = info.keys_from_config }
    w.signer = assert(require("sw.worker").load_signer(config))
  end)

  after_each(function()
    log.set_level(old_level)
    log.set_output(nil)
    fs.rmtree(dir)
  end)

  it("swaps in a new set and config, leaving the old tables as they were", function()
    local old_policy, old_config = w.policy, w.config
    local regex = BETA:match("%[%[(.-)%]%]")
    assert.is_true(trusts(old_config, regex))
    replace(policies .. "/products/firefox.lua", BETA, "")
    assert.is_true(reload.reload_policy(w, opts, "test"))
    assert.are_not.equal(old_policy, w.policy)
    assert.are_not.equal(old_policy.digest, w.policy.digest)
    assert.are.equal("signing", w.policy.instance.name)
    assert.is_false(trusts(w.config, regex))
    -- What a running task holds is untouched.
    assert.is_true(trusts(old_config, regex))
    assert.is_true(old_policy.products.firefox.trusted_vcs_rules[1].path_regexes[3] == regex)
    -- Keys the reload does not take stay the worker's.
    assert.are.equal(old_config.work_dir, w.config.work_dir)
  end)

  it("keeps the old pair and returns every problem when the new set does not load", function()
    local old_policy, old_config = w.policy, w.config
    replace(policies .. "/products/firefox.lua", 'cot_product_type = "hg"', 'cot_product_type = "svn"')
    replace(policies .. "/signing.lua", 'cot_job_type = "signing"', 'cot_job_type = "nope"')
    local ok, msgs = reload.reload_policy(w, opts, "test")
    assert.is_nil(ok)
    assert.are.same({
      'policies/products/firefox.lua: cot_product_type: expected "hg" or "github", got "svn"',
      'policies/signing.lua: cot_job_type: no task type of that name in policies/task_types/, got "nope"',
    }, msgs)
    assert.are.equal(old_policy, w.policy)
    assert.are.equal(old_config, w.config)
  end)

  it("turns a burst of file events into few reloads that end on the final content", support.async(function()
    local r = reload.start(w, opts)
    local firefox = policies .. "/products/firefox.lua"
    local good = support.read(firefox)
    local t0 = sched.monotonic()
    for i = 1, 100 do
      support.write(firefox, good .. "-- write " .. i .. "\n")
      sched.sleep(0.005)
    end
    local took = sched.monotonic() - t0
    local final = require("sw.policy").digest(policies)
    local deadline = sched.monotonic() + 10
    while w.policy.digest ~= final and sched.monotonic() < deadline do
      sched.sleep(0.05)
    end
    sched.sleep(reload.DEBOUNCE + 0.3)
    r.close()
    assert.are.equal(final, w.policy.digest)
    assert.is_true(r.reloads >= 1 and r.reloads <= math.ceil(took / reload.MAX_DELAY) + 1,
      r.reloads .. " reloads for a burst of " .. took .. " s")
  end))

  it("keeps the signing key when the new one does not load", function()
    local old = w.signer
    support.write(dir .. "/key", "not a key\n")
    local ok, err = reload.reload_key(w)
    assert.is_nil(ok)
    assert.truthy(err:find("^ed25519_private_key_path: "), err)
    assert.are.equal(old, w.signer)
    os.remove(dir .. "/key")
    os.remove(dir .. "/key.pub")
    assert(ed25519.write_key_pair(dir .. "/key", dir .. "/key.pub"))
    assert.is_true(reload.reload_key(w))
    assert.are_not.equal(old, w.signer)
  end)
end)
