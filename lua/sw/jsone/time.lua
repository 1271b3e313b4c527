-- sw.jsone.time: $fromNow and fromNow(): time offsets such as
-- "1 year 2 days 3h" applied to a reference time, output as JavaScript's
-- Date.prototype.toJSON does ("2017-01-19T16:27:20.974Z").
local value = require("sw.jsone.value")

local M = {}

local byte, find, format, lower, sub = string.byte, string.find, string.format,
  string.lower, string.sub
local floor = math.floor
local raise, skip_ws, null = value.raise, value.skip_ws, value.null

-- Milliseconds since the epoch, now.
local clock_ok, sched = pcall(require, "sw.sched")
function M.now_ms()
  if clock_ok and sched.now then
    return floor(sched.now() * 1000)
  end
  return os.time() * 1000
end

-- Units in the order json-e's expression accepts them; each with its
-- spellings longest first (equivalent to the regex's backtracking, since a
-- longer spelling always continues with a letter).
local UNITS = {
  { "years", { "years", "year", "yr", "y" } },
  { "months", { "months", "month", "mo" } },
  { "weeks", { "weeks", "week", "wk", "w" } },
  { "days", { "days", "day", "d" } },
  { "hours", { "hours", "hour", "hr", "h" } },
  { "minutes", { "minutes", "minute", "min", "m" } },
  { "seconds", { "seconds", "second", "sec", "s" } },
}

-- Parses a time expression; returns the offset in milliseconds (a float)
-- or nil when the string is not one.
local function parse_offset(str)
  local s = lower(str)
  local i = skip_ws(s, 1)
  local sign = 1
  local c = byte(s, i)
  if c == 45 or c == 43 then
    sign = c == 45 and -1 or 1
    i = i + 1
  else
    i = 1
  end
  local got = {}
  for _, unit in ipairs(UNITS) do
    local j = skip_ws(s, i)
    local ds, de = find(s, "^%d+", j)
    if ds then
      local k = skip_ws(s, de + 1)
      for _, spelling in ipairs(unit[2]) do
        if sub(s, k, k + #spelling - 1) == spelling then
          got[unit[1]] = tonumber(sub(s, ds, de)) + 0.0
          i = k + #spelling
          break
        end
      end
    end
  end
  if skip_ws(s, i) <= #s then
    return nil
  end
  local days = (got.days or 0) + 30 * (got.months or 0) + 365 * (got.years or 0)
  local ms = (got.weeks or 0) * 7 * 86400000 + days * 86400000
    + (got.hours or 0) * 3600000 + (got.minutes or 0) * 60000 + (got.seconds or 0) * 1000
  return sign * ms
end
M.parse_offset = parse_offset

local calendar = require("sw.calendar")
local days_from_civil, civil_from_days = calendar.days_from_civil, calendar.civil_from_days

local MAX_TIME = 8.64e15

-- Date.prototype.toJSON: nil for times outside JavaScript's range.
local function iso(ms)
  if ms ~= ms or ms > MAX_TIME or ms < -MAX_TIME then
    return nil
  end
  ms = floor(ms)
  local days = ms // 86400000
  local rem = ms - days * 86400000
  local y, m, d = civil_from_days(days)
  local ys
  if y >= 0 and y <= 9999 then
    ys = format("%04d", y)
  elseif y < 0 then
    ys = format("-%06d", -y)
  else
    ys = format("+%06d", y)
  end
  return format("%s-%02d-%02dT%02d:%02d:%02d.%03dZ", ys, m, d, rem // 3600000,
    rem // 60000 % 60, rem // 1000 % 60, rem % 1000)
end
M.iso = iso

-- Parses a date-time string in the ISO 8601 forms JavaScript's Date
-- accepts (also with a space instead of "T"); times without an offset are
-- taken as UTC. Returns milliseconds or nil.
local function parse_date(s)
  local i, ysign, y
  local c = byte(s, 1)
  if c == 43 or c == 45 then
    local ds = sub(s, 2, 7)
    if not find(ds, "^%d%d%d%d%d%d$") then
      return nil
    end
    ysign, y, i = c == 45 and -1 or 1, tonumber(ds), 8
  else
    local ds = sub(s, 1, 4)
    if not find(ds, "^%d%d%d%d$") then
      return nil
    end
    ysign, y, i = 1, tonumber(ds), 5
  end
  y = ysign * y
  local mo, d = 1, 1
  if sub(s, i, i) == "-" then
    mo = tonumber(sub(s, i + 1, i + 2):match("^%d%d$") or "x")
    if not mo then
      return nil
    end
    i = i + 3
    if sub(s, i, i) == "-" then
      d = tonumber(sub(s, i + 1, i + 2):match("^%d%d$") or "x")
      if not d then
        return nil
      end
      i = i + 3
    end
  end
  local h, mi, sec, frac = 0, 0, 0, 0
  local offset = 0
  c = sub(s, i, i)
  if c == "T" or c == "t" or c == " " then
    local hh, mm, rest = sub(s, i + 1):match("^(%d%d):(%d%d)(.*)$")
    if not hh then
      return nil
    end
    h, mi = tonumber(hh), tonumber(mm)
    local ss, rest2 = rest:match("^:(%d%d)(.*)$")
    if ss then
      sec, rest = tonumber(ss), rest2
      local fs, rest3 = rest:match("^[.,](%d+)(.*)$")
      if fs then
        frac = tonumber((sub(fs .. "00", 1, 3)))
        rest = rest3
      end
    end
    if rest == "Z" or rest == "z" then
      offset = 0
    elseif rest ~= "" then
      local sg, oh, om = rest:match("^([-+])(%d%d):?(%d%d)$")
      if not sg then
        return nil
      end
      offset = (tonumber(oh) * 60 + tonumber(om)) * (sg == "-" and -1 or 1)
    end
  elseif i <= #s then
    return nil
  end
  if mo < 1 or mo > 12 or d < 1 or d > 31 or h > 24 or mi > 59 or sec > 59 then
    return nil
  end
  if h == 24 and (mi ~= 0 or sec ~= 0 or frac ~= 0) then
    return nil
  end
  local days = days_from_civil(y, mo, d)
  return ((days * 24 + h) * 60 + mi - offset) * 60000 + sec * 1000 + frac
end
M.parse_date = parse_date

-- JavaScript truthiness for the reference ("" / 0 / null / false mean
-- "now").
local function falsy(v)
  return v == nil or v == null or v == false or v == "" or v == 0
end

-- fromNow(offset, reference): the ISO string, or json null when the result
-- is outside JavaScript's date range (as Date.toJSON gives). `kind` is the
-- error kind for a bad offset or reference.
function M.from_now(str, reference, kind)
  local off = parse_offset(str)
  if not off then
    raise(kind, "String: '" .. str .. "' isn't a time expression")
  end
  local ref
  if falsy(reference) then
    ref = M.now_ms()
  elseif type(reference) == "number" then
    ref = reference
  elseif type(reference) == "string" then
    ref = parse_date(reference)
    if not ref then
      raise(kind, "invalid date '" .. reference .. "'")
    end
  else
    raise(kind, "invalid date reference")
  end
  local out = iso(ref + off)
  if out == nil then
    return null
  end
  return out
end

function M.now_iso()
  return iso(M.now_ms())
end

return M
