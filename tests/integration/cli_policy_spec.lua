-- `scriptworker policy check` of the real binary: the shipped folder, a
-- broken copy, a config's policy_dir, and usage errors.
local fs = require("sw.fs")
local policy = require("sw.policy")
local support = require("support")

local BIN = os.getenv("SW_BIN") or (support.root .. "/build/scriptworker")
local SHIPPED = support.root .. "/policies"

local function q(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- Runs the binary with the arguments in dir; returns code, stdout, stderr.
local function run(dir, ...)
  local parts = { q(BIN) }
  for _, a in ipairs({ ... }) do
    parts[#parts + 1] = q(a)
  end
  -- Outputs go to a folder of their own: dir may be the source tree.
  local outdir = support.tmpdir()
  local out, err = outdir .. "/stdout", outdir .. "/stderr"
  local _, _, code = os.execute(string.format("cd %s && %s >%s 2>%s", q(dir), table.concat(parts, " "), q(out),
    q(err)))
  return code, support.read(out), support.read(err)
end

describe("scriptworker policy check", function()
  local tmp, digest
  before_each(function()
    tmp = support.tmpdir()
    digest = assert(policy.load(SHIPPED)).digest
  end)

  it("checks the installed folder by default", function()
    local code, out, err = run(tmp, "policy", "check")
    assert.equal("", err)
    assert.equal(0, code)
    assert.matches("\ndigest: " .. digest .. "\n", out, 1, true)
    assert.matches("\ntask types (14): action balrog beetmover bouncer build decision docker-image l10n partials "
      .. "pushapk repackage scriptworker shipit signing\n", out, 1, true)
    assert.matches("\nworker implementations (3): docker-worker generic-worker scriptworker\n", out, 1, true)
    assert.matches("\nproducts (11): adhoc app-services enterprise firefox glean mobile mozillavpn scriptworker "
      .. "thunderbird translations xpi\n", out, 1, true)
    assert.matches("\nok\n$", out)
  end)

  it("checks the folder of --policy FILE and names the instance", function()
    local code, out = run(support.root, "policy", "check", "--policy", "policies/signing.lua")
    assert.equal(0, code)
    assert.matches("^policy folder: policies\n", out)
    assert.matches("\ninstance: signing (cot_job_type signing, cot_product from the config)\n", out, 1, true)
  end)

  it("refuses a --policy FILE that is not an instance policy", function()
    local code, out, err = run(support.root, "policy", "check", "--policy", "policies/products/firefox.lua")
    assert.equal(1, code)
    assert.equal("", out)
    assert.equal("policy: policies/products/firefox.lua: not an instance policy (instance policies sit directly "
      .. "in the policy folder, e.g. policies/signing.lua)\n", err)
    local _
    code, _, err = run(support.root, "policy", "check", "--policy", "policies/nope.lua")
    assert.equal(1, code)
    assert.matches("policies/nope.lua: not an instance policy of policies", err, 1, true)
  end)

  it("prints every error of a broken copy and exits 1", function()
    local dir = tmp .. "/policies"
    assert(os.execute("cp -R " .. q(SHIPPED) .. " " .. q(dir)))
    local p = dir .. "/products/firefox.lua"
    support.write(p, (support.read(p):gsub('source_env_prefix = "GECKO"', 'source_env_prefix = 7')))
    support.write(dir .. "/task_types/build.lua", "return { name = 'build', description = os.date() }")
    local code, out, err = run(tmp, "policy", "check", "--policy", dir .. "/signing.lua")
    assert.equal(1, code)
    assert.equal("", out)
    assert.equal("policy: " .. dir .. ": 2 errors\n"
      .. "policies/products/firefox.lua: source_env_prefix: expected a string, got 7\n"
      .. 'policies/task_types/build.lua: line 1: global "os" is not available to policies\n', err)
  end)

  it("uses a config's policy_dir", function()
    local dir = tmp .. "/mine"
    assert(os.execute("cp -R " .. q(SHIPPED) .. " " .. q(dir)))
    assert(fs.remove(dir .. "/balrog.lua"))
    support.write(tmp .. "/scriptworker.yaml", "policy_dir: " .. dir .. "\n")
    local code, out = run(tmp, "policy", "check", "scriptworker.yaml")
    assert.equal(0, code)
    assert.matches("\ninstance policies (6): beetmover bouncer pushapk scriptworker shipit signing\n", out, 1, true)
    assert.are_not.matches(digest, out, 1, true)
  end)

  it("leaves policies out of the binary's package.path", function()
    local code, out = run(tmp, "lua", "-e", "print(package.path) print((package.searchpath('signing', package.path)))")
    assert.equal(0, code)
    assert.matches("/lua/%?%.lua;", out)
    assert.is_nil(out:find("/policies/?.lua", 1, true))
    assert.matches("\nnil\n$", out)
  end)

  it("exits 2 on a usage error", function()
    local code, _, err = run(tmp, "policy", "verify")
    assert.equal(2, code)
    assert.matches("^policy: unknown subcommand verify\nusage: scriptworker policy check", err)
    code = run(tmp, "policy", "check", "--nope")
    assert.equal(2, code)
  end)
end)
