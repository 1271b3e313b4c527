-- lua/sw/policy.lua: the sandbox, the budgets, the schemas and the checks
-- between files, on small folders written by each test, and the digest and
-- loading of the shipped policies/ folder.
local policy = require("sw.policy")
local fs = require("sw.fs")
local support = require("support")

local SHIPPED = support.root .. "/policies"

local KEY = "Kz/aZIVeR6NP8gQU1U+2CCIZqvbd+4QCP6J63lflwik="

-- The smallest valid set; tests replace or add files.
local function base_files()
  return {
    ["worker_impls/sw.lua"] = ([[
return {
  name = "sw", description = "d", keys = { %q },
  recognise = function() return true end,
  verify = function() return true end,
}]]):format(KEY),
    ["task_types/signing.lua"] = [[
return { name = "signing", description = "d", worker_impls = { "sw" } }]],
    ["task_types/decision.lua"] = [[
return { name = "decision", description = "d", worker_pools = "valid_decision_worker_pools", parent = true }]],
    ["products/firefox.lua"] = [==[
return {
  name = "firefox", description = "d", cot_product_type = "hg",
  valid_decision_worker_pools = { "gecko-3/decision" },
  trusted_vcs_rules = { { schemes = { "https" }, netlocs = { "hg.mozilla.org" },
    path_regexes = { [[^(?P<path>/mozilla-central)(/|$)]] } } },
  cot_restricted_scopes = { ["project:releng:signing:cert:nightly-signing"] = "nightly" },
  cot_restricted_trees = { nightly = { "/mozilla-central" } },
  prebuilt_docker_image_task_types = "any",
}]==],
    ["signing.lua"] = [[
return { name = "signing", description = "d", cot_job_type = "signing" }]],
  }
end

-- Writes files (rel -> text, false to leave one out) into a new folder
-- named "policies" and returns its path.
local function folder(changes)
  local files = base_files()
  for k, v in pairs(changes or {}) do
    files[k] = v or nil
  end
  local dir = support.tmpdir() .. "/policies"
  for rel, text in pairs(files) do
    local sub = (dir .. "/" .. rel):match("^(.*)/[^/]*$")
    assert(fs.mkdirp(sub))
    support.write(dir .. "/" .. rel, text)
  end
  return dir
end

local function errors_of(changes, opts)
  local set, errs = policy.load(folder(changes), opts)
  assert.is_nil(set)
  return errs
end

local function shell(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return out
end

describe("sw.policy", function()
  describe("the shipped folder", function()
    it("loads, with every kind", function()
      local set, errs = policy.load(SHIPPED)
      assert.is_nil(errs)
      local function count(t)
        local n = 0
        for _ in pairs(t) do
          n = n + 1
        end
        return n
      end
      assert.equal(14, count(set.task_types))
      assert.equal(3, count(set.worker_impls))
      assert.equal(11, count(set.products))
      assert.equal(7, count(set.instances))
      assert.equal(35, #set.files)
      assert.equal("policies/balrog.lua", set.files[1])
      assert.equal("policies/worker_impls/scriptworker.lua", set.files[#set.files])
      assert.equal(set.worker_impls["docker-worker"], set.policy_of["policies/worker_impls/docker-worker.lua"])
    end)

    it("has the digest the shell command prints", function()
      local out = shell("cd '" .. SHIPPED .. "' && LC_ALL=C find . -name '*.lua' | LC_ALL=C sort"
        .. " | xargs sha256sum | sha256sum")
      local expected = out:match("^(%x+)")
      assert.equal(64, #expected)
      assert.equal(expected, policy.load(SHIPPED).digest)
      assert.equal(expected, policy.digest(SHIPPED))
    end)

    it("loads from a copy of the folder on its own", function()
      local dir = support.tmpdir() .. "/copy"
      assert(os.execute("cp -R '" .. SHIPPED .. "' '" .. dir .. "'"))
      local set, errs = policy.load(dir)
      assert.is_nil(errs)
      assert.equal(policy.load(SHIPPED).digest, set.digest)
      assert.equal("copy/signing.lua", set.file_of[set.instances.signing])
      -- One edit changes the digest, as the shell command sees it.
      support.write(dir .. "/task_types/build.lua", support.read(dir .. "/task_types/build.lua") .. "\n")
      local changed = policy.load(dir)
      assert.are_not.equal(set.digest, changed.digest)
      local out = shell("cd '" .. dir .. "' && LC_ALL=C find . -name '*.lua' | LC_ALL=C sort"
        .. " | xargs sha256sum | sha256sum")
      assert.equal(out:match("^(%x+)"), changed.digest)
    end)

    it("is found beside lua/", function()
      assert.equal(fs.realpath(SHIPPED), fs.realpath(policy.default_dir()))
    end)
  end)

  describe("a small folder", function()
    it("loads", function()
      local set, errs = policy.load(folder())
      assert.is_nil(errs)
      assert.equal("signing", set.instances.signing.cot_job_type)
      assert.same({ "policies/products/firefox.lua", "policies/signing.lua", "policies/task_types/decision.lua",
        "policies/task_types/signing.lua", "policies/worker_impls/sw.lua" }, set.files)
    end)

    it("fails for a folder without task types, worker implementations or products", function()
      local errs = errors_of({ ["task_types/signing.lua"] = false, ["task_types/decision.lua"] = false,
        ["worker_impls/sw.lua"] = false, ["products/firefox.lua"] = false })
      assert.same({
        "policies/signing.lua: cot_job_type: no task type of that name in policies/task_types/, got \"signing\"",
        "policies: no product policy (expected policies/products/*.lua)",
        "policies: no task type policy (expected policies/task_types/*.lua)",
        "policies: no worker implementation policy (expected policies/worker_impls/*.lua)",
      }, errs)
    end)

    it("fails for a missing folder", function()
      local set, errs = policy.load("/nonexistent/policies")
      assert.is_nil(set)
      assert.same({ "/nonexistent/policies: cannot read the policy folder: No such file or directory" }, errs)
    end)
  end)

  describe("sandbox", function()
    local forbidden = { "io", "os", "load", "loadfile", "dofile", "require", "debug", "coroutine",
      "collectgarbage", "setmetatable", "getmetatable", "rawset", "rawget", "_G", "print", "xpcall" }
    for _, name in ipairs(forbidden) do
      it("refuses the global " .. name .. " at load time", function()
        local errs = errors_of({ ["task_types/build.lua"] = "\nlocal x = " .. name
          .. "\nreturn { name = 'build', description = 'd' }" })
        assert.same({ 'policies/task_types/build.lua: line 2: global "' .. name
          .. '" is not available to policies' }, errs)
      end)
    end

    it("refuses a forbidden global inside a policy function, naming the function", function()
      local set = assert(policy.load(folder({ ["task_types/build.lua"] = [[
return { name = "build", description = "d",
  verify = function()
    return os.exit(1)
  end }]] })))
      local ok, err, code = policy.call(set, "policies/task_types/build.lua", "verify", {}, {})
      assert.is_nil(ok)
      assert.equal('policies/task_types/build.lua: verify: policies/task_types/build.lua: line 3: '
        .. 'global "os" is not available to policies', err)
      assert.equal("error", code)
    end)

    it("refuses to set a global", function()
      local errs = errors_of({ ["task_types/build.lua"] = "x = 1\nreturn { name = 'build', description = 'd' }" })
      assert.same({ 'policies/task_types/build.lua: line 1: cannot set global "x" '
        .. "(policies use locals and return a table)" }, errs)
    end)

    it("gives read-only libraries without string.dump", function()
      local errs = errors_of({ ["task_types/build.lua"] = "string.upper = nil\nreturn {}" })
      assert.equal(1, #errs)
      assert.matches("^policies/task_types/build%.lua:1: string is read%-only %(cannot set string%.upper%)$",
        errs[1])
      local set = assert(policy.load(folder({ ["task_types/build.lua"] = [[
local dump = string.dump
local n = 0
for _ in pairs(string) do n = n + 1 end
return { name = "build", description = "d",
  verify = function() return dump == nil and n > 10, string.format("%05.1f", math.pi) end }]] })))
      assert.same({ true, "003.1" }, { policy.call(set, "policies/task_types/build.lua", "verify") })
    end)

    it("gives each file its own environment", function()
      local set = assert(policy.load(folder({
        ["task_types/build.lua"] = "return { name = 'build', description = 'd', verify = function() return null end }",
      })))
      assert.equal(require("sw.json").null, policy.call(set, set.task_types.build, "verify"))
    end)

    it("stops an endless loop at load time", function()
      local errs = errors_of({ ["task_types/build.lua"] = "while true do end" }, { budget = 100000 })
      assert.same({ "policies/task_types/build.lua: ran out of its instruction budget (100000 instructions)" },
        errs)
    end)

    it("stops a loop that swallows the kill with pcall", function()
      local errs = errors_of({ ["task_types/build.lua"] = [[
local n = 0
while true do
  pcall(function() while true do n = n + 1 end end)
end]] }, { budget = 100000 })
      assert.same({ "policies/task_types/build.lua: ran out of its instruction budget (100000 instructions)" },
        errs)
    end)

    -- busted runs stock Lua, whose allocator is not ours: this is the
    -- collectgarbage("count") fallback of the hook.
    it("stops an allocation loop at load time (stock Lua)", function()
      local errs = errors_of({ ["task_types/build.lua"] = [[
local t = {}
while true do t[#t + 1] = string.rep("x", 1000) .. #t end]] }, { memory = 4 * 1024 * 1024 })
      assert.same({ "policies/task_types/build.lua: ran out of its memory limit (4194304 bytes)" }, errs)
    end)

    -- The executable's counting allocator (core/sandbox.c) refuses the
    -- allocation itself: one huge string is stopped before it exists.
    for _, c in ipairs({
      { "an allocation loop", "local t = {} while true do t[#t + 1] = string.rep('x', 1000) .. #t end" },
      { "one huge allocation", "local s = string.rep('x', 1 << 30)" },
      { "an allocation loop that catches the memory error",
        "local t = {} while true do pcall(function() t[#t + 1] = string.rep('x', 1000) .. #t end) end" },
    }) do
      it("stops " .. c[1] .. " at load time (the executable)", function()
        local dir = folder({ ["task_types/build.lua"] = c[2] })
        local bin = os.getenv("SW_BIN") or (support.root .. "/build/scriptworker")
        local script = dir .. "/../check.lua"
        support.write(script, [[
local policy = require("sw.policy")
local sandbox = require("sw.sandbox")
local set, errs = policy.load("]] .. dir .. [[", { memory = 4 * 1024 * 1024 })
print(set, table.concat(errs or {}, "|"))
-- The limit is gone: the worker allocates freely afterwards.
local _, limit = sandbox.memory()
local t = {}
for i = 1, 200000 do t[i] = tostring(i) end
print("after", limit, #t)]])
        local out = shell(string.format("%s lua %s 2>&1", bin, script))
        assert.equal("nil\tpolicies/task_types/build.lua: ran out of its memory limit (4194304 bytes)\n"
          .. "after\t0\t200000\n", out)
      end)
    end

    it("reports a syntax error and a runtime error with their lines", function()
      local errs = errors_of({
        ["task_types/build.lua"] = "return {",
        ["task_types/l10n.lua"] = "\n\nerror('boom')",
      })
      assert.same({ "policies/task_types/build.lua:1: unexpected symbol near <eof>",
        "policies/task_types/l10n.lua:3: boom" }, errs)
    end)
  end)

  describe("safe_from (task_script_user must not be able to change the set)", function()
    local U = { uid = 54321, gid = 54321 }
    local function is_root()
      return shell("id -u"):match("^0") ~= nil
    end

    -- A folder "policies" inside a parent directory of mode 0755.
    local function setup_folder()
      local dir = folder()
      assert(fs.chmod(dir .. "/..", tonumber("755", 8)))
      return dir
    end

    it("accepts a folder only root can write to, under a sticky world-writable parent", function()
      local dir = setup_folder()
      assert.is_true(policy.safe_from(dir, U))
      assert(fs.chmod(dir .. "/..", tonumber("1777", 8)))
      assert.is_true(policy.safe_from(dir, U))
    end)

    it("names a file, a sub-folder or a parent the user could write to", function()
      local dir = setup_folder()
      local real = assert(fs.realpath(dir))
      assert(fs.chmod(dir .. "/products/firefox.lua", tonumber("666", 8)))
      local ok, where = policy.safe_from(dir, U)
      assert.is_nil(ok)
      assert.truthy(where:find(real .. "/products/firefox.lua (mode 0666, uid ", 1, true), where)
      assert(fs.chmod(dir .. "/products/firefox.lua", tonumber("644", 8)))

      assert(fs.chmod(dir .. "/task_types", tonumber("777", 8)))
      ok, where = policy.safe_from(dir, U)
      assert.is_nil(ok)
      assert.truthy(where:find(real .. "/task_types (mode 0777", 1, true), where)
      assert(fs.chmod(dir .. "/task_types", tonumber("755", 8)))

      -- Renaming the folder away through its parent.
      assert(fs.chmod(dir .. "/..", tonumber("777", 8)))
      ok, where = policy.safe_from(dir, U)
      assert.is_nil(ok)
      assert.truthy(where:find(real:match("^(.*)/[^/]*$") .. " (mode 0777", 1, true), where)
      assert(fs.chmod(dir .. "/..", tonumber("755", 8)))
      assert.is_true(policy.safe_from(dir, U))
    end)

    it("refuses what the user owns or can write through its group (needs root to chown)", function()
      if not is_root() then
        pending("needs root")
        return
      end
      local dir = setup_folder()
      assert(fs.chown(dir .. "/signing.lua", U.uid, 0))
      assert(fs.chmod(dir .. "/signing.lua", tonumber("444", 8)))
      local ok, where = policy.safe_from(dir, U)
      assert.is_nil(ok)
      assert.truthy(where:find("/signing.lua (mode 0444, uid 54321, gid 0)", 1, true), where)
      assert(fs.chown(dir .. "/signing.lua", 0, 0))
      assert(fs.chown(dir .. "/products", 0, U.gid))
      assert(fs.chmod(dir .. "/products", tonumber("775", 8)))
      ok, where = policy.safe_from(dir, U)
      assert.is_nil(ok)
      assert.truthy(where:find("/products (mode 0775, uid 0, gid 54321)", 1, true), where)
      -- Another group's write bit does not matter.
      assert(fs.chown(dir .. "/products", 0, 0))
      assert.is_true(policy.safe_from(dir, U))
    end)
  end)

  describe("policy.call", function()
    local set
    before_each(function()
      set = assert(policy.load(folder({ ["task_types/build.lua"] = [[
return { name = "build", description = "d",
  verify = function(link, ctx)
    if link.loop then
      while true do pcall(function() while true do end end) end
    end
    if link.raise then
      error("bad link " .. link.name)
    end
    return ctx.answer, "second"
  end }]] }), { call_budget = 50000 }))
    end)

    it("returns the function's results", function()
      assert.same({ 42, "second" },
        { policy.call(set, "policies/task_types/build.lua", "verify", {}, { answer = 42 }) })
      assert.same({ nil, "second" }, { policy.call(set, set.task_types.build, "verify", {}, {}) })
    end)

    it("turns an error into nil, message", function()
      local ok, err, code = policy.call(set, set.task_types.build, "verify", { raise = true, name = "x" }, {})
      assert.is_nil(ok)
      assert.equal("policies/task_types/build.lua: verify: policies/task_types/build.lua:7: bad link x", err)
      assert.equal("error", code)
    end)

    it("stops a runaway function, and the caller keeps running", function()
      local ok, err = policy.call(set, set.task_types.build, "verify", { loop = true }, {})
      assert.is_nil(ok)
      assert.equal("policies/task_types/build.lua: verify: ran out of its instruction budget (50000 instructions)",
        err)
      -- The hook is gone: this loop runs well past the budget.
      local n = 0
      for _ = 1, 200000 do
        n = n + 1
      end
      assert.equal(200000, n)
      assert.is_nil(debug.gethook())
    end)

    it("stops a function that allocates without end, and the caller keeps running", function()
      local mset = assert(policy.load(folder({ ["task_types/build.lua"] = [[
return { name = "build", description = "d",
  verify = function()
    local t = {}
    while true do t[#t + 1] = string.rep("y", 1000) .. #t end
  end }]] }), { call_memory = 4 * 1024 * 1024 }))
      local ok, err = policy.call(mset, mset.task_types.build, "verify", {}, {})
      assert.is_nil(ok)
      assert.equal("policies/task_types/build.lua: verify: ran out of its memory limit (4194304 bytes)", err)
      assert.is_nil(debug.gethook())
      local t = {}
      for i = 1, 100000 do
        t[i] = string.rep("z", 100)
      end
      assert.equal(100000, #t)
    end)

    it("puts the caller's hook back", function()
      local calls = 0
      local function mine()
        calls = calls + 1
      end
      debug.sethook(mine, "", 100000)
      policy.call(set, set.task_types.build, "verify", {}, {})
      local h = debug.gethook()
      debug.sethook()
      assert.equal(mine, h)
    end)

    it("raises for a file or function that is not in the set", function()
      assert.has_error(function()
        policy.call(set, "policies/nope.lua", "verify")
      end, 'policy.call: "policies/nope.lua" is not a policy of this set')
      assert.has_error(function()
        policy.call(set, set.task_types.build, "recognise")
      end, 'policy.call: policies/task_types/build.lua: "recognise" is not a function')
    end)
  end)

  describe("schemas", function()
    local cases = {
      { "a file that returns no table", { ["task_types/build.lua"] = "return 42" },
        "policies/task_types/build.lua: expected the file to return a table, got 42" },
      { "a name that is not the basename",
        { ["task_types/build.lua"] = "return { name = 'buidl', description = 'd' }" },
        'policies/task_types/build.lua: name: must equal the file\'s basename "build", got "buidl"' },
      { "a missing required field", { ["task_types/build.lua"] = "return { name = 'build' }" },
        "policies/task_types/build.lua: description: required field missing" },
      { "an unknown field", { ["task_types/build.lua"] =
          "return { name = 'build', description = 'd', worker_impl = { 'sw' } }" },
        "policies/task_types/build.lua: worker_impl: unknown field" },
      { "a wrong type", { ["task_types/build.lua"] = "return { name = 'build', description = 'd', parent = 'yes' }" },
        'policies/task_types/build.lua: parent: expected a boolean, got "yes"' },
      { "a list with a hole", { ["task_types/build.lua"] =
          "return { name = 'build', description = 'd', artifacts = { [1] = 'a', [3] = 'c' } }" },
        "policies/task_types/build.lua: artifacts: expected a list, but item 2 is missing, got a table" },
      { "a list item of the wrong type", { ["task_types/build.lua"] =
          "return { name = 'build', description = 'd', artifacts = { 'a', 7 } }" },
        "policies/task_types/build.lua: artifacts[2]: expected a string, got 7" },
      { "a verify that is not a function", { ["task_types/build.lua"] =
          "return { name = 'build', description = 'd', verify = true }" },
        "policies/task_types/build.lua: verify: expected a function, got true" },
      { "a worker impl without recognise", { ["worker_impls/sw.lua"] = ([[
return { name = "sw", description = "d", keys = { %q }, verify = function() end }]]):format(KEY) },
        "policies/worker_impls/sw.lua: recognise: required field missing" },
      { "a global that is not there", { ["worker_impls/sw.lua"] = [[
return { name = "sw", description = "d", keys = { "not base64!" }, recognise = print, verify = print }]] },
        'policies/worker_impls/sw.lua: line 1: global "print" is not available to policies' },
      { "a key that is not base64", { ["worker_impls/sw.lua"] = [[
local f = function() end
return { name = "sw", description = "d", keys = { "not base64!" }, recognise = f, verify = f }]] },
        "policies/worker_impls/sw.lua: keys[1]: not base64 (b64decode: invalid base64 at byte 11), "
          .. 'got "not base64!"' },
      { "a key of the wrong length", { ["worker_impls/sw.lua"] = [[
local f = function() end
return { name = "sw", description = "d", keys = { "AAAA" }, recognise = f, verify = f }]] },
        "policies/worker_impls/sw.lua: keys[1]: not an ed25519 public key (decodes to 3 bytes, expected 32), "
          .. 'got "AAAA"' },
      { "an unknown product type", { ["products/firefox.lua"] =
          "return { name = 'firefox', description = 'd', cot_product_type = 'svn' }" },
        'policies/products/firefox.lua: cot_product_type: expected "hg" or "github", got "svn"' },
      { "a prebuilt list that is neither a list nor any", { ["products/firefox.lua"] =
          "return { name = 'firefox', description = 'd', prebuilt_docker_image_task_types = 'all' }" },
        'policies/products/firefox.lua: prebuilt_docker_image_task_types: expected a list of task types or "any", '
          .. 'got "all"' },
      { "a regex that does not compile", { ["products/firefox.lua"] = [==[
return { name = "firefox", description = "d", trusted_vcs_rules = {
  { schemes = { "https" }, netlocs = { "hg.mozilla.org" }, path_regexes = { "^/ok(?P<path>)", [[^(?P<path>/a]] } },
} }]==] },
        "policies/products/firefox.lua: trusted_vcs_rules[1].path_regexes[2]: does not compile "
          .. '(offset 12: missing closing parenthesis), got "^(?P<path>/a"' },
      { "a regex without a path group", { ["products/firefox.lua"] = [==[
return { name = "firefox", description = "d", trusted_vcs_rules = {
  { schemes = { "https" }, netlocs = { "hg.mozilla.org" }, path_regexes = { [[^(?P<repo>/a)]] } },
} }]==] },
        "policies/products/firefox.lua: trusted_vcs_rules[1].path_regexes[1]: has no (?P<path>...) group, "
          .. 'which names the repository path, got "^(?P<repo>/a)"' },
      { "a rule without netlocs", { ["products/firefox.lua"] = [==[
return { name = "firefox", description = "d", trusted_vcs_rules = {
  { schemes = { "https" }, path_regexes = { [[^(?P<path>/a)]] } },
} }]==] },
        "policies/products/firefox.lua: trusted_vcs_rules[1].netlocs: required field missing" },
      { "a tree list with a number", { ["products/firefox.lua"] = [==[
return { name = "firefox", description = "d", cot_restricted_trees = { nightly = { "/mozilla-central", 3 } } }]==] },
        "policies/products/firefox.lua: cot_restricted_trees.nightly[2]: expected a string, got 3" },
      { "a restricted scope whose level has no trees", { ["products/firefox.lua"] = [==[
return { name = "firefox", description = "d", cot_restricted_scopes = { ["project:x"] = "nightly" },
  cot_restricted_trees = { beta = { "/releases/mozilla-beta" } } }]==] },
        'policies/products/firefox.lua: cot_restricted_scopes["project:x"]: no such level in cot_restricted_trees, '
          .. 'got "nightly"' },
      { "a file outside the layout", { ["extra/thing.lua"] = "return {}" },
        "policies/extra/thing.lua: not a policy location (policy files live in task_types/, worker_impls/, "
          .. "products/ or directly in the folder)" },
      { "an instance without cot_job_type", { ["signing.lua"] = "return { name = 'signing', description = 'd' }" },
        "policies/signing.lua: cot_job_type: required field missing" },
    }
    for _, c in ipairs(cases) do
      it("names the file and the field for " .. c[1], function()
        assert.same({ c[3] }, errors_of(c[2]))
      end)
    end

    it("reports two errors of a record field and keeps going", function()
      local errs = errors_of({ ["products/firefox.lua"] = [==[
return { name = "firefox", description = "d", trusted_vcs_rules = {
  { schemes = { "https" }, path_regexes = { [[^(?P<path>/a)]] }, require_secret = "yes", extra = 1 },
} }]==] })
      assert.same({
        "policies/products/firefox.lua: trusted_vcs_rules[1].extra: unknown field",
        "policies/products/firefox.lua: trusted_vcs_rules[1].netlocs: required field missing",
        'policies/products/firefox.lua: trusted_vcs_rules[1].require_secret: expected a boolean, got "yes"',
      }, errs)
    end)
  end)

  describe("references between files", function()
    it("checks worker impls, pools, job types and products", function()
      local errs = errors_of({
        ["task_types/signing.lua"] = "return { name = 'signing', description = 'd', worker_impls = { 'sw', 'gw' } }",
        ["task_types/decision.lua"] = "return { name = 'decision', description = 'd', worker_pools = 'pools' }",
        ["signing.lua"] = "return { name = 'signing', description = 'd', cot_job_type = 'signin', cot_product = 'ff' }",
        ["balrog.lua"] = "return { name = 'balrog', description = 'd', cot_job_type = 'signing' }",
      })
      assert.same({
        "policies/signing.lua: cot_job_type: no task type of that name in policies/task_types/, got \"signin\"",
        "policies/signing.lua: cot_product: no product of that name in policies/products/, got \"ff\"",
        "policies/task_types/decision.lua: worker_pools: expected a pool field of the products "
          .. "(valid_decision_worker_pools or valid_docker_image_worker_pools), got \"pools\"",
        "policies/task_types/signing.lua: worker_impls[2]: no worker implementation of that name in "
          .. "policies/worker_impls/, got \"gw\"",
      }, errs)
    end)

    it("collects the errors of every file, sorted", function()
      local errs = errors_of({
        ["task_types/build.lua"] = "return { name = 'build', description = 1 }",
        ["products/firefox.lua"] = "return { name = 'firefox', description = 'd', valid_tasks_for = 'cron' }",
        ["worker_impls/sw.lua"] = "return nil",
        ["task_types/signing.lua"] = "return { name = 'signing', description = 'd', worker_impls = { 'sw', 'gw' } }",
      })
      -- sw.lua is broken but there: only the reference to gw is reported.
      assert.same({
        "policies/products/firefox.lua: valid_tasks_for: expected a list, got \"cron\"",
        "policies/task_types/build.lua: description: expected a string, got 1",
        "policies/task_types/signing.lua: worker_impls[2]: no worker implementation of that name in "
          .. "policies/worker_impls/, got \"gw\"",
        "policies/worker_impls/sw.lua: expected the file to return a table, got nil",
      }, errs)
    end)
  end)
end)
