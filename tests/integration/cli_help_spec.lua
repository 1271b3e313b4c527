-- `scriptworker --help` describes only what the build has: every command it
-- lists runs and answers its own --help, and every signal it lists is one
-- the worker installs a handler for.
local support = require("support")

local BIN = os.getenv("SW_BIN") or (support.root .. "/build/scriptworker")

local function q(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function run(...)
  local dir = support.tmpdir()
  local parts = { q(BIN) }
  for _, a in ipairs({ ... }) do
    parts[#parts + 1] = q(a)
  end
  local out, err = dir .. "/.stdout", dir .. "/.stderr"
  local _, _, code = os.execute(string.format("cd %s && %s >%s 2>%s </dev/null", q(dir),
    table.concat(parts, " "), q(out), q(err)))
  local o, e = support.read(out), support.read(err)
  os.execute("rm -rf " .. q(dir))
  return code, o, e
end

local function help_text()
  local code, out = run("--help")
  assert.are.equal(0, code)
  return out
end

-- The commands of the usage lines: "scriptworker NAME ..." where NAME is a
-- word (not an option, not CONFIG).
local function listed_commands(text)
  local cmds = {}
  for line in text:gmatch("[^\n]+") do
    local name = (line:match("^usage:") or line:match("^%s")) and line:match("scriptworker ([%l][%w%-]+)")
    if name then
      cmds[#cmds + 1] = name
    end
  end
  return cmds
end

local function listed_signals(text)
  local section = assert(text:match("\nSignals[^\n]*\n(.*)$"), "no Signals section in --help")
  local sigs = {}
  for line in section:gmatch("[^\n]+") do
    local names = line:match("^  (SIG[%u%d, ]+)")
    for s in (names or ""):gmatch("SIG%u[%u%d]*") do
      sigs[#sigs + 1] = s
    end
  end
  return sigs
end

-- The signals lua/sw installs handlers for, read from the sources the
-- binary runs.
local function handled_signals()
  local found = {}
  local p = assert(io.popen("grep -rhoE 'on_signal\\(\"SIG[A-Z0-9]+\"' " .. q(support.root .. "/lua/sw")))
  for s in p:read("a"):gmatch("SIG[%u%d]+") do
    found[s] = true
  end
  p:close()
  return found
end

describe("scriptworker --help", function()
  it("lists commands that each exist and answer --help", function()
    local cmds = listed_commands(help_text())
    assert.is_true(#cmds >= 7, "expected the usage lines to list the commands, got " .. #cmds)
    for _, cmd in ipairs(cmds) do
      local code, out, err = run(cmd, "--help")
      assert.are.equal(0, code, cmd .. " --help exited " .. tostring(code) .. ": " .. err)
      assert.truthy(out:find("^usage: scriptworker " .. cmd:gsub("%-", "%%-")),
        cmd .. " --help printed: " .. out .. err)
    end
  end)

  it("lists only signals the worker handles", function()
    local sigs = listed_signals(help_text())
    local handled = handled_signals()
    assert.is_true(#sigs >= 4, "expected at least four signals in --help")
    for _, s in ipairs(sigs) do
      assert.is_true(handled[s] == true, s .. " is in --help but no handler is installed")
    end
    for s in pairs(handled) do
      local listed = false
      for _, l in ipairs(sigs) do
        listed = listed or l == s
      end
      assert.is_true(listed, s .. " has a handler but --help does not say what it does")
    end
  end)

  it("an unknown option is refused with the usage, exit 2", function()
    local code, _, err = run("--frob")
    assert.are.equal(2, code)
    assert.truthy(err:find("usage: scriptworker", 1, true))
  end)
end)
