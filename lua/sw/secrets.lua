-- sw.secrets: the one registry of the strings sw.log redacts. Every access
-- token, certificate and GitHub token the worker holds is registered here,
-- so they all follow the same rules:
--
-- - A value is a string or a credentials table: its accessToken and its
--   certificate (a string, or a table as the JSON text sw.hawk sends).
-- - A string sw.log refuses (shorter than its minimum, 6 bytes: redacting
--   it would garble every line) is skipped, here and everywhere; no real
--   token is that short.
-- - add(v) pins v for the life of the process: the worker's own
--   credentials and the GitHub token are never unregistered.
-- - add(v, seen) records every string of v in the list seen, each time,
--   even one registered before, and counts it; forget(seen) takes those
--   counts back and unregisters a string once no list holds it any more,
--   unless it is pinned. A task's temporary credentials thus leave the
--   redaction list when the task ends (a long-running worker must not let
--   that list, checked on every log line, grow with every task), and never
--   while something else still needs them.
-- - add_temporary(v) registers v now, without pinning or counting: the
--   Queue client does it for the credentials it signs with and those its
--   answers hand out, before anything can log them. The task that receives
--   them adds them with its seen list, which ends their life.
local json = require("sw.json")
local log = require("sw.log")

local M = {}

-- string -> true: never unregistered.
local pinned = {}
-- string -> how many entries of seen lists hold it.
local holders = {}

-- The secret strings of v (a string or a credentials table), in order.
local function strings_of(v)
  if type(v) == "string" then
    return { v }
  elseif type(v) ~= "table" then
    return {}
  end
  local out = {}
  if type(v.accessToken) == "string" then
    out[#out + 1] = v.accessToken
  end
  local cert = v.certificate
  if type(cert) == "table" then
    cert = json.encode(cert)
  end
  if type(cert) == "string" then
    out[#out + 1] = cert
  end
  return out
end

-- Registers v (see the header); returns v, so a caller can register a
-- value where it stores it.
function M.add(v, seen)
  for _, s in ipairs(strings_of(v)) do
    -- sw.log's answer is the one length rule: what it refuses is neither
    -- pinned nor recorded.
    if log.add_secret(s) then
      if seen == nil then
        pinned[s] = true
      else
        holders[s] = (holders[s] or 0) + 1
        seen[#seen + 1] = s
      end
    end
  end
  return v
end

function M.add_temporary(v)
  for _, s in ipairs(strings_of(v)) do
    log.add_secret(s)
  end
  return v
end

-- Gives back every string seen holds (then empties it, so a second forget
-- takes nothing twice); a string no list holds any more and that is not
-- pinned is no longer redacted.
function M.forget(seen)
  for i = #seen, 1, -1 do
    local s = seen[i]
    seen[i] = nil
    local n = (holders[s] or 1) - 1
    if n > 0 then
      holders[s] = n
    else
      holders[s] = nil
      if not pinned[s] then
        log.remove_secret(s)
      end
    end
  end
end

return M
