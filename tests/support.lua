-- Shared helpers for specs: require("support").
local M = {}

-- Runs fn inside a scheduler task with the event loop running and returns
-- its results; errors inside fn fail the calling spec.
function M.async(fn)
  return function(...)
    return require("sw.sched").run(fn, ...)
  end
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

function M.tmpdir()
  local p = os.tmpname()
  os.remove(p)
  assert(os.execute("mkdir -p '" .. p .. "'"))
  return p
end

return M
