-- `scriptworker lua [--no-task] [-e CODE] [FILE [ARGS...]]`: runs Lua
-- inside the runtime with every sw.* module and a running event loop (the
-- code runs in a scheduler task, so http.request, sleep and the rest can
-- yield). With --no-task the code runs on the main thread, as in a plain
-- lua5.4, and calls sched.run itself: the sanitizer run uses it for the
-- specs about sched.run at the top level.
local M = {}

local function usage()
  io.stderr:write("usage: scriptworker lua [--no-task] [-e CODE] [FILE [ARGS...]]\n")
  return 2
end

function M.run(args)
  local chunks = {}
  local i = 1
  local in_task = true
  while i <= #args do
    local a = args[i]
    if a == "--no-task" then
      in_task = false
      i = i + 1
    elseif a == "-e" then
      if args[i + 1] == nil then
        return usage()
      end
      local code = args[i + 1]
      local fn, err = load(code, "=(command line)", "t")
      if not fn then
        io.stderr:write("scriptworker lua: ", err, "\n")
        return 2
      end
      chunks[#chunks + 1] = fn
      i = i + 2
    elseif a == "--" then
      i = i + 1
      break
    elseif a == "--help" or a == "-h" then
      io.stdout:write("usage: scriptworker lua [--no-task] [-e CODE] [FILE [ARGS...]]\n\n",
        "Runs CODE and FILE (with ARGS as arg) inside the worker's runtime: every\n",
        "sw.* module, in a scheduler task unless --no-task.\n")
      return 0
    elseif a:sub(1, 1) == "-" and a ~= "-" then
      return usage()
    else
      break
    end
  end
  local script = args[i]
  local script_args = { n = 0 }
  _G.arg = { [0] = script or "scriptworker lua" }
  if script then
    for j = i + 1, #args do
      _G.arg[j - i] = args[j]
      script_args[j - i] = args[j]
      script_args.n = j - i
    end
    local fn, err
    if script == "-" then
      fn, err = load(io.stdin:read("a"), "=stdin", "t")
    else
      fn, err = loadfile(script, "t")
    end
    if not fn then
      io.stderr:write("scriptworker lua: ", err, "\n")
      return 2
    end
    chunks[#chunks + 1] = function()
      return fn(table.unpack(script_args, 1, script_args.n))
    end
  end
  if #chunks == 0 then
    return usage()
  end
  -- os.exit(code, true) would close the Lua state under the running loop
  -- (busted does this); exit without closing instead.
  local real_exit = os.exit
  os.exit = function(code) -- luacheck: ignore 122
    io.stdout:flush()
    io.stderr:flush()
    real_exit(code, false)
  end
  local function all()
    for _, fn in ipairs(chunks) do
      fn()
    end
  end
  local ok, err
  if in_task then
    ok, err = pcall(require("sw.sched").run, all)
  else
    ok, err = xpcall(all, debug.traceback)
  end
  if not ok then
    io.stderr:write("scriptworker lua: ", tostring(err), "\n")
    return 1
  end
  return 0
end

return M
