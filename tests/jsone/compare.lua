-- Compares json-e results for the sw.jsone specs: require("jsone.compare").
local json = require("sw.json")

local M = {}

local null = json.null

function M.kind(v)
  if v == null then
    return "null"
  end
  local t = type(v)
  if t ~= "table" then
    return t
  end
  local mt = getmetatable(v)
  if mt == json.array_mt then
    return "array"
  elseif mt == json.object_mt then
    return "object"
  end
  return "unmarked table"
end

-- diff(want, got[, number_marker]) -> nil when equal, else where and how
-- they differ. Arrays, objects and null are told apart; numbers compare as
-- doubles, and a whole number below 2^53 must come back as a Lua integer.
-- number_marker(want) may return the name of a non-finite number ("NaN")
-- that `want` stands for.
function M.diff(want, got, number_marker, path)
  path = path or "result"
  local special = number_marker and number_marker(want)
  if special then
    local s = type(got) == "number" and require("sw.jsone").js_number_string(got)
    if s ~= special then
      return string.format("%s: want %s, got %s", path, special, tostring(got))
    end
    return nil
  end
  local kw, kg = M.kind(want), M.kind(got)
  if kw ~= kg then
    return string.format("%s: want %s, got %s", path, kw, kg)
  end
  if kw == "number" then
    if want + 0.0 ~= got + 0.0 then
      return string.format("%s: want %s, got %s", path, tostring(want), tostring(got))
    end
    if want == math.floor(want) and math.abs(want) < 2 ^ 53 and math.type(got) ~= "integer" then
      return string.format("%s: want an integer, got %s", path, tostring(got))
    end
  elseif kw == "array" then
    if #want ~= #got then
      return string.format("%s: want %d elements, got %d", path, #want, #got)
    end
    for i = 1, #want do
      local d = M.diff(want[i], got[i], number_marker, path .. "[" .. (i - 1) .. "]")
      if d then
        return d
      end
    end
  elseif kw == "object" then
    for k, v in pairs(want) do
      if got[k] == nil then
        return string.format("%s: missing key %q", path, k)
      end
      local d = M.diff(v, got[k], number_marker, path .. "." .. k)
      if d then
        return d
      end
    end
    for k in pairs(got) do
      if want[k] == nil then
        return string.format("%s: unexpected key %q", path, tostring(k))
      end
    end
  elseif want ~= got then
    return string.format("%s: want %q, got %q", path, tostring(want), tostring(got))
  end
  return nil
end

return M
