-- Shared helpers for specs: require("support").
local M = {}

-- Runs fn inside a scheduler task with the event loop running and returns
-- its results; errors inside fn fail the calling spec.
function M.async(fn)
  return function(...)
    return require("sw.sched").run(fn, ...)
  end
end

-- it(name, fn) for a case about sched.run at the top level. Under
-- `scriptworker lua` (make sanitize) the specs run inside a task, where
-- sched.run only calls its function; there the case runs in a child
-- process instead: the same binary with `lua --no-task`, busted on this
-- one case of spec_file, which must pass.
-- it is busted's (not a global of this module).
function M.top_it(it, spec_file, name, fn)
  if require("sw.sched").current() == nil then
    return it(name, fn)
  end
  it(name .. " (top level, in a child)", function()
    local bin = assert(os.getenv("SW_BIN"), "SW_BIN is not set")
    local pattern = name:gsub("%p", "%%%0") .. "$"
    local cmd = string.format(
      "LUA_PATH=%q LUA_CPATH=%q %q lua --no-task /usr/bin/busted --helper=tests/helper.lua "
        .. "--filter=%q %q 2>&1",
      package.path, package.cpath, bin, pattern, spec_file)
    local p = assert(io.popen(cmd))
    local out = p:read("a")
    local ok = p:close()
    assert(ok, out)
    assert(out:find("1 success / 0 failures / 0 errors / 0 pending", 1, true), out)
  end)
end

-- The repository root and the shared/ folder beside it.
M.root = os.getenv("PWD")
M.shared = os.getenv("SW_SHARED") or (M.root .. "/../shared")

function M.read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

function M.write(path, data)
  local f = assert(io.open(path, "wb"))
  assert(f:write(data))
  assert(f:close())
end

-- The names of a table's keys, sorted.
function M.sorted_keys(t)
  local keys = {}
  for k in pairs(t) do
    keys[#keys + 1] = k
  end
  table.sort(keys)
  return keys
end

-- A minimal valid task definition (a fresh table each call).
function M.task_definition()
  return require("sw.json").decode([[{
    "provisionerId": "p", "workerType": "w", "schedulerId": "s", "taskGroupId": "cGFyZW50LXRhc2staWQtMQ",
    "dependencies": [], "requires": "all-completed", "routes": [], "priority": "normal", "retries": 0,
    "created": "2026-01-01T00:00:00.000Z", "deadline": "2026-01-02T00:00:00.000Z",
    "expires": "2027-01-01T00:00:00.000Z", "scopes": [], "payload": {},
    "metadata": {"name": "n", "description": "d", "owner": "o@example.com", "source": "https://example.com/"},
    "tags": {}, "extra": {}
  }]])
end

function M.tmpdir()
  local p = os.tmpname()
  os.remove(p)
  assert(os.execute("mkdir -p '" .. p .. "'"))
  return p
end

return M
