local log = require("sw.log")
local sched = require("sw.sched")
local support = require("support")

-- Sends the sink to a temp file for the duration of fn and returns what
-- was written.
local function capture(fn)
  local path = os.tmpname()
  assert(log.set_output(path))
  local ok, err = pcall(fn)
  log.set_output(nil)
  local text = support.read(path)
  os.remove(path)
  assert(ok, err)
  return text
end

describe("sw.log", function()
  local saved
  before_each(function()
    saved = log.set_level("info")
  end)
  after_each(function()
    log.set_level(saved)
  end)

  it("writes one line per event with a UTC timestamp and the level", function()
    local out = capture(function()
      log.info("hello world")
      log.error("bad")
    end)
    local lines = {}
    for l in out:gmatch("[^\n]+") do
      lines[#lines + 1] = l
    end
    assert.are.equal(2, #lines)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ INFO hello world$", lines[1])
    assert.matches(" ERROR bad$", lines[2])
  end)

  it("appends sorted key=value fields, quoting when needed", function()
    local out = capture(function()
      log.info("upload", { name = "public/a b.txt", size = 12, attempt = 2, empty = "" })
    end)
    assert.matches(' INFO upload attempt=2 empty="" name="public/a b.txt" size=12\n$', out)
  end)

  it("keeps fields longer than a line buffer intact", function()
    -- Fields used to be added while the line's luaL_Buffer was not on top
    -- of the stack: past 1 KiB the buffer moved to the wrong slot and
    -- wrote to freed memory (a crash).
    local long = string.rep("x", 3000)
    local quoted = 'say "' .. string.rep("y", 2000) .. '"'
    local out = capture(function()
      for _ = 1, 20 do
        log.info("big", { a = long, b = quoted, n = 7 })
        collectgarbage()
      end
    end)
    local expected = " INFO big a="
      .. long
      .. ' b="say \\"'
      .. string.rep("y", 2000)
      .. '\\"" n=7'
    local n = 0
    for line in out:gmatch("[^\n]+") do
      n = n + 1
      assert.are.equal(expected, line:sub(25))
    end
    assert.are.equal(20, n)
  end)

  it("filters by level", function()
    local out = capture(function()
      log.debug("hidden")
      log.set_level("debug")
      log.debug("shown")
      log.set_level("error")
      log.warn("hidden too")
    end)
    assert.is_nil(out:find("hidden"))
    assert.matches("DEBUG shown", out)
    assert.is_false(log.enabled("info"))
    assert.is_true(log.enabled("error"))
  end)

  it("rejects unknown level names", function()
    assert.has_error(function()
      log.set_level("loud")
    end)
  end)

  it("adds the running task's label", function()
    local out = capture(function()
      sched.run(function()
        sched.label("fXy3QWmdTR2sWOSqr5WLNw")
        log.info("claimed")
        sched.label(nil)
        log.info("unlabelled")
      end)
    end)
    assert.matches("INFO %[fXy3QWmdTR2sWOSqr5WLNw%] claimed\n", out)
    assert.matches("INFO unlabelled\n", out)
  end)

  it("never prints a registered secret, in messages or fields", function()
    local token = "Zx9-secret-access-token-abcdefghijklmnop"
    assert.is_true(log.add_secret(token))
    local out = capture(function()
      log.info("token " .. token .. " and again " .. token)
      log.warn("fields", { access_token = token })
    end)
    log.remove_secret(token)
    assert.is_nil(out:find(token, 1, true))
    assert.matches("token <redacted> and again <redacted>", out)
    assert.matches("access_token=<redacted>", out)
    assert.are.equal("x<redacted>y", (function()
      log.add_secret(token)
      local r = log.redact("x" .. token .. "y")
      log.remove_secret(token)
      return r
    end)())
    assert.are.equal("x" .. token, log.redact("x" .. token))
  end)

  it("redacts a secret before cutting a long line from C", function()
    -- Lines written by the core are cut to 2047 bytes. The cut used to
    -- come first, so a secret across it lost its tail, no longer matched,
    -- and its head was printed.
    local secret = "SECRETTOKEN-0123456789abcdef"
    assert(log.add_secret(secret))
    local out = capture(function()
      sched.run(function()
        local t = sched.spawn(function()
          local prefix = "task " .. sched.current():id() .. " aborted: "
          error(string.rep("x", 2047 - #prefix - 10) .. secret, 0)
        end)
        while t:status() ~= "done" do
          sched.sleep(0)
        end
      end)
    end)
    log.remove_secret(secret)
    assert.is_nil(out:find("SECRET", 1, true))
    assert.matches(" ERROR task %d+ aborted: x+<redacted>\n$", out)
  end)

  it("redacts secrets that contain or overlap each other: 50 random pairs, none leaks", function()
    -- Secrets are upper case, the text around them lower case: any upper
    -- case letter left in a line is a piece of a secret. Replacing one
    -- secret after another (hash order) left the rest of a longer secret
    -- around a shorter one it contains.
    local rng_state = 12345
    local function rand(n)
      rng_state = (rng_state * 1103515245 + 12345) % 2147483648
      return rng_state % n + 1
    end
    local function word(n, base)
      local t = {}
      for i = 1, n do
        t[i] = string.char(base + rand(26) - 1)
      end
      return table.concat(t)
    end
    local leaked = {}
    for pair = 1, 50 do
      local a = word(8 + rand(24), 65)
      local b, text
      local kind = rand(3)
      if kind == 1 then
        -- b inside a, and once more on its own
        local from = rand(#a - 6)
        b = a:sub(from, from + 5 + rand(#a - from - 5) - 1)
        text = word(5, 97) .. a .. word(3, 97) .. b .. word(5, 97)
      elseif kind == 2 then
        -- b starts inside a and runs past its end
        local tail = word(6, 65)
        b = a:sub(rand(#a - 3) + 2) .. tail
        text = word(5, 97) .. a .. tail .. word(5, 97)
      else
        -- b starts before a and ends inside it
        local head = word(6, 65)
        b = head .. a:sub(1, rand(#a - 3) + 2)
        text = word(5, 97) .. head .. a .. word(5, 97)
      end
      assert(log.add_secret(a))
      assert(log.add_secret(b))
      local out = capture(function()
        log.info("line " .. text, { field = text })
      end)
      local red = log.redact(text)
      log.remove_secret(a)
      log.remove_secret(b)
      if red:find("%u") or out:gsub("^%S+ INFO ", ""):find("%u") then
        leaked[#leaked + 1] = string.format("pair %d: %s -> %s", pair, text, red)
      end
      assert.truthy(red:find("<redacted>", 1, true))
    end
    assert.are.same({}, leaked)
  end)

  it("escapes control characters in messages, fields and the task label", function()
    local out = capture(function()
      log.info("a\nforged 2026-01-01T00:00:00.000Z ERROR x", { name = "public/a\nb\0c\r\t\27.txt", n = 1 })
      sched.run(function()
        sched.label("T\nX")
        log.info("labelled")
        sched.label(nil)
      end)
    end)
    local lines = {}
    for l in out:gmatch("[^\n]+") do
      lines[#lines + 1] = l
    end
    assert.are.equal(2, #lines, out)
    local want = ' INFO a\\nforged 2026%-01%-01T00:00:00%.000Z ERROR x n=1 '
      .. 'name="public/a\\nb\\x00c\\r\\t\\x1b%.txt"$'
    assert.matches(want, lines[1])
    assert.matches(" INFO %[T\\nX%] labelled$", lines[2])
  end)

  it("refuses secrets too short to redact safely", function()
    local ok, msg, code = log.add_secret("abc")
    assert.is_nil(ok)
    assert.are.equal("log.add_secret: a secret must have at least 6 bytes", msg)
    assert.are.equal("short", code)
  end)

  it("reports the errno of the failed open, not a later one", function()
    -- set_output read errno after lua_pushfstring, which can run a
    -- finalizer (here one that fails to open a file: ENOENT). A small
    -- fresh state with a collector stepping on every allocation makes
    -- that happen nearly every time.
    local file = os.tmpname()
    local script = os.tmpname()
    support.write(
      script,
      [[
local log = require("sw.log")
local path = ...
local codes = {}
collectgarbage("incremental", 1, 1000, 0)
local gc = { __gc = function() io.open("/nonexistent/x") end }
for _ = 1, 200 do
  for _ = 1, 10 do setmetatable({}, gc) end
  local _, msg, code = log.set_output(path)
  codes[code .. " " .. msg] = (codes[code .. " " .. msg] or 0) + 1
end
for k, v in pairs(codes) do print(v, k) end
]]
    )
    local bin = os.getenv("SW_BIN") or (support.root .. "/build/scriptworker")
    local p = assert(io.popen(bin .. " lua " .. script .. " " .. file .. "/x"))
    local out = p:read("a")
    p:close()
    os.remove(script)
    os.remove(file)
    assert.are.equal("200\tENOTDIR log.set_output: " .. file .. "/x: Not a directory\n", out)
  end)

  it("reports an output file it cannot open", function()
    local ok, msg, code = log.set_output("/nonexistent/dir/worker.log")
    assert.is_nil(ok)
    assert.are.equal("log.set_output: /nonexistent/dir/worker.log: No such file or directory", msg)
    assert.are.equal("ENOENT", code)
  end)
end)
