-- Helper of bench_json.sh, run as `scriptworker lua json_bench.lua FILE`:
-- decodes FILE with json.decode_file, then encodes the value canonically,
-- and prints one line per step: name, wall seconds, CPU seconds, peak RSS
-- in MiB so far (VmHWM), then whether the canonical text equals FILE.
-- As `json_bench.lua FILE keys ID...` it only times
-- json.decode_file(FILE, {keys = {ID...}}) ("keys" line), then prints how
-- many of the ids it found ("found N").
local json = require("sw.json")
local ok, sched = pcall(require, "sw.sched")
local wall = ok and sched.monotonic or os.clock

local path, mode = ...

local function peak_mib()
  for line in io.lines("/proc/self/status") do
    local kib = line:match("^VmHWM:%s+(%d+)")
    if kib then
      return tonumber(kib) / 1024
    end
  end
  return 0
end

local function step(name, fn)
  local w0, c0 = wall(), os.clock()
  local result = fn()
  local w1, c1 = wall(), os.clock()
  print(string.format("%s %.3f %.3f %.0f", name, w1 - w0, c1 - c0, peak_mib()))
  return result
end

if mode == "keys" then
  local ids = { select(3, ...) }
  local got = step("keys", function()
    return assert(json.decode_file(path, { keys = ids }))
  end)
  local found = 0
  for _, id in ipairs(ids) do
    if got[id] ~= nil and got[id].task_id == id then
      found = found + 1
    end
  end
  print("found " .. found)
  return
end

local value = step("decode", function()
  return assert(json.decode_file(path))
end)
local text = step("encode", function()
  return assert(json.encode(value, { canonical = true }))
end)
value = nil -- luacheck: ignore 311
local f = assert(io.open(path, "rb"))
print("identical " .. tostring(f:read("a") == text))
f:close()
